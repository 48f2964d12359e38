//! A broadcast node. It keeps the values it has seen on disk, tells each neighbour of the
//! topology what that neighbour has not acknowledged, every `gossip_interval`, and forgets a
//! value for a neighbour only once the neighbour acknowledges it: lost messages and partitions
//! only delay a value (anti-entropy, Demers et al. 1987 §1.3).

use super::bugs::Bugs;
use super::invariants::BroadcastInvariants;
use super::messages::{Msg, Timer};
use super::params::{neighbours, NodeParams};
use crate::families::broadcast::{Broadcast, BroadcastOp, BroadcastReply};
use serde::Serialize;
use sim::{Ctx, Durable, NodeId, Outcome, Protocol, RequestOf, Value};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The gossip timer is set (it runs only while something is owed).
    ticking: bool,
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
        self.tick_if_owed(cx);
    }

    /// Sets the gossip timer if some neighbour is owed values and it is not set.
    fn tick_if_owed(&mut self, cx: &mut Ctx<Self>) {
        if !self.ticking && self.unacked.values().any(|o| !o.is_empty()) {
            self.ticking = true;
            cx.set_timer(self.p.gossip_interval.0, Timer::Gossip);
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
        self.ticking = false;
        self.tick_if_owed(cx);
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

    fn param_docs() -> &'static [sim::ParamDoc] {
        super::params::PARAM_DOCS
    }

    fn validate_params(p: &NodeParams) -> Result<(), String> {
        super::params::validate(p)
    }

    /// After a crash a node owes its neighbours everything it has: they acknowledge what they
    /// already hold, so only what they lack travels twice.
    fn boot(cx: &mut Ctx<Self>, p: &NodeParams, stored: &Stored) -> Self {
        let peers = neighbours(cx.id(), cx.cluster_size(), p.topology);
        let mut node = Node {
            seen: stored.values.clone(),
            unacked: peers.into_iter().map(|n| (n, stored.values.clone())).collect(),
            p: p.clone(),
            bugs: Bugs::from_set(cx.bugs()),
            messages_sent: 0,
            recovered: stored.values.len(),
            ticking: false,
        };
        node.tick_if_owed(cx);
        node
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

    fn on_timer(&mut self, cx: &mut Ctx<Self>, Timer::Gossip: Timer) {
        self.on_gossip_timer(cx);
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
