//! Multi-Paxos's safety properties, checked after every event from what each node did in it
//! (promises and acceptances as they become visible, values learned and applied):
//!
//! - One value per slot: at most one value is ever chosen in a slot (Paxos Made Simple §2.1,
//!   "only a single value is chosen"). A value is chosen when a phase-2 quorum of acceptors
//!   has accepted it under one ballot, durably.
//! - A chosen value is kept: once a value is chosen in a slot, every acceptance there under a
//!   higher ballot is of that value (P2b, §2.2).
//! - Learned values are chosen: a learner learns only a value that was chosen (§2.1).
//! - Replicas agree: all replicas apply the same command in each slot (§3).
//! - Accept at or above promise: no acceptor accepts a ballot below one it promised (P1a),
//!   across restarts.
//! - Unique ballots: no ballot is promised to two different proposers (§2.5).

use super::node::{Paxos, Release, Role};
use super::messages::Ballot;
use sim::{CheckDecl, CheckSink, Invariants, NodeId, World};
use std::collections::BTreeMap;

pub const ONE_VALUE: &str = "one-value-per-slot";
pub const CHOSEN_KEPT: &str = "chosen-value-kept";
pub const LEARNED_CHOSEN: &str = "learned-is-chosen";
pub const REPLICAS_AGREE: &str = "replicas-agree";
pub const ABOVE_PROMISE: &str = "accept-at-or-above-promise";
pub const UNIQUE_BALLOTS: &str = "unique-ballots";
pub const LEADER_CHANGE: &str = "leader-change";
pub const PREEMPTED: &str = "preempted";
pub const ADOPTED: &str = "value-adopted";
pub const GAP_FILLED: &str = "gap-filled";
pub const LEASE_READ: &str = "lease-read-served";
pub const SINGLE_LEADER: &str = "single-leader";

/// Slots kept before old ones are forgotten.
const KEEP: usize = 8192;

/// One (ballot, value) accepted in a slot, and by whom.
struct Votes {
    ballot: Ballot,
    digest: u64,
    by: Vec<NodeId>,
}

#[derive(Clone, Copy, Default)]
struct Seen {
    up: bool,
    paused: bool,
    leader: bool,
    ballot: Ballot,
    promised: Ballot,
    hint: Option<NodeId>,
    prefix: u64,
}

pub struct PaxosInvariants {
    q2: usize,
    /// Slot → every (ballot, value) accepted there.
    votes: BTreeMap<u64, Vec<Votes>>,
    /// Slot → the chosen (ballot, value).
    chosen: BTreeMap<u64, (Ballot, u64)>,
    /// Slot → the value applied there.
    applied: BTreeMap<u64, u64>,
    /// Slots at or below this were forgotten.
    floor: u64,
    /// Per acceptor: the highest ballot it promised.
    promised: Vec<Ballot>,
    /// Ballot → the proposer it was promised to.
    owners: BTreeMap<Ballot, NodeId>,
    leaders: BTreeMap<Ballot, NodeId>,
    seen: Vec<Seen>,
    reported: [bool; 5],
}

impl PaxosInvariants {
    fn on_accept(&mut self, a: NodeId, slot: u64, ballot: Ballot, digest: u64, sink: &mut CheckSink) {
        let promised = self.promised[a.index()];
        if ballot < promised {
            sink.fail(ABOVE_PROMISE, || {
                format!("{a} accepted {ballot:?} in slot {slot} after promising {promised:?}")
            });
        }
        if slot <= self.floor {
            return;
        }
        let votes = self.votes.entry(slot).or_default();
        let i = match votes.iter().position(|v| v.ballot == ballot && v.digest == digest) {
            Some(i) => i,
            None => {
                votes.push(Votes {
                    ballot,
                    digest,
                    by: Vec::new(),
                });
                votes.len() - 1
            }
        };
        if !votes[i].by.contains(&a) {
            votes[i].by.push(a);
        }
        // Chosen now?
        if votes[i].by.len() >= self.q2 {
            match self.chosen.get(&slot) {
                Some(&(b, d)) if d != digest => {
                    sink.fail(ONE_VALUE, || {
                        format!("two values chosen in slot {slot}: one under {b:?}, another under {ballot:?}")
                    });
                }
                Some(_) => {}
                None => {
                    self.chosen.insert(slot, (ballot, digest));
                }
            }
        }
        // Kept: every acceptance above the chosen ballot is of the chosen value.
        if let Some(&(b, d)) = self.chosen.get(&slot) {
            if let Some(v) = votes.iter().find(|v| v.ballot > b && v.digest != d) {
                let (vb, by) = (v.ballot, v.by.clone());
                sink.fail(CHOSEN_KEPT, || {
                    format!(
                        "slot {slot}: a value was chosen under {b:?}, but {} accepted another under {vb:?}",
                        by.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
                    )
                });
            }
        }
    }

    fn on_promise(&mut self, a: NodeId, ballot: Ballot, to: NodeId, sink: &mut CheckSink) {
        let p = &mut self.promised[a.index()];
        *p = (*p).max(ballot);
        match self.owners.get(&ballot) {
            Some(&o) if o != to => {
                sink.fail(UNIQUE_BALLOTS, || {
                    format!("ballot {ballot:?} was promised to both {o} and {to}")
                });
            }
            Some(_) => {}
            None => {
                self.owners.insert(ballot, to);
            }
        }
    }

    fn check_node(&mut self, id: NodeId, x: &Paxos, sink: &mut CheckSink) {
        for r in &x.released_now {
            match *r {
                Release::Promise { ballot, to } => self.on_promise(id, ballot, to, sink),
                Release::Accept { slot, ballot, digest } => self.on_accept(id, slot, ballot, digest, sink),
            }
        }
        for &(slot, d) in &x.decided_now {
            if slot <= self.floor {
                continue;
            }
            match self.chosen.get(&slot) {
                Some(&(_, c)) if c == d => {}
                Some(_) => sink.fail(LEARNED_CHOSEN, || {
                    format!("{id} learned a value in slot {slot} other than the one chosen there")
                }),
                None => sink.fail(LEARNED_CHOSEN, || {
                    format!("{id} learned a value in slot {slot} before any was chosen there")
                }),
            }
        }
        for &(slot, d) in &x.applied_now {
            if slot <= self.floor {
                continue;
            }
            match self.applied.get(&slot) {
                Some(&c) if c != d => sink.fail(REPLICAS_AGREE, || {
                    format!("{id} applied a different command in slot {slot} than another replica did")
                }),
                Some(_) => {}
                None => {
                    self.applied.insert(slot, d);
                }
            }
        }
        if x.role_kind() == Role::Leader && !self.leaders.contains_key(&x.ballot()) {
            self.leaders.insert(x.ballot(), id);
            if self.leaders.len() >= 2 {
                sink.reached(LEADER_CHANGE);
            }
        }
        let flags = [
            (x.stats.preempted > 0, PREEMPTED),
            (x.stats.adopted > 0, ADOPTED),
            (x.stats.gaps_filled > 0, GAP_FILLED),
            (x.stats.lease_reads > 0, LEASE_READ),
        ];
        for (k, (hit, name)) in flags.into_iter().enumerate() {
            if hit && !self.reported[k] {
                self.reported[k] = true;
                sink.reached(name);
            }
        }
    }

    /// One running leader whose ballot no running node has promised beyond, followed by a
    /// majority.
    fn single_leader(&self) -> bool {
        let live = || self.seen.iter().enumerate().filter(|(_, s)| s.up && !s.paused);
        let mut leaders = live().filter(|(_, s)| s.leader);
        let (Some((l, ls)), None) = (leaders.next(), leaders.next()) else {
            return false;
        };
        if live().any(|(_, s)| s.promised > ls.ballot) {
            return false;
        }
        let l = NodeId(l as u32);
        let followers = self.seen.iter().filter(|s| s.up && s.hint == Some(l)).count();
        followers > self.seen.len() / 2
    }

    /// Forgets slots every node has applied.
    fn prune(&mut self) {
        let floor = self.seen.iter().map(|s| s.prefix).min().unwrap_or(0);
        if floor <= self.floor {
            return;
        }
        self.floor = floor;
        let keep = |m: &mut BTreeMap<u64, _>| *m = m.split_off(&(floor + 1));
        keep(&mut self.applied);
        self.votes = self.votes.split_off(&(floor + 1));
        self.chosen = self.chosen.split_off(&(floor + 1));
    }
}

impl Invariants<Paxos> for PaxosInvariants {
    fn new(cluster: &sim::cluster::Cluster, params: &[super::PaxosParams]) -> Self {
        let n = cluster.len();
        PaxosInvariants {
            q2: params[0].quorums(n).1,
            votes: BTreeMap::new(),
            chosen: BTreeMap::new(),
            applied: BTreeMap::new(),
            floor: 0,
            promised: vec![Ballot::ZERO; n],
            owners: BTreeMap::new(),
            leaders: BTreeMap::new(),
            seen: vec![Seen::default(); n],
            reported: [false; 5],
        }
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::always(ONE_VALUE, "at most one value is chosen in each slot (Paxos Made Simple §2.1)"),
            CheckDecl::always(
                CHOSEN_KEPT,
                "once chosen in a slot, only that value is accepted there under higher ballots (P2b, §2.2)",
            ),
            CheckDecl::always(LEARNED_CHOSEN, "a learner learns only a chosen value (§2.1)"),
            CheckDecl::always(REPLICAS_AGREE, "all replicas apply the same command in each slot (§3)"),
            CheckDecl::always(
                ABOVE_PROMISE,
                "no acceptor accepts a ballot below one it promised, across restarts (P1a, §2.2)",
            ),
            CheckDecl::always(UNIQUE_BALLOTS, "no ballot is promised to two proposers (§2.5)"),
            CheckDecl::sometimes(LEADER_CHANGE, "a second leader completed phase 1"),
            CheckDecl::sometimes(PREEMPTED, "a proposer was preempted by a higher ballot"),
            CheckDecl::sometimes(ADOPTED, "a new leader re-proposed a value accepted under an earlier ballot (P2c)"),
            CheckDecl::sometimes(GAP_FILLED, "a new leader filled an empty slot with a no-op (§3)"),
            CheckDecl::sometimes(LEASE_READ, "a read was served under the leader's lease"),
            CheckDecl::eventually(SINGLE_LEADER, "exactly one leader, unpreempted, followed by a majority"),
        ]
    }

    fn after_event(&mut self, world: &World<Paxos>, touched: NodeId, sink: &mut CheckSink) {
        let view = world.node(touched);
        let i = touched.index();
        match view.state {
            None => {
                let prefix = self.seen[i].prefix;
                self.seen[i] = Seen { prefix, ..Seen::default() };
            }
            Some(x) => {
                self.seen[i] = Seen {
                    up: true,
                    paused: view.paused,
                    leader: x.role_kind() == Role::Leader,
                    ballot: x.ballot(),
                    promised: x.promised(),
                    hint: x.leader_hint(),
                    prefix: x.prefix(),
                };
                self.check_node(touched, x, sink);
            }
        }
        if self.single_leader() {
            sink.holds(SINGLE_LEADER);
        }
        if self.chosen.len() > KEEP || self.applied.len() > KEEP {
            self.prune();
        }
    }

    fn at_end(&mut self, world: &World<Paxos>, sink: &mut CheckSink) {
        sink.explain(SINGLE_LEADER, || {
            let nodes = crate::common::explain::nodes(world, |x| {
                let role = format!("{:?}", x.role_kind()).to_lowercase();
                format!("{role} ({:?}, promised {:?})", x.ballot(), x.promised())
            });
            format!("the nodes are: {nodes}")
        });
    }
}
