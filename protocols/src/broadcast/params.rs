//! `broadcast`'s parameters, and who talks to whom.

use serde::{Deserialize, Serialize};
use sim::time::{Dur, NANOS_PER_MILLI};
use sim::NodeId;

/// Who gossips with whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// n1 – n2 – … – nN.
    Line,
    /// A square grid, row by row; each node talks to the nodes above, below, left and right.
    Grid,
    /// A binary tree: node i's neighbours are its parent and its two children.
    Tree,
    /// Everyone with everyone.
    Full,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeParams {
    pub topology: Topology,
    /// How often a node sends its neighbours what they have not acknowledged.
    pub gossip_interval: Dur,
    /// Most values in one message.
    pub max_batch: u32,
}

impl Default for NodeParams {
    fn default() -> Self {
        NodeParams {
            topology: Topology::Grid,
            gossip_interval: Dur(20 * NANOS_PER_MILLI),
            max_batch: 256,
        }
    }
}

pub fn validate(p: &NodeParams) -> Result<(), String> {
    if p.gossip_interval.0 == 0 || p.max_batch == 0 {
        return Err("gossip_interval and max_batch must be greater than 0".into());
    }
    Ok(())
}

pub const PARAM_DOCS: &[sim::ParamDoc] = &[
    sim::ParamDoc {
        name: "topology",
        description: "line | grid | tree | full: who gossips with whom",
    },
    sim::ParamDoc {
        name: "gossip_interval",
        description: "how often a node resends each neighbour what it has not acknowledged",
    },
    sim::ParamDoc {
        name: "max_batch",
        description: "most values in one message",
    },
];

/// The neighbours of `me` among `n` nodes.
pub fn neighbours(me: NodeId, n: usize, t: Topology) -> Vec<NodeId> {
    let (i, n) = (me.index(), n);
    let mut out: Vec<usize> = match t {
        Topology::Line => vec![i.wrapping_sub(1), i + 1],
        Topology::Full => (0..n).collect(),
        Topology::Tree => vec![(i.wrapping_sub(1)) / 2, 2 * i + 1, 2 * i + 2],
        Topology::Grid => {
            let w = (1..=n).find(|w| w * w >= n).unwrap_or(1);
            let mut v = vec![i + w, i.wrapping_sub(w)];
            if i % w > 0 {
                v.push(i - 1);
            }
            if i % w + 1 < w {
                v.push(i + 1);
            }
            v
        }
    };
    out.retain(|j| *j < n && *j != i);
    out.sort_unstable();
    out.dedup();
    out.into_iter().map(|j| NodeId(j as u32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(i: u32, n: usize, t: Topology) -> Vec<u32> {
        neighbours(NodeId(i), n, t).into_iter().map(|n| n.0).collect()
    }

    #[test]
    fn topologies() {
        assert_eq!(of(0, 5, Topology::Line), [1]);
        assert_eq!(of(2, 5, Topology::Line), [1, 3]);
        // A 3x3 grid, row by row: the centre has four neighbours, a corner two.
        assert_eq!(of(4, 9, Topology::Grid), [1, 3, 5, 7]);
        assert_eq!(of(0, 9, Topology::Grid), [1, 3]);
        // 5 nodes in a 3-wide grid: n5 (index 4) sits below n2 and right of n4.
        assert_eq!(of(4, 5, Topology::Grid), [1, 3]);
        assert_eq!(of(0, 7, Topology::Tree), [1, 2]);
        assert_eq!(of(2, 7, Topology::Tree), [0, 5, 6]);
        assert_eq!(of(1, 4, Topology::Full), [0, 2, 3]);
        for t in [Topology::Line, Topology::Grid, Topology::Tree, Topology::Full] {
            for n in 1..20 {
                for i in 0..n as u32 {
                    for j in of(i, n, t) {
                        assert!(of(j, n, t).contains(&i), "{t:?} n={n}: {i}->{j} is one-way");
                    }
                }
            }
        }
    }
}
