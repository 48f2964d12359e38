//! The proposer and the distinguished leader (Paxos Made Simple §2.2 phase 1a/2a, §3).
//! A node whose failure detector fires runs phase 1 once for every slot from its first
//! undecided one on; with promises from a phase-1 quorum it adopts, per slot, the value of the
//! highest ballot any promise carried (P2c), fills gaps with no-ops (§3) and then proposes in
//! phase 2 only, until a higher ballot preempts it.

use super::messages::{Ballot, Command, Msg, PValue, Timer};
use super::node::{Backoff, Paxos, Proposal, Role};
use sim::{Ctx, NodeId};

impl Paxos {
    /// Phase 1a with a ballot above every one seen. The PREPAREs leave once this node's own
    /// promise of the ballot is on disk, so a restart never reuses it.
    pub(super) fn start_phase1(&mut self, cx: &mut Ctx<Self>) {
        let round = self.round_seen.max(self.promised.round) + 1;
        self.round_seen = round;
        // Ballots are (round, node): disjoint per proposer (§2.5). The bug leaves the node out.
        let node = if self.bugs.duplicate_ballots { 0 } else { self.id.0 };
        self.ballot = Ballot { round, node };
        self.role = Role::Candidate;
        self.leader_hint = None;
        self.promised_by = vec![false; self.n];
        self.adopted.clear();
        self.proposals.clear();
        self.pending.clear();
        self.pending_ops.clear();
        self.from_slot = self.prefix + 1;
        if cx.tracing() {
            cx.note(format!("starts phase 1 with {:?} from slot {}", self.ballot, self.from_slot));
        }
        let msg = Msg::Prepare {
            ballot: self.ballot,
            from_slot: self.from_slot,
        };
        // Our own acceptor first: its promise is written before the others are asked.
        self.send(cx, self.id, msg.clone(), false);
        self.drain(cx);
        for to in cx.peers() {
            self.send(cx, to, msg.clone(), true);
        }
        self.reset_leader_timer(cx);
        self.ensure_tick(cx);
    }

    /// Phase 1b arrives: collect the accepted values; lead with a phase-1 quorum.
    pub(super) fn on_promise(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot, accepted: Vec<PValue>) {
        if self.role != Role::Candidate || ballot != self.ballot || self.promised_by[from.index()] {
            return;
        }
        self.promised_by[from.index()] = true;
        for pv in accepted {
            // P2c: per slot, the value of the highest-numbered proposal among the promises.
            let newer = self.adopted.get(&pv.slot).is_none_or(|(b, _)| *b < pv.ballot);
            if newer {
                self.adopted.insert(pv.slot, (pv.ballot, pv.cmd));
            }
        }
        if self.promised_by.iter().filter(|p| **p).count() >= self.q1 {
            self.become_leader(cx);
        }
    }

    /// Phase 1 done: re-propose what phase 1 found in every undecided slot, no-ops in the
    /// gaps, then take new commands from the slot after the last one in use.
    fn become_leader(&mut self, cx: &mut Ctx<Self>) {
        self.role = Role::Leader;
        self.leader_hint = Some(self.id);
        self.stats.elections_won += 1;
        if self.bugs.ignore_accepted_value {
            // The bug: what the promises carried is thrown away.
            self.adopted.clear();
        }
        let adopted = std::mem::take(&mut self.adopted);
        let last = adopted
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(self.decided.keys().next_back().copied().unwrap_or(0))
            .max(self.from_slot - 1);
        if let Some(t) = self.leader_timer.take() {
            cx.cancel_timer(t);
        }
        if cx.tracing() {
            let what = if last < self.from_slot {
                "nothing to re-propose".to_string()
            } else {
                format!(
                    "re-proposes slots {}..={last}, {} with values phase 1 found",
                    self.from_slot,
                    adopted.len()
                )
            };
            cx.note(format!("leads with {:?}: {what}", self.ballot));
        }
        for slot in self.from_slot..=last {
            if self.decided.contains_key(&slot) {
                continue;
            }
            let cmd = match adopted.get(&slot) {
                Some((_, cmd)) => {
                    self.stats.adopted += 1;
                    cmd.clone()
                }
                None => {
                    self.stats.gaps_filled += 1;
                    Command::Noop
                }
            };
            self.propose(cx, slot, cmd);
        }
        self.next_slot = last + 1;
        self.recovered_upto = last;
        self.acked_round = vec![0; self.n];
        self.round_sent_mono.clear();
        self.lease_until_mono = 0;
        self.on_tick(cx);
    }

    /// Phase 2a for one slot.
    pub(super) fn propose(&mut self, cx: &mut Ctx<Self>, slot: u64, cmd: Command) {
        self.proposals.insert(
            slot,
            Proposal {
                cmd: cmd.clone(),
                acks: vec![false; self.n],
                sent_mono: cx.now_mono(),
            },
        );
        let msg = Msg::Accept {
            ballot: self.ballot,
            slot,
            cmd,
        };
        self.broadcast(cx, &msg, false);
    }

    /// Phase 2b arrives: with a phase-2 quorum the value is chosen; tell the learners.
    pub(super) fn on_accepted(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot, slot: u64) {
        if self.role != Role::Leader || ballot != self.ballot {
            return;
        }
        let Some(p) = self.proposals.get_mut(&slot) else {
            return;
        };
        p.acks[from.index()] = true;
        if p.acks.iter().filter(|a| **a).count() < self.q2 {
            return;
        }
        let p = self.proposals.remove(&slot).expect("present");
        let msg = Msg::Decide {
            decided: vec![(slot, p.cmd.clone())],
        };
        for to in cx.peers() {
            self.send(cx, to, msg.clone(), false);
        }
        self.learn(cx, slot, p.cmd);
    }

    /// A higher ballot refused us: preempted (Paxos Made Simple §2.4, dueling proposers).
    pub(super) fn on_nack(&mut self, cx: &mut Ctx<Self>, ballot: Ballot, promised: Ballot) {
        self.see(promised);
        if self.role == Role::Follower || ballot != self.ballot || promised <= self.ballot {
            return;
        }
        self.preempted(cx, promised);
    }

    /// A higher ballot is about: a follower again, and when to try phase 1 again.
    pub(super) fn preempted(&mut self, cx: &mut Ctx<Self>, by: Ballot) {
        self.stats.preempted += 1;
        if cx.tracing() {
            cx.note(format!("preempted by {by:?}"));
        }
        self.step_down(cx);
        match self.p.backoff {
            // Wait a fresh random timeout; a leader heard from meanwhile keeps us a follower.
            Backoff::Random => self.reset_leader_timer(cx),
            // At once (as soon as this event is handled), with a higher ballot.
            Backoff::None => {
                self.leader_deadline = cx.now_mono();
                if let Some(t) = self.leader_timer.take() {
                    cx.cancel_timer(t);
                }
                self.leader_timer = Some(cx.set_timer(0, Timer::LeaderTimeout));
            }
        }
    }

    /// Every heartbeat interval: a leader sends HEARTBEATs (a new lease round) and resends
    /// ACCEPTs that went unanswered; a candidate resends PREPAREs.
    pub(super) fn on_tick(&mut self, cx: &mut Ctx<Self>) {
        match self.role {
            Role::Follower => return,
            Role::Candidate => {
                let msg = Msg::Prepare {
                    ballot: self.ballot,
                    from_slot: self.from_slot,
                };
                for to in cx.peers() {
                    if !self.promised_by[to.index()] {
                        self.send(cx, to, msg.clone(), false);
                    }
                }
            }
            Role::Leader => {
                self.hb_round += 1;
                let now = cx.now_mono();
                self.round_sent_mono.push_back((self.hb_round, now));
                if self.round_sent_mono.len() > 64 {
                    self.round_sent_mono.pop_front();
                }
                self.acked_round[self.id.index()] = self.hb_round;
                let msg = Msg::Heartbeat {
                    ballot: self.ballot,
                    round: self.hb_round,
                    decided: self.prefix,
                };
                for to in cx.peers() {
                    self.send(cx, to, msg.clone(), false);
                }
                self.resend_accepts(cx, now);
                self.check_lease(cx);
            }
        }
        self.ensure_tick(cx);
    }

    /// ACCEPTs older than a heartbeat interval, again, to the acceptors that did not answer
    /// (at most 64 slots a tick).
    fn resend_accepts(&mut self, cx: &mut Ctx<Self>, now: u64) {
        let old: Vec<u64> = self
            .proposals
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.sent_mono) >= self.p.heartbeat.0)
            .map(|(s, _)| *s)
            .take(64)
            .collect();
        for slot in old {
            let p = self.proposals.get_mut(&slot).expect("listed");
            p.sent_mono = now;
            let (cmd, acks) = (p.cmd.clone(), p.acks.clone());
            for to in cx.peers() {
                if !acks[to.index()] {
                    let msg = Msg::Accept {
                        ballot: self.ballot,
                        slot,
                        cmd: cmd.clone(),
                    };
                    self.send(cx, to, msg, false);
                }
            }
        }
    }

    /// A follower confirmed a heartbeat round: maybe a longer lease; and catch it up if its
    /// decided prefix is behind ours.
    pub(super) fn on_heartbeat_ack(&mut self, cx: &mut Ctx<Self>, from: NodeId, ballot: Ballot, round: u64, decided: u64) {
        if self.role != Role::Leader || ballot != self.ballot {
            return;
        }
        let a = &mut self.acked_round[from.index()];
        *a = (*a).max(round);
        self.check_lease(cx);
        if decided < self.prefix {
            let upto = self.prefix.min(decided + u64::from(self.p.catch_up_batch));
            let batch: Vec<(u64, Command)> = self
                .decided
                .range(decided + 1..=upto)
                .map(|(s, c)| (*s, c.clone()))
                .collect();
            self.send(cx, from, Msg::Decide { decided: batch }, false);
        }
    }

    /// The lease: the newest round confirmed by enough acceptors that no phase-1 quorum can
    /// form without one of them (n − q1 + 1), each refusing other proposers for the minimum
    /// leader timeout after it heard the round; measured from when the round was sent and
    /// shrunk by the drift bound ρ: `min · (1 − ρ)/(1 + ρ)`.
    fn check_lease(&mut self, cx: &mut Ctx<Self>) {
        let need = self.n + 1 - self.q1.min(self.n);
        let mut rounds = self.acked_round.clone();
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = rounds.get(need.saturating_sub(1)).copied().unwrap_or(0);
        if let Some(&(_, sent)) = self.round_sent_mono.iter().find(|(r, _)| *r == confirmed) {
            let len = crate::common::lease::length(self.p.leader_timeout[0].0, cx.drift_bound_ppm());
            self.lease_until_mono = self.lease_until_mono.max(sent + len);
        }
    }
}
