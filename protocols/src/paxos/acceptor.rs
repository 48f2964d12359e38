//! The acceptor (Paxos Made Simple §2.2, phase 1b and 2b): it promises the highest ballot it
//! was asked to prepare, accepts only at or above its promise, and writes both to disk before
//! it answers (§2.5). Heartbeats also land here: they feed the failure detector.

use super::messages::{digest, Ballot, Command, Msg, PValue};
use super::node::{Paxos, PaxosWrite, Release, Role};
use sim::{Ctx, NodeId};

impl Paxos {
    /// Phase 1b. "If an acceptor receives a prepare request with number n greater than that
    /// of any prepare request to which it has already responded, then it responds with a
    /// promise not to accept any more proposals numbered less than n and with the
    /// highest-numbered proposal (if any) that it has accepted" (§2.2), here per slot.
    pub(super) fn on_prepare(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot, from_slot: u64) {
        self.see(ballot);
        if ballot < self.promised {
            self.send(cx, from, Msg::Nack { ballot, promised: self.promised }, false);
            return;
        }
        if ballot > self.promised {
            // While a leader is known alive, refuse to help another proposer (this is what
            // makes a leader's lease hold); its failure detector will fire if it is not.
            if from != self.id && Some(from) != self.leader_hint && self.heard_from_leader_recently(cx) {
                if cx.tracing() {
                    cx.note(format!("refuses {ballot:?}: a leader was heard from recently"));
                }
                self.send(cx, from, Msg::Nack { ballot, promised: self.promised }, false);
                return;
            }
            self.promised = ballot;
            self.leader_hint = None;
            if self.role != Role::Follower && self.ballot < ballot {
                self.preempted(cx, ballot);
            }
            if !self.bugs.promise_not_durable {
                self.persist(cx, PaxosWrite::Promise(ballot));
            }
        }
        let accepted = self
            .accepted
            .range(from_slot..)
            .map(|(&slot, (b, cmd))| PValue {
                slot,
                ballot: *b,
                cmd: cmd.clone(),
            })
            .collect();
        // The promise leaves only once it is on disk (the bug: at once, and never written).
        let durable = !self.bugs.promise_not_durable;
        self.release(cx, Release::Promise { ballot, to: from }, !durable);
        self.send(cx, from, Msg::Promise { ballot, accepted }, durable);
    }

    /// Phase 2b. "An acceptor can accept a proposal numbered n iff it has not responded to a
    /// prepare request having a number greater than n" (P1a, §2.2).
    pub(super) fn on_accept(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot, slot: u64, cmd: Command) {
        self.see(ballot);
        if ballot < self.promised && !self.bugs.accept_below_promise {
            self.send(cx, from, Msg::Nack { ballot, promised: self.promised }, false);
            return;
        }
        if ballot >= self.promised {
            self.promised = ballot;
            self.heard_from_leader(cx, from, ballot);
        }
        let d = digest(&cmd);
        if self.accepted.get(&slot).map(|(b, _)| *b) != Some(ballot) {
            self.accepted.insert(slot, (ballot, cmd.clone()));
            self.persist(cx, PaxosWrite::Accept(PValue { slot, ballot, cmd }));
        }
        // Released with every answer, a retransmission's too: the first answer may have been
        // lost with a crash after the write was synced.
        self.release(cx, Release::Accept { slot, ballot, digest: d }, false);
        self.send(cx, from, Msg::Accepted { ballot, slot }, true);
    }

    /// A heartbeat from a leader at or above the promise: it is alive. One below it learns it
    /// has been preempted.
    pub(super) fn on_heartbeat(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot, round: u64) {
        self.see(ballot);
        if ballot < self.promised {
            self.send(cx, from, Msg::Nack { ballot, promised: self.promised }, false);
            return;
        }
        self.heard_from_leader(cx, from, ballot);
        // Our decided prefix: the leader sends what we miss.
        self.send(
            cx,
            from,
            Msg::HeartbeatAck {
                ballot,
                round,
                decided: self.prefix,
            },
            false,
        );
    }

    /// Word from the leader of `ballot` (≥ the promise): it is alive.
    fn heard_from_leader(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot) {
        self.leader_hint = Some(from);
        self.leader_contact_mono = Some(cx.now_mono());
        if self.role != Role::Follower && self.ballot < ballot {
            self.preempted(cx, ballot);
        } else if self.role == Role::Follower {
            self.reset_leader_timer(cx);
        }
    }
}
