//! A Raft server: state (Figure 2), roles, elections (§5.2, §5.4.1) and the glue to the engine.
//! Log replication is in `replication.rs`, client requests and reads in `client.rs`.

use super::bugs::Bugs;
use super::invariants::RaftInvariants;
use super::log::{RaftDurable, RaftLog, RaftWrite};
use super::messages::{Command, Msg, Timer};
use crate::common::kv::KvStore;
use crate::common::session::Sessions;
use crate::families::kv::{Kv, KvReply};
use serde::{Deserialize, Serialize};
use sim::time::{Dur, NANOS_PER_MILLI};
use sim::{ClientId, Ctx, Draw, NodeId, Protocol, RequestOf, SyncId, TimerId};
use std::collections::{BTreeMap, VecDeque};

/// How the leader serves reads (dissertation §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// Confirm leadership with a heartbeat round, then read at the commit index (§6.4).
    ReadIndex,
    /// Put reads in the log like writes.
    Log,
    /// Serve reads while a leader lease holds (§6.4.1), bounded by the clock drift bound.
    Lease,
    /// Pick one of the three at random per read (for fuzzing).
    Mixed,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RaftParams {
    /// Election timeouts are drawn uniformly from this range (§5.2).
    pub election_timeout: [Dur; 2],
    /// Leader heartbeat interval (§5.2), or `"auto"`: half the minimum election timeout.
    pub heartbeat: Heartbeat,
    /// When a candidate sends RequestVote: once its new term and vote for itself are on disk
    /// (`before-asking`, as etcd does), or at once while they are written (`in-parallel`):
    /// Figure 2 asks for the write before *responding*; the candidate then counts its own
    /// vote, and so becomes leader, only once the write is durable.
    pub candidate_sync: CandidateSync,
    /// A candidate or leader that steps down (it saw a higher term) draws a fresh election
    /// timeout, as etcd does; `false` keeps the running one, as Figure 2 reads (the timer
    /// restarts only on an AppendEntries from the leader or a granted vote) and LogCabin does.
    pub step_down_resets_timer: bool,
    /// Election timeouts are whole multiples of this (1 ns: any value in the range). The
    /// implementation measured in the Raft paper's §9.3 drew whole milliseconds.
    pub timeout_granularity: Dur,
    /// Most entries in one AppendEntries.
    pub max_entries_per_append: u32,
    pub read_mode: ReadMode,
    /// Compact the log once this many entries below the all-have-it index can go (§7).
    pub compact_every: u64,
    /// Dissertation §4.2.3: ignore RequestVote while a leader was heard from within the minimum
    /// election timeout. Leases depend on it, so lease reads require it.
    pub stickiness: bool,
}

impl Default for RaftParams {
    fn default() -> Self {
        RaftParams {
            election_timeout: [Dur(150 * NANOS_PER_MILLI), Dur(300 * NANOS_PER_MILLI)],
            heartbeat: Heartbeat::Every(Dur(50 * NANOS_PER_MILLI)),
            timeout_granularity: Dur(1),
            step_down_resets_timer: true,
            candidate_sync: CandidateSync::BeforeAsking,
            max_entries_per_append: 64,
            read_mode: ReadMode::ReadIndex,
            compact_every: 1000,
            stickiness: true,
        }
    }
}

pub const PARAM_DOCS: &[sim::ParamDoc] = &[
    sim::ParamDoc {
        name: "election_timeout",
        description: "[min, max]: each election timeout is drawn uniformly from it (§5.2)",
    },
    sim::ParamDoc {
        name: "heartbeat",
        description: "interval of the leader's empty AppendEntries, or \"auto\": half the minimum election timeout (the Raft paper's §9.3 setup)",
    },
    sim::ParamDoc {
        name: "candidate_sync",
        description: "before-asking | in-parallel: a candidate's RequestVote waits for its term and vote to be synced, or goes at once (it still leads only once they are durable)",
    },
    sim::ParamDoc {
        name: "step_down_resets_timer",
        description: "a candidate or leader that sees a higher term draws a fresh election timeout (etcd); false keeps the running one (Figure 2, LogCabin)",
    },
    sim::ParamDoc {
        name: "timeout_granularity",
        description: "election timeouts are whole multiples of this (\"1ms\" as in the paper's §9.3 measurements; default 1ns)",
    },
    sim::ParamDoc {
        name: "max_entries_per_append",
        description: "most log entries sent in one AppendEntries",
    },
    sim::ParamDoc {
        name: "read_mode",
        description: "read-index | log | lease | mixed (dissertation §6.4); lease reads assume every node has the same minimum election timeout",
    },
    sim::ParamDoc {
        name: "compact_every",
        description: "compact the log in steps of this many entries (§7)",
    },
    sim::ParamDoc {
        name: "stickiness",
        description: "ignore RequestVote while a leader is alive (dissertation §4.2.3); leases need it",
    },
];

/// When a candidate's RequestVote leaves (see [`RaftParams::candidate_sync`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CandidateSync {
    BeforeAsking,
    InParallel,
}

/// The leader's heartbeat interval: a duration, or `"auto"` (half the minimum election timeout,
/// as in the Raft paper's §9.3 experiments, so a sweep over timeouts keeps the ratio).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    Every(Dur),
    Auto,
}

impl Heartbeat {
    /// The interval in ns, given the election timeout range.
    pub fn interval(self, election_timeout: [Dur; 2]) -> u64 {
        match self {
            Heartbeat::Every(d) => d.0,
            Heartbeat::Auto => election_timeout[0].0 / 2,
        }
    }
}

impl Serialize for Heartbeat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Heartbeat::Every(d) => d.serialize(s),
            Heartbeat::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Heartbeat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Heartbeat;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration string with a unit, e.g. \"50ms\", or \"auto\"")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Heartbeat, E> {
                if s == "auto" {
                    return Ok(Heartbeat::Auto);
                }
                sim::time::parse_duration(s)
                    .map(|t| Heartbeat::Every(Dur(t)))
                    .map_err(|e| E::custom(format!("{e} (or write \"auto\": half the minimum election timeout)")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Heartbeat, E> {
                Err(E::custom(format!(
                    "durations need a unit: write \"{v}ms\" (a string), not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A read waiting for leadership confirmation and for the state machine to catch up (§6.4).
#[derive(Clone, Debug)]
pub(super) struct PendingRead {
    pub req: RequestOf<Raft>,
    pub read_index: u64,
    pub round: u64,
}

/// Counters the checks read.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub elections_won: u64,
    pub truncations: u64,
    pub read_index_reads: u64,
    pub lease_reads: u64,
    pub log_reads: u64,
    pub compactions: u64,
}

pub struct Raft {
    pub(super) id: NodeId,
    pub(super) n: usize,
    pub(super) p: RaftParams,
    pub(super) bugs: Bugs,
    // Persistent state on all servers (Figure 2), mirrored in memory.
    pub(super) term: u64,
    pub(super) voted_for: Option<NodeId>,
    pub(super) log: RaftLog,
    // Volatile state on all servers.
    pub(super) role: Role,
    pub(super) leader: Option<NodeId>,
    pub(super) commit_index: u64,
    pub(super) last_applied: u64,
    pub(super) kv: KvStore,
    pub(super) sessions: Sessions<KvReply>,
    /// The armed election timer and the monotonic time it fires at.
    pub(super) election_timer: Option<(TimerId, u64)>,
    /// When the election timeout expires (monotonic). Resetting it only moves this deadline;
    /// the armed timer re-arms itself when it fires early, so a busy follower does not queue a
    /// new timer event for every AppendEntries.
    pub(super) election_deadline: Option<u64>,
    pub(super) heartbeat_timer: Option<TimerId>,
    /// Monotonic time of the last AppendEntries from a current leader (dissertation §4.2.3).
    pub(super) leader_contact_mono: Option<u64>,
    pub(super) votes: Vec<NodeId>,
    /// Candidate: which servers answered our RequestVote this term.
    pub(super) answered: Vec<bool>,
    /// Own log durable up to here (a leader counts itself only for durable entries).
    pub(super) durable_index: u64,
    /// `candidate_sync = in-parallel`: the sync that makes this candidacy's term and vote
    /// durable, while it is pending (the candidate may not lead before it completes).
    pub(super) vote_sync: Option<SyncId>,
    pub(super) syncs: crate::common::durability::SyncMarks,
    // Volatile state on leaders (reinitialized after election).
    pub(super) next_index: Vec<u64>,
    pub(super) match_index: Vec<u64>,
    /// AppendEntries sent to each follower and not answered yet (reset every heartbeat, so a
    /// lost message costs at most one heartbeat interval).
    pub(super) inflight: Vec<u32>,
    /// The read round carried by the last AppendEntries sent to each follower.
    pub(super) round_sent: Vec<u64>,
    /// Clients waiting for the entry at an index to be applied.
    pub(super) pending: BTreeMap<u64, (ClientId, u64, u64)>,
    pub(super) pending_ops: BTreeMap<(u64, u64), u64>,
    // Reads (dissertation §6.4).
    pub(super) read_round: u64,
    pub(super) acked_round: Vec<u64>,
    pub(super) confirmed_round: u64,
    pub(super) round_sent_mono: VecDeque<(u64, u64)>,
    pub(super) lease_until_mono: u64,
    /// Buggify `short-append` fired when this server became leader: one entry per message
    /// for the whole term.
    pub(super) short_appends: bool,
    pub(super) reads: VecDeque<PendingRead>,
    /// The index every server holds, as last advertised by a leader (§7).
    pub(super) floor: u64,
    /// Entries applied during the current event: (index, chain). For the checks.
    pub applied_now: Vec<(u64, u64)>,
    pub stats: Stats,
}

impl Raft {
    pub fn role_kind(&self) -> Role {
        self.role
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn log(&self) -> &RaftLog {
        &self.log
    }
    pub fn commit_index(&self) -> u64 {
        self.commit_index
    }
    pub fn last_applied(&self) -> u64 {
        self.last_applied
    }
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    /// The votes this server counted in its current term as a candidate (or when it won).
    pub fn votes_received(&self) -> &[NodeId] {
        &self.votes
    }

    pub(super) fn majority(&self) -> usize {
        self.n / 2 + 1
    }

    /// The largest value that a majority reaches, counting `own` for this server and
    /// `per_server[i]` for every other server `i` (a commit index, a confirmed read round).
    pub(super) fn quorum_value(&self, own: u64, per_server: &[u64]) -> u64 {
        let mut v: Vec<u64> = per_server.to_vec();
        v[self.id.index()] = own;
        let k = self.majority() - 1;
        *v.select_nth_unstable_by(k, |a, b| b.cmp(a)).1
    }

    /// Per-event scratch for the checks.
    pub(super) fn begin_event(&mut self) {
        self.applied_now.clear();
    }

    // ----- persistence -----

    /// Writes currentTerm and votedFor (persisted before any message that depends on them).
    pub(super) fn persist_hard_state(&mut self, cx: &mut Ctx<Self>) {
        // Bug `forget-vote-on-restart`: the vote never reaches the disk.
        let voted_for = if self.bugs.forget_vote_on_restart {
            None
        } else {
            self.voted_for
        };
        cx.persist(RaftWrite::HardState {
            term: self.term,
            voted_for,
        });
    }

    /// Requests a sync and remembers which index it makes durable.
    pub(super) fn sync_log(&mut self, cx: &mut Ctx<Self>) {
        let id = cx.sync();
        self.syncs.push(id, self.log.last_index());
    }

    // ----- timers -----

    /// §5.2: a fresh randomized election timeout.
    pub(super) fn reset_election_timer(&mut self, cx: &mut Ctx<Self>) {
        let [lo, hi] = self.p.election_timeout;
        let g = self.p.timeout_granularity.0.max(1);
        // Whole multiples of the granularity within the range (validated to hold one).
        let (first, last) = (lo.0.div_ceil(g), hi.0.max(lo.0) / g);
        let mut d = cx.rng().range_inclusive(first, last) * g;
        if cx.buggify(EARLY_ELECTION) {
            d = first * g;
        }
        let deadline = cx.now_mono() + d;
        self.election_deadline = Some(deadline);
        match self.election_timer {
            Some((_, fires)) if fires <= deadline => {} // fires first, then re-arms
            _ => self.arm_election_timer(cx, d, deadline),
        }
    }

    fn arm_election_timer(&mut self, cx: &mut Ctx<Self>, delay: u64, fires: u64) {
        if let Some((t, _)) = self.election_timer.take() {
            cx.cancel_timer(t);
        }
        self.election_timer = Some((cx.set_timer(delay, Timer::Election), fires));
    }

    fn stop_election_timer(&mut self, cx: &mut Ctx<Self>) {
        self.election_deadline = None;
        if let Some((t, _)) = self.election_timer.take() {
            cx.cancel_timer(t);
        }
    }

    /// The election timer fired: start an election if the deadline has really passed.
    fn on_election_timer(&mut self, cx: &mut Ctx<Self>) {
        self.election_timer = None;
        let Some(deadline) = self.election_deadline else {
            return;
        };
        let now = cx.now_mono();
        if now < deadline {
            self.arm_election_timer(cx, deadline - now, deadline);
        } else if self.role != Role::Leader {
            self.start_election(cx);
        }
    }

    pub(super) fn start_heartbeat_timer(&mut self, cx: &mut Ctx<Self>) {
        if let Some(t) = self.heartbeat_timer.take() {
            cx.cancel_timer(t);
        }
        let every = self.p.heartbeat.interval(self.p.election_timeout);
        self.heartbeat_timer = Some(cx.set_timer(every, Timer::Heartbeat));
    }

    // ----- roles -----

    /// §5.1: a server that sees a higher term becomes a follower of that term.
    pub(super) fn become_follower(&mut self, cx: &mut Ctx<Self>, term: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist_hard_state(cx);
        }
        if self.role != Role::Follower {
            if let Some(t) = self.heartbeat_timer.take() {
                cx.cancel_timer(t);
            }
            if self.role == Role::Leader {
                // Clients waiting here will time out and retry at the new leader; their
                // entries may still commit, which the session table makes harmless.
                self.pending.clear();
                self.pending_ops.clear();
                self.reads.clear();
                self.round_sent_mono.clear();
            }
            let was_leader = self.role == Role::Leader;
            self.role = Role::Follower;
            // A leader has no election timer running: it always needs a fresh one.
            if self.p.step_down_resets_timer || was_leader || self.election_deadline.is_none() {
                self.reset_election_timer(cx);
            }
        }
        self.leader = None;
    }

    /// §5.2: on election timeout, start an election for the next term.
    fn start_election(&mut self, cx: &mut Ctx<Self>) {
        self.term += 1;
        self.role = Role::Candidate;
        self.voted_for = Some(self.id);
        self.leader = None;
        self.votes = vec![self.id];
        self.persist_hard_state(cx);
        self.vote_sync = match self.p.candidate_sync {
            CandidateSync::InParallel => Some(cx.sync()),
            CandidateSync::BeforeAsking => None,
        };
        self.reset_election_timer(cx);
        if cx.tracing() {
            cx.note(format!("times out, starts an election for term {}", self.term));
        }
        self.answered = vec![false; self.n];
        self.answered[self.id.index()] = true;
        self.request_votes(cx);
        // §5.1: RPCs that get no answer are retried; a candidate re-asks every heartbeat.
        self.start_heartbeat_timer(cx);
        self.won_election(cx);
    }

    /// A candidate with a majority of votes leads, once its own vote is durable.
    fn won_election(&mut self, cx: &mut Ctx<Self>) {
        if self.role == Role::Candidate && self.votes.len() >= self.majority() && self.vote_sync.is_none() {
            self.become_leader(cx);
        }
    }

    /// Sends RequestVote to every server that has not answered in this term.
    fn request_votes(&mut self, cx: &mut Ctx<Self>) {
        let msg = Msg::RequestVote {
            term: self.term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in cx.peers() {
            if !self.answered[peer.index()] {
                match self.p.candidate_sync {
                    // The vote for itself durable before anyone hears of the candidacy.
                    CandidateSync::BeforeAsking => cx.send_after_sync(peer, msg.clone()),
                    // Asked at once; `won_election` waits for the write instead.
                    CandidateSync::InParallel => cx.send(peer, msg.clone()),
                }
            }
        }
    }

    fn become_leader(&mut self, cx: &mut Ctx<Self>) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.stats.elections_won += 1;
        self.stop_election_timer(cx);
        let next = self.log.last_index() + 1;
        self.next_index = vec![next; self.n];
        self.match_index = vec![0; self.n];
        self.inflight = vec![0; self.n];
        self.round_sent = vec![0; self.n];
        self.acked_round = vec![0; self.n];
        self.confirmed_round = self.read_round;
        self.lease_until_mono = 0;
        self.short_appends = cx.buggify(SHORT_APPEND);
        // §8 / dissertation §6.4: a blank entry of the new term, so entries of earlier terms
        // commit with it and reads can be served once it is committed.
        self.append_entry(cx, Command::Noop);
        self.broadcast_append(cx);
        self.start_heartbeat_timer(cx);
    }

    // ----- elections -----

    /// §5.2, §5.4.1: grant at most one vote per term, only to candidates whose log is at least
    /// as up-to-date as ours.
    fn on_request_vote(
        &mut self,
        cx: &mut Ctx<Self>,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        if term > self.term && self.heard_from_leader_recently(cx) {
            // Dissertation §4.2.3: while a leader is known to be alive, ignore disruptive
            // candidates (this is also what makes leader leases safe).
            cx.send(
                from,
                Msg::RequestVoteReply {
                    term: self.term,
                    granted: false,
                },
            );
            return;
        }
        if term > self.term {
            self.become_follower(cx, term);
        }
        let up_to_date = last_term > self.log.last_term()
            || (last_term == self.log.last_term() && last_index >= self.log.last_index());
        let free = self.voted_for.is_none() || self.voted_for == Some(from);
        let granted = term == self.term && free && (up_to_date || self.bugs.no_up_to_date_check);
        if granted {
            self.voted_for = Some(from);
            self.persist_hard_state(cx);
            self.reset_election_timer(cx);
            if cx.tracing() {
                cx.note(format!("votes for {from} in term {term}"));
            }
        }
        // The vote must be on disk before the candidate can count it.
        cx.send_after_sync(
            from,
            Msg::RequestVoteReply {
                term: self.term,
                granted,
            },
        );
    }

    fn heard_from_leader_recently(&self, cx: &Ctx<Self>) -> bool {
        if !self.p.stickiness {
            return false;
        }
        if self.role == Role::Leader {
            return true;
        }
        // Not conditional on a leader still being known: a term change forgets the leader, not
        // the promise made to it.
        self.leader_contact_mono
            .is_some_and(|t| cx.now_mono().saturating_sub(t) < self.p.election_timeout[0].0)
    }

    fn on_request_vote_reply(&mut self, cx: &mut Ctx<Self>, from: NodeId, term: u64, granted: bool) {
        if term > self.term {
            self.become_follower(cx, term);
            return;
        }
        if self.role != Role::Candidate || term != self.term {
            return;
        }
        self.answered[from.index()] = true;
        if !granted {
            return;
        }
        if !self.votes.contains(&from) {
            self.votes.push(from);
        }
        self.won_election(cx);
    }
}

/// Buggify site: the election timeout is the range's minimum (§5.2 draws it from the range, so
/// this is one legal draw; it makes a follower stand for election as early as the rules let it).
pub(super) const EARLY_ELECTION: &str = "early-election";
/// Buggify site: for a whole term, an AppendEntries carries one entry even if more are waiting
/// (§5.3: "one or more"; batching is an optimisation, dissertation §10.2.1), as a size limit
/// would make it. Catching a follower up then takes a message per entry.
pub(super) const SHORT_APPEND: &str = "short-append";

const BUGGIFY: &[sim::BuggifyDecl] = &[
    sim::BuggifyDecl {
        name: EARLY_ELECTION,
        description: "draw an election timeout at the range's minimum (§5.2 allows any value in the range)",
    },
    sim::BuggifyDecl {
        name: SHORT_APPEND,
        description: "a new leader sends one entry per AppendEntries all term, even when more wait (§5.3: one or more entries)",
    },
];

impl Protocol for Raft {
    const NAME: &'static str = "raft";
    const DESCRIPTION: &'static str =
        "Raft (Ongaro & Ousterhout 2014): elections, log replication, client sessions, ReadIndex and lease reads";
    const DEFAULT_NODES: usize = 3;
    const ROLES: &'static [&'static str] = &["leader", "follower", "candidate"];

    type Msg = Msg;
    type Timer = Timer;
    type Durable = RaftDurable;
    type Params = RaftParams;
    type Invariants = RaftInvariants;
    type Workload = Kv;

    fn bugs() -> &'static [sim::BugDecl] {
        super::bugs::BUGS
    }

    fn param_docs() -> &'static [sim::ParamDoc] {
        PARAM_DOCS
    }

    fn buggify_sites() -> &'static [sim::BuggifyDecl] {
        BUGGIFY
    }

    fn validate_params(p: &RaftParams) -> Result<(), String> {
        let [lo, hi] = p.election_timeout;
        if lo.0 == 0 || lo > hi {
            return Err("election_timeout must be [min, max] with 0 < min <= max".into());
        }
        let hb = p.heartbeat.interval(p.election_timeout);
        if hb == 0 || hb >= lo.0 {
            return Err(
                "heartbeat must be greater than 0 and shorter than the minimum election timeout".into(),
            );
        }
        let g = p.timeout_granularity.0;
        if g == 0 || hi.0 / g < lo.0.div_ceil(g) {
            return Err(format!(
                "timeout_granularity {} leaves no whole multiple inside election_timeout [{}, {}]",
                sim::time::format_duration(g),
                sim::time::format_duration(lo.0),
                sim::time::format_duration(hi.0)
            ));
        }
        if p.max_entries_per_append == 0 || p.max_entries_per_append > 100_000 {
            return Err("max_entries_per_append must be between 1 and 100000".into());
        }
        if p.compact_every == 0 {
            return Err("compact_every must be at least 1".into());
        }
        if !p.stickiness && matches!(p.read_mode, ReadMode::Lease | ReadMode::Mixed) {
            return Err("lease reads are only safe with stickiness = true (dissertation §6.4.1)".into());
        }
        Ok(())
    }

    /// Dissertation §6.4.1: a lease lasts the *leader's* minimum election timeout, and holds
    /// only if no follower can time out sooner, so with lease reads every server must have
    /// the same minimum.
    fn validate_cluster(_cluster: &sim::cluster::Cluster, params: &[RaftParams]) -> Result<(), String> {
        let leases = params
            .iter()
            .any(|p| matches!(p.read_mode, ReadMode::Lease | ReadMode::Mixed));
        let mins: std::collections::BTreeSet<u64> = params.iter().map(|p| p.election_timeout[0].0).collect();
        if leases && mins.len() > 1 {
            return Err(format!(
                "lease reads need the same minimum election timeout on every server (dissertation §6.4.1); these differ: {}",
                mins.iter()
                    .map(|m| sim::time::format_duration(*m))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(())
    }

    /// Starts, or restarts from durable state only: term, vote, log and the compacted state
    /// machine. Everything else is rebuilt (commit index and leader are learned again).
    fn boot(cx: &mut Ctx<Self>, params: &RaftParams, d: &RaftDurable) -> Self {
        let n = cx.cluster_size();
        let mut r = Raft {
            id: cx.id(),
            n,
            p: params.clone(),
            bugs: Bugs::from_set(cx.bugs()),
            term: d.term,
            voted_for: d.voted_for,
            log: d.log.clone(),
            role: Role::Follower,
            leader: None,
            commit_index: d.sm.index,
            last_applied: d.sm.index,
            kv: d.sm.kv.clone(),
            sessions: d.sm.sessions.clone(),
            election_timer: None,
            election_deadline: None,
            heartbeat_timer: None,
            // §6.4.1: before crashing, this server may have acknowledged a leader's lease round;
            // the promise not to vote for a minimum election timeout must survive the restart.
            // It never acknowledged anything if it never left term 0.
            leader_contact_mono: (d.term > 0).then(|| cx.now_mono()),
            votes: Vec::new(),
            answered: Vec::new(),
            durable_index: d.log.last_index(),
            vote_sync: None,
            syncs: Default::default(),
            next_index: Vec::new(),
            match_index: Vec::new(),
            inflight: Vec::new(),
            round_sent: Vec::new(),
            pending: BTreeMap::new(),
            pending_ops: BTreeMap::new(),
            read_round: 0,
            acked_round: Vec::new(),
            confirmed_round: 0,
            round_sent_mono: VecDeque::new(),
            lease_until_mono: 0,
            short_appends: false,
            reads: VecDeque::new(),
            floor: 0,
            applied_now: Vec::new(),
            stats: Stats {
                truncations: d.truncations,
                ..Stats::default()
            },
        };
        r.reset_election_timer(cx);
        r
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Msg) {
        self.begin_event();
        match msg {
            Msg::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.on_request_vote(cx, from, term, last_log_index, last_log_term),
            Msg::RequestVoteReply { term, granted } => self.on_request_vote_reply(cx, from, term, granted),
            Msg::AppendEntries(a) => self.on_append_entries(cx, from, a),
            Msg::AppendEntriesReply(r) => self.on_append_entries_reply(cx, from, r),
        }
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, timer: Timer) {
        self.begin_event();
        match timer {
            Timer::Election => self.on_election_timer(cx),
            Timer::Heartbeat => {
                self.heartbeat_timer = None;
                match self.role {
                    Role::Leader => {
                        self.on_heartbeat(cx);
                        self.start_heartbeat_timer(cx);
                    }
                    Role::Candidate => {
                        self.request_votes(cx);
                        self.start_heartbeat_timer(cx);
                    }
                    Role::Follower => {}
                }
            }
        }
    }

    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        self.begin_event();
        self.on_client_request(cx, req);
    }

    fn on_sync_done(&mut self, cx: &mut Ctx<Self>, sync: SyncId) {
        self.begin_event();
        if let Some(index) = self.syncs.complete(sync) {
            self.durable_index = self.durable_index.max(index.min(self.log.last_index()));
        }
        if self.vote_sync.is_some_and(|v| v <= sync) {
            self.vote_sync = None;
            self.won_election(cx);
        }
        if self.role == Role::Leader {
            self.advance_commit(cx);
        }
    }

    fn role(&self) -> &'static str {
        match self.role {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }

    /// Guided fuzzing's abstract state: the things Figure 8, §5.4 and the read rules turn on,
    /// each cut to 0..=3 — uncommitted entries in the log (what a crash can lose or a new leader
    /// overwrite), how many terms the newest entry lags the current term (a leader that has not
    /// yet committed in its term), committed but unapplied entries, whether a leader is known,
    /// and whether the first uncommitted entry is of an earlier term (Figure 8's situation).
    fn coverage(&self) -> u64 {
        let b = |x: u64| x.min(3);
        let last = self.log.last_index();
        let older = self.log.term_at(self.commit_index + 1).is_some_and(|t| t < self.term);
        // A leader with such an entry: on how many servers it is (§5.4.2: counting them must
        // not commit it).
        let held = if older && self.role == Role::Leader {
            let i = self.commit_index + 1;
            1 + self.match_index.iter().filter(|m| **m >= i).count() as u64
        } else {
            0
        };
        b(last.saturating_sub(self.commit_index))
            | b(self.term.saturating_sub(self.log.last_term())) << 2
            | b(self.commit_index.saturating_sub(self.last_applied)) << 4
            | u64::from(self.leader.is_some()) << 6
            | u64::from(older) << 7
            | b(held) << 8
    }

    fn summary(&self) -> String {
        format!(
            "term {}, log {} (last t{}), commit {}",
            self.term,
            self.log.last_index(),
            self.log.last_term(),
            self.commit_index
        )
    }
}
