//! A node's life: boot and restart, crash, pause and resume, completed syncs, and the
//! bookkeeping after every event that touched it (role changes, requested crashes, invariants).

use super::effects::NodeFx;
use super::event::Ev;
use super::Sim;
use crate::faults::{FaultAction, FaultEvent, Origin, Target};
use crate::ids::{ClientId, NodeId};
use crate::protocol::{CheckSink, Invariants, LinkKind, Protocol, SyncId, World};
use crate::time::{format_duration, Time};
use crate::trace::tag;

impl<P: Protocol> Sim<P> {
    pub(super) fn boot(&mut self, node: u32) {
        let slot = &mut self.nodes[node as usize];
        assert!(slot.state.is_none(), "boot of a running node");
        // Boot reads the durable state; take it out so the context can borrow the node's meta.
        let durable = std::mem::take(&mut slot.meta.storage.synced);
        let params = slot.meta.params.clone();
        let mut fx = NodeFx {
            node: NodeId(node),
            now: self.core.now,
            meta: &mut slot.meta,
            core: &mut self.core,
        };
        let state = fx.with_ctx(|cx| P::boot(cx, &params, &durable));
        slot.meta.storage.synced = durable;
        slot.state = Some(state);
        let inc = slot.meta.incarnation;
        let what = if inc == 0 {
            "starts"
        } else {
            "restarts from its durable state"
        };
        let clock = slot.meta.clock.clone();
        self.trace_node_line(node, what, || {
            if inc > 0 || (clock.offset_ns == 0 && clock.drift_ppm == 0) {
                String::new()
            } else {
                format!(
                    "(clock offset {}, drift {:+} ppm)",
                    format_duration(clock.offset_ns),
                    clock.drift_ppm
                )
            }
        });
    }

    /// A sync's completion reaches the node's process: held sends go out, then the protocol
    /// hears of it. A paused node gets it when it resumes.
    pub(super) fn on_sync_notify(&mut self, node: u32, incarnation: u32, sync: u64) {
        let slot = &mut self.nodes[node as usize];
        if slot.state.is_none() {
            return;
        }
        if slot.meta.paused {
            slot.meta.pause_buffer.push(Ev::SyncNotify {
                node,
                incarnation,
                sync,
            });
            return;
        }
        let now = self.core.now;
        let durable = slot.meta.storage.durable_upto;
        while let Some((needs, _)) = slot.meta.storage.held.front() {
            if *needs > durable {
                break;
            }
            let (_, h) = slot.meta.storage.held.pop_front().expect("front exists");
            self.core.release_held(now, NodeId(node), h);
        }
        self.with_node(node, |p, cx| p.on_sync_done(cx, SyncId(sync)));
    }

    /// After any event that touched a node: role changes, requested crashes, invariants.
    pub(super) fn after_node_event(&mut self, node: NodeId) {
        self.note_role(node);
        if let Some(n) = self.core.crash_requested.take() {
            let restart = self.nodes[n.index()].meta.power_loss_restart.take();
            self.nodes[n.index()].meta.crash_on_write = false;
            self.note_fault(
                FaultEvent::PowerLoss { node: n },
                &format!("power loss at {n}: unsynced writes lost"),
            );
            self.crash(n.0, restart);
        }
        let world = World::new(&self.nodes, &self.fault_timeline, self.core.now);
        let mut sink = CheckSink::new(&mut self.board);
        self.inv.after_event(&world, node, &mut sink);
    }

    /// Records a change of the node's role (trace, `crash_on_role`).
    fn note_role(&mut self, node: NodeId) {
        let i = node.index();
        let role = self.nodes[i].state.as_ref().map(|s| s.role()).unwrap_or("down");
        let old = std::mem::replace(&mut self.nodes[i].meta.role, role);
        // Roles are usually the same static strings: compare the pointers first (this runs
        // after every event).
        if std::ptr::eq(role, old) || role == old {
            return;
        }
        let now = self.core.now;
        self.core.trace.header(tag::ROLE, now, node.0, 0);
        self.core.trace.rec().extend_from_slice(role.as_bytes());
        self.core.trace.commit();
        self.maybe_role_crash(node, role);
        let state = self.nodes[i].state.as_ref();
        let summary = || state.map(|s| s.summary()).unwrap_or_default();
        // (A closure over `self.nodes` cannot be handed to `&mut self`: build the text first.)
        let text = if self.core.trace.wants_text() {
            summary()
        } else {
            String::new()
        };
        self.trace_role(node.0, role, || text);
    }

    /// Breaks the stream connections between these pairs of nodes (both ends are told).
    pub(super) fn break_streams(&mut self, pairs: &[(u32, u32)]) {
        if self.core.net.kind != LinkKind::Stream {
            return;
        }
        let now = self.core.now;
        for &(a, b) in pairs {
            if a as usize >= self.cfg.nodes || b as usize >= self.cfg.nodes {
                continue;
            }
            self.core.net.break_connection(a, b);
            for (x, y) in [(a, b), (b, a)] {
                if self.nodes[x as usize].state.is_some() {
                    let incarnation = self.nodes[x as usize].meta.incarnation;
                    self.core.queue.push(
                        now,
                        Ev::LinkBroken {
                            node: x,
                            incarnation,
                            peer: y,
                        },
                    );
                }
            }
        }
    }

    /// Crashes a running node: volatile state, unsynced writes, held sends, timers and the
    /// pause buffer are lost; its stream connections break.
    pub(super) fn crash(&mut self, node: u32, restart_after: Option<Time>) {
        let now = self.core.now;
        let slot = &mut self.nodes[node as usize];
        if slot.state.is_none() {
            return;
        }
        slot.state = None;
        slot.meta.incarnation += 1;
        slot.meta.storage.crash();
        slot.meta.paused = false;
        slot.meta.pause_buffer.clear();
        slot.meta.live_timers.clear();
        slot.meta.crash_on_write = false;
        if self.core.net.kind == LinkKind::Stream {
            let pairs: Vec<(u32, u32)> = (0..self.cfg.nodes as u32)
                .filter(|p| *p != node)
                .map(|p| (node, p))
                .collect();
            self.break_streams(&pairs);
        }
        if let Some(d) = restart_after {
            self.core.queue.push(
                now.saturating_add(d),
                Ev::Fault {
                    action: Box::new(FaultAction::Restart {
                        target: Target::Node(NodeId(node)),
                    }),
                    origin: Origin::FollowUp,
                    mark: None,
                },
            );
        }
    }

    /// Resumes a paused node: its buffered events replay now, in the order they arrived, so
    /// they see the current clock.
    pub(super) fn resume(&mut self, n: NodeId) {
        let now = self.core.now;
        let slot = &mut self.nodes[n.index()];
        slot.meta.paused = false;
        let buffered = std::mem::take(&mut slot.meta.pause_buffer);
        let count = buffered.len();
        self.record_fault(
            FaultEvent::Resume { node: n },
            n.0,
            count as u32,
            format!("resume {n} ({count} buffered events replay)"),
        );
        self.core.replay(now, buffered);
    }

    /// The quiet period begins: every partition and cut heals, disks recover, armed power
    /// losses are disarmed, paused nodes resume and crashed nodes restart.
    pub(super) fn heal_everything(&mut self) {
        self.core.net.heal();
        for i in 0..self.cfg.nodes {
            let meta = &mut self.nodes[i].meta;
            meta.slow_factor = 1;
            meta.crash_on_write = false;
            if meta.paused {
                self.resume(NodeId(i as u32));
            }
        }
        for c in 0..self.clients.list.len() {
            let id = ClientId(c as u32);
            if self.clients.list[c].paused {
                self.resume_client(id);
            }
            if !self.clients.list[c].up {
                self.restart_client(id);
            }
        }
        for i in 0..self.cfg.nodes as u32 {
            // A node whose group has not joined yet stays out.
            if self.nodes[i as usize].state.is_none() && self.joined(NodeId(i)) {
                self.record_fault(
                    FaultEvent::Restart { node: NodeId(i) },
                    i,
                    0,
                    format!("restart {}", NodeId(i)),
                );
                self.boot(i);
                self.after_node_event(NodeId(i));
            }
        }
    }
}
