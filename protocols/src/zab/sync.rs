//! Phase 1, discovery, and phase 2, synchronization (DSN 2011 §IV; Medeiros §4.1). The
//! prospective leader gathers FOLLOWERINFO from a quorum, picks an epoch above every accepted
//! epoch (NEWEPOCH), checks from the ACKEPOCHs that no follower's history is newer than its
//! own, then brings each follower to its history (DIFF / TRUNC / SNAP, then NEWLEADER) and
//! starts broadcasting once a quorum has acknowledged NEWLEADER (UPTODATE: all of it is
//! committed).

use super::messages::{Msg, SyncKind, Txn, Zxid};
use super::node::{Phase, Role, Zab, ZabWrite};
use sim::{Ctx, NodeId};

impl Zab {
    /// Leader, discovery: a follower's accepted epoch and history summary.
    pub(super) fn on_followerinfo(&mut self, cx: &mut Ctx<Self>, from: NodeId, accepted: u64, last: Vec<Zxid>) {
        if self.role != Role::Leading {
            return;
        }
        self.infos[from.index()] = Some((accepted, last));
        // Its history is what it just told us: nothing more goes to it until its sync.
        self.forwarding[from.index()] = false;
        if self.phase == Phase::Discovery && !self.acked_epoch[self.id.index()] {
            self.try_new_epoch(cx);
        } else if self.acked_epoch[self.id.index()] {
            // A follower joining an established (or establishing) epoch.
            cx.send(from, Msg::Newepoch { epoch: self.epoch });
        }
    }

    /// With FOLLOWERINFO from a quorum (us included), propose the new epoch.
    pub(super) fn try_new_epoch(&mut self, cx: &mut Ctx<Self>) {
        if self.phase != Phase::Discovery || self.acked_epoch[self.id.index()] {
            return;
        }
        let have = self.infos.iter().flatten().count();
        if have < self.quorum() {
            return;
        }
        // A new epoch above every accepted epoch of the quorum (Medeiros §4.1, step l.1.1).
        let e = self.infos.iter().flatten().map(|(a, _)| *a).max().unwrap_or(0) + 1;
        self.epoch = e;
        self.accepted_epoch = e;
        cx.persist(ZabWrite::AcceptedEpoch(e));
        self.acked_epoch[self.id.index()] = true;
        if cx.tracing() {
            cx.note(format!("proposes epoch {e} to the quorum"));
        }
        for to in cx.peers() {
            if self.infos[to.index()].is_some() {
                cx.send_after_sync(to, Msg::Newepoch { epoch: e });
            }
        }
        self.try_sync(cx);
    }

    /// Follower, discovery: accept the new epoch if it is above ours (step f.1.2).
    pub(super) fn on_newepoch(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64) {
        if self.role != Role::Following || self.leader != Some(from) {
            return;
        }
        if e < self.accepted_epoch {
            // A stale leader: elect again.
            self.start_looking(cx);
            return;
        }
        if e > self.accepted_epoch {
            self.accepted_epoch = e;
            cx.persist(ZabWrite::AcceptedEpoch(e));
        }
        self.phase = Phase::Sync;
        let msg = Msg::Ackepoch {
            epoch: e,
            current_epoch: self.current_epoch,
            last: self.last_zxid(),
        };
        cx.send_after_sync(from, msg);
    }

    /// Leader: a follower accepted the epoch.
    pub(super) fn on_ackepoch(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, current: u64, last: Zxid) {
        if self.role != Role::Leading || e != self.epoch {
            return;
        }
        // Fast leader election should have picked the server with the newest history; if a
        // follower's is newer, this server must not lead (it would lose transactions).
        if (current, last) > (self.current_epoch, self.last_zxid()) {
            if cx.tracing() {
                cx.note(format!("{from}'s history is newer (epoch {current}, {last:?}): gives up leading"));
            }
            self.start_looking(cx);
            return;
        }
        self.acked_epoch[from.index()] = true;
        match self.phase {
            Phase::Discovery => self.try_sync(cx),
            Phase::Sync | Phase::Broadcast => self.send_sync(cx, from),
            Phase::Election => {}
        }
    }

    /// With ACKEPOCH from a quorum (us included), synchronise them (phase 2).
    fn try_sync(&mut self, cx: &mut Ctx<Self>) {
        let e = self.epoch;
        if self.phase != Phase::Discovery || self.acked_epoch.iter().filter(|a| **a).count() < self.quorum() {
            return;
        }
        // Phase 2: the leader's history is the new epoch's initial history.
        self.current_epoch = e;
        cx.persist(ZabWrite::CurrentEpoch(e));
        self.sync_history(cx);
        self.epoch_sync = Some(cx.sync());
        self.stats.epochs_led += 1;
        self.counter = 0;
        self.acked_newleader = vec![false; self.n];
        self.phase = Phase::Sync;
        self.phase_since = cx.now_mono();
        let acked: Vec<NodeId> = cx.peers().filter(|p| self.acked_epoch[p.index()]).collect();
        if self.bugs.skip_sync {
            // The bug: straight to broadcast, the followers' histories left as they are.
            for to in acked {
                self.forwarding[to.index()] = true;
                let msg = Msg::Newleader {
                    epoch: e,
                    kind: SyncKind::Diff,
                    keep: 0,
                    txns: Vec::new(),
                };
                cx.send(to, msg);
            }
            self.start_broadcast(cx);
            return;
        }
        for to in acked {
            self.send_sync(cx, to);
        }
    }

    /// The common prefix of our history and a follower's, from its summary (per epoch, its
    /// last zxid): within an epoch histories are prefixes of one another (one leader per
    /// epoch proposes counters 1, 2, ...).
    pub(super) fn common_prefix(&self, summary: &[Zxid]) -> u64 {
        let mut pos = 0usize;
        for z in summary {
            let run = self.history[pos..].iter().take_while(|t| t.zxid.epoch == z.epoch).count() as u64;
            let take = run.min(z.counter);
            pos += take as usize;
            if take < z.counter || run > z.counter {
                break;
            }
        }
        pos as u64
    }

    /// Sends a follower what it needs to match our history, then NEWLEADER; from then on it
    /// gets every PROPOSAL (FIFO: after the sync).
    fn send_sync(&mut self, cx: &mut Ctx<Self>, to: NodeId) {
        let Some((_, summary)) = self.infos[to.index()].clone() else {
            return;
        };
        let theirs: u64 = summary.iter().map(|z| z.counter).sum();
        let keep = self.common_prefix(&summary);
        let kind = if keep == theirs {
            self.stats.diffs += 1;
            SyncKind::Diff
        } else if keep == 0 {
            self.stats.snaps += 1;
            SyncKind::Snap
        } else {
            SyncKind::Trunc
        };
        let txns: Vec<Txn> = self.history[keep as usize..].to_vec();
        self.forwarding[to.index()] = true;
        self.synced_upto[to.index()] = self.history.len() as u64;
        // Sent at once, never held for the disk: a held message would be overtaken by the
        // PROPOSALs and COMMITs sent after it, and Zab needs FIFO order. The leader counts
        // itself synchronised only once its own history and epoch are on disk.
        cx.send(
            to,
            Msg::Newleader {
                epoch: self.epoch,
                kind,
                keep,
                txns,
            },
        );
        if self.phase == Phase::Broadcast {
            cx.send(
                to,
                Msg::Uptodate {
                    epoch: self.epoch,
                    upto: self.commit_point,
                },
            );
        }
    }

    /// Follower, synchronization: make the history the leader's, take the new epoch as
    /// current (step f.2.1), and acknowledge once it is on disk.
    pub(super) fn on_newleader(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, kind: SyncKind, keep: u64, txns: Vec<Txn>) {
        if self.role != Role::Following || self.leader != Some(from) || e != self.accepted_epoch {
            return;
        }
        match kind {
            SyncKind::Diff => {}
            SyncKind::Trunc | SyncKind::Snap if self.bugs.no_truncate => {}
            SyncKind::Trunc | SyncKind::Snap => {
                if cx.tracing() && (self.history.len() as u64) > keep {
                    cx.note(format!("truncates its history from {} to {keep}", self.history.len()));
                }
                self.truncate(cx, keep);
            }
        }
        let have = self.history.len() as u64;
        // A DIFF carries what follows our history (the bug: we may hold more).
        let skip = have.saturating_sub(keep) as usize;
        for t in txns.into_iter().skip(skip) {
            self.append(cx, t);
        }
        self.current_epoch = e;
        self.synced = true;
        cx.persist(ZabWrite::CurrentEpoch(e));
        self.sync_history(cx);
        cx.send_after_sync(from, Msg::AckNewleader { epoch: e });
    }

    /// Leader: with a quorum (us included) synchronised, everything in our history is
    /// committed; broadcast starts.
    pub(super) fn on_ack_newleader(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64) {
        if self.role != Role::Leading || e != self.epoch {
            return;
        }
        self.acked_newleader[from.index()] = true;
        // Its disk has our history up to its NEWLEADER: that acknowledges every proposal in it.
        let upto = self.synced_upto[from.index()];
        for (_, a) in self.acks.range_mut(..=upto) {
            a[from.index()] = true;
        }
        self.maybe_start_broadcast(cx);
        if self.phase == Phase::Broadcast {
            self.advance_commit(cx);
        }
    }

    /// With a quorum (us included, once our disk has the epoch) synchronised, broadcast.
    pub(super) fn maybe_start_broadcast(&mut self, cx: &mut Ctx<Self>) {
        if self.phase == Phase::Sync && self.acked_newleader.iter().filter(|a| **a).count() >= self.quorum() {
            self.start_broadcast(cx);
        }
    }

    fn start_broadcast(&mut self, cx: &mut Ctx<Self>) {
        self.phase = Phase::Broadcast;
        self.phase_since = cx.now_mono();
        let now = cx.now_mono();
        self.heard = vec![now; self.n];
        let upto = self.history.len() as u64;
        if cx.tracing() {
            cx.note(format!("leads epoch {}: its {upto} transactions are committed", self.epoch));
        }
        self.commit_point = upto;
        self.deliver(cx);
        self.to_followers(cx, Msg::Uptodate { epoch: self.epoch, upto });
    }

    /// Follower: the leader's history up to `upto` is committed; broadcast begins.
    pub(super) fn on_uptodate(&mut self, cx: &mut Ctx<Self>, from: NodeId, e: u64, upto: u64) {
        if self.role != Role::Following || self.leader != Some(from) || e != self.current_epoch {
            return;
        }
        self.phase = Phase::Broadcast;
        self.commit_point = self.commit_point.max(upto.min(self.history.len() as u64));
        self.deliver(cx);
    }
}
