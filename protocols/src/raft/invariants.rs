//! Raft's safety properties (§5.2, Figure 3), checked after every event, incrementally: only the
//! touched server is examined, and entries are compared by their chain hashes (a hash of the
//! whole prefix), so a check is O(servers) however long the logs are.
//!
//! - Election Safety: at most one leader per term.
//! - Vote Safety: a server votes for at most one candidate per term (§5.2), across restarts.
//! - Leader Append-Only: a leader never overwrites or deletes entries in its log.
//! - Log Matching: two logs with an entry of the same index and term agree on everything up to it.
//! - Leader Completeness: a leader's log holds every entry committed in earlier terms.
//! - State Machine Safety: no two servers apply different commands at one index.
//! - Committed entries are kept: no server's *disk* ever loses a committed entry it held
//!   (crashed servers included).

use super::node::{Raft, Role};
use sim::faults::FaultEvent;
use sim::metrics::{MetricDecl, Unit};
use sim::{CheckDecl, CheckSink, ConditionDecl, Invariants, NodeId, World};
use std::collections::BTreeMap;

pub const ELECTION_SAFETY: &str = "election-safety";
pub const VOTE_SAFETY: &str = "one-vote-per-term";
pub const LEADER_APPEND_ONLY: &str = "leader-append-only";
pub const LOG_MATCHING: &str = "log-matching";
pub const LEADER_COMPLETENESS: &str = "leader-completeness";
pub const STATE_MACHINE_SAFETY: &str = "state-machine-safety";
pub const COMMITTED_KEPT: &str = "committed-entry-kept";
pub const LEADER_CHANGE: &str = "leader-change";
pub const TRUNCATED: &str = "log-truncated";
pub const READ_INDEX: &str = "read-index-served";
pub const LEASE_READ: &str = "lease-read-served";
pub const COMPACTED: &str = "log-compacted";
pub const SINGLE_LEADER: &str = "single-leader";
pub const LEADER_RECOVERY: &str = "leader-recovery";
pub const REPLICATION_LAG: &str = "replication-lag";
/// How often `replication-lag` is sampled (at the first event after each interval).
const LAG_EVERY: sim::Time = 10_000_000;
/// Condition: one leader, and every running server has heard from it in its term.
pub const LEADER_KNOWN: &str = "leader-known";

#[derive(Clone, Copy, Default)]
struct Seen {
    up: bool,
    paused: bool,
    leader: bool,
    term: u64,
    hint: Option<NodeId>,
}

pub struct RaftInvariants {
    n: usize,
    /// Term → its leader.
    leaders: BTreeMap<u64, NodeId>,
    /// (term, voter) → the candidate that counted that vote.
    votes: BTreeMap<(u64, NodeId), NodeId>,
    /// Per server: (term, votes received, own vote durable) at the last vote check; votes
    /// only grow within a term, so an unchanged triple has nothing new to check.
    votes_seen: Vec<(u64, usize, bool)>,
    /// While a server leads a term: (term, an index and its chain) to re-check.
    leading: Vec<Option<(u64, u64, u64)>>,
    /// Commit points: index → (chain at that index, the entry's term, the committing leader's term).
    commits: BTreeMap<u64, (u64, u64, u64)>,
    /// Per server: the highest commit point its disk holds.
    held: Vec<u64>,
    /// Index → chain of the entry applied there (above every server's snapshot).
    applied: BTreeMap<u64, u64>,
    sm_index: Vec<u64>,
    seen: Vec<Seen>,
    /// Per server: (last index, last chain, commit index) when its log was last compared.
    matched: Vec<(u64, u64, u64)>,
    /// Per server: (durable last index, durable last chain, commit points version) at the last
    /// disk check; bumps of `commits_version` force a re-check.
    disk_seen: Vec<(u64, u64, u64)>,
    commits_version: u64,
    /// Sometimes-checks already reported (truncated, read-index, lease, compacted).
    reported: [bool; 4],
    /// How much of the fault timeline has been read.
    faults_seen: usize,
    /// When the current leader crashed, while no new leader has been elected since.
    leader_lost_at: Option<sim::Time>,
    now: sim::Time,
    /// When `replication-lag` is sampled next.
    next_lag: sim::Time,
}

impl RaftInvariants {
    fn on_leader(&mut self, id: NodeId, r: &Raft, sink: &mut CheckSink) {
        match self.leaders.get(&r.term()) {
            Some(other) if *other != id => {
                let other = *other;
                sink.fail(ELECTION_SAFETY, || {
                    format!("{id} and {other} are both leaders of term {}", r.term())
                });
            }
            Some(_) => {}
            None => {
                self.leaders.insert(r.term(), id);
                if self.leaders.len() >= 2 {
                    sink.reached(LEADER_CHANGE);
                }
                if let Some(t) = self.leader_lost_at.take() {
                    sink.sample(LEADER_RECOVERY, self.now.saturating_sub(t) as f64);
                }
                self.check_completeness(id, r, sink);
            }
        }
        // Leader Append-Only.
        if let Some((term, index, chain)) = self.leading[id.index()] {
            if term == r.term() && index > r.log().base_index && r.log().chain_at(index) != Some(chain) {
                sink.fail(LEADER_APPEND_ONLY, || {
                    format!("{id}, leader of term {term}, changed or removed its entry {index}")
                });
            }
        }
        self.leading[id.index()] = Some((r.term(), r.log().last_index(), r.log().last_chain()));
        // A new commit point.
        let c = r.commit_index();
        let newest = self.commits.keys().next_back().copied().unwrap_or(0);
        if c > newest {
            if let (Some(chain), Some(t)) = (r.log().chain_at(c), r.log().term_at(c)) {
                self.commits.insert(c, (chain, t, r.term()));
                self.commits_version += 1;
            }
        }
    }

    /// No server's vote is counted by two candidates of one term, even across a crash. Votes
    /// are read from the candidates (a vote counts once its reply arrived), so a vote lost in a
    /// crash before it was sent is no vote.
    fn check_votes(&mut self, id: NodeId, r: &Raft, durable_term: u64, sink: &mut CheckSink) {
        if r.role_kind() == Role::Follower {
            return;
        }
        let seen = (r.term(), r.votes_received().len(), durable_term >= r.term());
        if std::mem::replace(&mut self.votes_seen[id.index()], seen) == seen {
            return;
        }
        for &voter in r.votes_received() {
            // Its own vote counts once it is on disk: only then did the candidacy go out.
            if voter == id && durable_term < r.term() {
                continue;
            }
            match self.votes.get(&(r.term(), voter)) {
                Some(&other) if other != id => {
                    let term = r.term();
                    sink.fail(VOTE_SAFETY, || {
                        format!("{voter} gave its vote in term {term} to both {other} and {id}")
                    });
                }
                Some(_) => {}
                None => {
                    self.votes.insert((r.term(), voter), id);
                }
            }
        }
    }

    /// Leader Completeness: the new leader holds the newest committed prefix.
    fn check_completeness(&self, id: NodeId, r: &Raft, sink: &mut CheckSink) {
        let Some((&index, &(chain, term, by))) = self.commits.range(..).next_back() else {
            return;
        };
        if by >= r.term() || index <= r.log().base_index {
            return;
        }
        if r.log().chain_at(index) != Some(chain) {
            sink.fail(LEADER_COMPLETENESS, || {
                format!(
                    "{id} became leader of term {} without the entry (term {term}) committed at index {index} \
                     in term {by} (its log ends at {})",
                    r.term(),
                    r.log().last_index()
                )
            });
        }
    }

    /// Log Matching at the touched server's last and commit indices against every other server.
    fn check_matching(&self, world: &World<Raft>, id: NodeId, r: &Raft, sink: &mut CheckSink) {
        for index in [r.log().last_index(), r.commit_index()] {
            let (Some(t), Some(c)) = (r.log().term_at(index), r.log().chain_at(index)) else {
                continue;
            };
            if index == 0 {
                continue;
            }
            for other in world.iter() {
                if other.id == id {
                    continue;
                }
                let Some(o) = other.state else { continue };
                if o.log().term_at(index) == Some(t) && o.log().chain_at(index) != Some(c) {
                    let oid = other.id;
                    sink.fail(LOG_MATCHING, || {
                        format!("{id} and {oid} both have an entry of term {t} at index {index} but their logs differ before it")
                    });
                }
            }
        }
    }

    fn check_applied(&mut self, id: NodeId, r: &Raft, sink: &mut CheckSink) {
        for &(index, chain) in &r.applied_now {
            match self.applied.get(&index) {
                Some(c) if *c != chain => {
                    sink.fail(STATE_MACHINE_SAFETY, || {
                        format!("{id} applied a different command at index {index} than another server did")
                    });
                }
                Some(_) => {}
                None => {
                    self.applied.insert(index, chain);
                }
            }
        }
    }

    /// No disk ever loses a committed entry it held (crashed servers' disks included).
    fn check_disk(&mut self, world: &World<Raft>, id: NodeId, sink: &mut CheckSink) {
        let d = world.node(id).durable;
        let i = id.index();
        let key = (d.log.last_index(), d.log.last_chain(), self.commits_version);
        if self.disk_seen[i] == key {
            return; // neither the disk nor the commit points changed
        }
        self.disk_seen[i] = key;
        let h = self.held[i];
        if h > d.log.base_index {
            if let Some(&(chain, term, _)) = self.commits.get(&h) {
                if d.log.chain_at(h) != Some(chain) {
                    sink.fail(COMMITTED_KEPT, || {
                        format!(
                            "the disk of {id} no longer holds the committed entry at index {h} (term {term})"
                        )
                    });
                }
            }
        }
        if let Some((&index, &(chain, _, _))) = self.commits.range(..=d.log.last_index()).next_back() {
            if index > h && d.log.chain_at(index) == Some(chain) {
                self.held[i] = index;
            }
        }
        self.sm_index[i] = d.sm.index;
    }

    fn single_leader(&self) -> bool {
        let max_term = self
            .seen
            .iter()
            .filter(|s| s.up)
            .map(|s| s.term)
            .max()
            .unwrap_or(0);
        let mut leaders =
            (0..self.n).filter(|i| self.seen[*i].up && !self.seen[*i].paused && self.seen[*i].leader);
        let (Some(l), None) = (leaders.next(), leaders.next()) else {
            return false;
        };
        if self.seen[l].term < max_term {
            return false;
        }
        let followers = self
            .seen
            .iter()
            .filter(|s| s.up && s.term == self.seen[l].term && s.hint == Some(NodeId(l as u32)))
            .count();
        followers > self.n / 2
    }

    /// The condition `leader-known`: exactly one running, unpaused leader, and every other
    /// running, unpaused server is in its term and has accepted an AppendEntries from it (a
    /// heartbeat counts even when its log check fails: the follower then knows the leader).
    /// This is the end of the Raft paper's "downtime" (§9.3): every live server has received
    /// a heartbeat from the new leader.
    fn leader_known(&self) -> bool {
        let live = || self.seen.iter().enumerate().filter(|(_, s)| s.up && !s.paused);
        let mut leaders = live().filter(|(_, s)| s.leader);
        let (Some((l, ls)), None) = (leaders.next(), leaders.next()) else {
            return false;
        };
        let l = NodeId(l as u32);
        live().all(|(_, s)| s.term == ls.term && s.hint == Some(l))
    }

    /// Forgets what every server has folded into its snapshot.
    fn prune(&mut self) {
        let floor = self.sm_index.iter().copied().min().unwrap_or(0);
        while let Some((&i, _)) = self.applied.first_key_value() {
            if i > floor {
                break;
            }
            self.applied.pop_first();
        }
        while self.commits.len() > 1 {
            let (&i, _) = self.commits.first_key_value().expect("non-empty");
            if i >= floor {
                break;
            }
            self.commits.pop_first();
        }
    }
}

impl RaftInvariants {
    /// Reads the fault timeline for crashes (and power losses) of the node that was leader
    /// when it went down: the `leader-recovery` metric runs from there to the next election.
    fn note_leader_crashes(&mut self, world: &World<Raft>) {
        let faults = world.faults();
        for f in &faults[self.faults_seen.min(faults.len())..] {
            if let FaultEvent::Crash { node } | FaultEvent::PowerLoss { node } = f.what {
                if self.seen[node.index()].leader && self.leader_lost_at.is_none() {
                    self.leader_lost_at = Some(f.time_ns);
                }
            }
        }
        self.faults_seen = faults.len();
    }
}

impl Invariants<Raft> for RaftInvariants {
    fn new(cluster: &sim::cluster::Cluster, _params: &[super::RaftParams]) -> Self {
        let n = cluster.len();
        RaftInvariants {
            n,
            leaders: BTreeMap::new(),
            votes: BTreeMap::new(),
            votes_seen: vec![(u64::MAX, 0, false); n],
            leading: vec![None; n],
            commits: BTreeMap::new(),
            held: vec![0; n],
            applied: BTreeMap::new(),
            sm_index: vec![0; n],
            seen: vec![Seen::default(); n],
            matched: vec![(u64::MAX, 0, 0); n],
            disk_seen: vec![(u64::MAX, 0, 0); n],
            commits_version: 0,
            reported: [false; 4],
            faults_seen: 0,
            leader_lost_at: None,
            now: 0,
            next_lag: 0,
        }
    }

    fn metrics() -> Vec<MetricDecl> {
        vec![
            MetricDecl::new(
                LEADER_RECOVERY,
                Unit::Ns,
                "from a leader's crash (or power loss) to the next leader's election, from the fault timeline",
            ),
            MetricDecl::new(
                REPLICATION_LAG,
                Unit::Count,
                "entries between the highest and the lowest commit index of the running servers, every 10ms",
            ),
        ]
    }

    fn checks() -> Vec<CheckDecl> {
        vec![
            CheckDecl::always(ELECTION_SAFETY, "at most one leader per term (§5.2)"),
            CheckDecl::always(
                VOTE_SAFETY,
                "a server votes for at most one candidate per term (§5.2)",
            ),
            CheckDecl::always(
                LEADER_APPEND_ONLY,
                "a leader never overwrites or deletes its entries (§5.3)",
            ),
            CheckDecl::always(
                LOG_MATCHING,
                "same index and term means the same log up to there (§5.3)",
            ),
            CheckDecl::always(
                LEADER_COMPLETENESS,
                "a leader holds every earlier committed entry (§5.4)",
            ),
            CheckDecl::always(
                STATE_MACHINE_SAFETY,
                "no two servers apply different commands at an index (§5.4.3)",
            ),
            CheckDecl::always(COMMITTED_KEPT, "no disk ever loses a committed entry it held"),
            CheckDecl::sometimes(LEADER_CHANGE, "a second leader was elected"),
            CheckDecl::sometimes(TRUNCATED, "a follower truncated conflicting entries"),
            CheckDecl::sometimes(READ_INDEX, "a read was served by ReadIndex"),
            CheckDecl::sometimes(LEASE_READ, "a read was served under a leader lease"),
            CheckDecl::sometimes(COMPACTED, "a log was compacted"),
            CheckDecl::eventually(SINGLE_LEADER, "exactly one leader, followed by a majority"),
        ]
    }

    fn conditions() -> Vec<ConditionDecl> {
        vec![ConditionDecl::new(
            LEADER_KNOWN,
            "one leader, and every running server has heard from it in its term",
        )]
    }

    fn after_event(&mut self, world: &World<Raft>, touched: NodeId, sink: &mut CheckSink) {
        self.now = world.now();
        self.note_leader_crashes(world);
        if self.now >= self.next_lag {
            self.next_lag = self.now + LAG_EVERY;
            let commits = world.iter().filter_map(|v| v.state.map(|r| r.commit_index()));
            let (lo, hi) = commits.fold((u64::MAX, 0), |(lo, hi), c| (lo.min(c), hi.max(c)));
            if lo <= hi {
                sink.sample(REPLICATION_LAG, (hi - lo) as f64);
            }
        }
        let view = world.node(touched);
        let i = touched.index();
        match view.state {
            None => self.seen[i] = Seen::default(),
            Some(r) => {
                self.seen[i] = Seen {
                    up: true,
                    paused: view.paused,
                    leader: r.role_kind() == Role::Leader,
                    term: r.term(),
                    hint: r.leader_hint(),
                };
                self.check_votes(touched, r, view.durable.term, sink);
                if r.role_kind() == Role::Leader {
                    self.on_leader(touched, r, sink);
                } else {
                    self.leading[i] = None;
                }
                let key = (r.log().last_index(), r.log().last_chain(), r.commit_index());
                if self.matched[i] != key {
                    self.matched[i] = key;
                    self.check_matching(world, touched, r, sink);
                }
                self.check_applied(touched, r, sink);
                let flags = [
                    (r.stats.truncations > 0, TRUNCATED),
                    (r.stats.read_index_reads > 0, READ_INDEX),
                    (r.stats.lease_reads > 0, LEASE_READ),
                    (r.stats.compactions > 0, COMPACTED),
                ];
                for (k, (hit, name)) in flags.into_iter().enumerate() {
                    if hit && !self.reported[k] {
                        self.reported[k] = true;
                        sink.reached(name);
                    }
                }
            }
        }
        self.check_disk(world, touched, sink);
        if self.single_leader() {
            sink.holds(SINGLE_LEADER);
        }
        if sink.wants(LEADER_KNOWN) && self.leader_known() {
            sink.holds(LEADER_KNOWN);
        }
        if self.applied.len() > 4096 || self.commits.len() > 4096 {
            self.prune();
        }
    }

    fn at_end(&mut self, world: &World<Raft>, sink: &mut CheckSink) {
        // Each server's role at the end: why `single-leader` does not hold, if it failed.
        sink.explain(SINGLE_LEADER, || {
            let roles = crate::common::explain::nodes(world, |r| {
                let role = format!("{:?}", r.role_kind()).to_lowercase();
                match r.leader_hint() {
                    Some(l) if r.role_kind() != Role::Leader => format!("{role} of {l} in term {}", r.term()),
                    _ => format!("{role} in term {}", r.term()),
                }
            });
            format!("the servers are: {roles}")
        });
        // Full Log Matching over every pair of live servers.
        let live: Vec<(NodeId, &Raft)> = world.iter().filter_map(|v| v.state.map(|s| (v.id, s))).collect();
        for (a, ra) in &live {
            for (b, rb) in &live {
                if a >= b {
                    continue;
                }
                let lo = ra.log().base_index.max(rb.log().base_index) + 1;
                let hi = ra.log().last_index().min(rb.log().last_index());
                for index in lo..=hi {
                    if ra.log().term_at(index) == rb.log().term_at(index)
                        && ra.log().chain_at(index) != rb.log().chain_at(index)
                    {
                        sink.fail(LOG_MATCHING, || {
                            format!("{a} and {b} have entries of the same term at {index} after different prefixes")
                        });
                        return;
                    }
                }
            }
        }
    }
}
