//! A Zab server: its durable state (DSN 2011 §IV: the accepted epoch f.p, the current epoch
//! f.a and the history h_f), roles and phases, fast leader election, and the engine glue.
//! Discovery and synchronization are in `sync.rs`, broadcast and clients in `broadcast.rs`.

use super::bugs::Bugs;
use super::invariants::ZabInvariants;
use super::messages::{Msg, Timer, Txn, Vote, Zxid};
use crate::common::kv::KvStore;
use crate::common::session::Sessions;
use crate::families::kv::{Kv, KvReply};
use serde::{Deserialize, Serialize};
use sim::time::{Dur, NANOS_PER_MILLI};
use sim::{ClientId, Ctx, NodeId, Protocol, RequestOf, SyncId, TimerId};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZabParams {
    /// How often the leader pings its followers and a looking server re-sends its vote.
    pub tick: Dur,
    /// A follower that hears nothing from its leader for this long, or a leader that hears
    /// from fewer than a quorum for this long, goes back to election (ZooKeeper's syncLimit).
    pub timeout: Dur,
    /// How clients' reads are served: `log` (through the leader's log), `local` (ZooKeeper:
    /// any server, from its own state), `sync` (ZooKeeper's sync + read) or `quorum` (a sync
    /// the leader answers after a quorum confirms it leads). See `reads.rs`.
    pub read_mode: super::Reads,
}

impl Default for ZabParams {
    fn default() -> Self {
        ZabParams {
            tick: Dur(50 * NANOS_PER_MILLI),
            timeout: Dur(250 * NANOS_PER_MILLI),
            read_mode: super::Reads::Log,
        }
    }
}

pub const PARAM_DOCS: &[sim::ParamDoc] = &[
    sim::ParamDoc {
        name: "tick",
        description: "the leader's PING interval; a looking server re-sends its VOTE this often",
    },
    sim::ParamDoc {
        name: "timeout",
        description: "silence after which a follower (from its leader) or a leader (from a quorum) goes back to election",
    },
    sim::ParamDoc {
        name: "read_mode",
        description: "\"log\" (default: reads through the leader's log, linearizable), \"local\" (ZooKeeper: clients stay with a server, which serves reads from its own state and forwards writes; sequentially consistent), \"sync\" (a leader-local sync before each read: still only sequential) or \"quorum\" (the leader answers the sync after a quorum confirms it leads: linearizable)",
    },
];

/// On disk (DSN 2011 §IV; Medeiros §4: f.p, f.a and the history are persistent).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ZabDurable {
    pub accepted_epoch: u64,
    pub current_epoch: u64,
    pub history: Vec<Txn>,
    /// How many times the history was cut back (the checks re-read it then).
    pub truncations: u64,
}

#[derive(Clone, Debug, Serialize)]
pub enum ZabWrite {
    AcceptedEpoch(u64),
    CurrentEpoch(u64),
    Append(Txn),
    Truncate(u64),
}

impl sim::Durable for ZabDurable {
    type Write = ZabWrite;
    fn apply(&mut self, w: &ZabWrite) {
        match w {
            ZabWrite::AcceptedEpoch(e) => self.accepted_epoch = *e,
            ZabWrite::CurrentEpoch(e) => self.current_epoch = *e,
            ZabWrite::Append(t) => self.history.push(t.clone()),
            ZabWrite::Truncate(n) => {
                self.history.truncate(*n as usize);
                self.truncations += 1;
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Role {
    Looking,
    Following,
    Leading,
}

/// Where a follower or leader is in the protocol (Medeiros §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Phase {
    Election,
    Discovery,
    Sync,
    Broadcast,
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub epochs_led: u64,
    pub truncations: u64,
    pub snaps: u64,
    pub diffs: u64,
    /// Client requests refused by the last-zxid check, and reads served after a SYNC.
    pub refused: u64,
    pub synced_reads: u64,
}

pub struct Zab {
    pub(super) id: NodeId,
    pub(super) n: usize,
    pub(super) p: ZabParams,
    pub(super) bugs: Bugs,
    // Durable state, mirrored.
    pub(super) accepted_epoch: u64,
    pub(super) current_epoch: u64,
    pub(super) history: Vec<Txn>,
    // Delivery.
    pub(super) delivered: u64,
    pub(super) commit_point: u64,
    pub(super) kv: KvStore,
    pub(super) sessions: Sessions<KvReply>,
    // Role.
    pub(super) role: Role,
    pub(super) phase: Phase,
    pub(super) leader: Option<NodeId>,
    /// A follower: NEWLEADER of this leader was applied, so its PROPOSALs follow our history.
    pub(super) synced: bool,
    // Fast leader election.
    pub(super) round: u64,
    pub(super) vote: Vote,
    pub(super) votes: Vec<Option<(u64, Vote)>>,
    // Leader.
    /// The epoch this server leads (or is establishing).
    pub(super) epoch: u64,
    pub(super) infos: Vec<Option<(u64, Vec<Zxid>)>>,
    pub(super) acked_epoch: Vec<bool>,
    pub(super) acked_newleader: Vec<bool>,
    /// The sync that puts the new epoch and the leader's history on its disk.
    pub(super) epoch_sync: Option<SyncId>,
    /// Followers that get PROPOSALs and COMMITs (sent NEWLEADER).
    pub(super) forwarding: Vec<bool>,
    /// Per follower: the history length its NEWLEADER brought it to.
    pub(super) synced_upto: Vec<u64>,
    /// History index (1-based) → who has acknowledged it, from the epoch's first proposal on.
    pub(super) acks: BTreeMap<u64, Vec<bool>>,
    pub(super) counter: u64,
    /// How much of the history is on this server's disk (its own ACK counts from there).
    pub(super) durable_len: u64,
    pub(super) syncs: crate::common::durability::SyncMarks,
    pub(super) pending: BTreeMap<u64, (ClientId, u64, u64)>,
    pub(super) pending_ops: BTreeMap<(u64, u64), u64>,
    // Clients the ZooKeeper way (`read_mode` other than `log`; reads.rs).
    /// Writes this server forwarded to the leader: (session, seq) → the client to answer.
    pub(super) forwarded: BTreeMap<(u64, u64), ClientId>,
    /// Reads waiting for their SYNC to come back, by sync id.
    pub(super) reads_waiting: BTreeMap<u64, super::reads::WaitingRead>,
    /// Synced reads waiting for delivery up to a history length.
    pub(super) reads_ready: Vec<(u64, super::reads::WaitingRead)>,
    pub(super) next_sync: u64,
    /// Leader: SYNCs to answer, and (`quorum`) the CONFIRM rounds each follower answered.
    pub(super) syncs_pending: Vec<super::reads::PendingSync>,
    pub(super) read_round: u64,
    pub(super) confirmed: Vec<u64>,
    // Liveness.
    pub(super) tick_timer: Option<TimerId>,
    /// Per server: when it was last heard from (monotonic).
    pub(super) heard: Vec<u64>,
    pub(super) phase_since: u64,
    // What this event did, for the checks.
    pub(super) delivered_now: Vec<(u64, Zxid, u64)>,
    pub(super) proposed_now: Vec<(Zxid, u64)>,
    pub stats: Stats,
}

impl Zab {
    pub fn role_kind(&self) -> Role {
        self.role
    }
    pub fn phase(&self) -> Phase {
        self.phase
    }
    pub fn led_epoch(&self) -> u64 {
        self.epoch
    }
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    pub fn history(&self) -> &[Txn] {
        &self.history
    }

    pub(super) fn quorum(&self) -> usize {
        self.n / 2 + 1
    }

    pub(super) fn last_zxid(&self) -> Zxid {
        self.history.last().map(|t| t.zxid).unwrap_or_default()
    }

    /// Per epoch in the history, its last zxid (what FOLLOWERINFO summarises).
    pub(super) fn summary(&self) -> Vec<Zxid> {
        let mut out: Vec<Zxid> = Vec::new();
        for t in &self.history {
            match out.last_mut() {
                Some(z) if z.epoch == t.zxid.epoch => *z = t.zxid,
                _ => out.push(t.zxid),
            }
        }
        out
    }

    pub(super) fn append(&mut self, cx: &mut Ctx<Self>, txn: Txn) {
        self.history.push(txn.clone());
        cx.persist(ZabWrite::Append(txn));
    }

    /// Cuts the history back to `len` transactions.
    pub(super) fn truncate(&mut self, cx: &mut Ctx<Self>, len: u64) {
        if (self.history.len() as u64) > len {
            self.history.truncate(len as usize);
            self.durable_len = self.durable_len.min(len);
            // Syncs already requested cover the removed transactions, not their replacements.
            self.syncs.cap(len);
            cx.persist(ZabWrite::Truncate(len));
            self.stats.truncations += 1;
        }
        self.commit_point = self.commit_point.min(len);
        self.delivered = self.delivered.min(len);
    }

    /// Requests a sync and remembers how much history it covers.
    pub(super) fn sync_history(&mut self, cx: &mut Ctx<Self>) {
        let s = cx.sync();
        self.syncs.push(s, self.history.len() as u64);
    }

    /// Leader: sends `msg` to every follower it forwards to (those it sent NEWLEADER).
    pub(super) fn to_followers(&self, cx: &mut Ctx<Self>, msg: Msg) {
        for to in cx.peers() {
            if self.forwarding[to.index()] {
                cx.send(to, msg.clone());
            }
        }
    }

    pub(super) fn ensure_tick(&mut self, cx: &mut Ctx<Self>) {
        if self.tick_timer.is_none() {
            self.tick_timer = Some(cx.set_timer(self.p.tick.0, Timer::Tick));
        }
    }

    fn self_vote(&self) -> Vote {
        Vote {
            epoch: self.current_epoch,
            zxid: self.last_zxid(),
            leader: self.id.0,
        }
    }

    fn set_phase(&mut self, cx: &Ctx<Self>, phase: Phase) {
        self.phase = phase;
        self.phase_since = cx.now_mono();
    }

    // ----- fast leader election (Medeiros §3; ZooKeeper's FastLeaderElection) -----

    /// Back to election: vote for ourselves in a new round.
    pub(super) fn start_looking(&mut self, cx: &mut Ctx<Self>) {
        if cx.tracing() && self.role != Role::Looking {
            cx.note("goes back to election");
        }
        self.role = Role::Looking;
        self.set_phase(cx, Phase::Election);
        self.leader = None;
        self.pending.clear();
        self.pending_ops.clear();
        self.drop_client_requests();
        self.acks.clear();
        self.forwarding = vec![false; self.n];
        self.round += 1;
        self.vote = self.self_vote();
        self.votes = vec![None; self.n];
        self.votes[self.id.index()] = Some((self.round, self.vote));
        self.send_vote_to_all(cx);
        self.ensure_tick(cx);
        if self.quorum() == 1 {
            self.lead(cx);
        }
    }

    fn send_vote_to_all(&mut self, cx: &mut Ctx<Self>) {
        let msg = Msg::Vote {
            round: self.round,
            vote: self.vote,
            looking: true,
        };
        for to in cx.peers() {
            cx.send(to, msg.clone());
        }
    }

    fn on_vote(&mut self, cx: &mut Ctx<Self>, from: NodeId, round: u64, vote: Vote, looking: bool) {
        if looking && self.role == Role::Following && self.leader == Some(from) {
            // Our leader is electing: it leads no more.
            self.start_looking(cx);
        }
        if self.role != Role::Looking {
            if looking {
                // Tell it whom we follow (or that we lead).
                let leader = self.leader.unwrap_or(self.id);
                let msg = Msg::Vote {
                    round: self.round,
                    vote: Vote {
                        epoch: self.current_epoch,
                        zxid: self.last_zxid(),
                        leader: leader.0,
                    },
                    looking: false,
                };
                cx.send(from, msg);
            }
            return;
        }
        if !looking {
            // An established leader announcing itself: join it; discovery decides whether
            // it really leads an epoch.
            if vote.leader == from.0 {
                self.follow(cx, from);
            }
            return;
        }
        if round > self.round {
            self.round = round;
            self.votes = vec![None; self.n];
            self.vote = self.self_vote().max(vote);
            self.send_vote_to_all(cx);
        } else if round < self.round {
            let msg = Msg::Vote {
                round: self.round,
                vote: self.vote,
                looking: true,
            };
            cx.send(from, msg);
            return;
        } else if vote > self.vote {
            self.vote = vote;
            self.send_vote_to_all(cx);
        }
        self.votes[from.index()] = Some((round, vote));
        self.votes[self.id.index()] = Some((self.round, self.vote));
        let agree = self
            .votes
            .iter()
            .flatten()
            .filter(|(r, v)| *r == self.round && v.leader == self.vote.leader)
            .count();
        if agree >= self.quorum() {
            let l = NodeId(self.vote.leader);
            if l == self.id {
                self.lead(cx);
            } else {
                self.follow(cx, l);
            }
        }
    }

    fn follow(&mut self, cx: &mut Ctx<Self>, leader: NodeId) {
        self.role = Role::Following;
        self.set_phase(cx, Phase::Discovery);
        self.leader = Some(leader);
        self.synced = false;
        self.heard[leader.index()] = cx.now_mono();
        let msg = Msg::Followerinfo {
            accepted_epoch: self.accepted_epoch,
            last: self.summary(),
        };
        cx.send(leader, msg);
    }

    fn lead(&mut self, cx: &mut Ctx<Self>) {
        self.role = Role::Leading;
        self.set_phase(cx, Phase::Discovery);
        self.leader = Some(self.id);
        self.infos = vec![None; self.n];
        self.infos[self.id.index()] = Some((self.accepted_epoch, self.summary()));
        self.acked_epoch = vec![false; self.n];
        self.acked_newleader = vec![false; self.n];
        self.epoch_sync = None;
        self.forwarding = vec![false; self.n];
        let now = cx.now_mono();
        self.heard = vec![now; self.n];
        self.try_new_epoch(cx);
    }

    fn on_tick(&mut self, cx: &mut Ctx<Self>) {
        let now = cx.now_mono();
        let t = self.p.timeout.0;
        match self.role {
            Role::Looking => self.send_vote_to_all(cx),
            Role::Following => {
                let l = self.leader.expect("a follower has a leader");
                if now.saturating_sub(self.heard[l.index()]) > t {
                    self.start_looking(cx);
                }
            }
            Role::Leading => {
                if self.phase != Phase::Broadcast && now.saturating_sub(self.phase_since) > t {
                    // No quorum got through discovery and synchronization in time.
                    self.start_looking(cx);
                } else if self.phase == Phase::Broadcast {
                    let alive = (0..self.n)
                        .filter(|&i| i == self.id.index() || (self.forwarding[i] && now.saturating_sub(self.heard[i]) <= t))
                        .count();
                    if alive < self.quorum() {
                        self.start_looking(cx);
                    } else {
                        let msg = Msg::Ping {
                            epoch: self.epoch,
                            committed: self.commit_point,
                        };
                        self.to_followers(cx, msg);
                    }
                }
            }
        }
        self.ensure_tick(cx);
    }
}

impl Protocol for Zab {
    const NAME: &'static str = "zab";
    const DESCRIPTION: &'static str =
        "Zab (Junqueira, Reed & Serafini 2011): fast leader election, discovery, synchronization (DIFF/TRUNC/SNAP), broadcast";
    const LINK: sim::LinkKind = sim::LinkKind::Stream;
    const DEFAULT_NODES: usize = 3;
    const ROLES: &'static [&'static str] = &["leader", "follower", "looking"];

    type Msg = Msg;
    type Timer = Timer;
    type Durable = ZabDurable;
    type Params = ZabParams;
    type Invariants = ZabInvariants;
    type Workload = Kv;

    fn bugs() -> &'static [sim::BugDecl] {
        super::bugs::BUGS
    }

    fn param_docs() -> &'static [sim::ParamDoc] {
        PARAM_DOCS
    }

    fn validate_params(p: &ZabParams) -> Result<(), String> {
        if p.tick.0 == 0 || p.tick >= p.timeout {
            return Err("tick must be greater than 0 and shorter than timeout".into());
        }
        Ok(())
    }

    /// Starts, or restarts from the disk only: the epochs and the history. Nothing is known
    /// committed, so nothing is delivered until a leader says so; a restarted server looks
    /// for a leader.
    fn boot(cx: &mut Ctx<Self>, params: &ZabParams, d: &ZabDurable) -> Self {
        let n = cx.cluster_size();
        let mut z = Zab {
            id: cx.id(),
            n,
            p: params.clone(),
            bugs: Bugs::from_set(cx.bugs()),
            accepted_epoch: d.accepted_epoch,
            current_epoch: d.current_epoch,
            history: d.history.clone(),
            delivered: 0,
            commit_point: 0,
            kv: KvStore::default(),
            sessions: Sessions::default(),
            role: Role::Looking,
            phase: Phase::Election,
            leader: None,
            synced: false,
            round: 0,
            vote: Vote {
                epoch: 0,
                zxid: Zxid::default(),
                leader: 0,
            },
            votes: vec![None; n],
            epoch: 0,
            infos: vec![None; n],
            acked_epoch: vec![false; n],
            acked_newleader: vec![false; n],
            epoch_sync: None,
            forwarding: vec![false; n],
            synced_upto: vec![0; n],
            acks: BTreeMap::new(),
            counter: 0,
            durable_len: d.history.len() as u64,
            syncs: Default::default(),
            pending: BTreeMap::new(),
            pending_ops: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            reads_waiting: BTreeMap::new(),
            reads_ready: Vec::new(),
            next_sync: 0,
            syncs_pending: Vec::new(),
            read_round: 0,
            confirmed: vec![0; n],
            tick_timer: None,
            heard: vec![0; n],
            phase_since: 0,
            delivered_now: Vec::new(),
            proposed_now: Vec::new(),
            stats: Stats::default(),
        };
        z.start_looking(cx);
        z
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, from: NodeId, msg: Msg) {
        self.delivered_now.clear();
        self.proposed_now.clear();
        if !matches!(msg, Msg::Vote { .. }) {
            self.heard[from.index()] = cx.now_mono();
        }
        match msg {
            Msg::Vote { round, vote, looking } => self.on_vote(cx, from, round, vote, looking),
            Msg::Followerinfo { accepted_epoch, last } => self.on_followerinfo(cx, from, accepted_epoch, last),
            Msg::Newepoch { epoch } => self.on_newepoch(cx, from, epoch),
            Msg::Ackepoch {
                epoch,
                current_epoch,
                last,
            } => self.on_ackepoch(cx, from, epoch, current_epoch, last),
            Msg::Newleader { epoch, kind, keep, txns } => self.on_newleader(cx, from, epoch, kind, keep, txns),
            Msg::AckNewleader { epoch } => self.on_ack_newleader(cx, from, epoch),
            Msg::Uptodate { epoch, upto } => self.on_uptodate(cx, from, epoch, upto),
            Msg::Proposal { epoch, txn } => self.on_proposal(cx, from, epoch, txn),
            Msg::Ack { epoch, zxid } => self.on_ack(cx, from, epoch, zxid),
            Msg::Commit { epoch, zxid } => self.on_commit(cx, from, epoch, zxid),
            Msg::Ping { epoch, .. } => self.on_ping(cx, from, epoch),
            Msg::Pong { .. } => {}
            Msg::Request { epoch, session, seq, op } => self.on_request(cx, epoch, session, seq, op),
            Msg::Sync { epoch, id } => self.on_sync(cx, from, epoch, id),
            Msg::SyncOk { epoch, id, upto } => self.on_sync_ok(cx, from, epoch, id, upto),
            Msg::Confirm { epoch, round } => self.on_confirm(cx, from, epoch, round),
            Msg::Confirmed { epoch, round } => self.on_confirmed(cx, from, epoch, round),
        }
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, timer: Timer) {
        self.delivered_now.clear();
        self.proposed_now.clear();
        match timer {
            Timer::Tick => {
                self.tick_timer = None;
                self.on_tick(cx);
            }
        }
    }

    fn on_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        self.delivered_now.clear();
        self.proposed_now.clear();
        self.on_client_request(cx, req);
    }

    fn on_sync_done(&mut self, cx: &mut Ctx<Self>, sync: SyncId) {
        self.delivered_now.clear();
        self.proposed_now.clear();
        if let Some(len) = self.syncs.complete(sync) {
            self.durable_len = self.durable_len.max(len.min(self.history.len() as u64));
        }
        if self.role == Role::Leading && self.epoch_sync.is_some_and(|s| s <= sync) {
            self.epoch_sync = None;
            self.acked_newleader[self.id.index()] = true;
            self.maybe_start_broadcast(cx);
        }
        if self.role == Role::Leading && self.phase == Phase::Broadcast {
            self.advance_commit(cx);
        }
    }

    fn on_link_broken(&mut self, cx: &mut Ctx<Self>, peer: NodeId) {
        self.delivered_now.clear();
        self.proposed_now.clear();
        match self.role {
            // FIFO is gone: what was in flight is lost, so start over with a fresh sync.
            Role::Following if self.leader == Some(peer) => self.start_looking(cx),
            Role::Leading => {
                self.forwarding[peer.index()] = false;
                self.acked_newleader[peer.index()] = false;
            }
            _ => {}
        }
    }

    fn role(&self) -> &'static str {
        match self.role {
            Role::Looking => "looking",
            Role::Following => "follower",
            Role::Leading => "leader",
        }
    }

    /// Guided fuzzing's abstract state, each part cut to 0..=3: the phase, history beyond the
    /// commit point, committed but undelivered transactions, and whether the history ends in
    /// an epoch older than the current one (O(1): this runs after every event).
    fn coverage(&self) -> u64 {
        let b = |x: u64| x.min(3);
        let len = self.history.len() as u64;
        (self.phase as u64)
            | b(len.saturating_sub(self.commit_point)) << 2
            | b(self.commit_point.saturating_sub(self.delivered)) << 4
            | u64::from(self.last_zxid().epoch < self.current_epoch) << 6
    }

    fn summary(&self) -> String {
        format!(
            "epoch accepted {} current {}, history {} (last {:?}), delivered {}",
            self.accepted_epoch,
            self.current_epoch,
            self.history.len(),
            self.last_zxid(),
            self.delivered
        )
    }
}
