//! A Multi-Paxos node: proposer, acceptor and learner co-located (Paxos Made Simple §2.1, §3),
//! its parameters, durable state and the glue to the engine. The acceptor is in `acceptor.rs`,
//! the proposer and leader in `proposer.rs`, learning, applying and clients in `learner.rs`.

use super::bugs::Bugs;
use super::invariants::PaxosInvariants;
use super::messages::{Ballot, Command, Msg, PValue, Timer};
use crate::common::kv::KvStore;
use crate::common::session::Sessions;
use crate::families::kv::{Kv, KvReply};
use serde::{Deserialize, Serialize};
use sim::time::{Dur, NANOS_PER_MILLI};
use sim::{ClientId, Ctx, Draw, NodeId, Protocol, RequestOf, SyncId, TimerId};
use std::collections::{BTreeMap, VecDeque};

/// How the leader serves reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// Through the log, like writes.
    Log,
    /// From the leader's state while a lease holds: a quorum of acceptors that will refuse
    /// other proposers' PREPAREs for a while acknowledged its heartbeat (like Raft's
    /// dissertation §6.4.1), shrunk by the clock drift bound.
    Lease,
    /// One of the two at random per read (for fuzzing).
    Mixed,
}

/// What a preempted proposer does (dueling proposers, Paxos Made Simple §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backoff {
    /// Wait a fresh random leader timeout before trying again, unless a leader is heard from
    /// meanwhile (the random delays of Paxos Made Simple §2.4 and PMMC's liveness discussion).
    Random,
    /// Retry at once with a higher ballot: two proposers can then preempt each other forever
    /// (the liveness problem of §2.4), shown by `scenarios/paxos/dueling.toml`.
    None,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaxosParams {
    /// The failure detector's timeout, drawn uniformly from this range: no heartbeat from a
    /// leader for that long starts phase 1.
    pub leader_timeout: [Dur; 2],
    /// The leader's heartbeat interval (also when it retransmits).
    pub heartbeat: Dur,
    /// Phase-1 quorum size (0: n − q2 + 1, the smallest that meets every phase-2 quorum).
    pub q1: u32,
    /// Phase-2 quorum size (0: a majority).
    pub q2: u32,
    pub backoff: Backoff,
    pub read_mode: ReadMode,
    /// An acceptor refuses a new proposer's PREPARE while it heard from the leader within the
    /// minimum leader timeout. Leases depend on it.
    pub stickiness: bool,
    /// Most decided slots sent to a lagging follower in one DECIDE.
    pub catch_up_batch: u32,
}

impl Default for PaxosParams {
    fn default() -> Self {
        PaxosParams {
            leader_timeout: [Dur(150 * NANOS_PER_MILLI), Dur(300 * NANOS_PER_MILLI)],
            heartbeat: Dur(50 * NANOS_PER_MILLI),
            q1: 0,
            q2: 0,
            backoff: Backoff::Random,
            read_mode: ReadMode::Log,
            stickiness: true,
            catch_up_batch: 256,
        }
    }
}

impl PaxosParams {
    /// (q1, q2) for `n` acceptors, as configured (before any planted bug).
    pub fn quorums(&self, n: usize) -> (usize, usize) {
        let q2 = if self.q2 == 0 { n / 2 + 1 } else { self.q2 as usize };
        let q1 = if self.q1 == 0 { (n + 1).saturating_sub(q2) } else { self.q1 as usize };
        (q1, q2)
    }
}

pub const PARAM_DOCS: &[sim::ParamDoc] = &[
    sim::ParamDoc {
        name: "leader_timeout",
        description: "[min, max]: no heartbeat from a leader for a time drawn from it starts phase 1",
    },
    sim::ParamDoc {
        name: "heartbeat",
        description: "the leader's heartbeat and retransmission interval (shorter than the minimum leader timeout)",
    },
    sim::ParamDoc {
        name: "q1",
        description: "phase-1 quorum size; 0: n − q2 + 1 (Flexible Paxos: only q1 + q2 > n is needed)",
    },
    sim::ParamDoc {
        name: "q2",
        description: "phase-2 quorum size; 0: a majority",
    },
    sim::ParamDoc {
        name: "backoff",
        description: "random | none: a preempted proposer waits a random leader timeout, or retries at once (dueling proposers)",
    },
    sim::ParamDoc {
        name: "read_mode",
        description: "log | lease | mixed: reads go through the log, or are served under a leader lease",
    },
    sim::ParamDoc {
        name: "stickiness",
        description: "acceptors refuse new PREPAREs while the leader is heard from; leases need it",
    },
    sim::ParamDoc {
        name: "catch_up_batch",
        description: "most decided slots in one catch-up DECIDE to a lagging follower",
    },
];

/// What an acceptor keeps on disk (Paxos Made Simple §2.2: it "must remember this information
/// even if it fails and then restarts"; §2.5: stable storage), and the learner's decisions.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PaxosDurable {
    pub promised: Ballot,
    /// Slot → the highest-ballot value accepted there.
    pub accepted: BTreeMap<u64, (Ballot, Command)>,
    /// Slot → the value learned chosen there (a cache: it can be learned again).
    pub decided: BTreeMap<u64, Command>,
}

#[derive(Clone, Debug, Serialize)]
pub enum PaxosWrite {
    Promise(Ballot),
    /// Accepting a ballot also promises it.
    Accept(PValue),
    Decide(u64, Command),
}

impl sim::Durable for PaxosDurable {
    type Write = PaxosWrite;
    fn apply(&mut self, w: &PaxosWrite) {
        match w {
            PaxosWrite::Promise(b) => self.promised = self.promised.max(*b),
            PaxosWrite::Accept(p) => {
                self.promised = self.promised.max(p.ballot);
                self.accepted.insert(p.slot, (p.ballot, p.cmd.clone()));
            }
            PaxosWrite::Decide(slot, cmd) => {
                self.decided.insert(*slot, cmd.clone());
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    Follower,
    /// Running phase 1 for `ballot`.
    Candidate,
    /// Phase 1 done: proposes in phase 2 only, until preempted (Paxos Made Simple §3).
    Leader,
}

/// A value the leader is getting accepted in a slot.
#[derive(Clone, Debug)]
pub(super) struct Proposal {
    pub cmd: Command,
    pub acks: Vec<bool>,
    /// When its ACCEPTs were last sent (monotonic), for retransmission.
    pub sent_mono: u64,
}

/// Something an acceptor did that becomes visible once its disk write is synced (or at once,
/// under a planted bug): the checks read these.
#[derive(Clone, Copy, Debug)]
pub(super) enum Release {
    /// A promise of `ballot` to proposer `to`.
    Promise { ballot: Ballot, to: NodeId },
    /// An acceptance: slot, ballot, digest of the value.
    Accept { slot: u64, ballot: Ballot, digest: u64 },
}

/// Counters the checks read.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub elections_won: u64,
    pub preempted: u64,
    pub adopted: u64,
    pub gaps_filled: u64,
    pub lease_reads: u64,
}

pub struct Paxos {
    pub(super) id: NodeId,
    pub(super) n: usize,
    pub(super) p: PaxosParams,
    pub(super) bugs: Bugs,
    pub(super) q1: usize,
    pub(super) q2: usize,
    // Acceptor (mirrors the disk, plus what is not yet synced).
    pub(super) promised: Ballot,
    pub(super) accepted: BTreeMap<u64, (Ballot, Command)>,
    // Learner and replica.
    pub(super) decided: BTreeMap<u64, Command>,
    /// Every slot up to here is decided and applied.
    pub(super) prefix: u64,
    pub(super) kv: KvStore,
    pub(super) sessions: Sessions<KvReply>,
    // Proposer.
    pub(super) role: Role,
    pub(super) ballot: Ballot,
    /// The highest round seen in any ballot.
    pub(super) round_seen: u64,
    pub(super) leader_hint: Option<NodeId>,
    pub(super) promised_by: Vec<bool>,
    /// Phase 1's collected values: slot → the highest-ballot value any promise carried.
    pub(super) adopted: BTreeMap<u64, (Ballot, Command)>,
    pub(super) from_slot: u64,
    pub(super) proposals: BTreeMap<u64, Proposal>,
    pub(super) next_slot: u64,
    /// The highest slot phase 1 found in use: lease reads wait until it is applied.
    pub(super) recovered_upto: u64,
    /// Slot → the client waiting for it; (session, seq) → its slot.
    pub(super) pending: BTreeMap<u64, (ClientId, u64, u64)>,
    pub(super) pending_ops: BTreeMap<(u64, u64), u64>,
    // Failure detection and leases.
    pub(super) leader_timer: Option<TimerId>,
    pub(super) leader_deadline: u64,
    pub(super) tick_timer: Option<TimerId>,
    /// Monotonic time the leader was last heard from (heartbeat or ACCEPT).
    pub(super) leader_contact_mono: Option<u64>,
    pub(super) hb_round: u64,
    pub(super) acked_round: Vec<u64>,
    pub(super) round_sent_mono: VecDeque<(u64, u64)>,
    pub(super) lease_until_mono: u64,
    // Plumbing.
    /// Messages to this node's own roles: (the sync they wait for, the message).
    pub(super) inbox: VecDeque<(Option<SyncId>, Msg)>,
    pub(super) synced: Option<SyncId>,
    pub(super) releases: VecDeque<(SyncId, Release)>,
    /// Disk writes issued since boot, and how many of them are known durable; the syncs this
    /// node requested with the write count each covers.
    pub(super) writes: u64,
    pub(super) durable_writes: u64,
    pub(super) sync_marks: crate::common::durability::SyncMarks,
    // What this event did, for the checks.
    pub(super) released_now: Vec<Release>,
    pub(super) decided_now: Vec<(u64, u64)>,
    pub(super) applied_now: Vec<(u64, u64)>,
    pub stats: Stats,
}

impl Paxos {
    pub fn role_kind(&self) -> Role {
        self.role
    }

    pub fn ballot(&self) -> Ballot {
        self.ballot
    }

    pub fn promised(&self) -> Ballot {
        self.promised
    }

    pub fn prefix(&self) -> u64 {
        self.prefix
    }

    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader_hint
    }

    pub(super) fn begin_event(&mut self) {
        self.released_now.clear();
        self.decided_now.clear();
        self.applied_now.clear();
    }

    pub(super) fn persist(&mut self, cx: &mut Ctx<Self>, w: PaxosWrite) {
        cx.persist(w);
        self.writes += 1;
    }

    /// A sync of every write so far (None: they are all durable already, so the engine would
    /// send a message waiting for them at once).
    fn sync(&mut self, cx: &mut Ctx<Self>) -> Option<SyncId> {
        if self.durable_writes == self.writes {
            return None;
        }
        // The sync already requested for every write so far: the engine releases messages
        // waiting for those writes when it completes, so what we release must not wait longer.
        if let Some((s, w)) = self.sync_marks.last() {
            if w == self.writes {
                return Some(s);
            }
        }
        let s = cx.sync();
        self.sync_marks.push(s, self.writes);
        Some(s)
    }

    /// Sends `msg` to `to`, or hands it to this node's own roles (after the sync if
    /// `after_sync`): a node's proposer and acceptor talk without the network.
    pub(super) fn send(&mut self, cx: &mut Ctx<Self>, to: NodeId, msg: Msg, after_sync: bool) {
        if to == self.id {
            let wait = if after_sync { self.sync(cx) } else { None };
            self.inbox.push_back((wait, msg));
        } else if after_sync {
            self.sync(cx);
            cx.send_after_sync(to, msg);
        } else {
            cx.send(to, msg);
        }
    }

    pub(super) fn broadcast(&mut self, cx: &mut Ctx<Self>, msg: &Msg, after_sync: bool) {
        for to in cx.nodes() {
            self.send(cx, to, msg.clone(), after_sync);
        }
    }

    /// Records what becomes visible once the writes so far are synced (or now).
    pub(super) fn release(&mut self, cx: &mut Ctx<Self>, r: Release, now: bool) {
        match if now { None } else { self.sync(cx) } {
            None => self.released_now.push(r),
            Some(s) => self.releases.push_back((s, r)),
        }
    }

    /// Delivers this node's messages to itself that are ready.
    pub(super) fn drain(&mut self, cx: &mut Ctx<Self>) {
        loop {
            let synced = self.synced;
            let ready = self
                .inbox
                .iter()
                .position(|(w, _)| w.is_none_or(|s| synced.is_some_and(|d| s <= d)));
            let Some(i) = ready else { break };
            let (_, msg) = self.inbox.remove(i).expect("position found");
            self.handle(cx, self.id, msg);
        }
    }

    pub(super) fn handle(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { ballot, from_slot } => self.on_prepare(cx, from, ballot, from_slot),
            Msg::Promise { ballot, accepted } => self.on_promise(cx, from, ballot, accepted),
            Msg::Accept { ballot, slot, cmd } => self.on_accept(cx, from, ballot, slot, cmd),
            Msg::Accepted { ballot, slot } => self.on_accepted(cx, from, ballot, slot),
            Msg::Nack { ballot, promised } => self.on_nack(cx, ballot, promised),
            Msg::Decide { decided } => {
                for (slot, cmd) in decided {
                    self.learn(cx, slot, cmd);
                }
            }
            Msg::Heartbeat { ballot, round, .. } => self.on_heartbeat(cx, from, ballot, round),
            Msg::HeartbeatAck { ballot, round, decided } => {
                self.on_heartbeat_ack(cx, from, ballot, round, decided)
            }
        }
    }

    /// Notes a ballot seen in any message.
    pub(super) fn see(&mut self, b: Ballot) {
        self.round_seen = self.round_seen.max(b.round);
    }

    // ----- failure detection -----

    /// Moves the failure detector's deadline a fresh random timeout from now.
    pub(super) fn reset_leader_timer(&mut self, cx: &mut Ctx<Self>) {
        let [lo, hi] = self.p.leader_timeout;
        let t = cx.rng().range_inclusive(lo.0, hi.0);
        self.leader_deadline = cx.now_mono() + t;
        if self.leader_timer.is_none() {
            self.leader_timer = Some(cx.set_timer(t, Timer::LeaderTimeout));
        }
    }

    fn on_leader_timer(&mut self, cx: &mut Ctx<Self>) {
        self.leader_timer = None;
        if self.role == Role::Leader {
            return;
        }
        let now = cx.now_mono();
        if now < self.leader_deadline {
            self.leader_timer = Some(cx.set_timer(self.leader_deadline - now, Timer::LeaderTimeout));
            return;
        }
        self.start_phase1(cx);
    }

    pub(super) fn ensure_tick(&mut self, cx: &mut Ctx<Self>) {
        if self.tick_timer.is_none() {
            self.tick_timer = Some(cx.set_timer(self.p.heartbeat.0, Timer::Heartbeat));
        }
    }

    /// Whether this acceptor heard from a live leader within the minimum leader timeout: it
    /// then refuses other proposers (what makes leases safe).
    pub(super) fn heard_from_leader_recently(&self, cx: &Ctx<Self>) -> bool {
        if !self.p.stickiness {
            return false;
        }
        if self.role == Role::Leader {
            return true;
        }
        self.leader_contact_mono
            .is_some_and(|t| cx.now_mono().saturating_sub(t) < self.p.leader_timeout[0].0)
    }

    /// A follower again (preempted, or a higher ballot heard of).
    pub(super) fn step_down(&mut self, cx: &mut Ctx<Self>) {
        if self.role == Role::Follower {
            return;
        }
        if cx.tracing() {
            cx.note(format!("steps down from {:?}", self.ballot));
        }
        self.role = Role::Follower;
        self.proposals.clear();
        self.adopted.clear();
        self.pending.clear();
        self.pending_ops.clear();
        self.lease_until_mono = 0;
        if let Some(t) = self.tick_timer.take() {
            cx.cancel_timer(t);
        }
    }
}

impl Protocol for Paxos {
    const NAME: &'static str = "paxos";
    const DESCRIPTION: &'static str =
        "Multi-Paxos (Lamport 2001; van Renesse & Altinbuken 2015): stable leader, flexible quorums, no-op gap filling, leases";
    const DEFAULT_NODES: usize = 3;
    const ROLES: &'static [&'static str] = &["leader", "follower", "candidate"];

    type Msg = Msg;
    type Timer = Timer;
    type Durable = PaxosDurable;
    type Params = PaxosParams;
    type Invariants = PaxosInvariants;
    type Workload = Kv;

    fn bugs() -> &'static [sim::BugDecl] {
        super::bugs::BUGS
    }

    fn param_docs() -> &'static [sim::ParamDoc] {
        PARAM_DOCS
    }

    fn validate_params(p: &PaxosParams) -> Result<(), String> {
        let [lo, hi] = p.leader_timeout;
        if lo.0 == 0 || lo > hi {
            return Err("leader_timeout must be [min, max] with 0 < min <= max".into());
        }
        if p.heartbeat.0 == 0 || p.heartbeat >= lo {
            return Err("heartbeat must be greater than 0 and shorter than the minimum leader timeout".into());
        }
        if p.catch_up_batch == 0 || p.catch_up_batch > 100_000 {
            return Err("catch_up_batch must be between 1 and 100000".into());
        }
        if !p.stickiness && matches!(p.read_mode, ReadMode::Lease | ReadMode::Mixed) {
            return Err("lease reads are only safe with stickiness = true".into());
        }
        Ok(())
    }

    /// Flexible Paxos (Howard, Malkhi & Spiegelman 2016, §3): every phase-1 quorum must meet
    /// every phase-2 quorum, so q1 + q2 > n; and every node must agree on the sizes.
    fn validate_cluster(cluster: &sim::cluster::Cluster, params: &[PaxosParams]) -> Result<(), String> {
        let n = cluster.len();
        let sizes: std::collections::BTreeSet<(u32, u32)> = params.iter().map(|p| (p.q1, p.q2)).collect();
        if sizes.len() > 1 {
            return Err("every node needs the same q1 and q2".into());
        }
        let p = &params[0];
        let (q1, q2) = p.quorums(n);
        if q1 == 0 || q2 == 0 || q1 > n || q2 > n {
            return Err(format!("q1 = {q1} and q2 = {q2} must be between 1 and the {n} nodes"));
        }
        if q1 + q2 <= n {
            return Err(format!(
                "q1 = {q1} and q2 = {q2} do not intersect among {n} nodes: a new leader could miss a chosen value \
                 (Flexible Paxos §3 needs q1 + q2 > n; the planted bug non-intersecting-quorums shows what happens)"
            ));
        }
        let mins: std::collections::BTreeSet<u64> = params.iter().map(|p| p.leader_timeout[0].0).collect();
        let leases = params
            .iter()
            .any(|p| matches!(p.read_mode, ReadMode::Lease | ReadMode::Mixed));
        if leases && mins.len() > 1 {
            return Err("lease reads need the same minimum leader timeout on every node".into());
        }
        Ok(())
    }

    /// Starts, or restarts from the disk only: the promise, the accepted values and the
    /// decisions (replayed into the state machine). A restarted node is a follower.
    fn boot(cx: &mut Ctx<Self>, params: &PaxosParams, d: &PaxosDurable) -> Self {
        let n = cx.cluster_size();
        let bugs = Bugs::from_set(cx.bugs());
        let (q1, q2) = params.quorums(n);
        // The planted bug: one short of intersecting (q1 + q2 = n).
        let q1 = if bugs.non_intersecting_quorums { n.saturating_sub(q2).max(1) } else { q1 };
        let mut x = Paxos {
            id: cx.id(),
            n,
            p: params.clone(),
            bugs,
            q1,
            q2,
            promised: d.promised,
            accepted: d.accepted.clone(),
            decided: d.decided.clone(),
            prefix: 0,
            kv: KvStore::default(),
            sessions: Sessions::default(),
            role: Role::Follower,
            ballot: Ballot::ZERO,
            round_seen: d.promised.round,
            leader_hint: None,
            promised_by: Vec::new(),
            adopted: BTreeMap::new(),
            from_slot: 1,
            proposals: BTreeMap::new(),
            next_slot: 1,
            recovered_upto: 0,
            pending: BTreeMap::new(),
            pending_ops: BTreeMap::new(),
            leader_timer: None,
            leader_deadline: 0,
            tick_timer: None,
            // The node may have acknowledged a leader's lease round before it crashed: the
            // promise not to help another proposer must outlive the restart.
            leader_contact_mono: (d.promised != Ballot::ZERO).then(|| cx.now_mono()),
            hb_round: 0,
            acked_round: Vec::new(),
            round_sent_mono: VecDeque::new(),
            lease_until_mono: 0,
            inbox: VecDeque::new(),
            synced: None,
            releases: VecDeque::new(),
            writes: 0,
            durable_writes: 0,
            sync_marks: Default::default(),
            released_now: Vec::new(),
            decided_now: Vec::new(),
            applied_now: Vec::new(),
            stats: Stats::default(),
        };
        x.apply_decided(cx);
        x.reset_leader_timer(cx);
        x
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Msg) {
        self.begin_event();
        self.handle(cx, from, msg);
        self.drain(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, timer: Timer) {
        self.begin_event();
        match timer {
            Timer::LeaderTimeout => self.on_leader_timer(cx),
            Timer::Heartbeat => {
                self.tick_timer = None;
                self.on_tick(cx);
            }
        }
        self.drain(cx);
    }

    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        self.begin_event();
        self.on_client_request(cx, req);
        self.drain(cx);
    }

    fn on_sync_done(&mut self, cx: &mut Ctx<Self>, sync: SyncId) {
        self.begin_event();
        self.synced = Some(self.synced.map_or(sync, |s| s.max(sync)));
        if let Some(w) = self.sync_marks.complete(sync) {
            self.durable_writes = self.durable_writes.max(w);
        }
        while let Some(&(s, r)) = self.releases.front() {
            if s > sync {
                break;
            }
            self.releases.pop_front();
            self.released_now.push(r);
        }
        self.drain(cx);
    }

    fn role(&self) -> &'static str {
        match self.role {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }

    /// Guided fuzzing's abstract state, each part cut to 0..=3: slots the leader has in
    /// flight, accepted slots above the decided prefix (what a new leader must adopt), decided
    /// slots waiting for a gap, whether a leader is known, and values adopted in phase 1.
    fn coverage(&self) -> u64 {
        let b = |x: u64| x.min(3);
        let above = self.accepted.range(self.prefix + 1..).count() as u64;
        let waiting = self.decided.range(self.prefix + 1..).count() as u64;
        b(self.proposals.len() as u64)
            | b(above) << 2
            | b(waiting) << 4
            | u64::from(self.leader_hint.is_some()) << 6
            | b(self.adopted.len() as u64) << 7
    }

    fn summary(&self) -> String {
        format!(
            "ballot {:?}, promised {:?}, decided {}, accepted {}",
            self.ballot,
            self.promised,
            self.prefix,
            self.accepted.keys().next_back().copied().unwrap_or(0)
        )
    }
}
