//! Phase 3, broadcast (DSN 2011 §IV; Medeiros §4.1): the leader gives each write the next
//! zxid of its epoch and sends a PROPOSAL to every synchronised follower over FIFO links;
//! followers write it to disk and ACK; with a quorum of ACKs (its own once on its disk) the
//! leader COMMITs, in zxid order; everyone delivers committed transactions in order. Clients:
//! writes and reads go through the leader and the history (ZooKeeper's `sync` + read).

use super::messages::{digest, Command, Msg, Txn, Zxid};
use super::node::{Phase, Role, Zab};
use sim::{Ctx, NodeId, Outcome, RequestOf};

impl Zab {
    pub(super) fn on_client_request(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        if self.p.read_mode != super::Reads::Log {
            self.serve_client(cx, req);
            return;
        }
        if self.role != Role::Leading || self.phase != Phase::Broadcast {
            let hint = if self.phase == Phase::Broadcast { self.leader } else { None };
            cx.reply(&req, Outcome::Redirect(hint));
            return;
        }
        self.leader_write(cx, req);
    }

    /// The leader takes a client's operation (`log`: reads too) into the history; the client
    /// is answered when it is delivered.
    pub(super) fn leader_write(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        if !req.op.is_read() {
            match self.sessions.seen(req.session, req.seq) {
                crate::common::session::Seen::Duplicate(out) => {
                    let out = out.clone();
                    cx.reply(&req, Outcome::Done(out));
                    return;
                }
                crate::common::session::Seen::Stale => return,
                crate::common::session::Seen::New => {}
            }
        }
        if let Some(&index) = self.pending_ops.get(&(req.session, req.seq)) {
            self.pending.insert(index, (req.client, req.session, req.seq));
            return;
        }
        let index = self.propose(cx, req.session, req.seq, req.op);
        self.pending.insert(index, (req.client, req.session, req.seq));
    }

    /// Gives a client's operation the next zxid and sends the PROPOSAL; returns its index.
    pub(super) fn propose(&mut self, cx: &mut Ctx<Self>, session: u64, seq: u64, op: crate::families::kv::KvOp) -> u64 {
        self.counter += 1;
        let txn = Txn {
            zxid: Zxid {
                epoch: self.epoch,
                counter: self.counter,
            },
            cmd: Command::Client { session, seq, op },
        };
        self.proposed_now.push((txn.zxid, digest(&txn.cmd)));
        self.append(cx, txn.clone());
        self.sync_history(cx);
        let index = self.history.len() as u64;
        self.pending_ops.insert((session, seq), index);
        self.acks.insert(index, vec![false; self.n]);
        let msg = Msg::Proposal { epoch: self.epoch, txn };
        self.to_followers(cx, msg);
        index
    }

    /// Whether a PROPOSAL or COMMIT comes from our leader, of our epoch, after its NEWLEADER
    /// (the bug `accept-old-epoch`: from any leader of any epoch).
    pub(super) fn is_our_leaders(&self, from: NodeId, e: u64) -> bool {
        let ours = self.leader == Some(from) && self.synced && e == self.current_epoch;
        self.role == Role::Following && (ours || self.bugs.accept_old_epoch)
    }

    /// Follower: accept a proposal of our leader's epoch, in order; ACK once on disk.
    pub(super) fn on_proposal(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, txn: Txn) {
        if !self.is_our_leaders(from, e) {
            return;
        }
        let zxid = txn.zxid;
        self.append(cx, txn);
        self.sync_history(cx);
        cx.send_after_sync(from, Msg::Ack { epoch: e, zxid });
    }

    /// Leader: a follower has the proposal on disk.
    pub(super) fn on_ack(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, zxid: Zxid) {
        if self.role != Role::Leading || e != self.epoch || self.phase != Phase::Broadcast {
            return;
        }
        let Some(index) = self.index_of(zxid) else { return };
        if let Some(a) = self.acks.get_mut(&index) {
            a[from.index()] = true;
        }
        self.advance_commit(cx);
    }

    /// The history index of `zxid`, searched from the commit point on.
    fn index_of(&self, zxid: Zxid) -> Option<u64> {
        let from = self.commit_point.min(self.history.len() as u64) as usize;
        self.history[from..]
            .iter()
            .position(|t| t.zxid == zxid)
            .map(|p| (from + p + 1) as u64)
    }

    /// Commits, in order, every proposal a quorum has acknowledged.
    pub(super) fn advance_commit(&mut self, cx: &mut Ctx<Self>) {
        let me = self.id.index();
        let mut moved = false;
        while let Some(a) = self.acks.get(&(self.commit_point + 1)) {
            let index = self.commit_point + 1;
            let own = self.durable_len >= index;
            let count = a.iter().enumerate().filter(|(i, x)| **x && *i != me).count() + usize::from(own);
            // The bug: one acknowledgement (anyone's) is enough.
            let need = if self.bugs.commit_without_quorum { 1 } else { self.quorum() };
            if count < need {
                break;
            }
            self.acks.remove(&index);
            self.commit_point = index;
            moved = true;
            let zxid = self.history[index as usize - 1].zxid;
            let msg = Msg::Commit { epoch: self.epoch, zxid };
            self.to_followers(cx, msg);
        }
        if moved {
            self.deliver(cx);
            self.answer_syncs(cx);
        }
    }

    /// Follower: deliver up to `zxid`.
    pub(super) fn on_commit(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, zxid: Zxid) {
        if !self.is_our_leaders(from, e) {
            return;
        }
        if let Some(index) = self.index_of(zxid) {
            self.commit_point = self.commit_point.max(index);
            self.deliver(cx);
        }
    }

    pub(super) fn on_ping(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64) {
        if self.role != Role::Following || self.leader != Some(from) || e != self.current_epoch {
            return;
        }
        cx.send(from, Msg::Pong { epoch: e });
    }

    /// Delivers committed transactions in order (a replica applies them to its store; the
    /// leader answers the clients waiting for them).
    pub(super) fn deliver(&mut self, cx: &mut Ctx<Self>) {
        let upto = self.commit_point.min(self.history.len() as u64);
        while self.delivered < upto {
            let index = self.delivered + 1;
            let txn = &self.history[index as usize - 1];
            self.delivered = index;
            self.delivered_now.push((index, txn.zxid, digest(&txn.cmd)));
            let out = match &txn.cmd {
                Command::Noop => None,
                Command::Client { session, seq, op } => self
                    .kv
                    .apply_once(&mut self.sessions, *session, *seq, op)
                    .map(|o| (*session, *seq, o)),
            };
            if let Command::Client { session, seq, .. } = &txn.cmd {
                self.pending_ops.remove(&(*session, *seq));
            }
            // `log`: no context (the client needs none); otherwise this zxid.
            let context = match self.p.read_mode {
                super::Reads::Log => 0,
                _ => super::reads::context_of(txn.zxid),
            };
            if let Some((session, seq, o)) = out {
                let waiting = match self.pending.remove(&index) {
                    Some((client, ps, pq)) if (ps, pq) == (session, seq) => Some(client),
                    _ => self.forwarded.remove(&(session, seq)),
                };
                if let Some(client) = waiting {
                    cx.reply_with_context(client, session, seq, Outcome::Done(o), context);
                }
            } else {
                self.pending.remove(&index);
            }
        }
        if !self.reads_ready.is_empty() {
            self.serve_ready(cx);
        }
    }
}
