//! Client requests (dissertation §6): redirects to the leader, exactly-once writes through the
//! log (§6.3), and linearizable reads via the log, ReadIndex (§6.4) or a leader lease (§6.4.1).

use super::messages::Command;
use super::node::{PendingRead, Raft, ReadMode, Role};
use crate::common::session::Seen;
use crate::families::kv::KvOp as Op;
use sim::{Ctx, Draw, Outcome, RequestOf};

impl Raft {
    pub(super) fn on_client_request(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        if self.role != Role::Leader {
            // §6.2: clients find the leader by redirect.
            cx.reply(&req, Outcome::Redirect(self.leader));
            return;
        }
        if let Op::Read { .. } = req.op {
            let mode = match self.p.read_mode {
                ReadMode::Mixed => {
                    [ReadMode::ReadIndex, ReadMode::Log, ReadMode::Lease][cx.rng().below(3) as usize]
                }
                m => m,
            };
            // Bug `lease-read-under-skew` is a lease that forgets drift; it only matters when
            // reads use the lease, which the bug turns on for every read.
            let mode = if self.bugs.lease_read_under_skew {
                ReadMode::Lease
            } else {
                mode
            };
            match mode {
                ReadMode::Log => {
                    self.stats.log_reads += 1;
                    self.propose(cx, req);
                }
                ReadMode::Lease if self.lease_valid(cx) => {
                    self.stats.lease_reads += 1;
                    let value = self.kv.apply(&req.op);
                    cx.reply(&req, Outcome::Done(value));
                }
                _ => self.read_index(cx, req),
            }
            return;
        }
        match self.sessions.seen(req.session, req.seq) {
            // Already applied (so committed): answer as the first time.
            Seen::Duplicate(out) => {
                let out = out.clone();
                cx.reply(&req, Outcome::Done(out));
            }
            Seen::Stale => {}
            Seen::New => self.propose(cx, req),
        }
    }

    /// Appends a client command (unless this request is already in the log and waiting) and
    /// replicates it.
    fn propose(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        let key = (req.session, req.seq);
        if let Some(&index) = self.pending_ops.get(&key) {
            self.pending.insert(index, (req.client, req.session, req.seq));
            return;
        }
        let index = self.append_entry(
            cx,
            Command::Client {
                session: req.session,
                seq: req.seq,
                op: req.op.clone(),
            },
        );
        self.pending.insert(index, (req.client, req.session, req.seq));
        self.pending_ops.insert(key, index);
        self.broadcast_append(cx);
        if self.bugs.apply_before_commit {
            // Bug `apply-before-commit`: apply (and answer) as soon as the entry is in the
            // leader's log.
            let last = self.log.last_index();
            self.apply(cx, last);
        }
    }

    /// Dissertation §6.4 step 1: reads are served only after the leader committed an entry of
    /// its own term (its no-op), so its commit index is at least every committed entry.
    fn committed_in_term(&self) -> bool {
        self.log.term_at(self.commit_index) == Some(self.term)
    }

    /// §6.4: remember the commit index, confirm leadership with a heartbeat round, then read
    /// once the state machine has applied up to that index.
    fn read_index(&mut self, cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        let round = self.read_round + 1;
        // Before our no-op commits, the commit index may lag what is committed: the read index
        // is then taken when it commits (u64::MAX stands for "not yet known").
        let read_index = if self.committed_in_term() {
            self.commit_index
        } else {
            u64::MAX
        };
        self.reads.push_back(PendingRead {
            req,
            read_index,
            round,
        });
        // One round in flight at a time; reads arriving meanwhile wait for the next one.
        if self.confirmed_round >= self.read_round {
            self.start_read_round(cx);
            // Followers with an AppendEntries in flight get the new round with the next one.
            self.broadcast_append(cx);
        }
        self.on_round_acked(cx);
    }

    /// Starts a heartbeat round; followers echo its number.
    pub(super) fn start_read_round(&mut self, cx: &mut Ctx<Self>) {
        self.read_round += 1;
        self.round_sent_mono.push_back((self.read_round, cx.now_mono()));
        if self.round_sent_mono.len() > 64 {
            self.round_sent_mono.pop_front();
        }
    }

    /// After an acknowledgement: the highest round a majority (with us) has confirmed.
    pub(super) fn on_round_acked(&mut self, cx: &mut Ctx<Self>) {
        if self.role != Role::Leader {
            return;
        }
        let confirmed = self.quorum_value(self.read_round, &self.acked_round);
        if confirmed > self.confirmed_round {
            self.confirmed_round = confirmed;
            // §6.4.1: the round was sent at `sent`; no other leader can be elected before a
            // minimum election timeout after that, in the *followers'* clocks.
            while let Some(&(r, sent)) = self.round_sent_mono.front() {
                if r > confirmed {
                    break;
                }
                self.round_sent_mono.pop_front();
                if r == confirmed {
                    self.lease_until_mono = self.lease_until_mono.max(sent + self.lease_length(cx));
                }
            }
            // Reads that arrived during the last round need another one.
            if self.reads.iter().any(|r| r.round > self.confirmed_round)
                && self.confirmed_round >= self.read_round
            {
                self.start_read_round(cx);
                self.broadcast_append(cx);
            }
        }
        self.serve_reads(cx);
    }

    /// How long a lease lasts on this node's clock: the minimum election timeout, shrunk by the
    /// clock drift bound ρ so it holds in the worst case, `min · (1 − ρ)/(1 + ρ)`.
    fn lease_length(&self, cx: &Ctx<Self>) -> u64 {
        let min = self.p.election_timeout[0].0;
        if self.bugs.lease_read_under_skew {
            // Bug: the full timeout, as if every clock were exact.
            return min;
        }
        crate::common::lease::length(min, cx.drift_bound_ppm())
    }

    fn lease_valid(&self, cx: &Ctx<Self>) -> bool {
        self.committed_in_term() && cx.now_mono() < self.lease_until_mono
    }

    /// Answers the reads whose round is confirmed and whose index is applied.
    pub(super) fn serve_reads(&mut self, cx: &mut Ctx<Self>) {
        if self.role != Role::Leader || !self.committed_in_term() {
            return;
        }
        while let Some(r) = self.reads.front() {
            if r.round > self.confirmed_round {
                break;
            }
            let index = if r.read_index == u64::MAX {
                self.commit_index
            } else {
                r.read_index
            };
            if self.last_applied < index {
                break;
            }
            let r = self.reads.pop_front().expect("front exists");
            self.stats.read_index_reads += 1;
            let value = self.kv.apply(&r.req.op);
            cx.reply(&r.req, Outcome::Done(value));
        }
    }
}
