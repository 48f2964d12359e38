//! The view service (MIT 6.824's viewservice; Budhiraja et al. 1993 §3 leave the choice of
//! the primary to "a failure detector and a membership service"): one node that hears a PING
//! from every replica and decides the views.
//!
//! Rules (each marked where it is applied below):
//! - V1: a replica silent for `dead_after` is dead. The view service names a new primary only
//!   once the old one is dead (or restarted), so the old primary's read lease has run out.
//! - V2: the new primary must hold every acknowledged write: it must have been *synced* (held
//!   the whole state) in the last view whose primary took it up. A primary acknowledges
//!   nothing in a view before the view service has seen it take the view up (its PING names
//!   the view), so writes of later views cannot have been acknowledged.
//! - V3: other changes (adding a backup, dropping a dead or suspected one, refreshing a
//!   restarted one) wait until the primary has taken the current view up (6.824's rule).
//! - V4: the view and the last taken-up view are on disk before anyone hears of them; after a
//!   restart the view service waits `dead_after` (any lease it granted runs out, and it hears
//!   from everyone) before it changes anything.

use super::messages::{Msg, Timer, View};
use super::node::{Layout, PbDurable, PbParams, PbWrite, PrimaryBackup};
use sim::{Ctx, NodeId, Outcome, RequestOf};

/// What the view service knows of one replica.
#[derive(Clone, Copy, Debug, Default)]
struct Heard {
    at: Option<u64>,
    synced: u64,
    restarted: bool,
    /// Its last ping said it restarted (whichever view it named).
    rebooted: bool,
    /// Kept out of views until then (the primary could not reach it).
    held_off: u64,
}

pub struct ViewService {
    p: PbParams,
    layout: Layout,
    view: View,
    /// The primary of `view` has pinged naming it (it may act in it from then on).
    taken_up: bool,
    last_taken: (u64, Option<NodeId>),
    prev_taken: u64,
    booted: u64,
    heard: Vec<Heard>,
    /// For the checks: views made, primaries replaced, backups dropped on the primary's word,
    /// and whether the view holds every replica, all synced, its primary working.
    pub views_made: u64,
    pub failovers: u64,
    pub dropped: u64,
    pub complete: bool,
}

impl ViewService {
    pub fn boot(cx: &mut Ctx<PrimaryBackup>, p: PbParams, layout: Layout, d: &PbDurable) -> Self {
        cx.set_timer(p.ping.0, Timer::Tick);
        let n = cx.cluster_size();
        ViewService {
            p,
            layout,
            view: d.current.clone(),
            taken_up: false,
            last_taken: d.last_taken,
            prev_taken: d.prev_taken,
            booted: cx.now_mono(),
            heard: vec![Heard::default(); n],
            views_made: 0,
            failovers: 0,
            dropped: 0,
            complete: false,
        }
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    pub fn coverage(&self) -> u64 {
        u64::from(self.taken_up) | u64::from(self.complete) << 1 | (self.view.backups.len() as u64).min(3) << 2
    }

    pub fn on_client(&mut self, cx: &mut Ctx<PrimaryBackup>, req: RequestOf<PrimaryBackup>) {
        cx.reply(&req, Outcome::Redirect(self.view.primary));
    }

    pub fn on_message(&mut self, cx: &mut Ctx<PrimaryBackup>, from: NodeId, msg: Msg) {
        let Msg::Ping { view, synced, restarted, suspects, sent } = msg else {
            return;
        };
        let now = cx.now_mono();
        let h = &mut self.heard[from.index()];
        h.at = Some(now);
        h.synced = synced;
        // A restart matters for the view it restarted in (a ping sent before the replica heard
        // of the current view says nothing about it).
        h.restarted = restarted && view == self.view.num;
        h.rebooted = restarted;
        // A restarted primary gets no lease: it is replaced (V1).
        let from_primary = self.view.primary == Some(from) && view == self.view.num && self.view.num > 0 && !restarted;
        if from_primary {
            if !self.taken_up {
                // V2: from now on the primary may acknowledge writes in this view.
                self.taken_up = true;
                if self.last_taken.0 != self.view.num {
                    self.prev_taken = self.last_taken.0;
                    self.last_taken = (self.view.num, Some(from));
                    cx.persist(PbWrite::TakenUp(self.view.num, from));
                }
            }
            for s in suspects {
                if self.view.backups.contains(&s) {
                    self.heard[s.index()].held_off = now + 4 * self.p.dead_after.0;
                }
            }
        }
        // V4: answered once the view (and the take-up) are on disk. `lease`: the answer
        // confirms the primary's own view, so it may count on it (V1).
        let answer = Msg::View {
            view: self.view.clone(),
            echo: sent,
            lease: from_primary,
        };
        cx.send_after_sync(from, answer);
    }

    pub fn on_tick(&mut self, cx: &mut Ctx<PrimaryBackup>) {
        cx.set_timer(self.p.ping.0, Timer::Tick);
        let now = cx.now_mono();
        if let Some(next) = self.decide(now) {
            if self.view.primary.is_some() && next.primary != self.view.primary {
                self.failovers += 1;
            }
            if cx.tracing() {
                cx.note(format!("new {next:?}"));
            }
            self.view = next;
            self.taken_up = false;
            self.views_made += 1;
            cx.persist(PbWrite::Current(self.view.clone()));
            cx.sync();
        }
        self.complete = self.taken_up
            && self.layout.replicas.iter().all(|&r| self.view.has(r))
            && self.view.backups.iter().all(|b| self.heard[b.index()].synced == self.view.num);
    }

    fn alive(&self, r: NodeId, now: u64) -> bool {
        self.heard[r.index()].at.is_some_and(|t| now < t + self.p.dead_after.0)
    }

    /// The next view, if the current one should change.
    fn decide(&mut self, now: u64) -> Option<View> {
        let alive: Vec<NodeId> = self.layout.replicas.iter().copied().filter(|&r| self.alive(r, now)).collect();
        let waited = now >= self.booted + self.p.dead_after.0;
        let usable = |r: &NodeId| self.heard[r.index()].held_off <= now;
        let Some(primary) = self.view.primary else {
            // The first view, once every replica has pinged (or `dead_after` has passed):
            // every replica starts empty, so any may lead.
            if !waited && alive.len() < self.layout.replicas.len() {
                return None;
            }
            let first = *alive.first()?;
            let backups = alive.iter().copied().filter(|&r| r != first).collect();
            return Some(View {
                num: self.view.num + 1,
                primary: Some(first),
                backups,
            });
        };
        if !waited {
            return None; // V4
        }
        let gone = !self.alive(primary, now) || self.heard[primary.index()].restarted;
        if gone {
            // V1, V2: promote a live replica that was synced in the last taken-up view; the
            // current view's backups first, the (restarted) old primary last.
            // If the primary of that view restarted and its disk says it never took the view
            // up, it acknowledged nothing there: replicas synced in the view before also do.
            let (base, by) = self.last_taken;
            let fallback = by.is_some_and(|q| {
                let h = &self.heard[q.index()];
                h.rebooted && h.synced < base && alive.contains(&q)
            });
            let prev = self.prev_taken;
            let synced = |r: &NodeId| {
                let s = self.heard[r.index()].synced;
                (s == base || (fallback && s == prev)) && alive.contains(r)
            };
            let next = self
                .view
                .backups
                .iter()
                .chain(self.layout.replicas.iter())
                .copied()
                .filter(|r| *r != primary)
                .chain(std::iter::once(primary))
                .find(synced)?;
            let backups = alive.iter().copied().filter(|&r| r != next && usable(&r)).collect();
            return Some(View {
                num: self.view.num + 1,
                primary: Some(next),
                backups,
            });
        }
        if !self.taken_up {
            return None; // V3
        }
        let backups: Vec<NodeId> = alive.iter().copied().filter(|&r| r != primary && usable(&r)).collect();
        let dropped = self.view.backups.iter().filter(|b| !backups.contains(b) && alive.contains(b)).count();
        let restarted = backups.iter().any(|b| self.heard[b.index()].restarted);
        if backups == self.view.backups && !restarted {
            return None;
        }
        self.dropped += dropped as u64;
        Some(View {
            num: self.view.num + 1,
            primary: Some(primary),
            backups,
        })
    }
}
