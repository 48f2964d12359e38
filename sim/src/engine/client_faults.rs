//! Client faults: a client crashes (its operations in flight end `info`), restarts as a fresh
//! process, pauses (what it would see waits in a buffer) and resumes.

use super::event::{Ev, Handled};
use super::Sim;
use crate::faults::{FaultAction, FaultEvent, Origin, Target};
use crate::ids::ClientId;
use crate::protocol::Protocol;
use crate::time::Time;
use crate::trace::tag;
use crate::workload::ClientAction;

impl<P: Protocol> Sim<P> {
    /// Holds an event for paused client `c` until it resumes (a message beyond the pause
    /// buffer's bound is dropped).
    pub(super) fn buffer_for_client(&mut self, c: usize, ev: Ev<P>) -> Handled {
        if let Ev::Deliver {
            from,
            to,
            id,
            ref payload,
            ..
        } = ev
        {
            self.core.net.in_flight -= 1;
            if self.client_buffers[c].len() >= self.cfg.limits.max_pause_buffer {
                self.core.bounds_hit.insert("max_pause_buffer");
                self.core.counters.dropped_pause_buffer += 1;
                let now = self.core.now;
                self.core.drop_message(
                    tag::DROP_AT_DELIVERY,
                    now,
                    (from, to, id),
                    payload,
                    crate::net::DropReason::PauseBufferFull,
                );
                return Handled::Done;
            }
        }
        self.client_buffers[c].push(ev);
        Handled::Stale
    }

    /// A client crashes: its op in flight ends `info`; it does nothing until it restarts.
    pub(super) fn crash_client(&mut self, c: ClientId, restart_after: Option<Time>) {
        if !self.clients.list[c.index()].up {
            self.fault_line(&format!("crash {c}: it is already down; fault skipped"));
            return;
        }
        self.record_fault(
            FaultEvent::ClientCrash { client: c },
            c.0,
            0,
            format!("crash {c}"),
        );
        let buffered = std::mem::take(&mut self.client_buffers[c.index()]);
        for action in self.clients.crash(c.index()) {
            if let ClientAction::Complete {
                kind,
                op,
                reply,
                process,
                ..
            } = action
            {
                self.record_completion(c.index(), kind, &op, reply.as_ref(), process);
            }
        }
        // What a pause held back meets a crashed client: replies are dropped (it is down),
        // scheduled ops wait for the restart, timers are stale.
        self.core.replay(self.core.now, buffered);
        if let Some(d) = restart_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Fault {
                    action: Box::new(FaultAction::Restart {
                        target: Target::Client(c),
                    }),
                    origin: Origin::FollowUp,
                    mark: None,
                },
            );
        }
    }

    /// A crashed client starts again, as a fresh process, with its next arrival.
    pub(super) fn restart_client(&mut self, c: ClientId) {
        if self.clients.list[c.index()].up {
            return;
        }
        self.record_fault(
            FaultEvent::ClientRestart { client: c },
            c.0,
            0,
            format!("restart {c}"),
        );
        self.clients.restart(c.index());
        if self.clients.open_loop() {
            // A fresh arrival chain; free lanes take the scheduled ops that waited.
            self.schedule_arrival(c.index(), self.core.now);
            self.fill_lanes(c.index());
        } else {
            self.wake_after_completion(c.index());
        }
    }

    pub(super) fn pause_client(&mut self, c: ClientId, resume_after: Option<Time>) {
        let cl = &mut self.clients.list[c.index()];
        if !cl.up || cl.paused {
            return;
        }
        cl.paused = true;
        self.record_fault(
            FaultEvent::ClientPause { client: c },
            c.0,
            0,
            format!("pause {c}"),
        );
        if let Some(d) = resume_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Fault {
                    action: Box::new(FaultAction::Resume {
                        target: Target::Client(c),
                    }),
                    origin: Origin::FollowUp,
                    mark: None,
                },
            );
        }
    }

    /// A paused client resumes: what it missed replays now, in order. In the open loop,
    /// arrivals kept coming during the pause (they are not its events): free lanes take what
    /// waits first.
    pub(super) fn resume_client(&mut self, c: ClientId) {
        if !self.clients.list[c.index()].paused {
            return;
        }
        self.clients.list[c.index()].paused = false;
        let buffered = std::mem::take(&mut self.client_buffers[c.index()]);
        let count = buffered.len();
        self.record_fault(
            FaultEvent::ClientResume { client: c },
            c.0,
            count as u32,
            format!("resume {c} ({count} buffered events replay)"),
        );
        self.core.replay(self.core.now, buffered);
        if self.clients.open_loop() {
            self.fill_lanes(c.index());
        }
    }
}
