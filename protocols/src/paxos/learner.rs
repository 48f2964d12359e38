//! Learners and replicas (Paxos Made Simple §2.3, §3): a decided value is kept, and commands
//! are applied to the key/value store in slot order, each client operation once (by session
//! and sequence number). The leader answers clients when it applies their slot; reads go
//! through the log or are served under the leader's lease.

use super::messages::{digest, Command};
use super::node::{Paxos, PaxosWrite, ReadMode, Role};
use crate::common::session::Seen;
use sim::{Ctx, Draw, Outcome, RequestOf};

impl Paxos {
    /// Learns that `cmd` was chosen in `slot`, and applies what is now contiguous.
    pub(super) fn learn(&mut self, cx: &mut Ctx<Self>, slot: u64, cmd: Command) {
        if slot <= self.prefix || self.decided.contains_key(&slot) {
            return;
        }
        self.decided_now.push((slot, digest(&cmd)));
        // A cache on disk: a restart replays it, and without it the value is learned again.
        self.persist(cx, PaxosWrite::Decide(slot, cmd.clone()));
        self.decided.insert(slot, cmd);
        self.proposals.remove(&slot);
        self.apply_decided(cx);
    }

    /// Applies decided slots in order from the prefix on (§3: "execute command i only after
    /// executing commands 1 through i − 1").
    pub(super) fn apply_decided(&mut self, cx: &mut Ctx<Self>) {
        while let Some(cmd) = self.decided.get(&(self.prefix + 1)) {
            let slot = self.prefix + 1;
            self.prefix = slot;
            self.applied_now.push((slot, digest(cmd)));
            let outcome = match cmd {
                Command::Noop => None,
                Command::Client { session, seq, op } => self
                    .kv
                    .apply_once(&mut self.sessions, *session, *seq, op)
                    .map(|o| (*session, *seq, o)),
            };
            if let Some((client, ps, pq)) = self.pending.remove(&slot) {
                self.pending_ops.remove(&(ps, pq));
                if let Some((session, seq, out)) = outcome {
                    if (ps, pq) == (session, seq) {
                        cx.reply_to(client, session, seq, Outcome::Done(out));
                    }
                }
            }
        }
    }

    pub(super) fn on_client_request(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        if self.role != Role::Leader {
            cx.reply(&req, Outcome::Redirect(self.leader_hint));
            return;
        }
        if req.op.is_read() {
            let lease = match self.p.read_mode {
                ReadMode::Log => false,
                ReadMode::Lease => true,
                ReadMode::Mixed => cx.rng().below(2) == 0,
            };
            if lease && self.lease_valid(cx) {
                self.stats.lease_reads += 1;
                let value = self.kv.apply(&req.op);
                cx.reply(&req, Outcome::Done(value));
                return;
            }
        } else {
            match self.sessions.seen(req.session, req.seq) {
                Seen::Duplicate(out) => {
                    let out = out.clone();
                    cx.reply(&req, Outcome::Done(out));
                    return;
                }
                Seen::Stale => return,
                Seen::New => {}
            }
        }
        if let Some(&slot) = self.pending_ops.get(&(req.session, req.seq)) {
            // A retry of a command in flight: answer this request when it is applied.
            self.pending.insert(slot, (req.client, req.session, req.seq));
            return;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.pending.insert(slot, (req.client, req.session, req.seq));
        self.pending_ops.insert((req.session, req.seq), slot);
        let cmd = Command::Client {
            session: req.session,
            seq: req.seq,
            op: req.op.clone(),
        };
        self.propose(cx, slot, cmd);
    }

    /// A lease read is safe while the lease holds and every slot phase 1 found in use (where
    /// an earlier leader's acknowledged writes may be) is applied here.
    fn lease_valid(&self, cx: &Ctx<Self>) -> bool {
        self.prefix >= self.recovered_upto && cx.now_mono() < self.lease_until_mono
    }
}
