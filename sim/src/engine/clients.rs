//! The clients' plumbing: waking, sending requests, timeouts and backoffs, replies, and
//! recording the history. The client logic itself (retries, redirects, `info`) is in
//! `workload.rs`.

use super::event::{Ev, Handled, Payload};
use super::Sim;
use crate::client::ClientRequest;
use crate::faults::{FaultAction, FaultEvent, Origin, Target};
use crate::history::{EventType, HistoryEvent};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::protocol::Protocol;
use crate::time::Time;
use crate::trace::tag;
use crate::workload::ClientAction;

impl<P: Protocol> Sim<P> {
    /// Queues each random-workload client's first arrival.
    pub(super) fn schedule_workload_start(&mut self) {
        let Some(w) = &self.cfg.workload else { return };
        let start = w.start;
        for c in 0..w.clients.min(self.clients.list.len()) {
            let Some(at) = self.clients.next_arrival(c, start) else {
                continue;
            };
            let gen = self.clients.list[c].gen;
            self.core.queue.push(
                at,
                Ev::ClientWake {
                    client: c as u32,
                    gen,
                },
            );
        }
    }

    pub(super) fn on_client_wake(&mut self, client: u32, gen: u64) -> Handled {
        let cl = &self.clients.list[client as usize];
        if cl.gen != gen || cl.busy.is_some() {
            return Handled::Stale;
        }
        self.core.trace.header(tag::CLIENT_WAKE, self.core.now, client, 0);
        self.core.trace.commit();
        self.client_next(client as usize);
        Handled::Done
    }

    pub(super) fn on_client_timeout(&mut self, client: u32, at: Time) -> Handled {
        let now = self.core.now;
        let c = client as usize;
        let cl = &mut self.clients.list[c];
        if cl.timer_armed != Some(at) {
            return Handled::Stale; // superseded
        }
        cl.timer_armed = None;
        let (due, gen) = match (cl.deadline, cl.busy.as_ref()) {
            (Some((due, gen)), Some(f)) if f.timer_gen == gen => (due, gen),
            _ => return Handled::Stale, // the op completed or moved on
        };
        if now < due {
            // A later attempt moved the deadline: wait for it (not an event of its own).
            cl.timer_armed = Some(due);
            self.core.queue.push(due, Ev::ClientTimeout { client, at: due });
            return Handled::Stale;
        }
        self.core.trace.header(tag::CLIENT_TIMEOUT, now, client, 0);
        self.core.trace.commit();
        let action = self.clients.on_timeout(c, gen);
        self.client_act(c, action);
        Handled::Done
    }

    pub(super) fn on_client_backoff(&mut self, client: u32, gen: u64) -> Handled {
        let c = client as usize;
        match self.clients.in_flight(c) {
            Some((f, _)) if f.timer_gen == gen => {}
            _ => return Handled::Stale,
        }
        // The backoff shares the timeout's record tag, told apart by the second operand.
        self.core
            .trace
            .header(tag::CLIENT_TIMEOUT, self.core.now, client, 1);
        self.core.trace.commit();
        let action = self.clients.on_backoff_done(c, gen);
        self.client_act(c, action);
        Handled::Done
    }

    pub(super) fn on_scheduled_op(&mut self, index: u32) -> Handled {
        let op = self.scheduled_ops[index as usize].clone();
        let c = op.client.index();
        self.core
            .trace
            .header(tag::SCHEDULED_OP, self.core.now, c as u32, index);
        self.core.trace.commit();
        // A crashed client issues it once it restarts (a paused one has not seen it yet: the
        // event waits in its buffer).
        let cl = &mut self.clients.list[c];
        cl.queue.push_back(op.op);
        if cl.busy.is_none() && cl.up {
            self.client_next(c);
        }
        Handled::Done
    }

    /// `link`: from, to, message id.
    pub(super) fn deliver_to_client(&mut self, link: (u32, u32, u64), payload: Payload<P>) {
        let now = self.core.now;
        let (from, to, _) = link;
        let c = (to as usize) - self.cfg.nodes;
        let reachable = if self.clients.list[c].up {
            self.core.net.connected(from, to)
        } else {
            Err(crate::net::DropReason::Down)
        };
        if let Err(reason) = reachable {
            self.core
                .drop_message(tag::DROP_AT_DELIVERY, now, link, &payload, reason);
            return;
        }
        self.core.counters.messages.delivered += 1;
        self.core.trace.header(tag::DELIVER, now, from, to);
        payload.encode(self.core.trace.rec());
        self.core.trace.commit();
        if self.core.trace.wants_text() || self.core.trace.wants_json() {
            self.core.trace_payload("deliver", now, link, &payload, None);
        }
        let Payload::Reply(reply) = payload else {
            unreachable!("only replies are addressed to clients");
        };
        let c = (to as usize) - self.cfg.nodes;
        let action = self.clients.on_reply(c, &reply);
        self.client_act(c, action);
    }

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
        self.client_buffers[c.index()].clear();
        if let Some(ClientAction::Complete {
            kind,
            op,
            reply,
            process,
            ..
        }) = self.clients.crash(c.index())
        {
            self.record_completion(c.index(), kind, &op, reply.as_ref(), process);
        }
        if let Some(d) = restart_after {
            self.core.queue.push(
                self.core.now.saturating_add(d),
                Ev::Fault {
                    action: Box::new(FaultAction::Restart {
                        target: Target::Client(c),
                    }),
                    origin: Origin::FollowUp,
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
        self.wake_after_completion(c.index());
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
                },
            );
        }
    }

    /// A paused client resumes: what it missed replays now, in order.
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
        let now = self.core.now;
        for ev in buffered {
            if matches!(ev, Ev::Deliver { .. }) {
                self.core.net.in_flight += 1;
            }
            self.core.queue.push(now, ev);
        }
    }

    /// Client `c` is idle: start its next op, if any.
    fn client_next(&mut self, c: usize) {
        let now = self.core.now;
        let op = if let Some(t) = self.clients.list[c].queue.pop_front() {
            self.clients.fill(c, &t)
        } else if self
            .clients
            .random_allowed(c, now, self.cfg.limits.max_history_ops)
        {
            self.clients.random_invoked += 1;
            self.clients.random_op(c)
        } else {
            if self.clients.workload.is_some()
                && self.clients.random_invoked >= self.cfg.limits.max_history_ops
            {
                self.core.bounds_hit.insert("max_history_ops");
            }
            return;
        };
        self.core.counters.ops.invoked += 1;
        let event = self.core.event;
        self.record_history(HistoryEvent {
            kind: EventType::Invoke,
            process: self.clients.list[c].process,
            client: ClientId(c as u32),
            op: &op,
            reply: None,
            time: now,
            event,
        });
        if let Some(w) = self.schedule.as_mut() {
            w.op(
                now,
                ClientId(c as u32),
                &<P::Workload as crate::family::Family>::to_spec(&op),
            );
        }
        let (to, _process, timeout) = self.clients.start(c, op, now);
        self.client_send(c, to, timeout);
        // Observers learn of a retired key after its last invocation.
        for key in self.clients.take_retired() {
            for o in &mut self.observers {
                o.key_retired(key);
            }
        }
    }

    fn client_send(&mut self, c: usize, to: NodeId, timeout: Time) {
        let now = self.core.now;
        let (f, process) = self
            .clients
            .in_flight(c)
            .expect("sending without an op in flight");
        let req = ClientRequest {
            client: ClientId(c as u32),
            session: process,
            seq: f.seq,
            op: f.op.clone(),
        };
        let gen = f.timer_gen;
        let from = self.core.net.ep(Endpoint::Client(ClientId(c as u32)));
        self.core.send(now, from, to.0, Payload::Request(Box::new(req)));
        // One armed timer per client: a busy client does not queue a timeout per operation.
        let due = now.saturating_add(timeout);
        let cl = &mut self.clients.list[c];
        cl.deadline = Some((due, gen));
        if cl.timer_armed.is_none_or(|armed| armed > due) {
            cl.timer_armed = Some(due);
            self.core.queue.push(
                due,
                Ev::ClientTimeout {
                    client: c as u32,
                    at: due,
                },
            );
        }
    }

    fn client_act(&mut self, c: usize, action: ClientAction<P::Workload>) {
        let now = self.core.now;
        match action {
            ClientAction::Nothing => {}
            ClientAction::Send { to, timeout } => self.client_send(c, to, timeout),
            ClientAction::Backoff(d) => {
                let gen = self
                    .clients
                    .in_flight(c)
                    .expect("backoff without an op")
                    .0
                    .timer_gen;
                self.core.queue.push(
                    now.saturating_add(d),
                    Ev::ClientBackoff {
                        client: c as u32,
                        gen,
                    },
                );
            }
            ClientAction::Complete {
                kind,
                op,
                reply,
                process,
                invoked,
            } => {
                if kind != EventType::Info {
                    self.board.sample(super::LATENCY, (now - invoked) as f64);
                }
                self.record_completion(c, kind, &op, reply.as_ref(), process);
                self.wake_after_completion(c);
            }
        }
    }

    /// Counts and records an operation's completion in the history.
    fn record_completion(
        &mut self,
        c: usize,
        kind: EventType,
        op: &<P::Workload as crate::family::Family>::Op,
        reply: Option<&<P::Workload as crate::family::Family>::Reply>,
        process: u64,
    ) {
        match kind {
            EventType::Ok => self.core.counters.ops.ok += 1,
            EventType::Fail => self.core.counters.ops.fail += 1,
            EventType::Info => self.core.counters.ops.info += 1,
            EventType::Invoke => unreachable!("a completion is not an invocation"),
        }
        let event = self.core.event;
        self.record_history(HistoryEvent {
            kind,
            process,
            client: ClientId(c as u32),
            op,
            reply,
            time: self.core.now,
            event,
        });
    }

    /// An idle client's next op: a queued scheduled one now, else its next random arrival.
    fn wake_after_completion(&mut self, c: usize) {
        let now = self.core.now;
        let cl = &self.clients.list[c];
        let gen = cl.gen;
        let next_at = if !cl.queue.is_empty() {
            Some(now)
        } else {
            self.clients.next_arrival(c, now)
        };
        if let Some(at) = next_at {
            self.core.queue.push(
                at,
                Ev::ClientWake {
                    client: c as u32,
                    gen,
                },
            );
        }
    }

    fn record_history(&mut self, e: HistoryEvent<P::Workload>) {
        let t = &mut self.core.trace;
        t.header(tag::HISTORY, e.time, e.client.0, e.kind as u32);
        t.rec().extend_from_slice(&e.process.to_le_bytes());
        crate::trace::encode(e.op, t.rec());
        if let Some(r) = e.reply {
            crate::trace::encode(r, t.rec());
        }
        t.commit();
        if self.core.trace.wants_text() {
            let what = match e.kind {
                EventType::Info => "info (gave up)",
                k => k.name(),
            };
            let reply = e.reply.map(|r| format!(" -> {r}")).unwrap_or_default();
            self.core.trace.text(
                e.time,
                format_args!("{}     {what} {}{reply}  [process {}]", e.client, e.op, e.process),
            );
        }
        self.ops_check.observe(&e);
        {
            let world = crate::protocol::World::new(&self.nodes, &self.fault_timeline, self.core.now);
            let mut sink = crate::protocol::CheckSink::new(&mut self.board);
            crate::protocol::Invariants::on_history(&mut self.inv, &e, &world, &mut sink);
        }
        for o in &mut self.observers {
            o.observe(&e);
        }
        if let Some(h) = self.history.as_mut() {
            h.write(&e);
        }
    }
}
