//! A replica: primary, backup or idle, as the view service's views say (Budhiraja et al.,
//! "The Primary-Backup Approach", 1993; the protocol of MIT 6.824's primary/backup lab, with
//! any number of backups).
//!
//! Rules (marked where they are applied):
//! - R1: only the primary of a view serves clients, and only once the view service has seen it
//!   take the view up (it pinged naming the view and heard back: `lease`).
//! - R2: when it takes a view up the primary sends every backup a SNAPSHOT of its state, then a
//!   FORWARD of every write, in order (FIFO links); a broken link gets a fresh SNAPSHOT.
//! - R3 (`replication = "sync"`): a write is answered once every backup of the view has
//!   acknowledged it (an ACK is sent once the backup's disk has it); a read is answered with the
//!   state it saw on arrival, once every write before it is acknowledged the same way.
//! - R4: reads only within the lease: `dead_after` (less the drift bound) from the ping the view
//!   service answered, since the view service names no other primary before (V1).
//! - R5 (fencing): a replica rejects (NACK) SNAPSHOTs and FORWARDs of a view older than its own;
//!   a primary that hears a NACK, or learns of a newer view, steps down, and what it had not
//!   answered stays unanswered (it may or may not survive).
//! - R6: a backup reports itself synced in a view once that view's SNAPSHOT is on its disk; a
//!   primary reports backups that do not acknowledge within `ack_timeout`.

use super::bugs::Bugs;
use super::messages::{Msg, Timer, View, Write};
use super::node::{apply_write, Layout, PbDurable, PbParams, PbWrite, PrimaryBackup, Replication};
use crate::common::kv::KvStore;
use crate::common::session::{Seen, Sessions};
use crate::families::kv::KvReply;
use sim::{Ctx, NodeId, Outcome, RequestOf, SyncId};
use crate::common::durability::SyncMarks;

type Request = RequestOf<PrimaryBackup>;

/// An answer waiting to be sent: revealing the state up to `pos`.
struct Answer {
    pos: u64,
    early: bool,
    req: Request,
    out: Outcome<KvReply>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Idle,
    Backup,
    Primary,
}

/// Requests a primary holds before it may serve them (R1, R4), at most this many.
const MAX_HELD: usize = 1024;

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub snapshots_installed: u64,
    pub nacks_sent: u64,
    pub fenced: u64,
}

pub struct Replica {
    id: NodeId,
    p: PbParams,
    bugs: Bugs,
    layout: Layout,
    kv: KvStore,
    sessions: Sessions<KvReply>,
    seq: u64,
    /// Ghost: `chain[i]` digests writes 1..=i+1 of the sequence (for the checks).
    chain: Vec<u64>,
    view: View,
    synced: u64,
    /// Restarted and not yet in a view made since (the view service refreshes it).
    restarted: bool,
    boot_view: u64,
    /// The view whose SNAPSHOT this replica installed since it booted, and the view it last
    /// asked a SNAPSHOT for (once per view).
    installed: u64,
    asked: u64,
    role: Role,
    /// Primary: the view service saw it take this view up (R1).
    active: bool,
    lease_until: u64,
    /// How far this replica's own disk holds its sequence, and the syncs under way.
    durable_seq: u64,
    syncs: SyncMarks,
    /// A SNAPSHOT being made durable: the sync that covers it and its view (R6).
    installing: Option<(SyncId, u64)>,
    // Primary.
    acked: Vec<u64>,
    waiting_since: Vec<Option<u64>>,
    committed: u64,
    /// Answers waiting for the state up to their position to be on the primary's disk and
    /// (unless answered early) acknowledged by every backup (R3).
    answers: Vec<Answer>,
    held: Vec<Request>,
    // For the checks: what this event did.
    pub took_up_now: bool,
    pub revealed_now: u64,
    pub stats: Stats,
}

impl Replica {
    pub fn boot(cx: &mut Ctx<PrimaryBackup>, p: PbParams, bugs: Bugs, layout: Layout, d: &PbDurable) -> Self {
        let n = cx.cluster_size();
        let mut r = Replica {
            id: cx.id(),
            p,
            bugs,
            layout,
            kv: d.kv.clone(),
            sessions: d.sessions.clone(),
            seq: d.seq,
            chain: d.chain.clone(),
            view: View {
                num: d.view,
                ..View::default()
            },
            synced: d.synced,
            restarted: true,
            boot_view: d.view,
            installed: 0,
            asked: 0,
            role: Role::Idle,
            active: false,
            lease_until: 0,
            durable_seq: d.seq,
            syncs: SyncMarks::default(),
            installing: None,
            acked: vec![0; n],
            waiting_since: vec![None; n],
            committed: 0,
            answers: Vec::new(),
            held: Vec::new(),
            took_up_now: false,
            revealed_now: 0,
            stats: Stats::default(),
        };
        cx.set_timer(r.p.ping.0, Timer::Tick);
        r.ping(cx);
        r
    }

    pub fn begin_event(&mut self) {
        self.took_up_now = false;
        self.revealed_now = 0;
    }

    pub fn role(&self) -> Role {
        self.role
    }
    pub fn is_active_primary(&self) -> bool {
        self.role == Role::Primary && self.active
    }
    pub fn view(&self) -> &View {
        &self.view
    }
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The digest of the sequence up to position `pos` (0: the empty sequence).
    pub fn digest_at(&self, pos: u64) -> Option<u64> {
        if pos == 0 {
            Some(0)
        } else {
            self.chain.get(pos as usize - 1).copied()
        }
    }
    pub fn chain(&self) -> &[u64] {
        &self.chain
    }

    pub fn role_name(&self) -> &'static str {
        match self.role {
            Role::Idle => "idle",
            Role::Backup => "backup",
            Role::Primary => "primary",
        }
    }

    pub fn summary(&self) -> String {
        let state = match (self.role, self.active) {
            (Role::Primary, true) => format!("primary, committed #{}", self.committed),
            (Role::Primary, false) => "primary (not yet taken up)".to_string(),
            (r, _) => format!("{r:?}").to_lowercase(),
        };
        format!("{:?}: {state}, #{} written, synced in view {}", self.view, self.seq, self.synced)
    }

    pub fn coverage(&self) -> u64 {
        let b = |x: u64| x.min(3);
        (self.role as u64)
            | u64::from(self.active) << 2
            | b(self.seq.saturating_sub(self.committed)) << 3
            | u64::from(self.synced == self.view.num) << 5
            | u64::from(self.restarted) << 6
            | b(self.held.len() as u64) << 7
    }

    fn ping(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        let now = cx.now_mono();
        let suspects = if self.is_active_primary() {
            // R6
            let t = self.p.ack_timeout.0;
            self.view
                .backups
                .iter()
                .copied()
                .filter(|b| self.waiting_since[b.index()].is_some_and(|s| now >= s + t))
                .collect()
        } else {
            Vec::new()
        };
        let ping = Msg::Ping {
            view: self.view.num,
            synced: self.synced,
            restarted: self.restarted,
            suspects,
            sent: now,
        };
        cx.send(self.layout.views, ping);
    }

    pub fn on_tick(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        cx.set_timer(self.p.ping.0, Timer::Tick);
        self.ping(cx);
    }

    pub fn on_message(&mut self, cx: &mut Ctx<PrimaryBackup>, from: NodeId, msg: Msg) {
        match msg {
            Msg::View { view, echo, lease } => self.on_view(cx, view, echo, lease),
            Msg::Snapshot { view, seq, kv, sessions, chain } => {
                self.on_snapshot(cx, from, view, seq, kv, sessions, chain)
            }
            Msg::Forward { view, write } => self.on_forward(cx, from, view, write),
            Msg::Ack { view, seq } => self.on_ack(cx, from, view, seq),
            Msg::Nack { view } => self.on_nack(cx, view),
            Msg::NeedSnapshot { view } => {
                if self.is_active_primary() && view == self.view.num && self.view.backups.contains(&from) {
                    self.send_snapshot(cx, from);
                }
            }
            Msg::Ping { .. } => {}
        }
    }

    fn on_view(&mut self, cx: &mut Ctx<PrimaryBackup>, view: View, echo: u64, lease: bool) {
        if view.num < self.view.num {
            return; // an answer overtaken by a newer view
        }
        if view != self.view || self.role != self.role_in(&view) {
            self.adopt(cx, view);
        }
        if lease && self.role == Role::Primary {
            let len = crate::common::lease::length(self.p.dead_after.0, cx.drift_bound_ppm());
            self.lease_until = self.lease_until.max(echo + len);
            if !self.active {
                self.take_up(cx);
            }
            self.release_held(cx);
        }
    }

    fn role_in(&self, view: &View) -> Role {
        if view.primary == Some(self.id) {
            Role::Primary
        } else if view.backups.contains(&self.id) {
            Role::Backup
        } else {
            Role::Idle
        }
    }

    /// Takes on the role `view` gives this replica.
    fn adopt(&mut self, cx: &mut Ctx<PrimaryBackup>, view: View) {
        let role = self.role_in(&view);
        let newer = view.num > self.view.num;
        if newer {
            cx.persist(PbWrite::View(view.num));
            if view.num > self.boot_view {
                self.restarted = false;
            }
        }
        let was_primary = self.role == Role::Primary;
        let next_primary = view.primary;
        self.view = view;
        if was_primary && role != Role::Primary {
            self.step_down(cx, next_primary);
        }
        self.role = role;
        if role == Role::Primary && (newer || !was_primary) {
            // R1: not before the view service has seen us take this view up.
            self.active = false;
            self.ping(cx);
        }
    }

    /// R2: the primary starts its view.
    fn take_up(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        self.active = true;
        self.took_up_now = true;
        if self.synced != self.view.num {
            self.synced = self.view.num;
            cx.persist(PbWrite::Synced(self.synced));
        }
        if cx.tracing() {
            cx.note(format!("takes up {:?} at #{}", self.view, self.seq));
        }
        self.acked.iter_mut().for_each(|a| *a = 0);
        self.waiting_since.iter_mut().for_each(|w| *w = None);
        for b in self.view.backups.clone() {
            self.send_snapshot(cx, b);
        }
        self.sync_soon(cx);
        self.try_answer(cx);
    }

    fn send_snapshot(&mut self, cx: &mut Ctx<PrimaryBackup>, to: NodeId) {
        let now = cx.now_mono();
        self.waiting_since[to.index()].get_or_insert(now);
        let msg = Msg::Snapshot {
            view: self.view.num,
            seq: self.seq,
            kv: self.kv.clone(),
            sessions: self.sessions.clone(),
            chain: self.chain.clone(),
        };
        cx.send(to, msg);
    }

    /// R5: no longer primary. Unanswered writes may or may not survive, so they stay
    /// unanswered; reads and held requests did nothing and are sent on.
    fn step_down(&mut self, cx: &mut Ctx<PrimaryBackup>, to: Option<NodeId>) {
        self.active = false;
        self.role = Role::Idle;
        for a in std::mem::take(&mut self.answers) {
            if a.req.op.is_read() {
                cx.reply(&a.req, Outcome::NotApplied);
            }
        }
        for req in std::mem::take(&mut self.held) {
            cx.reply(&req, Outcome::Redirect(to));
        }
    }

    pub fn on_client(&mut self, cx: &mut Ctx<PrimaryBackup>, req: Request) {
        if self.role != Role::Primary {
            if self.bugs.read_from_backup && self.role == Role::Backup && req.op.is_read() {
                // Bug `read-from-backup`.
                let out = KvReply::Ok(self.kv.read(req.op.key()));
                cx.reply(&req, Outcome::Done(out));
                return;
            }
            let to = self.view.primary.filter(|&p| p != self.id);
            cx.reply(&req, Outcome::Redirect(to));
            return;
        }
        let now = cx.now_mono();
        if !self.active || (req.op.is_read() && now >= self.lease_until) {
            // R1, R4: wait for the view service.
            if self.held.len() < MAX_HELD {
                self.held.push(req);
            } else {
                cx.reply(&req, Outcome::NotApplied);
            }
            return;
        }
        self.serve(cx, req);
        self.try_answer(cx);
    }

    fn release_held(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        for req in std::mem::take(&mut self.held) {
            self.on_client(cx, req);
        }
    }

    fn early(&self) -> bool {
        self.p.replication == Replication::Async
    }

    fn serve(&mut self, cx: &mut Ctx<PrimaryBackup>, req: Request) {
        if req.op.is_read() {
            // R3: the state as it is now, once everything before it is acknowledged.
            let out = Outcome::Done(KvReply::Ok(self.kv.read(req.op.key())));
            self.answer_at(cx, self.seq, req, out, self.early());
            return;
        }
        match self.sessions.seen(req.session, req.seq) {
            Seen::Duplicate(out) => {
                let out = Outcome::Done(out.clone());
                self.answer_at(cx, self.seq, req, out, self.early());
            }
            Seen::Stale => {}
            Seen::New => {
                let w = Write {
                    seq: self.seq + 1,
                    session: req.session,
                    cseq: req.seq,
                    op: req.op.clone(),
                };
                let out = apply_write(&mut self.kv, &mut self.sessions, &mut self.chain, &w);
                self.seq = w.seq;
                cx.persist(PbWrite::Apply(w.clone()));
                self.sync_soon(cx);
                let now = cx.now_mono();
                for &b in &self.view.backups {
                    cx.send(b, Msg::Forward { view: self.view.num, write: w.clone() });
                    self.waiting_since[b.index()].get_or_insert(now);
                }
                // Bug `ack-before-backup`, or `replication = "async"`: answer at once.
                let early = self.early() || self.bugs.ack_before_backup;
                self.answer_at(cx, w.seq, req, Outcome::Done(out), early);
            }
        }
    }

    /// Queues an answer revealing the state up to `pos`: sent once the primary's disk has it,
    /// and (unless `early`) every backup has acknowledged it.
    fn answer_at(&mut self, _cx: &mut Ctx<PrimaryBackup>, pos: u64, req: Request, out: Outcome<KvReply>, early: bool) {
        self.answers.push(Answer { pos, early, req, out });
    }

    /// Group commit: one sync at a time covers every write issued before it.
    fn sync_soon(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        if self.syncs.last().is_none() && self.durable_seq < self.seq {
            let s = cx.sync();
            self.syncs.push(s, self.seq);
        }
    }

    /// R3: sends the answers whose state is on disk and acknowledged.
    fn try_answer(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        if !self.is_active_primary() {
            return;
        }
        let backups = &self.view.backups;
        self.committed = backups.iter().map(|b| self.acked[b.index()]).min().unwrap_or(self.seq).min(self.seq);
        let (committed, durable) = (self.committed, self.durable_seq);
        let mut revealed = self.revealed_now;
        self.answers.retain(|a| {
            let ready = a.pos <= durable && (a.early || a.pos <= committed);
            if ready {
                cx.reply(&a.req, a.out.clone());
                revealed = revealed.max(a.pos);
            }
            !ready
        });
        self.revealed_now = revealed;
    }

    fn on_ack(&mut self, cx: &mut Ctx<PrimaryBackup>, from: NodeId, view: u64, seq: u64) {
        let fenced = !self.bugs.no_epoch_fencing;
        if self.role != Role::Primary || (fenced && view != self.view.num) || !self.view.backups.contains(&from) {
            return;
        }
        let i = from.index();
        self.acked[i] = self.acked[i].max(seq);
        self.waiting_since[i] = (self.acked[i] < self.seq).then(|| cx.now_mono());
        self.try_answer(cx);
    }

    fn on_nack(&mut self, cx: &mut Ctx<PrimaryBackup>, view: u64) {
        if self.role == Role::Primary && view > self.view.num {
            // R5: a newer view exists; ask the view service which.
            self.stats.fenced += 1;
            if cx.tracing() {
                cx.note(format!("fenced: view {view} exists, steps down"));
            }
            self.step_down(cx, None);
            self.ping(cx);
        }
    }

    /// R5: true if the message is from an older view (and must be ignored). Its sender is
    /// told, unless it is the primary of this view (it has not heard of it yet, and will send
    /// a fresh SNAPSHOT when it takes it up).
    fn fence(&mut self, cx: &mut Ctx<PrimaryBackup>, from: NodeId, view: u64) -> bool {
        if view >= self.view.num || self.bugs.no_epoch_fencing {
            return false;
        }
        if self.view.primary != Some(from) {
            self.stats.nacks_sent += 1;
            cx.send(from, Msg::Nack { view: self.view.num });
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn on_snapshot(
        &mut self,
        cx: &mut Ctx<PrimaryBackup>,
        from: NodeId,
        view: u64,
        seq: u64,
        kv: KvStore,
        sessions: Sessions<KvReply>,
        chain: Vec<u64>,
    ) {
        if self.fence(cx, from, view) {
            return;
        }
        if self.role == Role::Primary {
            if view == self.view.num && !self.bugs.no_epoch_fencing {
                return; // cannot happen: one primary per view
            }
            self.step_down(cx, Some(from));
        }
        if view > self.view.num {
            self.view = View {
                num: view,
                primary: Some(from),
                backups: vec![self.id],
            };
            cx.persist(PbWrite::View(view));
            if view > self.boot_view {
                self.restarted = false;
            }
        }
        self.role = Role::Backup;
        self.installed = view;
        self.kv = kv;
        self.sessions = sessions;
        self.seq = seq;
        self.chain = chain;
        self.stats.snapshots_installed += 1;
        cx.persist(PbWrite::Install {
            seq,
            kv: self.kv.clone(),
            sessions: self.sessions.clone(),
            chain: self.chain.clone(),
        });
        cx.persist(PbWrite::Synced(view));
        // Positions up to `seq` may now hold other writes than the disk's.
        self.durable_seq = 0;
        self.syncs.cap(0);
        let s = cx.sync();
        self.syncs.push(s, seq);
        self.installing = Some((s, view));
        cx.send_after_sync(from, Msg::Ack { view, seq });
    }

    fn on_forward(&mut self, cx: &mut Ctx<PrimaryBackup>, from: NodeId, view: u64, w: Write) {
        if self.fence(cx, from, view) {
            return;
        }
        if self.bugs.no_epoch_fencing {
            // Bug: whoever sends it, wherever it goes (the ghost chain is padded to fit).
            let last = self.chain.last().copied().unwrap_or(0);
            self.chain.resize(w.seq.saturating_sub(1) as usize, last);
        } else if self.role != Role::Backup || view != self.view.num {
            return; // not (yet) in this view
        } else if self.installed != view {
            // R2: only on top of this view's SNAPSHOT (this replica restarted since).
            if self.asked != view {
                self.asked = view;
                cx.send(from, Msg::NeedSnapshot { view });
            }
            return;
        } else if w.seq != self.seq + 1 {
            return; // a gap: the link broke, and a fresh SNAPSHOT is on its way
        }
        apply_write(&mut self.kv, &mut self.sessions, &mut self.chain, &w);
        self.seq = w.seq;
        cx.persist(PbWrite::Apply(w));
        cx.send_after_sync(from, Msg::Ack { view, seq: self.seq });
    }

    pub fn on_sync_done(&mut self, cx: &mut Ctx<PrimaryBackup>, sync: SyncId) {
        if let Some(reach) = self.syncs.complete(sync) {
            self.durable_seq = self.durable_seq.max(reach.min(self.seq));
        }
        if let Some((s, v)) = self.installing {
            if sync >= s {
                self.installing = None;
                self.synced = v; // R6
            }
        }
        self.sync_soon(cx);
        self.try_answer(cx);
    }

    pub fn on_link_broken(&mut self, cx: &mut Ctx<PrimaryBackup>, peer: NodeId) {
        // R2: what was in flight is lost; start that backup over.
        if self.is_active_primary() && self.view.backups.contains(&peer) {
            self.send_snapshot(cx, peer);
        }
    }
}
