//! Log replication (§5.3), the commit rule (§5.4.2), applying to the state machine and log
//! compaction (§7).

use super::log::{RaftWrite, SmSnapshot};
use super::messages::{AppendEntries, AppendEntriesReply, Command, Entry, Msg};
use super::node::{Raft, Role};
use sim::{Ctx, NodeId};

impl Raft {
    // ----- leader side -----

    /// Appends a new entry to the leader's log and makes it durable.
    pub(super) fn append_entry(&mut self, cx: &mut Ctx<Self>, cmd: Command) -> u64 {
        let index = self.log.append(self.term, cmd);
        let e = self.log.entry(index).expect("just appended").clone();
        cx.persist(RaftWrite::Append {
            first: index,
            entries: vec![e],
        });
        self.sync_log(cx);
        index
    }

    /// The index every server is known to hold (§7): compaction may discard up to it.
    fn all_have(&self) -> u64 {
        let mut floor = self.durable_index.min(self.commit_index);
        for (i, m) in self.match_index.iter().enumerate() {
            if i != self.id.index() {
                floor = floor.min(*m);
            }
        }
        floor
    }

    /// Sends `to` the entries from its next index (or a heartbeat if there are none), and
    /// assumes they will arrive: the next message carries what follows (pipelining). A
    /// rejection moves `next_index` back.
    pub(super) fn send_append(&mut self, cx: &mut Ctx<Self>, to: NodeId) {
        let t = to.index();
        // Entries at or below the base are held by every server, so `to` never needs them.
        let next = self.next_index[t].max(self.log.base_index + 1);
        let prev = next - 1;
        let prev_term = self.log.term_at(prev).expect("prev is the base or a kept entry");
        let max = if self.short_appends {
            1
        } else {
            self.p.max_entries_per_append as usize
        };
        let entries = self.log.slice(next, max);
        self.next_index[t] = next + entries.len() as u64;
        self.inflight[t] += 1;
        self.round_sent[t] = self.read_round;
        cx.send(
            to,
            Msg::AppendEntries(AppendEntries {
                term: self.term,
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit: self.commit_index,
                read_round: self.read_round,
                compact: self.all_have(),
            }),
        );
    }

    /// Sends to every follower that has entries or a read round it was not sent yet, within
    /// the window of messages in flight.
    pub(super) fn broadcast_append(&mut self, cx: &mut Ctx<Self>) {
        for peer in cx.peers() {
            if self.wants_append(peer) {
                self.send_append(cx, peer);
            }
        }
        if self.n == 1 {
            self.advance_commit(cx);
        }
    }

    /// Every heartbeat: a new read round, and AppendEntries to everyone (retransmitting what
    /// may have been lost).
    pub(super) fn on_heartbeat(&mut self, cx: &mut Ctx<Self>) {
        self.start_read_round(cx);
        for peer in cx.peers() {
            self.inflight[peer.index()] = 0;
            self.send_append(cx, peer);
        }
        self.maybe_compact(cx, self.all_have());
    }

    /// Up to this many AppendEntries may be in flight to one follower.
    const WINDOW: u32 = 4;

    fn wants_append(&self, to: NodeId) -> bool {
        let t = to.index();
        let news = self.next_index[t] <= self.log.last_index() || self.round_sent[t] < self.read_round;
        news && self.inflight[t] < Self::WINDOW
    }

    pub(super) fn on_append_entries_reply(
        &mut self,
        cx: &mut Ctx<Self>,
        from: NodeId,
        r: AppendEntriesReply,
    ) {
        if r.term > self.term {
            self.become_follower(cx, r.term);
            return;
        }
        if self.role != Role::Leader || r.term != self.term {
            return; // stale
        }
        let f = from.index();
        self.inflight[f] = self.inflight[f].saturating_sub(1);
        // Any answer in our term acknowledges us as leader (for reads, §6.4).
        self.acked_round[f] = self.acked_round[f].max(r.read_round);
        if r.success {
            self.match_index[f] = self.match_index[f].max(r.match_index);
            self.next_index[f] = self.next_index[f].max(self.match_index[f] + 1);
            self.advance_commit(cx);
        } else {
            // Fast backtracking: skip the follower's whole conflicting term at once. What was
            // in flight was built on the wrong prefix: start over from the hint.
            let hint = match r.conflict_term {
                Some(t) => self.log.last_index_of_term(t).map_or(r.conflict_index, |i| i + 1),
                None => r.conflict_index,
            };
            self.next_index[f] = hint.clamp(self.match_index[f] + 1, self.log.last_index() + 1);
            self.inflight[f] = 0;
        }
        self.on_round_acked(cx);
        if self.wants_append(from) || !r.success {
            self.send_append(cx, from);
        }
    }

    /// §5.3, §5.4.2: commit the highest index stored on a majority — but only by counting
    /// replicas of an entry from the leader's current term (Figure 8).
    pub(super) fn advance_commit(&mut self, cx: &mut Ctx<Self>) {
        if self.role != Role::Leader {
            return;
        }
        let n = self.quorum_value(self.durable_index, &self.match_index);
        if n <= self.commit_index {
            return;
        }
        let term_ok = self.log.term_at(n) == Some(self.term);
        // Bug `commit-previous-term`: count replicas for an entry of an earlier term.
        if term_ok || self.bugs.commit_previous_term {
            if cx.tracing() {
                cx.note(format!(
                    "commit {} -> {n} (stored on a majority)",
                    self.commit_index
                ));
            }
            self.commit_index = n;
            self.apply(cx, n);
            self.serve_reads(cx);
        }
    }

    // ----- follower side -----

    pub(super) fn on_append_entries(&mut self, cx: &mut Ctx<Self>, from: NodeId, a: AppendEntries) {
        if a.term < self.term && !self.bugs.accept_stale_term_append {
            // §5.1: reject requests from stale leaders.
            cx.send(from, self.reject(None, 0, a.read_round));
            return;
        }
        if a.term > self.term || (a.term == self.term && self.role != Role::Follower) {
            self.become_follower(cx, a.term);
        }
        self.leader = Some(from);
        self.leader_contact_mono = Some(cx.now_mono());
        self.reset_election_timer(cx);

        // §5.3 consistency check: our log must hold prev_log_index with prev_log_term.
        // Indices at or below our base are committed everywhere, so they match.
        let mut skip = 0usize;
        if a.prev_log_index < self.log.base_index {
            skip = ((self.log.base_index - a.prev_log_index) as usize).min(a.entries.len());
        } else {
            match self.log.term_at(a.prev_log_index) {
                None => {
                    let reply = self.reject(None, self.log.last_index() + 1, a.read_round);
                    cx.send(from, reply);
                    return;
                }
                Some(t) if t != a.prev_log_term => {
                    let first = self.log.first_index_of_term(t, a.prev_log_index);
                    let reply = self.reject(Some(t), first, a.read_round);
                    cx.send(from, reply);
                    return;
                }
                Some(_) => {}
            }
        }
        let first_new = a.prev_log_index + 1 + skip as u64;
        self.store_entries(cx, first_new, &a.entries[skip..]);
        let last_new = a.prev_log_index + a.entries.len() as u64;
        if a.leader_commit > self.commit_index {
            let c = a.leader_commit.min(last_new);
            if c > self.commit_index {
                self.commit_index = c;
                self.apply(cx, c);
            }
        }
        self.floor = self.floor.max(a.compact);
        self.maybe_compact(cx, self.floor);
        // The entries must be durable before the leader may count them.
        cx.send_after_sync(
            from,
            Msg::AppendEntriesReply(AppendEntriesReply {
                term: self.term,
                success: true,
                match_index: last_new,
                conflict_term: None,
                conflict_index: 0,
                read_round: a.read_round,
            }),
        );
    }

    fn reject(&self, conflict_term: Option<u64>, conflict_index: u64, read_round: u64) -> Msg {
        Msg::AppendEntriesReply(AppendEntriesReply {
            term: self.term,
            success: false,
            match_index: 0,
            conflict_term,
            conflict_index,
            read_round,
        })
    }

    /// Appends `entries` (the first at `first`): skips those already present, truncates at the
    /// first conflict (§5.3 step 3) and persists the rest.
    fn store_entries(&mut self, cx: &mut Ctx<Self>, first: u64, entries: &[Entry]) {
        let mut index = first;
        let mut i = 0;
        while i < entries.len() {
            match self.log.term_at(index) {
                Some(t) if t == entries[i].term => {
                    index += 1;
                    i += 1;
                }
                Some(t) => {
                    if cx.tracing() {
                        cx.note(format!(
                            "truncates its log from {index} (had t{t}, leader has t{})",
                            entries[i].term
                        ));
                    }
                    self.log.truncate_from(index);
                    // Syncs already requested cover the removed entries, not their replacements.
                    self.durable_index = self.durable_index.min(index - 1);
                    self.syncs.cap(index - 1);
                    self.stats.truncations += 1;
                    cx.persist(RaftWrite::TruncateFrom(index));
                    break;
                }
                None => break,
            }
        }
        if i < entries.len() {
            let stored: Vec<Entry> = entries[i..].iter().map(|e| self.log.append_received(e)).collect();
            cx.persist(RaftWrite::Append {
                first: index,
                entries: stored,
            });
            self.sync_log(cx);
        }
    }

    // ----- state machine -----

    /// Applies entries up to `upto` in order; the leader answers the clients waiting on them.
    pub(super) fn apply(&mut self, cx: &mut Ctx<Self>, upto: u64) {
        while self.last_applied < upto {
            let index = self.last_applied + 1;
            let Some(entry) = self.log.entry(index) else {
                break;
            };
            let chain = entry.chain;
            let outcome = match &entry.cmd {
                Command::Noop => None,
                // Dissertation §6.3: each (session, seq) applied once.
                Command::Client { session, seq, op } => self
                    .kv
                    .apply_once(&mut self.sessions, *session, *seq, op)
                    .map(|o| (*session, *seq, o)),
            };
            self.last_applied = index;
            self.applied_now.push((index, chain));
            if let Some((client, ps, pq)) = self.pending.remove(&index) {
                self.pending_ops.remove(&(ps, pq));
                if let Some((session, seq, out)) = outcome {
                    if (ps, pq) == (session, seq) {
                        cx.reply_to(client, session, seq, sim::Outcome::Done(out));
                    }
                }
            }
        }
    }

    /// §7: drop the prefix every server holds, keeping a snapshot of the state machine.
    pub(super) fn maybe_compact(&mut self, cx: &mut Ctx<Self>, all_have: u64) {
        let upto = all_have.min(self.last_applied);
        if upto < self.log.base_index + self.p.compact_every {
            return;
        }
        self.log.compact(upto);
        self.stats.compactions += 1;
        cx.persist(RaftWrite::Compact {
            log_upto: upto,
            sm: SmSnapshot {
                index: self.last_applied,
                kv: self.kv.clone(),
                sessions: self.sessions.clone(),
            },
        });
    }
}
