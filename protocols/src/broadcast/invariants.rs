//! What `broadcast` must guarantee, checked as it runs:
//! - `acked-values-everywhere` (eventually): after the faults heal, every value acknowledged
//!   before the quiet period is on every node's disk (so in every node's read, restarted or
//!   not). Values acknowledged later are still spreading; the metric below times them;
//! - `value-everywhere`, `restarted-with-values` (sometimes): a value reached every node; a
//!   node came back from a crash with values (so the checks above are not vacuous);
//! - metrics `visibility-latency` (from a value's acknowledgement until it is on every node's
//!   disk) and `messages-per-broadcast` (server-to-server messages per acknowledged broadcast).
//!
//! The family checks that no read returns a value nobody broadcast (`no-phantom-values`).

use super::node::Node;
use super::params::NodeParams;
use crate::families::broadcast::{Broadcast, BroadcastOp};
use sim::history::{EventType, HistoryEvent};
use sim::metrics::{MetricDecl, Unit};
use sim::{CheckDecl, CheckSink, Invariants, NodeId, Time, Value, World};
use std::collections::BTreeMap;

pub const ACKED_EVERYWHERE: &str = "acked-values-everywhere";
pub const VALUE_EVERYWHERE: &str = "value-everywhere";
pub const RESTARTED_WITH_VALUES: &str = "restarted-with-values";
pub const VISIBILITY: &str = "visibility-latency";
pub const MESSAGES_PER_BROADCAST: &str = "messages-per-broadcast";

/// An acknowledged value not yet on every node's disk.
struct Pending {
    acked_at: Time,
    on_disk: Vec<bool>,
    count: usize,
}

pub struct BroadcastInvariants {
    n: usize,
    pending: BTreeMap<Value, Pending>,
    acked: u64,
    /// Per node: messages it had sent at the last look (it counts from 0 again after a crash).
    sent_seen: Vec<u64>,
    messages: u64,
}

impl BroadcastInvariants {
    /// Marks `v` as on `node`'s disk; true when that makes it everywhere.
    fn mark(p: &mut Pending, node: NodeId) -> bool {
        if !p.on_disk[node.index()] {
            p.on_disk[node.index()] = true;
            p.count += 1;
        }
        p.count == p.on_disk.len()
    }
}

impl Invariants<Node> for BroadcastInvariants {
    fn new(cluster: &sim::cluster::Cluster, _params: &[NodeParams]) -> Self {
        BroadcastInvariants {
            n: cluster.len(),
            pending: BTreeMap::new(),
            acked: 0,
            sent_seen: vec![0; cluster.len()],
            messages: 0,
        }
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::eventually(
                ACKED_EVERYWHERE,
                "every value acknowledged before the quiet period is on every node",
            ),
            CheckDecl::sometimes(VALUE_EVERYWHERE, "an acknowledged value reached every node"),
            CheckDecl::sometimes(RESTARTED_WITH_VALUES, "a node restarted with values from its disk"),
        ]
    }

    fn metrics() -> Vec<MetricDecl> {
        vec![
            MetricDecl::new(VISIBILITY, Unit::Ns, "from a value's acknowledgement until every node has it on disk"),
            MetricDecl::new(MESSAGES_PER_BROADCAST, Unit::Ratio, "server-to-server messages per acknowledged broadcast"),
        ]
    }

    fn on_history(&mut self, e: &HistoryEvent<Broadcast>, world: &World<Node>, sink: &mut CheckSink) {
        let (EventType::Ok, BroadcastOp::Broadcast(v)) = (e.kind, e.op) else {
            return;
        };
        self.acked += 1;
        let mut p = Pending {
            acked_at: e.time,
            on_disk: vec![false; self.n],
            count: 0,
        };
        let mut everywhere = false;
        for view in world.iter() {
            if view.durable.values.contains(v) {
                everywhere = Self::mark(&mut p, view.id);
            }
        }
        if everywhere {
            sink.sample(VISIBILITY, 0.0);
            sink.reached(VALUE_EVERYWHERE);
        } else {
            self.pending.insert(*v, p);
        }
    }

    fn after_event(&mut self, world: &World<Node>, touched: NodeId, sink: &mut CheckSink) {
        let view = world.node(touched);
        let now = world.now();
        // Disks only grow, so a value once on a disk stays there.
        self.pending.retain(|v, p| {
            if !view.durable.values.contains(v) || !Self::mark(p, touched) {
                return true;
            }
            sink.sample(VISIBILITY, (now - p.acked_at) as f64);
            sink.reached(VALUE_EVERYWHERE);
            false
        });
        if let Some(q) = sink.quiet_from() {
            if self.pending.values().all(|p| p.acked_at >= q) {
                sink.holds(ACKED_EVERYWHERE);
            }
        }
        if let Some(node) = view.state {
            let seen = &mut self.sent_seen[touched.index()];
            // A restarted node counts from zero again.
            self.messages += node.messages_sent.checked_sub(*seen).unwrap_or(node.messages_sent);
            *seen = node.messages_sent;
            if node.recovered > 0 {
                sink.reached(RESTARTED_WITH_VALUES);
            }
        }
    }

    fn at_end(&mut self, _world: &World<Node>, sink: &mut CheckSink) {
        // Which acknowledged values are still missing, and where: the failure's explanation.
        let quiet = sink.quiet_from();
        let missing: Vec<(&Value, &Pending)> = self
            .pending
            .iter()
            .filter(|(_, p)| quiet.is_some_and(|q| p.acked_at < q))
            .collect();
        if let Some((v, p)) = missing.first() {
            let n = missing.len();
            let (v, p) = (*v, *p);
            sink.explain(ACKED_EVERYWHERE, || {
                let names = |on: bool| -> Vec<String> {
                    (0..self.n)
                        .filter(|i| p.on_disk[*i] == on)
                        .map(|i| NodeId(i as u32).to_string())
                        .collect()
                };
                let (has, lacks) = (names(true), names(false));
                let more = if n > 1 { format!(" ({} more values are missing too)", n - 1) } else { String::new() };
                format!(
                    "value {v:?}, acknowledged at {}, is on {} but not on {}{more}",
                    sim::time::format_duration(p.acked_at),
                    if has.is_empty() { "no node".to_string() } else { has.join(", ") },
                    lacks.join(", ")
                )
            });
        }
        if self.acked > 0 {
            sink.value(MESSAGES_PER_BROADCAST, self.messages as f64 / self.acked as f64);
        }
    }
}
