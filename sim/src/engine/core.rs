//! The engine state a handler's effects reach: the queue, the network, the trace, counters; and
//! each node's bookkeeping (clock, random streams, disk, timers, pause buffer).

use super::event::{Ev, Held, Payload};
use crate::client::ClientReply;
use crate::clock::NodeClock;
use crate::dist::Dist;
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::net::{DropReason, Network, SendPlan};
use crate::protocol::{BugSet, Durable, NodeSource, NodeView, Protocol, ReplyOf, SyncId};
use crate::queue::EventQueue;
use crate::report::{MessageStats, OpStats};
use crate::rng::TimedRng;
use crate::time::Time;
use crate::trace::{tag, Trace};
use std::collections::{BTreeSet, VecDeque};

/// Durable storage of one node: a synced state plus a log of writes not yet durable.
pub(crate) struct Storage<P: Protocol> {
    pub synced: P::Durable,
    pub unsynced: VecDeque<<P::Durable as Durable>::Write>,
    /// Writes issued / durable / covered by a requested sync, counted from the node's first boot.
    pub issued: u64,
    pub durable_upto: u64,
    pub requested_upto: u64,
    /// Syncs in flight: (id, writes they cover).
    pub inflight: VecDeque<(u64, u64)>,
    pub next_sync: u64,
    pub last_done_at: Time,
    /// Sends waiting for a sync: (writes that must be durable first, the send).
    pub held: VecDeque<(u64, Held<P>)>,
}

impl<P: Protocol> Storage<P> {
    pub fn new() -> Self {
        Storage {
            synced: P::Durable::default(),
            unsynced: VecDeque::new(),
            issued: 0,
            durable_upto: 0,
            requested_upto: 0,
            inflight: VecDeque::new(),
            next_sync: 0,
            last_done_at: 0,
            held: VecDeque::new(),
        }
    }

    /// A sync completed: its writes become durable.
    pub fn complete(&mut self, sync: u64) {
        let (id, upto) = self
            .inflight
            .pop_front()
            .expect("sync completion without a sync in flight");
        assert_eq!(id, sync, "syncs complete in order");
        assert!(upto <= self.issued, "a sync covers more writes than were issued");
        while self.durable_upto < upto {
            let w = self
                .unsynced
                .pop_front()
                .expect("sync covers more writes than issued");
            self.synced.apply(&w);
            self.durable_upto += 1;
        }
    }

    /// A crash: everything not durable is gone.
    pub fn crash(&mut self) {
        self.unsynced.clear();
        self.issued = self.durable_upto;
        self.requested_upto = self.durable_upto;
        self.inflight.clear();
        self.held.clear();
    }
}

pub(crate) struct NodeMeta<P: Protocol> {
    pub params: P::Params,
    pub clock: NodeClock,
    pub rng: TimedRng,
    pub disk_rng: TimedRng,
    pub buggify_rng: TimedRng,
    pub storage: Storage<P>,
    pub incarnation: u32,
    pub paused: bool,
    pub pause_buffer: Vec<Ev<P>>,
    pub role: &'static str,
    pub next_timer: u64,
    pub live_timers: BTreeSet<u64>,
    pub slow_factor: u32,
    pub slow_gen: u64,
    /// A power-loss fault is armed: crash at the next durable write.
    pub crash_on_write: bool,
    pub power_loss_gen: u64,
    pub power_loss_restart: Option<Time>,
    /// When the node first starts (its group's `boot_at`).
    pub boot_at: Time,
}

impl<P: Protocol> NodeMeta<P> {
    pub fn new(params: P::Params, clock: NodeClock, seed: u64, id: NodeId) -> Self {
        NodeMeta {
            params,
            clock,
            rng: TimedRng::stream(seed, &format!("node/{id}")),
            disk_rng: TimedRng::stream(seed, &format!("disk/{id}")),
            buggify_rng: TimedRng::stream(seed, &format!("buggify/{id}")),
            storage: Storage::new(),
            incarnation: 0,
            paused: false,
            pause_buffer: Vec::new(),
            role: "down",
            next_timer: 0,
            live_timers: BTreeSet::new(),
            slow_factor: 1,
            slow_gen: 0,
            crash_on_write: false,
            power_loss_gen: 0,
            power_loss_restart: None,
            boot_at: 0,
        }
    }
}

pub(crate) struct NodeSlot<P: Protocol> {
    pub state: Option<P>,
    pub meta: NodeMeta<P>,
}

/// The node table as checks see it.
impl<P: Protocol> NodeSource<P> for Vec<NodeSlot<P>> {
    fn nodes(&self) -> usize {
        self.len()
    }

    fn view(&self, id: NodeId) -> NodeView<'_, P> {
        let slot = &self[id.index()];
        NodeView {
            id,
            state: slot.state.as_ref(),
            durable: &slot.meta.storage.synced,
            up: slot.state.is_some(),
            paused: slot.meta.paused,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub messages: MessageStats,
    pub ops: OpStats,
    pub faults: u64,
    pub dropped_pause_buffer: u64,
    /// Open-loop arrivals dropped because the backlog was full.
    pub arrivals_dropped: u64,
    pub dropped_queue_full: u64,
}

/// Everything a handler may touch besides its own node's state.
pub(crate) struct Core<P: Protocol> {
    pub n_nodes: usize,
    pub cluster: crate::cluster::Cluster,
    pub now: Time,
    /// Index of the event being processed (for trace lines).
    pub event: u64,
    pub queue: EventQueue<Ev<P>>,
    pub net: Network,
    pub trace: Trace,
    pub bugs: BugSet,
    pub drift_bound_ppm: u64,
    pub sync_latency: Dist,
    /// A node that must crash after the current event (a power loss struck at a write).
    pub crash_requested: Option<NodeId>,
    pub max_in_flight: usize,
    pub counters: Counters,
    pub bounds_hit: BTreeSet<&'static str>,
    /// The id the next send gets (message ids follow send order, so the canonical trace
    /// need not record them).
    pub next_msg: u64,
    pub buggify: Option<Buggify>,
}

/// The run's `[buggify]`: enabled sites, how often they fire, until when, how often they did.
pub(crate) struct Buggify {
    pub sites: Vec<String>,
    pub chance: f64,
    /// The quiet period's start (faults stop, so do buggify sites), or never.
    pub until: Time,
    pub fired: Vec<u64>,
}

impl<P: Protocol> Core<P> {
    /// Sends a payload over the network from endpoint `a` to endpoint `b`.
    pub fn send(&mut self, now: Time, a: u32, b: u32, payload: Payload<P>) {
        self.counters.messages.sent += 1;
        let id = self.next_msg;
        self.next_msg += 1;
        let plan = if self.net.in_flight >= self.max_in_flight {
            self.bounds_hit.insert("max_in_flight");
            self.counters.dropped_queue_full += 1;
            SendPlan::Dropped(DropReason::QueueFull)
        } else {
            self.net.plan(now, a, b)
        };
        match plan {
            SendPlan::Dropped(reason) => self.drop_message(tag::DROP, now, (a, b, id), &payload, reason),
            SendPlan::Deliver { arrivals, epoch } => {
                self.trace.header(tag::SEND, now, a, b);
                for at in arrivals.iter().flatten() {
                    self.trace.rec().extend_from_slice(&at.to_le_bytes());
                }
                self.trace.commit();
                if self.trace.wants_json() {
                    self.trace_payload("send", now, (a, b, id), &payload, None);
                }
                match arrivals {
                    [Some(first), Some(second)] => {
                        self.counters.messages.duplicated += 1;
                        let copy = payload.duplicate();
                        self.push_delivery(first, (a, b, id), epoch, payload);
                        self.push_delivery(second, (a, b, id), epoch, copy);
                    }
                    [Some(first), None] => self.push_delivery(first, (a, b, id), epoch, payload),
                    _ => unreachable!("a delivery plan has a first arrival"),
                }
            }
        }
    }

    /// Counts and traces a message that will not arrive: at its send (`tag::DROP`) or at its
    /// arrival (`tag::DROP_AT_DELIVERY`). `link`: from, to, message id.
    pub fn drop_message(
        &mut self,
        at: u8,
        now: Time,
        link: (u32, u32, u64),
        payload: &Payload<P>,
        reason: DropReason,
    ) {
        self.counters.messages.dropped += 1;
        self.trace.header(at, now, link.0, link.1);
        self.trace.rec().push(reason.code());
        self.trace.commit();
        if self.trace.wants_json() || self.trace.wants_text() {
            self.trace_payload("drop", now, link, payload, Some(reason.name()));
        }
    }

    /// Counts and traces a message that arrives (its handler runs next).
    pub fn record_delivery(&mut self, now: Time, link: (u32, u32, u64), payload: &Payload<P>) {
        self.counters.messages.delivered += 1;
        self.trace.header(tag::DELIVER, now, link.0, link.1);
        payload.encode(self.trace.rec());
        self.trace.commit();
        if self.trace.wants_text() || self.trace.wants_json() {
            self.trace_payload("deliver", now, link, payload, None);
        }
    }

    /// Requeues the events a paused node or client buffered, now, in the order they came.
    pub fn replay(&mut self, now: Time, buffered: Vec<Ev<P>>) {
        for ev in buffered {
            if matches!(ev, Ev::Deliver { .. }) {
                self.net.in_flight += 1;
            }
            self.queue.push(now, ev);
        }
    }

    fn push_delivery(&mut self, at: Time, (from, to, id): (u32, u32, u64), epoch: u32, payload: Payload<P>) {
        self.net.in_flight += 1;
        self.queue.push(
            at,
            Ev::Deliver {
                from,
                to,
                epoch,
                id,
                payload,
            },
        );
    }

    pub fn send_from_node(&mut self, now: Time, from: NodeId, to: NodeId, payload: Payload<P>) {
        self.send(now, from.0, to.0, payload);
    }

    pub fn send_reply(&mut self, now: Time, from: NodeId, client: ClientId, reply: ClientReply<ReplyOf<P>>) {
        let to = self.net.ep(Endpoint::Client(client));
        self.send(now, from.0, to, Payload::Reply(Box::new(reply)));
    }

    pub fn release_held(&mut self, now: Time, node: NodeId, h: Held<P>) {
        match h {
            Held::Send(to, msg) => self.send_from_node(now, node, to, Payload::Proto(Box::new(msg))),
            Held::Reply(client, reply) => self.send_reply(now, node, client, reply),
        }
    }

    pub fn request_sync(&mut self, now: Time, node: NodeId, meta: &mut NodeMeta<P>) -> SyncId {
        let st = &mut meta.storage;
        let id = st.next_sync;
        st.next_sync += 1;
        st.requested_upto = st.issued;
        st.inflight.push_back((id, st.issued));
        let latency = self
            .sync_latency
            .sample(meta.disk_rng.for_event(self.event, now))
            .saturating_mul(u64::from(meta.slow_factor));
        let done = now.saturating_add(latency).max(st.last_done_at);
        st.last_done_at = done;
        self.queue.push(
            done,
            Ev::SyncDone {
                node: node.0,
                incarnation: meta.incarnation,
                sync: id,
            },
        );
        SyncId(id)
    }
}
