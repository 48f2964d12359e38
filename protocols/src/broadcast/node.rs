//! A broadcast node. It keeps the values it has seen on disk, tells each neighbour of the
//! topology what that neighbour has not acknowledged, every `gossip_interval`, and forgets a
//! value for a neighbour only once the neighbour acknowledges it: lost messages and partitions
//! only delay a value (anti-entropy, Demers et al. 1987 §1.3).

use super::bugs::Bugs;
use super::invariants::BroadcastInvariants;
use super::messages::{Msg, Timer};
use crate::families::broadcast::{Broadcast, BroadcastOp, BroadcastReply};
use serde::{Deserialize, Serialize};
use sim::time::{Dur, NANOS_PER_MILLI};
use sim::{Ctx, Durable, NodeId, Outcome, Protocol, RequestOf, Value};
use std::collections::{BTreeMap, BTreeSet};

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

/// What survives a crash: the values seen, written one by one.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Stored {
    pub values: BTreeSet<Value>,
}

impl Durable for Stored {
    type Write = Value;
    fn apply(&mut self, v: &Value) {
        self.values.insert(*v);
    }
}

pub struct Node {
    pub(super) seen: BTreeSet<Value>,
    /// Per neighbour: values it has not acknowledged.
    pub(super) unacked: BTreeMap<NodeId, BTreeSet<Value>>,
    pub(super) p: NodeParams,
    bugs: Bugs,
    /// Server-to-server messages sent since boot (for the messages-per-broadcast metric).
    pub(super) messages_sent: u64,
    /// Values it booted with from disk (for the `restarted-with-values` check).
    pub(super) recovered: usize,
}

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

impl Node {
    /// A new value from a client or a peer: store it, and owe it to every neighbour but the
    /// one it came from, which has it on disk already (with `no-relay`, values from peers are
    /// owed to nobody).
    fn learn(&mut self, cx: &mut Ctx<Self>, v: Value, from: Option<NodeId>) {
        if !self.seen.insert(v) {
            return;
        }
        cx.persist(v);
        if from.is_some() && self.bugs.no_relay {
            return;
        }
        for (peer, owed) in &mut self.unacked {
            if Some(*peer) != from {
                owed.insert(v);
            }
        }
    }

    fn on_gossip_timer(&mut self, cx: &mut Ctx<Self>) {
        let max = self.p.max_batch as usize;
        for (peer, owed) in &mut self.unacked {
            if owed.is_empty() {
                continue;
            }
            let values: Vec<Value> = owed.iter().take(max).copied().collect();
            if self.bugs.no_retransmit {
                // Bug: forget the values as soon as they are sent once.
                for v in &values {
                    owed.remove(v);
                }
            }
            self.messages_sent += 1;
            // Persist before you speak: a peer that learns a value from us does not send it
            // back, so it must survive our crash (the engine holds this until our disk has it).
            cx.send_after_sync(*peer, Msg::Gossip { values });
        }
        cx.set_timer(self.p.gossip_interval.0, Timer::Gossip);
    }
}

impl Protocol for Node {
    const NAME: &'static str = "broadcast";
    const DESCRIPTION: &'static str = "gossip a set of values to every node over a topology (Maelstrom's broadcast)";
    const ROLES: &'static [&'static str] = &["node"];
    type Msg = Msg;
    type Timer = Timer;
    type Durable = Stored;
    type Params = NodeParams;
    type Invariants = BroadcastInvariants;
    type Workload = Broadcast;

    fn bugs() -> &'static [sim::BugDecl] {
        super::bugs::BUGS
    }

    fn validate_params(p: &NodeParams) -> Result<(), String> {
        if p.gossip_interval.0 == 0 || p.max_batch == 0 {
            return Err("gossip_interval and max_batch must be greater than 0".into());
        }
        Ok(())
    }

    /// After a crash a node owes its neighbours everything it has: they acknowledge what they
    /// already hold, so only what they lack travels twice.
    fn boot(cx: &mut Ctx<Self>, p: &NodeParams, stored: &Stored) -> Self {
        let peers = neighbours(cx.id(), cx.cluster_size(), p.topology);
        cx.set_timer(p.gossip_interval.0, Timer::Gossip);
        Node {
            seen: stored.values.clone(),
            unacked: peers.into_iter().map(|n| (n, stored.values.clone())).collect(),
            p: p.clone(),
            bugs: Bugs::from_set(cx.bugs()),
            messages_sent: 0,
            recovered: stored.values.len(),
        }
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Gossip { values } => {
                for v in &values {
                    self.learn(cx, *v, Some(from));
                }
                // The sender may stop resending them once they are on our disk.
                self.messages_sent += 1;
                cx.send_after_sync(from, Msg::GossipAck { values });
            }
            Msg::GossipAck { values } => {
                if let Some(owed) = self.unacked.get_mut(&from) {
                    for v in values {
                        owed.remove(&v);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, timer: Timer) {
        match timer {
            Timer::Gossip => self.on_gossip_timer(cx),
        }
    }

    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        match req.op {
            BroadcastOp::Broadcast(v) => {
                self.learn(cx, v, None);
                let ack = Outcome::Done(BroadcastReply::Ack);
                if self.bugs.ack_before_store {
                    cx.reply(&req, ack);
                } else {
                    // Acknowledged only once the value is on disk.
                    cx.reply_after_sync(&req, ack);
                }
            }
            BroadcastOp::Read => {
                let values = self.seen.iter().copied().collect();
                cx.reply(&req, Outcome::Done(BroadcastReply::Values(values)));
            }
        }
    }

    fn summary(&self) -> String {
        format!("{} values", self.seen.len())
    }
}
