//! Node groups (DESIGN.md, "Node groups"): a cluster is one or more named groups of nodes, in
//! order — a master and chain nodes, a controller and brokers, a view service and replicas.
//! Nodes are numbered across groups (`n1`… in the first group, then the next). A scenario
//! without `[[groups]]` has one group, `all`, of every node.

use crate::ids::NodeId;
use crate::time::Time;
use serde::Serialize;

/// The name of the only group of a scenario that declares none.
pub const ALL: &str = "all";

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub name: String,
    /// Its first node's index; its nodes are `first .. first + len`.
    pub first: u32,
    pub len: u32,
    /// When its nodes start (later than 0: they join a running cluster).
    pub boot_at: Time,
}

impl Group {
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + Clone + 'static {
        (self.first..self.first + self.len).map(NodeId)
    }

    pub fn contains(&self, n: NodeId) -> bool {
        (self.first..self.first + self.len).contains(&n.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cluster {
    groups: Vec<Group>,
}

impl Cluster {
    /// One group, `all`, of `nodes` nodes starting at time 0.
    pub fn single(nodes: usize) -> Self {
        Cluster {
            groups: vec![Group {
                name: ALL.to_string(),
                first: 0,
                len: nodes as u32,
                boot_at: 0,
            }],
        }
    }

    /// Groups of these sizes and boot times, numbered in this order.
    pub fn of(groups: impl IntoIterator<Item = (String, u32, Time)>) -> Self {
        let mut first = 0;
        let groups = groups
            .into_iter()
            .map(|(name, len, boot_at)| {
                let g = Group {
                    name,
                    first,
                    len,
                    boot_at,
                };
                first += len;
                g
            })
            .collect();
        Cluster { groups }
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Nodes in all groups.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.len as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The group node `n` belongs to.
    pub fn group_of(&self, n: NodeId) -> &Group {
        self.groups
            .iter()
            .find(|g| g.contains(n))
            .unwrap_or_else(|| panic!("{n} is in no group"))
    }

    /// Whether the scenario declared groups (else the one group is `all`).
    pub fn is_grouped(&self) -> bool {
        !(self.groups.len() == 1 && self.groups[0].name == ALL)
    }
}
