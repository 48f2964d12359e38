//! The clients' plumbing: arrivals, sending requests, timeouts and backoffs, replies, and
//! recording the history. The client logic itself (retries, redirects, `info`, lanes) is in
//! `workload.rs`; client faults are in `client_faults.rs`.

use super::event::{Ev, Handled, Payload};
use super::Sim;
use crate::client::ClientRequest;
use crate::family::Family;
use crate::history::{EventType, HistoryEvent};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::protocol::Protocol;
use crate::time::Time;
use crate::trace::tag;
use crate::workload::{ClientAction, MAX_BACKLOG};

impl<P: Protocol> Sim<P> {
    /// Queues each random-workload client's first arrival.
    pub(super) fn schedule_workload_start(&mut self) {
        let Some(w) = &self.cfg.workload else { return };
        let start = w.start;
        for c in 0..w.clients.min(self.clients.list.len()) {
            if self.clients.open_loop() {
                self.schedule_arrival(c, start);
                continue;
            }
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

    /// Open loop: queues client `c`'s next arrival, whatever its lanes are doing.
    pub(super) fn schedule_arrival(&mut self, c: usize, now: Time) {
        if let Some(at) = self.clients.next_arrival(c, now) {
            let gen = self.clients.list[c].wake_gen;
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
        let c = client as usize;
        let cl = &self.clients.list[c];
        let stale = if self.clients.open_loop() {
            cl.wake_gen != gen || !cl.up
        } else {
            cl.gen != gen || !cl.idle()
        };
        if stale {
            return Handled::Stale;
        }
        self.core.trace.header(tag::CLIENT_WAKE, self.core.now, client, 0);
        self.core.trace.commit();
        if self.clients.open_loop() {
            self.on_arrival(c);
        } else {
            self.client_next(c);
        }
        Handled::Done
    }

    /// Open loop: an arrival joins the backlog (if the workload still invokes), the next one
    /// is queued, and free lanes take what waits.
    fn on_arrival(&mut self, c: usize) {
        let now = self.core.now;
        if self
            .clients
            .random_allowed(c, now, self.cfg.limits.max_history_ops)
        {
            if self.clients.list[c].backlog.len() < MAX_BACKLOG {
                self.clients.random_invoked += 1;
                self.clients.list[c].backlog.push_back(now);
            } else {
                self.core.bounds_hit.insert("open_loop_backlog");
                self.core.counters.arrivals_dropped += 1;
            }
            self.schedule_arrival(c, now);
        } else if self.clients.random_invoked >= self.cfg.limits.max_history_ops {
            self.core.bounds_hit.insert("max_history_ops");
        }
        self.fill_lanes(c);
    }

    /// Open loop: starts what waits on free lanes, earliest first — scheduled ops (from their
    /// `at`) and random arrivals alike, so a replayed schedule starts them in the same order.
    pub(super) fn fill_lanes(&mut self, c: usize) {
        if !self.clients.list[c].up || self.clients.list[c].paused {
            return;
        }
        while let Some(lane) = self.clients.list[c].free_lane() {
            let cl = &mut self.clients.list[c];
            let queued = cl.queue.front().map(|o| o.at);
            let arrival = cl.backlog.front().copied();
            let from_queue = match (queued, arrival) {
                (Some(q), Some(a)) => q <= a,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return,
            };
            let (op, arrived) = if from_queue {
                let op = cl.queue.pop_front().expect("front");
                (self.clients.fill(c, &op), op.at)
            } else {
                let a = cl.backlog.pop_front().expect("front");
                (self.clients.random_op(c), a)
            };
            self.invoke(c, lane, op, arrived);
        }
    }

    pub(super) fn on_client_timeout(&mut self, client: u32, lane: u32, at: Time) -> Handled {
        let now = self.core.now;
        let (c, l) = (client as usize, lane as usize);
        let cl = &mut self.clients.list[c].lanes[l];
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
            self.core.queue.push(
                due,
                Ev::ClientTimeout {
                    client,
                    lane,
                    at: due,
                },
            );
            return Handled::Stale;
        }
        // Timeouts and backoffs share a record tag: the operand is 2·lane (+1 for a backoff).
        self.core.trace.header(tag::CLIENT_TIMEOUT, now, client, 2 * lane);
        self.core.trace.commit();
        let action = self.clients.on_timeout(c, l, gen);
        self.client_act(c, l, action);
        Handled::Done
    }

    pub(super) fn on_client_backoff(&mut self, client: u32, lane: u32, gen: u64) -> Handled {
        let (c, l) = (client as usize, lane as usize);
        match self.clients.in_flight(c, l) {
            Some((f, _)) if f.timer_gen == gen => {}
            _ => return Handled::Stale,
        }
        self.core
            .trace
            .header(tag::CLIENT_TIMEOUT, self.core.now, client, 2 * lane + 1);
        self.core.trace.commit();
        let action = self.clients.on_backoff_done(c, l, gen);
        self.client_act(c, l, action);
        Handled::Done
    }

    pub(super) fn on_scheduled_op(&mut self, index: u32) -> Handled {
        let op = self.scheduled_ops[index as usize].clone();
        let c = op.client.index();
        self.core
            .trace
            .header(tag::SCHEDULED_OP, self.core.now, c as u32, index);
        self.core.trace.commit();
        // A crashed client issues it once it restarts; a paused one once it resumes (in the
        // closed loop the event waits in its buffer; in the open loop it queues, as arrivals do).
        let open = self.clients.open_loop();
        let cl = &mut self.clients.list[c];
        cl.queue.push_back(op);
        if !cl.up || cl.paused {
            return Handled::Done;
        }
        if open {
            self.fill_lanes(c);
        } else if cl.idle() {
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
        self.core.record_delivery(now, link, &payload);
        let Payload::Reply(reply) = payload else {
            unreachable!("only replies are addressed to clients");
        };
        if let Some((lane, action)) = self.clients.on_reply(c, &reply) {
            self.client_act(c, lane, action);
        }
    }

    /// Closed loop: client `c` is idle; start its next op — a scheduled one, else a random one —
    /// if any.
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
        self.invoke(c, 0, op, now);
    }

    /// Invokes `op` on free lane `lane` of client `c`; it arrived at `arrived` (the open loop's
    /// latency counts from there; the closed loop's from now).
    fn invoke(&mut self, c: usize, lane: usize, op: <P::Workload as Family>::Op, arrived: Time) {
        let now = self.core.now;
        self.core.counters.ops.invoked += 1;
        let event = self.core.event;
        self.record_history(HistoryEvent {
            kind: EventType::Invoke,
            process: self.clients.list[c].lanes[lane].process,
            client: ClientId(c as u32),
            op: &op,
            reply: None,
            time: now,
            event,
            arrived,
        });
        // Keys whose last op this is (the random workload's `key_ops`, or `retire = true`).
        let retired = self.clients.take_retired();
        // A replay schedules the op at its arrival, so it waits for a lane as this one did.
        if let Some(w) = self.schedule.as_mut() {
            w.op(
                arrived,
                ClientId(c as u32),
                &<P::Workload as Family>::to_spec(&op),
                !retired.is_empty(),
            );
        }
        if arrived < now {
            self.board.sample(super::QUEUEING, (now - arrived) as f64);
        }
        let (to, timeout) = self.clients.start(c, lane, op, now, arrived);
        self.client_send(c, lane, to, timeout);
        // Observers learn of a retired key after its last invocation.
        for key in retired {
            for o in &mut self.observers {
                o.key_retired(key);
            }
        }
    }

    fn client_send(&mut self, c: usize, lane: usize, to: NodeId, timeout: Time) {
        let now = self.core.now;
        let (f, process) = self
            .clients
            .in_flight(c, lane)
            .expect("sending without an op in flight");
        let req = ClientRequest {
            client: ClientId(c as u32),
            session: process,
            seq: f.seq,
            op: f.op.clone(),
            context: self.clients.context(c),
        };
        let gen = f.timer_gen;
        let from = self.core.net.ep(Endpoint::Client(ClientId(c as u32)));
        self.core.send(now, from, to.0, Payload::Request(Box::new(req)));
        // One armed timer per lane: a busy lane does not queue a timeout per attempt.
        let due = now.saturating_add(timeout);
        let l = &mut self.clients.list[c].lanes[lane];
        l.deadline = Some((due, gen));
        if l.timer_armed.is_none_or(|armed| armed > due) {
            l.timer_armed = Some(due);
            self.core.queue.push(
                due,
                Ev::ClientTimeout {
                    client: c as u32,
                    lane: lane as u32,
                    at: due,
                },
            );
        }
    }

    fn client_act(&mut self, c: usize, lane: usize, action: ClientAction<P::Workload>) {
        let now = self.core.now;
        match action {
            ClientAction::Nothing => {}
            ClientAction::Send { to, timeout } => self.client_send(c, lane, to, timeout),
            ClientAction::Backoff(d) => {
                let gen = self
                    .clients
                    .in_flight(c, lane)
                    .expect("backoff without an op")
                    .0
                    .timer_gen;
                self.core.queue.push(
                    now.saturating_add(d),
                    Ev::ClientBackoff {
                        client: c as u32,
                        lane: lane as u32,
                        gen,
                    },
                );
            }
            ClientAction::Complete {
                kind,
                op,
                reply,
                process,
                arrived,
            } => {
                if kind != EventType::Info {
                    // From the arrival (open loop), so waiting for a lane counts too.
                    self.board.sample(super::LATENCY, (now - arrived) as f64);
                }
                self.record_completion(c, kind, &op, reply.as_ref(), process);
                if self.clients.open_loop() {
                    self.fill_lanes(c);
                } else {
                    self.wake_after_completion(c);
                }
            }
        }
    }

    /// Counts and records an operation's completion in the history.
    pub(super) fn record_completion(
        &mut self,
        c: usize,
        kind: EventType,
        op: &<P::Workload as Family>::Op,
        reply: Option<&<P::Workload as Family>::Reply>,
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
            arrived: self.core.now,
        });
    }

    /// Closed loop: an idle client's next op — a queued scheduled one now, else its next
    /// random arrival.
    pub(super) fn wake_after_completion(&mut self, c: usize) {
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
