//! Clients the ZooKeeper way (Hunt, Konar, Junqueira & Reed, "ZooKeeper: wait-free
//! coordination for Internet-scale systems", USENIX ATC 2010), for `read_mode` other than `log`:
//!
//! - a client stays with one server; **writes** are forwarded to the leader and answered by
//!   that server once it has delivered them (§4: "write requests are forwarded to the
//!   leader"), so a client sees its own writes;
//! - **reads** are served from the server's own delivered state (§4: "read requests are
//!   handled locally at each server"): sequentially consistent, not linearizable — a follower
//!   may be behind the leader (§2.3: "ZooKeeper … does not guarantee linearizable reads");
//! - every reply carries the server's last delivered zxid, and a server **refuses a client
//!   whose last-seen zxid is ahead of its own** until it has caught up (§4.3), so a client that
//!   moves to another server never sees the state go back (the planted bug
//!   `follower-read-without-zxid-check` leaves this out);
//! - `read_mode = "sync"`: ZooKeeper's `sync` + read (§2.3, §4.4): the server asks the leader,
//!   which answers after every transaction it has proposed so far has committed; FIFO links
//!   bring the COMMITs first. The leader does not make sure it still leads (ZooKeeper relies on
//!   timeouts there), so a deposed leader that has not noticed yet answers too: still only
//!   sequentially consistent;
//! - `read_mode = "quorum"`: the same, but the leader first hears from a quorum of its epoch
//!   after the request arrived (a CONFIRM round: the "null transaction" of §4.4 without the
//!   write), so no newer leader can have committed anything the read misses: linearizable.

use super::messages::{Msg, Zxid};
use super::node::{Phase, Role, Zab};
use crate::families::kv::{KvOp, KvReply};
use serde::{Deserialize, Serialize};
use sim::{ClientId, Ctx, Key, NodeId, Outcome, RequestOf};

/// How clients' reads are served (`[params] read_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reads {
    /// Reads and writes go to the leader and through the log: linearizable.
    #[default]
    Log,
    /// Any server answers reads from its own state (ZooKeeper's reads).
    Local,
    /// A leader-local `sync` before each read (ZooKeeper's sync + read).
    Sync,
    /// A `sync` the leader answers only after a quorum confirmed it still leads.
    Quorum,
}

/// A read waiting for its sync.
#[derive(Clone, Copy, Debug)]
pub struct WaitingRead {
    pub client: ClientId,
    pub session: u64,
    pub seq: u64,
    pub key: Key,
}

/// A sync the leader has yet to answer.
#[derive(Clone, Copy, Debug)]
pub struct PendingSync {
    pub origin: NodeId,
    pub id: u64,
    /// Every transaction proposed before the request (history length) must commit first.
    pub upto: u64,
    /// `quorum`: the CONFIRM round a quorum must answer (0: none needed).
    pub round: u64,
}

/// A zxid as the client's context: ordered like the zxid.
pub fn context_of(z: Zxid) -> u64 {
    (z.epoch << 32) | z.counter.min(u64::from(u32::MAX))
}

impl Zab {
    /// The zxid of the last delivered transaction, as a client context.
    pub(super) fn delivered_context(&self) -> u64 {
        match self.delivered {
            0 => 0,
            d => context_of(self.history[d as usize - 1].zxid),
        }
    }

    /// A client request when `read_mode` is not `log`.
    pub(super) fn serve_client(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        let serving = self.phase == Phase::Broadcast && (self.role == Role::Leading || self.synced);
        if !serving {
            cx.reply(&req, Outcome::NotApplied);
            return;
        }
        // ZooKeeper §4.3: a server does not take a client that has seen more than it has.
        if req.context > self.delivered_context() && !self.bugs.follower_read_without_zxid_check {
            if cx.tracing() {
                cx.note(format!(
                    "refuses {}: it has seen zxid {:#x}, this server only {:#x}",
                    req.client,
                    req.context,
                    self.delivered_context()
                ));
            }
            self.stats.refused += 1;
            cx.reply(&req, Outcome::NotApplied);
            return;
        }
        if let KvOp::Read { key } = req.op {
            let read = WaitingRead {
                client: req.client,
                session: req.session,
                seq: req.seq,
                key,
            };
            match self.p.read_mode {
                super::Reads::Local | super::Reads::Log => self.answer_read(cx, read),
                super::Reads::Sync | super::Reads::Quorum => self.request_sync(cx, read),
            }
            return;
        }
        if self.role == Role::Leading {
            self.leader_write(cx, req);
            return;
        }
        match self.sessions.seen(req.session, req.seq) {
            crate::common::session::Seen::Duplicate(out) => {
                let out = out.clone();
                let z = self.delivered_context();
                cx.reply_with_context(req.client, req.session, req.seq, Outcome::Done(out), z);
            }
            crate::common::session::Seen::Stale => {}
            crate::common::session::Seen::New => {
                self.forwarded.insert((req.session, req.seq), req.client);
                let leader = self.leader.expect("a synced follower has a leader");
                let msg = Msg::Request {
                    epoch: self.current_epoch,
                    session: req.session,
                    seq: req.seq,
                    op: req.op,
                };
                cx.send(leader, msg);
            }
        }
    }

    fn answer_read(&mut self, cx: &mut Ctx<Self>, r: WaitingRead) {
        let list = self.kv.read(r.key);
        let z = self.delivered_context();
        cx.reply_with_context(r.client, r.session, r.seq, Outcome::Done(KvReply::Ok(list)), z);
    }

    /// Leader: a write a follower forwarded (answered by that follower once delivered).
    pub(super) fn on_request(&mut self, cx: &mut Ctx<Self>, e: u64, session: u64, seq: u64, op: KvOp) {
        if self.role != Role::Leading || self.phase != Phase::Broadcast || e != self.epoch {
            return; // the client times out and tries again
        }
        if !matches!(self.sessions.seen(session, seq), crate::common::session::Seen::New)
            || self.pending_ops.contains_key(&(session, seq))
        {
            return; // applied or in flight: the follower answers when it delivers it
        }
        self.propose(cx, session, seq, op);
    }

    fn request_sync(&mut self, cx: &mut Ctx<Self>, read: WaitingRead) {
        self.next_sync += 1;
        let id = self.next_sync;
        self.reads_waiting.insert(id, read);
        if self.role == Role::Leading {
            self.on_sync(cx, self.id, self.epoch, id);
        } else {
            let leader = self.leader.expect("a synced follower has a leader");
            cx.send(leader, Msg::Sync { epoch: self.current_epoch, id });
        }
    }

    /// Leader: a SYNC (from a follower, or for one of its own clients).
    pub(super) fn on_sync(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, id: u64) {
        if self.role != Role::Leading || self.phase != Phase::Broadcast || e != self.epoch {
            return;
        }
        let round = if self.p.read_mode == super::Reads::Quorum {
            self.read_round += 1;
            let msg = Msg::Confirm {
                epoch: self.epoch,
                round: self.read_round,
            };
            self.to_followers(cx, msg);
            self.read_round
        } else {
            0
        };
        self.syncs_pending.push(PendingSync {
            origin: from,
            id,
            upto: self.history.len() as u64,
            round,
        });
        self.answer_syncs(cx);
    }

    /// Leader: answers every sync whose transactions have committed (and, `quorum`, whose
    /// CONFIRM round a quorum answered).
    pub(super) fn answer_syncs(&mut self, cx: &mut Ctx<Self>) {
        if self.syncs_pending.is_empty() {
            return;
        }
        let me = self.id.index();
        let quorum = self.quorum();
        let confirmed = |round: u64, z: &Zab| {
            round == 0
                || 1 + (0..z.n)
                    .filter(|&i| i != me && z.forwarding[i] && z.confirmed[i] >= round)
                    .count()
                    >= quorum
        };
        let mut ready = Vec::new();
        let mut k = 0;
        while k < self.syncs_pending.len() {
            let s = self.syncs_pending[k];
            if self.commit_point >= s.upto && confirmed(s.round, self) {
                ready.push(s);
                self.syncs_pending.remove(k);
            } else {
                k += 1;
            }
        }
        for s in ready {
            if s.origin == self.id {
                if let Some(r) = self.reads_waiting.remove(&s.id) {
                    self.reads_ready.push((s.upto, r));
                }
            } else {
                let msg = Msg::SyncOk {
                    epoch: self.epoch,
                    id: s.id,
                    upto: s.upto,
                };
                cx.send(s.origin, msg);
            }
        }
        self.serve_ready(cx);
    }

    /// Follower: the leader's answer to our SYNC; the COMMITs before it came first (FIFO).
    pub(super) fn on_sync_ok(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, id: u64, upto: u64) {
        if !self.is_our_leaders(from, e) {
            return;
        }
        if let Some(r) = self.reads_waiting.remove(&id) {
            self.reads_ready.push((upto, r));
            self.serve_ready(cx);
        }
    }

    /// Serves the synced reads whose transactions this server has delivered.
    pub(super) fn serve_ready(&mut self, cx: &mut Ctx<Self>) {
        let mut k = 0;
        while k < self.reads_ready.len() {
            if self.delivered >= self.reads_ready[k].0 {
                let (_, r) = self.reads_ready.remove(k);
                self.stats.synced_reads += 1;
                self.answer_read(cx, r);
            } else {
                k += 1;
            }
        }
    }

    /// Follower: the leader asks whether we still follow it in its epoch.
    pub(super) fn on_confirm(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, round: u64) {
        if self.is_our_leaders(from, e) {
            cx.send(from, Msg::Confirmed { epoch: e, round });
        }
    }

    pub(super) fn on_confirmed(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, round: u64) {
        if self.role != Role::Leading || e != self.epoch {
            return;
        }
        let c = &mut self.confirmed[from.index()];
        *c = (*c).max(round);
        self.answer_syncs(cx);
    }

    /// Forgets every client request in flight here (a role change: the clients time out).
    pub(super) fn drop_client_requests(&mut self) {
        self.forwarded.clear();
        self.reads_waiting.clear();
        self.reads_ready.clear();
        self.syncs_pending.clear();
        self.confirmed = vec![0; self.n];
    }
}
