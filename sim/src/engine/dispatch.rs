//! Handling one event of each kind.

use super::core::NodeSlot;
use super::effects::NodeFx;
use super::event::{Ev, Handled, Payload};
use super::Sim;
use crate::faults::FaultKind;
use crate::ids::NodeId;
use crate::net::DropReason;
use crate::protocol::{Ctx, LinkKind, Protocol};
use crate::rng::Draw;
use crate::time::Time;
use crate::trace::tag;

/// The fate of a message arriving at a node.
enum Arrival {
    Deliver,
    /// The node is paused: it gets the message when it resumes.
    Buffer,
    Drop(DropReason),
}

impl<P: Protocol> Sim<P> {
    /// The client an event is for, if any.
    fn client_of(&self, ev: &Ev<P>) -> Option<usize> {
        match ev {
            Ev::ClientWake { client, .. }
            | Ev::ClientTimeout { client, .. }
            | Ev::ClientBackoff { client, .. } => Some(*client as usize),
            Ev::ScheduledOp { index } => Some(self.scheduled_ops[*index as usize].client.index()),
            Ev::Deliver { to, .. } if (*to as usize) >= self.cfg.nodes => Some(*to as usize - self.cfg.nodes),
            _ => None,
        }
    }

    /// Handles one event.
    pub(super) fn dispatch(&mut self, ev: Ev<P>) -> Handled {
        let now = self.core.now;
        if let Some(c) = self.client_of(&ev) {
            // An open-loop arrival comes from outside the client: it queues even while the
            // client is paused.
            let arrival = matches!(ev, Ev::ClientWake { .. } | Ev::ScheduledOp { .. });
            if self.clients.list[c].paused && !(arrival && self.clients.open_loop()) {
                return self.buffer_for_client(c, ev);
            }
        }
        match ev {
            Ev::Boot { node } => {
                self.core.trace.header(tag::BOOT, now, node, 0);
                self.core.trace.commit();
                self.boot(node);
                Handled::Touched(NodeId(node))
            }
            Ev::Deliver {
                from,
                to,
                epoch,
                id,
                payload,
            } => {
                self.core.net.in_flight -= 1;
                if (to as usize) < self.cfg.nodes {
                    self.deliver_to_node((from, to, id), epoch, payload)
                } else {
                    self.deliver_to_client((from, to, id), payload);
                    Handled::Done
                }
            }
            Ev::Timer {
                node,
                incarnation,
                id,
                timer,
            } => self.on_timer(node, incarnation, id, timer),
            Ev::SyncDone {
                node,
                incarnation,
                sync,
            } => self.on_sync_done(node, incarnation, sync),
            Ev::SyncNotify {
                node,
                incarnation,
                sync,
            } => {
                if self.nodes[node as usize].meta.incarnation != incarnation {
                    return Handled::Stale;
                }
                self.on_sync_notify(node, incarnation, sync);
                Handled::Touched(NodeId(node))
            }
            Ev::LinkBroken {
                node,
                incarnation,
                peer,
            } => self.on_link_broken(node, incarnation, peer),
            Ev::ClientWake { client, gen } => self.on_client_wake(client, gen),
            Ev::ClientTimeout { client, lane, at } => self.on_client_timeout(client, lane, at),
            Ev::ClientBackoff { client, lane, gen } => self.on_client_backoff(client, lane, gen),
            Ev::ScheduledOp { index } => self.on_scheduled_op(index),
            Ev::Fault { action, origin, mark } => Handled::touching(self.apply_fault(*action, origin, mark)),
            Ev::Heal(h) => self.apply_heal(h),
            Ev::NemesisTick { kind } => self.on_nemesis_tick(kind),
            Ev::Quiet => {
                self.core.trace.header(tag::QUIET, now, 0, 0);
                self.core.trace.commit();
                self.quiet = true;
                self.fault_line("quiet period begins: no more faults; healing everything");
                self.heal_everything();
                Handled::Done
            }
        }
    }

    /// Runs a handler on a live node; returns None if the node is down.
    pub(super) fn with_node<R>(&mut self, node: u32, f: impl FnOnce(&mut P, &mut Ctx<P>) -> R) -> Option<R> {
        let NodeSlot { state, meta } = &mut self.nodes[node as usize];
        let state = state.as_mut()?;
        let mut fx = NodeFx {
            node: NodeId(node),
            now: self.core.now,
            meta,
            core: &mut self.core,
        };
        Some(fx.with_ctx(|cx| f(state, cx)))
    }

    /// A sync completed on the disk: its writes are durable (even if the node is paused; its
    /// process hears of it when it resumes).
    fn on_sync_done(&mut self, node: u32, incarnation: u32, sync: u64) -> Handled {
        let meta = &mut self.nodes[node as usize].meta;
        if meta.incarnation != incarnation {
            return Handled::Stale;
        }
        meta.storage.complete(sync);
        self.core.trace.header(tag::SYNC_DONE, self.core.now, node, 0);
        self.core.trace.rec().extend_from_slice(&sync.to_le_bytes());
        self.core.trace.commit();
        self.on_sync_notify(node, incarnation, sync);
        Handled::Touched(NodeId(node))
    }

    fn on_timer(&mut self, node: u32, incarnation: u32, id: u64, timer: P::Timer) -> Handled {
        let meta = &mut self.nodes[node as usize].meta;
        if meta.incarnation != incarnation || !meta.live_timers.contains(&id) {
            return Handled::Stale;
        }
        if meta.paused {
            meta.pause_buffer.push(Ev::Timer {
                node,
                incarnation,
                id,
                timer,
            });
            return Handled::Stale;
        }
        meta.live_timers.remove(&id);
        self.core.trace.header(tag::TIMER, self.core.now, node, 0);
        crate::trace::encode(&timer, self.core.trace.rec());
        self.core.trace.commit();
        self.trace_node_line(node, "timer", || format!("{timer:?}"));
        self.with_node(node, |p, cx| p.on_timer(cx, timer));
        Handled::Touched(NodeId(node))
    }

    fn on_link_broken(&mut self, node: u32, incarnation: u32, peer: u32) -> Handled {
        let slot = &mut self.nodes[node as usize];
        if slot.meta.incarnation != incarnation || slot.state.is_none() {
            return Handled::Stale;
        }
        let meta = &mut slot.meta;
        if meta.paused {
            meta.pause_buffer.push(Ev::LinkBroken {
                node,
                incarnation,
                peer,
            });
            return Handled::Stale;
        }
        self.core
            .trace
            .header(tag::LINK_BROKEN, self.core.now, node, peer);
        self.core.trace.commit();
        self.trace_node_line(node, "connection broken", || format!("to {}", NodeId(peer)));
        self.with_node(node, |p, cx| p.on_link_broken(cx, NodeId(peer)));
        Handled::Touched(NodeId(node))
    }

    fn on_nemesis_tick(&mut self, kind: FaultKind) -> Handled {
        if self.quiet {
            return Handled::Stale;
        }
        let now = self.core.now;
        self.core.trace.header(tag::NEMESIS, now, kind as u32, 0);
        self.core.trace.commit();
        let touched = self.nemesis_strike(kind);
        let mean = self
            .cfg
            .nemesis
            .as_ref()
            .and_then(|n| n.kinds.iter().find(|(k, _)| *k == kind))
            .map(|(_, m)| *m)
            .expect("tick for an enabled kind");
        let next = now.saturating_add(self.nemesis_rng(kind).exp(mean as f64).round() as Time);
        self.core.queue.push(next, Ev::NemesisTick { kind });
        Handled::touching(touched)
    }

    /// What happens to a message arriving now at node `to`.
    fn arrival(&mut self, from: u32, to: u32, epoch: u32) -> Arrival {
        let slot = &self.nodes[to as usize];
        if slot.state.is_none() {
            return Arrival::Drop(DropReason::Down);
        }
        if slot.meta.paused {
            if slot.meta.pause_buffer.len() >= self.cfg.limits.max_pause_buffer {
                self.core.bounds_hit.insert("max_pause_buffer");
                self.core.counters.dropped_pause_buffer += 1;
                return Arrival::Drop(DropReason::PauseBufferFull);
            }
            return Arrival::Buffer;
        }
        if self.core.net.kind == LinkKind::Stream && self.core.net.epoch(from, to) != epoch {
            return Arrival::Drop(DropReason::ConnectionBroken);
        }
        match self.core.net.connected(from, to) {
            Ok(()) => Arrival::Deliver,
            Err(reason) => Arrival::Drop(reason),
        }
    }

    /// `link`: from, to, message id.
    fn deliver_to_node(&mut self, link: (u32, u32, u64), epoch: u32, payload: Payload<P>) -> Handled {
        let now = self.core.now;
        let (from, to, id) = link;
        match self.arrival(from, to, epoch) {
            Arrival::Deliver => {}
            Arrival::Buffer => {
                self.nodes[to as usize].meta.pause_buffer.push(Ev::Deliver {
                    from,
                    to,
                    epoch,
                    id,
                    payload,
                });
                return Handled::Stale;
            }
            Arrival::Drop(reason) => {
                self.core
                    .drop_message(tag::DROP_AT_DELIVERY, now, link, &payload, reason);
                return Handled::Done;
            }
        }
        self.core.record_delivery(now, link, &payload);
        match payload {
            Payload::Proto(msg) => {
                let msg = *msg;
                assert!((from as usize) < self.cfg.nodes, "protocol message from a client");
                self.with_node(to, |p, cx| p.on_message(cx, NodeId(from), msg));
            }
            Payload::Request(req) => {
                self.with_node(to, |p, cx| p.on_client(cx, *req));
            }
            Payload::Reply(_) => unreachable!("a reply addressed to a server"),
        }
        Handled::Touched(NodeId(to))
    }
}
