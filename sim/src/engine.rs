//! The discrete-event engine: one thread, one queue ordered by (time, insertion sequence), and
//! the run loop that drives protocols, clients, the network, disks, clocks and faults.

use crate::checks::{CheckBoard, CheckDecl, CheckKind, CheckResult, CheckStatus};
use crate::client::{ClientReply, ClientRequest, Op};
use crate::clock::NodeClock;
use crate::config::SimConfig;
use crate::dist::Dist;
use crate::faults::{FaultAction, FaultKind, PartitionSpec, Target};
use crate::history::{EventType, HistoryEvent, HistoryObserver, HistoryWriter, StaleReadCheck};
use crate::ids::{ClientId, Endpoint, NodeId};
use crate::net::{DropReason, Network, SendPlan};
use crate::protocol::{BugSet, CheckSink, Ctx, Durable, Invariants, Protocol, SyncId, World};
use crate::queue::EventQueue;
use crate::report::{MessageStats, OpStats, RunReport, StopReason};
use crate::rng::{Draw, Rng};
use crate::time::{format_duration, Time};
use crate::trace::{tag, Trace};
use crate::workload::{ClientAction, Clients};
use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};
use std::io::Write;

/// What travels on the network.
pub(crate) enum Payload<P: Protocol> {
    /// Boxed so a queued event stays small whatever the protocol's messages weigh (the queue
    /// moves events around; a consensus message inline made them 96 bytes).
    Proto(Box<P::Msg>),
    Request(Box<ClientRequest>),
    Reply(Box<ClientReply>),
}

/// A send held until the writes before it are durable.
pub(crate) enum Held<P: Protocol> {
    Send(NodeId, P::Msg),
    Reply(ClientId, ClientReply),
}

/// Engine-internal follow-ups of faults.
#[derive(Clone, Debug)]
pub(crate) enum Heal {
    /// Undo the partition with this generation (a newer partition supersedes it).
    Partition(u64),
    Uncut(u32, u32, u64),
    DiskNormal(u32, u64),
    PowerLossExpire(u32, u64),
}

/// Names of the event kinds, as counted in `RunReport::events_by_kind`.
pub const EVENT_KINDS: [&str; 14] = [
    "boot",
    "deliver",
    "timer",
    "sync",
    "sync-notify",
    "link-broken",
    "client-wake",
    "client-timeout",
    "client-backoff",
    "scheduled-op",
    "fault",
    "heal",
    "nemesis",
    "quiet",
];

pub(crate) enum Ev<P: Protocol> {
    Boot {
        node: u32,
    },
    Deliver {
        from: u32,
        to: u32,
        epoch: u32,
        payload: Payload<P>,
    },
    Timer {
        node: u32,
        incarnation: u32,
        id: u64,
        timer: P::Timer,
    },
    SyncDone {
        node: u32,
        incarnation: u32,
        sync: u64,
    },
    /// The process side of a completed sync (buffered while paused).
    SyncNotify {
        node: u32,
        incarnation: u32,
        sync: u64,
    },
    LinkBroken {
        node: u32,
        incarnation: u32,
        peer: u32,
    },
    ClientWake {
        client: u32,
        gen: u64,
    },
    /// A client's (single) reply timer; `at` tells stale events from the armed one.
    ClientTimeout {
        client: u32,
        at: Time,
    },
    ClientBackoff {
        client: u32,
        gen: u64,
    },
    ScheduledOp {
        index: u32,
    },
    Fault {
        action: Box<FaultAction>,
        nemesis: bool,
    },
    Heal(Heal),
    NemesisTick {
        kind: FaultKind,
    },
    Quiet,
}

impl<P: Protocol> Ev<P> {
    fn kind(&self) -> usize {
        match self {
            Ev::Boot { .. } => 0,
            Ev::Deliver { .. } => 1,
            Ev::Timer { .. } => 2,
            Ev::SyncDone { .. } => 3,
            Ev::SyncNotify { .. } => 4,
            Ev::LinkBroken { .. } => 5,
            Ev::ClientWake { .. } => 6,
            Ev::ClientTimeout { .. } => 7,
            Ev::ClientBackoff { .. } => 8,
            Ev::ScheduledOp { .. } => 9,
            Ev::Fault { .. } => 10,
            Ev::Heal(_) => 11,
            Ev::NemesisTick { .. } => 12,
            Ev::Quiet => 13,
        }
    }
}

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
    pub held: VecDeque<(u64, Held<P>)>,
}

impl<P: Protocol> Storage<P> {
    fn new() -> Self {
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
    fn complete(&mut self, sync: u64) {
        let (id, upto) = self
            .inflight
            .pop_front()
            .expect("sync completion without a sync in flight");
        assert_eq!(id, sync, "syncs complete in order");
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
    fn crash(&mut self) {
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
    pub rng: Rng,
    pub disk_rng: Rng,
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
}

pub(crate) struct NodeSlot<P: Protocol> {
    pub state: Option<P>,
    pub meta: NodeMeta<P>,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub messages: MessageStats,
    pub ops: OpStats,
    pub faults: u64,
    pub dropped_pause_buffer: u64,
    pub dropped_queue_full: u64,
}

/// Everything a handler may touch besides its own node's state.
pub(crate) struct Core<P: Protocol> {
    pub n_nodes: usize,
    pub now: Time,
    /// Index of the event being processed (for trace lines).
    pub event: u64,
    pub queue: EventQueue<Ev<P>>,
    pub net: Network,
    pub trace: Trace,
    pub bugs: BugSet,
    pub drift_bound_ppm: u64,
    pub sync_latency: Dist,
    pub crash_requested: Option<NodeId>,
    pub max_in_flight: usize,
    pub counters: Counters,
    pub bounds_hit: BTreeSet<&'static str>,
}

#[derive(Serialize)]
struct JsonEvent<'a, M: Serialize> {
    i: u64,
    t: Time,
    ev: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    msg: Option<&'a M>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// On a `fault` line: the fault took `node` down (a crash or a power loss).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    down: bool,
}

impl<'a, M: Serialize> JsonEvent<'a, M> {
    fn new(i: u64, t: Time, ev: &'a str) -> Self {
        JsonEvent {
            i,
            t,
            ev,
            from: None,
            to: None,
            node: None,
            msg: None,
            detail: None,
            down: false,
        }
    }
}

impl<P: Protocol> Core<P> {
    fn endpoint_name(&self, e: u32) -> String {
        self.net.endpoint(e).to_string()
    }

    /// Sends a payload over the network from endpoint `a` to endpoint `b`.
    fn send(&mut self, now: Time, a: u32, b: u32, payload: Payload<P>) {
        self.counters.messages.sent += 1;
        let plan = if self.net.in_flight >= self.max_in_flight {
            self.bounds_hit.insert("max_in_flight");
            self.counters.dropped_queue_full += 1;
            SendPlan::Dropped(DropReason::QueueFull)
        } else {
            self.net.plan(now, a, b)
        };
        match plan {
            SendPlan::Dropped(reason) => {
                self.counters.messages.dropped += 1;
                self.trace.header(tag::DROP, now, a, b);
                self.trace.rec().push(reason.code());
                self.trace.commit();
                if self.trace.wants_json() || self.trace.wants_text() {
                    self.trace_payload("drop", now, a, b, &payload, Some(reason.name()));
                }
            }
            SendPlan::Deliver { arrivals, epoch } => {
                self.trace.header(tag::SEND, now, a, b);
                for at in arrivals.iter().flatten() {
                    self.trace.rec().extend_from_slice(&at.to_le_bytes());
                }
                self.trace.commit();
                match arrivals {
                    [Some(first), Some(second)] => {
                        self.counters.messages.duplicated += 1;
                        let copy = match &payload {
                            Payload::Proto(m) => Payload::Proto(m.clone()),
                            Payload::Request(r) => Payload::Request(r.clone()),
                            Payload::Reply(r) => Payload::Reply(r.clone()),
                        };
                        self.push_delivery(first, a, b, epoch, payload);
                        self.push_delivery(second, a, b, epoch, copy);
                    }
                    [Some(first), None] => self.push_delivery(first, a, b, epoch, payload),
                    _ => unreachable!("a delivery plan has a first arrival"),
                }
            }
        }
    }

    fn push_delivery(&mut self, at: Time, from: u32, to: u32, epoch: u32, payload: Payload<P>) {
        self.net.in_flight += 1;
        self.queue.push(
            at,
            Ev::Deliver {
                from,
                to,
                epoch,
                payload,
            },
        );
    }

    fn trace_payload(
        &mut self,
        what: &str,
        now: Time,
        a: u32,
        b: u32,
        payload: &Payload<P>,
        detail: Option<&str>,
    ) {
        let (from, to) = (self.endpoint_name(a), self.endpoint_name(b));
        if self.trace.wants_text() {
            let arrow = if what == "drop" { "-x" } else { "->" };
            let suffix = detail.map(|d| format!("  (dropped: {d})")).unwrap_or_default();
            match payload {
                Payload::Proto(m) => self
                    .trace
                    .text(now, format_args!("{from} {arrow} {to}  {m:?}{suffix}")),
                Payload::Request(r) => self
                    .trace
                    .text(now, format_args!("{from} {arrow} {to}  {r}{suffix}")),
                Payload::Reply(r) => self
                    .trace
                    .text(now, format_args!("{from} {arrow} {to}  {r}{suffix}")),
            }
        }
        if self.trace.wants_json() {
            let msg = match payload {
                Payload::Proto(m) => serde_json::to_value(m),
                Payload::Request(r) => serde_json::to_value(r),
                Payload::Reply(r) => serde_json::to_value(r),
            }
            .unwrap_or(serde_json::Value::Null);
            let mut j = JsonEvent::new(self.event, now, what);
            j.from = Some(from);
            j.to = Some(to);
            j.msg = Some(&msg);
            j.detail = detail.map(str::to_string);
            self.trace.json(&j);
        }
    }

    pub(crate) fn send_from_node(&mut self, now: Time, from: NodeId, to: NodeId, payload: Payload<P>) {
        self.send(now, from.0, to.0, payload);
    }

    pub(crate) fn send_reply(&mut self, now: Time, from: NodeId, client: ClientId, reply: ClientReply) {
        let to = self.net.ep(Endpoint::Client(client));
        self.send(now, from.0, to, Payload::Reply(Box::new(reply)));
    }

    pub(crate) fn release_held(&mut self, now: Time, node: NodeId, h: Held<P>) {
        match h {
            Held::Send(to, msg) => self.send_from_node(now, node, to, Payload::Proto(Box::new(msg))),
            Held::Reply(client, reply) => self.send_reply(now, node, client, reply),
        }
    }

    pub(crate) fn request_sync(&mut self, now: Time, node: NodeId, meta: &mut NodeMeta<P>) -> SyncId {
        let st = &mut meta.storage;
        let id = st.next_sync;
        st.next_sync += 1;
        st.requested_upto = st.issued;
        st.inflight.push_back((id, st.issued));
        let latency = self
            .sync_latency
            .sample(&mut meta.disk_rng)
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

/// Where a run's streams go (each optional).
#[derive(Default)]
pub struct Outputs {
    pub trace_jsonl: Option<Box<dyn Write>>,
    pub trace_txt: Option<Box<dyn Write>>,
    pub history_jsonl: Option<Box<dyn Write>>,
}

/// A history observer plugged in from outside the engine (e.g. the linearizability checker).
pub type BoxedObserver = Box<dyn HistoryObserver>;

/// One simulation run of protocol `P`.
pub struct Sim<P: Protocol> {
    cfg: SimConfig,
    nodes: Vec<NodeSlot<P>>,
    core: Core<P>,
    clients: Clients,
    inv: P::Invariants,
    board: CheckBoard,
    /// History checks: the engine's `stale-read` (when on), then those added by `observe_history`.
    observers: Vec<BoxedObserver>,
    history: Option<HistoryWriter>,
    scheduled_faults_rng: Rng,
    role_crash_rng: Rng,
    nemesis_rngs: Vec<(FaultKind, Rng)>,
    quiet: bool,
    partition_gen: u64,
    events: u64,
    events_by_kind: [u64; EVENT_KINDS.len()],
    last_history_stop: bool,
    ops_check: OpsCompleteCheck,
}

/// The engine-level liveness check "every client operation completes after the quiet period".
struct OpsCompleteCheck {
    /// Operations invoked at or after this time must complete with `ok` or `fail`.
    from: Option<Time>,
    bound: Time,
    checked: u64,
    violation: Option<(Time, String)>,
    /// process → invoke time, for operations in the window.
    pending: std::collections::BTreeMap<u64, (Time, Op)>,
}

/// Errors a run can end with (outputs could not be written).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("writing the run's output failed: {0}")]
    Io(#[from] std::io::Error),
}

impl<P: Protocol> Sim<P> {
    /// Builds a run. `params` holds each node's parameters (per-node overrides already merged).
    pub fn new(cfg: SimConfig, params: Vec<P::Params>, outputs: Outputs) -> Self {
        assert_eq!(params.len(), cfg.nodes, "one parameter set per node");
        assert!(cfg.nodes >= 1);
        let seed = cfg.seed;
        let kind = cfg.network.kind.unwrap_or(P::LINK);
        let n_clients = cfg.clients.clients;
        let net = Network::new(&cfg.network, kind, cfg.nodes, n_clients, seed);
        let mut clocks_rng = Rng::stream(seed, "clocks");
        let nodes: Vec<NodeSlot<P>> = params
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let id = NodeId(i as u32);
                // Always draw both values so a per-node override does not shift other nodes.
                let offset = clocks_rng.range_inclusive(0, cfg.clocks.max_offset);
                let d = cfg.clocks.max_drift_ppm;
                let x = clocks_rng.range_inclusive(0, 2 * d);
                let drift = if cfg.clocks.extreme_drift {
                    if x >= d {
                        d as i64
                    } else {
                        -(d as i64)
                    }
                } else {
                    x as i64 - d as i64
                };
                let o = cfg.clocks.nodes.iter().find(|o| o.node == id);
                let offset = o.and_then(|o| o.offset).unwrap_or(offset);
                let drift = o.and_then(|o| o.drift_ppm).unwrap_or(drift);
                NodeSlot {
                    state: None,
                    meta: NodeMeta {
                        params: p,
                        clock: NodeClock::new(offset, drift),
                        rng: Rng::stream(seed, &format!("node/{id}")),
                        disk_rng: Rng::stream(seed, &format!("disk/{id}")),
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
                    },
                }
            })
            .collect();
        let mut decls: Vec<CheckDecl> = <P::Invariants as Invariants<P>>::checks();
        decls.retain(|d| d.kind != CheckKind::History);
        let mut board = CheckBoard::new(decls, cfg.quiet_from, cfg.checks.eventually_within);
        for name in &cfg.checks.require {
            board.set_required(name);
        }
        for (name, b) in &cfg.checks.within {
            board.set_bound(name, *b);
        }
        let max_explicit = cfg
            .scheduled_ops
            .iter()
            .filter_map(|o| match o.op {
                crate::config::OpTemplate::Write { value, .. }
                | crate::config::OpTemplate::Append { value, .. } => value,
                crate::config::OpTemplate::Cas { from, to, .. } => Some(to.unwrap_or(0).max(from)),
                crate::config::OpTemplate::Read { .. } => None,
            })
            .max()
            .unwrap_or(0);
        let clients = Clients::new(
            &cfg.clients,
            cfg.workload.as_ref(),
            cfg.nodes,
            seed,
            max_explicit + 1,
            cfg.scheduled_ops.iter().map(|o| o.op.key()).collect(),
        );
        // The engine's own history check comes first; others are added by `observe_history`.
        let observers: Vec<BoxedObserver> = if cfg.checks.stale_read && n_clients > 0 {
            vec![Box::new(StaleReadCheck::new(cfg.limits.max_history_ops.min(10_000_000) as usize))]
        } else {
            Vec::new()
        };
        let nemesis_rngs = cfg
            .nemesis
            .as_ref()
            .map(|n| {
                n.kinds
                    .iter()
                    .map(|(k, _)| (*k, Rng::stream(seed, &format!("faults/{}", k.name()))))
                    .collect()
            })
            .unwrap_or_default();
        let ops_bound = cfg
            .checks
            .within
            .iter()
            .find(|(n, _)| n == "ops-complete")
            .map(|(_, b)| *b)
            .unwrap_or(cfg.checks.eventually_within);
        let core = Core {
            n_nodes: cfg.nodes,
            now: 0,
            event: 0,
            queue: EventQueue::new(),
            net,
            trace: Trace::new(outputs.trace_jsonl, outputs.trace_txt),
            bugs: cfg.bugs.clone(),
            drift_bound_ppm: cfg.clocks.assumed_drift_ppm.unwrap_or(cfg.clocks.max_drift_ppm),
            sync_latency: cfg.storage.sync_latency,
            crash_requested: None,
            max_in_flight: cfg.limits.max_in_flight,
            counters: Counters::default(),
            bounds_hit: BTreeSet::new(),
        };
        Sim {
            inv: P::Invariants::new(cfg.nodes),
            ops_check: OpsCompleteCheck {
                from: cfg.quiet_from.map(|q| q.saturating_add(ops_bound)),
                bound: ops_bound,
                checked: 0,
                violation: None,
                pending: std::collections::BTreeMap::new(),
            },
            scheduled_faults_rng: Rng::stream(seed, "faults"),
            role_crash_rng: Rng::stream(seed, "faults/role-crash"),
            nemesis_rngs,
            cfg,
            nodes,
            core,
            clients,
            board,
            observers,
            history: outputs.history_jsonl.map(HistoryWriter::new),
            quiet: false,
            partition_gen: 0,
            events: 0,
            events_by_kind: [0; EVENT_KINDS.len()],
            last_history_stop: false,
        }
    }

    /// Adds a history observer whose verdict becomes a `history` check.
    pub fn observe_history(&mut self, obs: BoxedObserver) {
        self.observers.push(obs);
    }

    fn schedule_start(&mut self) {
        for i in 0..self.cfg.nodes as u32 {
            self.core.queue.push(0, Ev::Boot { node: i });
        }
        let faults = self.cfg.faults.clone();
        for f in faults {
            self.core.queue.push(
                f.at,
                Ev::Fault {
                    action: Box::new(f.action),
                    nemesis: false,
                },
            );
        }
        for (i, op) in self.cfg.scheduled_ops.iter().enumerate() {
            self.core.queue.push(op.at, Ev::ScheduledOp { index: i as u32 });
        }
        if let Some(w) = &self.cfg.workload {
            let start = w.start;
            for c in 0..w.clients.min(self.clients.list.len()) {
                let at = self.clients.next_arrival(c, start).unwrap_or(start);
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
        if let Some(nem) = self.cfg.nemesis.clone() {
            for (kind, mean) in &nem.kinds {
                let rng = self.nemesis_rng(*kind);
                let at = rng.exp(*mean as f64).round() as Time;
                self.core.queue.push(at, Ev::NemesisTick { kind: *kind });
            }
        }
        if let Some(q) = self.cfg.quiet_from {
            self.core.queue.push(q, Ev::Quiet);
        }
    }

    fn nemesis_rng(&mut self, kind: FaultKind) -> &mut Rng {
        &mut self
            .nemesis_rngs
            .iter_mut()
            .find(|(k, _)| *k == kind)
            .expect("nemesis stream for an enabled kind")
            .1
    }

    /// Runs to the end and reports.
    pub fn run(self) -> Result<RunReport, SimError> {
        self.run_and_inspect(|_| ()).map(|(r, ())| r)
    }

    /// Runs to the end, then lets `inspect` look at every node's final state (for tests and
    /// tools), and reports.
    pub fn run_and_inspect<R>(
        mut self,
        inspect: impl FnOnce(&World<P>) -> R,
    ) -> Result<(RunReport, R), SimError> {
        self.schedule_start();
        let mut stop = StopReason::Idle;
        let max_events = self.cfg.limits.max_events;
        let mut last_processed = 0;
        loop {
            let Some((t, ev)) = self.core.queue.pop() else {
                break;
            };
            // The duration first: a run whose next event lies past its end is complete, however
            // many events it took.
            if t > self.cfg.duration {
                stop = StopReason::Time;
                break;
            }
            if self.events >= max_events {
                stop = StopReason::Events;
                self.core.bounds_hit.insert("max_events");
                break;
            }
            self.core.now = t;
            self.core.event = self.events;
            self.board.event = self.events;
            self.board.now = t;
            let kind = ev.kind();
            if let Some(touched) = self.dispatch(ev) {
                self.events += 1;
                self.events_by_kind[kind] += 1;
                last_processed = t;
                if let Some(n) = touched {
                    self.after_node_event(n);
                }
                if self.cfg.checks.stop_on_violation && (self.board.any_failed() || self.history_violated()) {
                    stop = StopReason::Violation;
                    break;
                }
            }
        }
        let end = match stop {
            StopReason::Time => self.cfg.duration,
            _ => last_processed,
        };
        let seen = inspect(&World {
            nodes: &self.nodes,
            now: end,
        });
        self.finish(end, stop).map(|r| (r, seen))
    }

    fn history_violated(&mut self) -> bool {
        if self.last_history_stop {
            return true;
        }
        let v = self.ops_check.violation.is_some()
            || self.observers.iter().any(|o| o.violated());
        self.last_history_stop = v;
        v
    }

    /// Handles one event. Returns None if it was stale (skipped, not counted), else the node it
    /// touched, if any.
    fn dispatch(&mut self, ev: Ev<P>) -> Option<Option<NodeId>> {
        let now = self.core.now;
        match ev {
            Ev::Boot { node } => {
                self.core.trace.header(tag::BOOT, now, node, 0);
                self.core.trace.commit();
                self.boot(node);
                Some(Some(NodeId(node)))
            }
            Ev::Deliver {
                from,
                to,
                epoch,
                payload,
            } => {
                self.core.net.in_flight -= 1;
                if (to as usize) < self.cfg.nodes {
                    self.deliver_to_node(from, to, epoch, payload)
                } else {
                    self.deliver_to_client(from, to, payload);
                    Some(None)
                }
            }
            Ev::Timer {
                node,
                incarnation,
                id,
                timer,
            } => {
                let meta = &mut self.nodes[node as usize].meta;
                if meta.incarnation != incarnation || !meta.live_timers.contains(&id) {
                    return None;
                }
                if meta.paused {
                    meta.pause_buffer.push(Ev::Timer {
                        node,
                        incarnation,
                        id,
                        timer,
                    });
                    return None;
                }
                meta.live_timers.remove(&id);
                self.core.trace.header(tag::TIMER, now, node, 0);
                crate::trace::encode(&timer, self.core.trace.rec());
                self.core.trace.commit();
                self.trace_node_line(node, "timer", || format!("{timer:?}"));
                self.with_node(node, |p, cx| p.on_timer(cx, timer));
                Some(Some(NodeId(node)))
            }
            Ev::SyncDone {
                node,
                incarnation,
                sync,
            } => {
                let meta = &mut self.nodes[node as usize].meta;
                if meta.incarnation != incarnation {
                    return None;
                }
                meta.storage.complete(sync);
                self.core.trace.header(tag::SYNC_DONE, now, node, 0);
                self.core.trace.rec().extend_from_slice(&sync.to_le_bytes());
                self.core.trace.commit();
                self.on_sync_notify(node, incarnation, sync);
                Some(Some(NodeId(node)))
            }
            Ev::SyncNotify {
                node,
                incarnation,
                sync,
            } => {
                if self.nodes[node as usize].meta.incarnation != incarnation {
                    return None;
                }
                self.on_sync_notify(node, incarnation, sync);
                Some(Some(NodeId(node)))
            }
            Ev::LinkBroken {
                node,
                incarnation,
                peer,
            } => {
                let slot = &mut self.nodes[node as usize];
                if slot.meta.incarnation != incarnation || slot.state.is_none() {
                    return None;
                }
                let meta = &mut slot.meta;
                if meta.paused {
                    meta.pause_buffer.push(Ev::LinkBroken {
                        node,
                        incarnation,
                        peer,
                    });
                    return None;
                }
                self.core.trace.header(tag::LINK_BROKEN, now, node, peer);
                self.core.trace.commit();
                self.trace_node_line(node, "connection broken", || format!("to {}", NodeId(peer)));
                self.with_node(node, |p, cx| p.on_link_broken(cx, NodeId(peer)));
                Some(Some(NodeId(node)))
            }
            Ev::ClientWake { client, gen } => {
                if self.clients.list[client as usize].gen != gen
                    || self.clients.list[client as usize].busy.is_some()
                {
                    return None;
                }
                self.core.trace.header(tag::CLIENT_WAKE, now, client, 0);
                self.core.trace.commit();
                self.client_next(client as usize);
                Some(None)
            }
            Ev::ClientTimeout { client, at } => {
                let c = client as usize;
                let cl = &mut self.clients.list[c];
                if cl.timer_armed != Some(at) {
                    return None; // superseded
                }
                cl.timer_armed = None;
                let (due, gen) = match (cl.deadline, cl.busy.as_ref()) {
                    (Some((due, gen)), Some(f)) if f.timer_gen == gen => (due, gen),
                    _ => return None, // the op completed or moved on
                };
                if now < due {
                    // A later attempt moved the deadline: wait for it (not an event of its own).
                    cl.timer_armed = Some(due);
                    self.core.queue.push(due, Ev::ClientTimeout { client, at: due });
                    return None;
                }
                self.core.trace.header(tag::CLIENT_TIMEOUT, now, client, 0);
                self.core.trace.commit();
                let action = self.clients.on_timeout(c, gen);
                self.client_act(c, action);
                Some(None)
            }
            Ev::ClientBackoff { client, gen } => {
                let c = client as usize;
                match self.clients.in_flight(c) {
                    Some((f, _)) if f.timer_gen == gen => {}
                    _ => return None,
                }
                self.core.trace.header(tag::CLIENT_TIMEOUT, now, client, 1);
                self.core.trace.commit();
                let action = self.clients.on_backoff_done(c, gen);
                self.client_act(c, action);
                Some(None)
            }
            Ev::ScheduledOp { index } => {
                let op = self.cfg.scheduled_ops[index as usize].clone();
                let c = op.client.index();
                self.core.trace.header(tag::SCHEDULED_OP, now, c as u32, index);
                self.core.trace.commit();
                self.clients.list[c].queue.push_back(op.op);
                if self.clients.list[c].busy.is_none() {
                    self.client_next(c);
                }
                Some(None)
            }
            Ev::Fault { action, nemesis } => Some(self.apply_fault(*action, nemesis)),
            Ev::Heal(h) => self.apply_heal(h),
            Ev::NemesisTick { kind } => {
                if self.quiet {
                    return None;
                }
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
                Some(touched)
            }
            Ev::Quiet => {
                self.core.trace.header(tag::QUIET, now, 0, 0);
                self.core.trace.commit();
                self.quiet = true;
                self.fault_line("quiet period begins: no more faults; healing everything");
                self.heal_everything();
                Some(None)
            }
        }
    }

    /// Runs a handler on a live node; returns None if the node is down.
    fn with_node<R>(&mut self, node: u32, f: impl FnOnce(&mut P, &mut Ctx<P>) -> R) -> Option<R> {
        let slot = &mut self.nodes[node as usize];
        let state = slot.state.as_mut()?;
        let mut cx = Ctx {
            node: NodeId(node),
            now: self.core.now,
            meta: &mut slot.meta,
            core: &mut self.core,
        };
        Some(f(state, &mut cx))
    }

    fn boot(&mut self, node: u32) {
        let slot = &mut self.nodes[node as usize];
        assert!(slot.state.is_none(), "boot of a running node");
        // Boot reads the durable state; take it out so the context can borrow the node's meta.
        let durable = std::mem::take(&mut slot.meta.storage.synced);
        let params = slot.meta.params.clone();
        let mut cx = Ctx {
            node: NodeId(node),
            now: self.core.now,
            meta: &mut slot.meta,
            core: &mut self.core,
        };
        let state = P::boot(&mut cx, &params, &durable);
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
                    crate::time::format_duration(clock.offset_ns),
                    clock.drift_ppm
                )
            }
        });
    }

    fn deliver_to_node(
        &mut self,
        from: u32,
        to: u32,
        epoch: u32,
        payload: Payload<P>,
    ) -> Option<Option<NodeId>> {
        let now = self.core.now;
        let slot = &mut self.nodes[to as usize];
        let drop_reason = if slot.state.is_none() {
            Some(DropReason::Down)
        } else if slot.meta.paused {
            if slot.meta.pause_buffer.len() >= self.cfg.limits.max_pause_buffer {
                self.core.bounds_hit.insert("max_pause_buffer");
                self.core.counters.dropped_pause_buffer += 1;
                Some(DropReason::PauseBufferFull)
            } else {
                slot.meta.pause_buffer.push(Ev::Deliver {
                    from,
                    to,
                    epoch,
                    payload,
                });
                return None;
            }
        } else if self.core.net.kind == crate::protocol::LinkKind::Stream
            && self.core.net.epoch(from, to) != epoch
        {
            Some(DropReason::ConnectionBroken)
        } else {
            self.core.net.connected(from, to).err()
        };
        if let Some(reason) = drop_reason {
            self.core.counters.messages.dropped += 1;
            self.core.trace.header(tag::DROP_AT_DELIVERY, now, from, to);
            self.core.trace.rec().push(reason.code());
            self.core.trace.commit();
            if self.core.trace.wants_text() || self.core.trace.wants_json() {
                self.core
                    .trace_payload("drop", now, from, to, &payload, Some(reason.name()));
            }
            return Some(None);
        }
        self.core.counters.messages.delivered += 1;
        self.core.trace.header(tag::DELIVER, now, from, to);
        match &payload {
            Payload::Proto(m) => crate::trace::encode(m, self.core.trace.rec()),
            Payload::Request(r) => crate::trace::encode(r, self.core.trace.rec()),
            Payload::Reply(r) => crate::trace::encode(r, self.core.trace.rec()),
        }
        self.core.trace.commit();
        if self.core.trace.wants_text() || self.core.trace.wants_json() {
            self.core.trace_payload("deliver", now, from, to, &payload, None);
        }
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
        Some(Some(NodeId(to)))
    }

    fn deliver_to_client(&mut self, from: u32, to: u32, payload: Payload<P>) {
        let now = self.core.now;
        if let Err(reason) = self.core.net.connected(from, to) {
            self.core.counters.messages.dropped += 1;
            self.core.trace.header(tag::DROP_AT_DELIVERY, now, from, to);
            self.core.trace.rec().push(reason.code());
            self.core.trace.commit();
            if self.core.trace.wants_text() || self.core.trace.wants_json() {
                self.core
                    .trace_payload("drop", now, from, to, &payload, Some(reason.name()));
            }
            return;
        }
        self.core.counters.messages.delivered += 1;
        self.core.trace.header(tag::DELIVER, now, from, to);
        if let Payload::Reply(r) = &payload {
            crate::trace::encode(r, self.core.trace.rec());
        }
        self.core.trace.commit();
        if self.core.trace.wants_text() || self.core.trace.wants_json() {
            self.core.trace_payload("deliver", now, from, to, &payload, None);
        }
        let Payload::Reply(reply) = payload else {
            unreachable!("only replies are addressed to clients");
        };
        let c = (to as usize) - self.cfg.nodes;
        let action = self.clients.on_reply(c, &reply);
        self.client_act(c, action);
    }

    fn on_sync_notify(&mut self, node: u32, incarnation: u32, sync: u64) {
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
        while slot
            .meta
            .storage
            .held
            .front()
            .is_some_and(|(needs, _)| *needs <= durable)
        {
            let (_, h) = slot.meta.storage.held.pop_front().expect("front exists");
            self.core.release_held(now, NodeId(node), h);
        }
        self.with_node(node, |p, cx| p.on_sync_done(cx, SyncId(sync)));
    }

    /// After any event that touched a node: role changes, requested crashes, invariants.
    fn after_node_event(&mut self, node: NodeId) {
        let i = node.index();
        let role = self.nodes[i].state.as_ref().map(|s| s.role()).unwrap_or("down");
        if !std::ptr::eq(role, self.nodes[i].meta.role) && role != self.nodes[i].meta.role {
            self.nodes[i].meta.role = role;
            let now = self.core.now;
            self.core.trace.header(tag::ROLE, now, node.0, 0);
            self.core.trace.rec().extend_from_slice(role.as_bytes());
            self.core.trace.commit();
            self.maybe_role_crash(node, role);
            if role != "down" {
                let summary = self.nodes[i]
                    .state
                    .as_ref()
                    .map(|s| s.summary())
                    .unwrap_or_default();
                self.trace_node_line(node.0, "becomes", || {
                    if summary.is_empty() {
                        role.to_string()
                    } else {
                        format!("{role} ({summary})")
                    }
                });
            }
        } else {
            self.nodes[i].meta.role = role;
        }
        if let Some(n) = self.core.crash_requested.take() {
            let restart = self.nodes[n.index()].meta.power_loss_restart.take();
            self.nodes[n.index()].meta.crash_on_write = false;
            self.fault_line_on(&format!("power loss at {n}: unsynced writes lost"), Some(n), true);
            self.crash(n.0, restart);
        }
        let world = World {
            nodes: &self.nodes,
            now: self.core.now,
        };
        let mut sink = CheckSink {
            inner: &mut self.board,
        };
        self.inv.after_event(&world, node, &mut sink);
    }

    fn trace_node_line(&mut self, node: u32, what: &str, detail: impl FnOnce() -> String) {
        let want_text = self.core.trace.wants_text();
        let want_json = self.core.trace.wants_json();
        if !(want_text || want_json) {
            return;
        }
        let d = detail();
        let now = self.core.now;
        if want_text {
            self.core
                .trace
                .text(now, format_args!("{}     {what} {d}", NodeId(node)));
        }
        if want_json {
            let mut j: JsonEvent<'_, ()> = JsonEvent::new(self.core.event, now, what);
            j.node = Some(NodeId(node).to_string());
            j.detail = (!d.is_empty()).then_some(d);
            self.core.trace.json(&j);
        }
    }

    fn fault_line(&mut self, text: &str) {
        self.fault_line_on(text, None, false);
    }

    /// A fault's trace lines; `node` is the node it acted on, `down` says it took it down.
    fn fault_line_on(&mut self, text: &str, node: Option<NodeId>, down: bool) {
        let now = self.core.now;
        if self.core.trace.wants_text() {
            self.core.trace.text(now, format_args!("!!  {text}"));
        }
        if self.core.trace.wants_json() {
            let mut j: JsonEvent<'_, ()> = JsonEvent::new(self.core.event, now, "fault");
            j.node = node.map(|n| n.to_string());
            j.detail = Some(text.to_string());
            j.down = down;
            self.core.trace.json(&j);
        }
    }

    // ----- clients -----

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
        let (to, process, _seq, timeout) = self.clients.start(c, op.clone());
        self.core.counters.ops.invoked += 1;
        self.record_history(HistoryEvent {
            kind: EventType::Invoke,
            process,
            client: ClientId(c as u32),
            op: op.clone(),
            read: None,
            time: now,
        });
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

    fn client_act(&mut self, c: usize, action: ClientAction) {
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
                read,
                process,
            } => {
                match kind {
                    EventType::Ok => self.core.counters.ops.ok += 1,
                    EventType::Fail => self.core.counters.ops.fail += 1,
                    EventType::Info => self.core.counters.ops.info += 1,
                    EventType::Invoke => unreachable!(),
                }
                self.record_history(HistoryEvent {
                    kind,
                    process,
                    client: ClientId(c as u32),
                    op,
                    read,
                    time: now,
                });
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
        }
    }

    fn record_history(&mut self, e: HistoryEvent) {
        let t = &mut self.core.trace;
        t.header(tag::HISTORY, e.time, e.client.0, e.kind as u32);
        t.rec().extend_from_slice(&e.process.to_le_bytes());
        crate::trace::encode(&e.op, t.rec());
        if let Some(r) = &e.read {
            crate::trace::encode(r, t.rec());
        }
        t.commit();
        if self.core.trace.wants_text() {
            let what = match e.kind {
                EventType::Invoke => "invoke",
                EventType::Ok => "ok",
                EventType::Fail => "fail",
                EventType::Info => "info (gave up)",
            };
            let read = e.read.as_ref().map(|r| format!(" -> {r:?}")).unwrap_or_default();
            self.core.trace.text(
                e.time,
                format_args!("{}     {what} {}{read}  [process {}]", e.client, e.op, e.process),
            );
        }
        self.ops_check.observe(&e);
        for o in &mut self.observers {
            o.observe(&e);
        }
        if let Some(h) = self.history.as_mut() {
            h.observe(&e);
        }
    }

    // ----- faults -----

    fn resolve(
        &mut self,
        target: &Target,
        nemesis_kind: Option<FaultKind>,
        eligible: impl Fn(&NodeSlot<P>) -> bool,
    ) -> Option<NodeId> {
        let candidates: Vec<NodeId> = match target {
            Target::Node(n) => return Some(*n),
            Target::Random => (0..self.cfg.nodes as u32)
                .map(NodeId)
                .filter(|n| eligible(&self.nodes[n.index()]))
                .collect(),
            Target::Role(r) => (0..self.cfg.nodes as u32)
                .map(NodeId)
                .filter(|n| {
                    self.nodes[n.index()]
                        .state
                        .as_ref()
                        .is_some_and(|s| s.role() == r.as_str())
                })
                .collect(),
        };
        if candidates.is_empty() {
            let what = match target {
                Target::Random => "no node can take this fault now".to_string(),
                other => format!("no node is {other} now"),
            };
            self.fault_line(&format!("{what}; fault skipped"));
            return None;
        }
        let rng = match nemesis_kind {
            Some(k) => self.nemesis_rng(k),
            None => &mut self.scheduled_faults_rng,
        };
        let i = rng.below(candidates.len() as u64) as usize;
        Some(candidates[i])
    }

    fn record_fault(&mut self, code: u8, a: u32, b: u32, text: String) {
        self.core.counters.faults += 1;
        let now = self.core.now;
        self.core.trace.header(tag::FAULT, now, a, b);
        self.core.trace.rec().push(code);
        self.core.trace.commit();
        // Codes whose first operand is the node the fault acts on; 1 (crash) and 9 (power loss
        // with writes in flight) take it down.
        let node = matches!(code, 1 | 2 | 3 | 7 | 8 | 9 | 10 | 13 | 14 | 15).then_some(NodeId(a));
        self.fault_line_on(&text, node, matches!(code, 1 | 9));
    }

    fn apply_fault(&mut self, action: FaultAction, nemesis: bool) -> Option<NodeId> {
        let now = self.core.now;
        let kind_for_rng = |k: FaultKind| if nemesis { Some(k) } else { None };
        match action {
            FaultAction::Crash {
                target,
                restart_after,
            } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::Crash), |s| s.state.is_some())?;
                if self.nodes[n.index()].state.is_none() {
                    self.fault_line(&format!("crash {n}: it is already down; fault skipped"));
                    return None;
                }
                self.record_fault(1, n.0, 0, format!("crash {n}"));
                self.crash(n.0, restart_after);
                Some(n)
            }
            FaultAction::Restart { target } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::Crash), |s| s.state.is_none())?;
                if self.nodes[n.index()].state.is_some() {
                    return None;
                }
                self.record_fault(2, n.0, 0, format!("restart {n}"));
                self.boot(n.0);
                Some(n)
            }
            FaultAction::Pause { target, resume_after } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::Pause), |s| {
                    s.state.is_some() && !s.meta.paused
                })?;
                let slot = &mut self.nodes[n.index()];
                if slot.state.is_none() || slot.meta.paused {
                    return None;
                }
                slot.meta.paused = true;
                self.record_fault(3, n.0, 0, format!("pause {n}"));
                if let Some(d) = resume_after {
                    self.core.queue.push(
                        now.saturating_add(d),
                        Ev::Fault {
                            action: Box::new(FaultAction::Resume {
                                target: Target::Node(n),
                            }),
                            nemesis,
                        },
                    );
                }
                Some(n)
            }
            FaultAction::Resume { target } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::Pause), |s| s.meta.paused)?;
                if !self.nodes[n.index()].meta.paused {
                    return None;
                }
                self.resume(n);
                Some(n)
            }
            FaultAction::Partition { spec, heal_after } => {
                let groups = self.partition_groups(&spec, nemesis);
                let Some(groups) = groups else {
                    self.fault_line("partition: no node matches; skipped");
                    return None;
                };
                let text = FaultAction::Partition {
                    spec: PartitionSpec::Groups(groups.clone()),
                    heal_after: None,
                }
                .to_string();
                let broken = self.core.net.partition(&groups);
                self.partition_gen += 1;
                self.record_fault(4, self.partition_gen as u32, 0, text);
                for g in &groups {
                    let ids: Vec<u32> = g.iter().map(|e| self.core.net.ep(*e)).collect();
                    self.core
                        .trace
                        .rec()
                        .extend_from_slice(&(ids.len() as u32).to_le_bytes());
                    for i in ids {
                        self.core.trace.rec().extend_from_slice(&i.to_le_bytes());
                    }
                }
                self.core.trace.commit();
                self.break_streams(&broken);
                if let Some(d) = heal_after {
                    self.core.queue.push(
                        now.saturating_add(d),
                        Ev::Heal(Heal::Partition(self.partition_gen)),
                    );
                }
                None
            }
            FaultAction::Cut { from, to, heal_after } => {
                let a = self.resolve(&from, kind_for_rng(FaultKind::Cut), |_| true);
                let b = self.resolve(&to, kind_for_rng(FaultKind::Cut), |_| true);
                let (Some(a), Some(b)) = (a, b) else {
                    return None;
                };
                if a == b {
                    self.fault_line(&format!(
                        "cut {a} -> {a}: a node cannot be cut from itself; skipped"
                    ));
                    return None;
                }
                let gen = self.core.net.cut(a.0, b.0);
                self.record_fault(5, a.0, b.0, format!("cut {a} -> {b} (one-way)"));
                if self.core.net.kind == crate::protocol::LinkKind::Stream {
                    self.break_streams(&[(a.0, b.0)]);
                }
                if let Some(d) = heal_after {
                    self.core
                        .queue
                        .push(now.saturating_add(d), Ev::Heal(Heal::Uncut(a.0, b.0, gen)));
                }
                None
            }
            FaultAction::Heal => {
                self.core.net.heal();
                self.record_fault(6, 0, 0, "heal all partitions and cuts".into());
                None
            }
            FaultAction::ClockJump { target, by_ns } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::ClockJump), |_| true)?;
                self.nodes[n.index()].meta.clock.jump(by_ns);
                let sign = if by_ns < 0 { "-" } else { "+" };
                self.record_fault(
                    7,
                    n.0,
                    by_ns as u32,
                    format!("clock jump {n} {sign}{}", format_duration(by_ns.unsigned_abs())),
                );
                Some(n)
            }
            FaultAction::SlowDisk {
                target,
                factor,
                duration,
            } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::Disk), |_| true)?;
                let meta = &mut self.nodes[n.index()].meta;
                meta.slow_factor = factor.max(1);
                meta.slow_gen += 1;
                let gen = meta.slow_gen;
                self.record_fault(
                    8,
                    n.0,
                    factor,
                    format!("slow disk {n} x{factor} for {}", format_duration(duration)),
                );
                self.core
                    .queue
                    .push(now.saturating_add(duration), Ev::Heal(Heal::DiskNormal(n.0, gen)));
                Some(n)
            }
            FaultAction::LoseUnsynced {
                target,
                within,
                restart_after,
            } => {
                let n = self.resolve(&target, kind_for_rng(FaultKind::Disk), |s| s.state.is_some())?;
                let slot = &mut self.nodes[n.index()];
                slot.state.as_ref()?;
                if !slot.meta.storage.unsynced.is_empty() {
                    self.record_fault(
                        9,
                        n.0,
                        0,
                        format!("power loss at {n} with writes in flight: unsynced writes lost"),
                    );
                    self.crash(n.0, restart_after);
                } else {
                    slot.meta.crash_on_write = true;
                    slot.meta.power_loss_gen += 1;
                    slot.meta.power_loss_restart = restart_after;
                    let gen = slot.meta.power_loss_gen;
                    self.record_fault(
                        10,
                        n.0,
                        0,
                        format!(
                            "power loss armed at {n}: strikes at its next write within {}",
                            format_duration(within)
                        ),
                    );
                    self.core.queue.push(
                        now.saturating_add(within),
                        Ev::Heal(Heal::PowerLossExpire(n.0, gen)),
                    );
                }
                Some(n)
            }
        }
    }

    fn apply_heal(&mut self, h: Heal) -> Option<Option<NodeId>> {
        match h {
            Heal::Partition(gen) => {
                if gen != self.partition_gen {
                    return None;
                }
                // Lift the groups; one-way cuts stay until their own heal.
                if !self.core.net.clear_groups() {
                    return None;
                }
                self.record_fault(11, gen as u32, 0, "partition healed".into());
                Some(None)
            }
            Heal::Uncut(a, b, gen) => {
                if !self.core.net.uncut(a, b, gen) {
                    return None;
                }
                self.record_fault(12, a, b, format!("cut {} -> {} healed", NodeId(a), NodeId(b)));
                Some(None)
            }
            Heal::DiskNormal(n, gen) => {
                let meta = &mut self.nodes[n as usize].meta;
                if meta.slow_gen != gen || meta.slow_factor == 1 {
                    return None;
                }
                meta.slow_factor = 1;
                self.record_fault(13, n, 0, format!("disk of {} back to normal", NodeId(n)));
                Some(None)
            }
            Heal::PowerLossExpire(n, gen) => {
                let meta = &mut self.nodes[n as usize].meta;
                if meta.power_loss_gen != gen || !meta.crash_on_write {
                    return None;
                }
                meta.crash_on_write = false;
                meta.power_loss_restart = None;
                self.record_fault(
                    14,
                    n,
                    0,
                    format!("power loss at {} disarmed (no write came)", NodeId(n)),
                );
                Some(None)
            }
        }
    }

    fn partition_groups(&mut self, spec: &PartitionSpec, nemesis: bool) -> Option<Vec<Vec<Endpoint>>> {
        let n = self.cfg.nodes as u32;
        let clients = self.cfg.clients.clients as u32;
        match spec {
            PartitionSpec::Groups(g) => Some(g.clone()),
            PartitionSpec::Isolate(t) => {
                let kind = nemesis.then_some(FaultKind::Partition);
                let victim = self.resolve(t, kind, |s| s.state.is_some())?;
                let mut rest: Vec<Endpoint> = (0..n)
                    .filter(|i| *i != victim.0)
                    .map(|i| Endpoint::Node(NodeId(i)))
                    .collect();
                rest.extend((0..clients).map(|c| Endpoint::Client(ClientId(c))));
                Some(vec![vec![Endpoint::Node(victim)], rest])
            }
            PartitionSpec::RandomHalves => {
                let rng = if nemesis {
                    self.nemesis_rng(FaultKind::Partition)
                } else {
                    &mut self.scheduled_faults_rng
                };
                let mut servers: Vec<u32> = (0..n).collect();
                rng.shuffle(&mut servers);
                let minority = if n >= 2 {
                    1 + rng.below(u64::from(n / 2)) as usize
                } else {
                    1
                };
                let minority = minority.min(servers.len());
                let mut a: Vec<Endpoint> = servers[..minority]
                    .iter()
                    .map(|i| Endpoint::Node(NodeId(*i)))
                    .collect();
                let mut b: Vec<Endpoint> = servers[minority..]
                    .iter()
                    .map(|i| Endpoint::Node(NodeId(*i)))
                    .collect();
                for c in 0..clients {
                    if rng.chance(0.5) {
                        a.push(Endpoint::Client(ClientId(c)));
                    } else {
                        b.push(Endpoint::Client(ClientId(c)));
                    }
                }
                Some(vec![a, b])
            }
        }
    }

    fn break_streams(&mut self, pairs: &[(u32, u32)]) {
        if self.core.net.kind != crate::protocol::LinkKind::Stream {
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

    fn crash(&mut self, node: u32, restart_after: Option<Time>) {
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
        if self.core.net.kind == crate::protocol::LinkKind::Stream {
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
                    nemesis: false,
                },
            );
        }
    }

    fn resume(&mut self, n: NodeId) {
        let now = self.core.now;
        let slot = &mut self.nodes[n.index()];
        slot.meta.paused = false;
        let buffered = std::mem::take(&mut slot.meta.pause_buffer);
        let count = buffered.len();
        self.record_fault(
            15,
            n.0,
            count as u32,
            format!("resume {n} ({count} buffered events replay)"),
        );
        // Replay in the order they arrived, at the current time, so they see the current clock.
        for ev in buffered {
            if matches!(ev, Ev::Deliver { .. }) {
                self.core.net.in_flight += 1;
            }
            self.core.queue.push(now, ev);
        }
    }

    fn heal_everything(&mut self) {
        self.core.net.heal();
        for i in 0..self.cfg.nodes {
            let meta = &mut self.nodes[i].meta;
            meta.slow_factor = 1;
            meta.crash_on_write = false;
            if meta.paused {
                self.resume(NodeId(i as u32));
            }
        }
        for i in 0..self.cfg.nodes as u32 {
            if self.nodes[i as usize].state.is_none() {
                self.record_fault(2, i, 0, format!("restart {}", NodeId(i)));
                self.boot(i);
                self.after_node_event(NodeId(i));
            }
        }
    }

    /// The nemesis's crash of nodes that just took on a role (see [`crate::config::RoleCrash`]).
    fn maybe_role_crash(&mut self, node: NodeId, role: &'static str) {
        if self.quiet {
            return;
        }
        let Some(nem) = self.cfg.nemesis.as_ref() else {
            return;
        };
        let Some(rc) = nem.role_crash.clone() else { return };
        if rc.role != role {
            return;
        }
        let (lo, hi) = nem.fault_duration;
        let now = self.core.now;
        let rng = &mut self.role_crash_rng;
        if !rng.chance(rc.chance) {
            return;
        }
        let delay = rng.range_inclusive(rc.after.0, rc.after.1);
        let down = rng.range_inclusive(lo, hi);
        let at = now.saturating_add(delay);
        if self.cfg.quiet_from.is_some_and(|q| at >= q) {
            return;
        }
        self.core.queue.push(
            at,
            Ev::Fault {
                action: Box::new(FaultAction::Crash {
                    target: Target::Node(node),
                    restart_after: Some(down),
                }),
                nemesis: true,
            },
        );
    }

    fn nemesis_strike(&mut self, kind: FaultKind) -> Option<NodeId> {
        let nem = self.cfg.nemesis.clone().expect("nemesis configured");
        let (lo, hi) = nem.fault_duration;
        let rng = self.nemesis_rng(kind);
        let d = rng.range_inclusive(lo, hi);
        let action = match kind {
            FaultKind::Crash => FaultAction::Crash {
                target: Target::Random,
                restart_after: Some(d),
            },
            FaultKind::Pause => FaultAction::Pause {
                target: Target::Random,
                resume_after: Some(d),
            },
            FaultKind::Partition => FaultAction::Partition {
                spec: PartitionSpec::RandomHalves,
                heal_after: Some(d),
            },
            FaultKind::Cut => {
                let n = self.cfg.nodes as u64;
                if n < 2 {
                    return None;
                }
                let rng = self.nemesis_rng(kind);
                let a = rng.below(n);
                let b = (a + 1 + rng.below(n - 1)) % n;
                FaultAction::Cut {
                    from: Target::Node(NodeId(a as u32)),
                    to: Target::Node(NodeId(b as u32)),
                    heal_after: Some(d),
                }
            }
            FaultKind::ClockJump => {
                let max = nem.max_clock_jump;
                let rng = self.nemesis_rng(kind);
                let by = rng.range_inclusive(0, 2 * max) as i64 - max as i64;
                FaultAction::ClockJump {
                    target: Target::Random,
                    by_ns: by,
                }
            }
            FaultKind::Disk => {
                let rng = self.nemesis_rng(kind);
                if rng.chance(0.5) {
                    FaultAction::SlowDisk {
                        target: Target::Random,
                        factor: nem.slow_disk_factor,
                        duration: d,
                    }
                } else {
                    FaultAction::LoseUnsynced {
                        target: Target::Random,
                        within: d,
                        restart_after: Some(d),
                    }
                }
            }
        };
        self.apply_fault(action, true)
    }

    // ----- the end -----

    fn finish(mut self, end: Time, stop: StopReason) -> Result<RunReport, SimError> {
        let cut_short = match stop {
            StopReason::Events => Some("event limit"),
            StopReason::Violation => Some("a violation was found"),
            _ => None,
        };
        {
            let world = World {
                nodes: &self.nodes,
                now: end,
            };
            let mut sink = CheckSink {
                inner: &mut self.board,
            };
            self.inv.at_end(&world, &mut sink);
        }
        let mut checks = self.board.finish(end, cut_short);
        if self.cfg.clients.clients > 0 {
            checks.push(self.ops_check.finish(end, self.cfg.quiet_from, cut_short));
        }
        for o in &mut self.observers {
            checks.extend(o.finish());
        }
        if let Some(h) = self.history.as_mut() {
            h.finish_io()?;
        }
        self.core.trace.finish()?;
        let violations = checks.iter().filter(|c| c.status == CheckStatus::Fail).count();
        let pending = self.clients.list.iter().filter(|c| c.busy.is_some()).count() as u64;
        let mut ops = self.core.counters.ops;
        ops.pending = pending;
        Ok(RunReport {
            seed: self.cfg.seed,
            nodes: self.cfg.nodes,
            sim_time_ns: end,
            events: self.events,
            events_by_kind: EVENT_KINDS
                .iter()
                .zip(self.events_by_kind)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            messages: self.core.counters.messages,
            ops,
            checks,
            violations,
            trace_hash: format!("{:016x}", self.core.trace.hash()),
            stopped_by: stop,
            bounds_hit: self.core.bounds_hit.iter().map(|s| s.to_string()).collect(),
            faults: self.core.counters.faults,
            trace_bytes: self.core.trace.bytes(),
        })
    }
}

impl OpsCompleteCheck {
    fn observe(&mut self, e: &HistoryEvent) {
        let Some(from) = self.from else { return };
        match e.kind {
            EventType::Invoke => {
                if e.time >= from {
                    self.pending.insert(e.process, (e.time, e.op.clone()));
                }
            }
            EventType::Ok | EventType::Fail => {
                if self.pending.remove(&e.process).is_some() {
                    self.checked += 1;
                }
            }
            EventType::Info => {
                if let Some((t, op)) = self.pending.remove(&e.process) {
                    if self.violation.is_none() {
                        self.violation = Some((
                            e.time,
                            format!(
                                "{} {op} invoked at {} (after the quiet period had lasted {}) gave up without an answer",
                                e.client,
                                crate::time::TraceTime(t),
                                format_duration(self.bound)
                            ),
                        ));
                    }
                }
            }
        }
    }

    fn finish(&self, end: Time, quiet_from: Option<Time>, cut_short: Option<&str>) -> CheckResult {
        let mut r = CheckResult {
            name: "ops-complete".into(),
            kind: CheckKind::Eventually,
            status: CheckStatus::Pass,
            detail: String::new(),
            event: None,
            time_ns: None,
        };
        let Some(from) = self.from else {
            r.status = CheckStatus::Skipped;
            r.detail = "no quiet period in this scenario".into();
            return r;
        };
        let _ = quiet_from;
        if let Some((t, d)) = &self.violation {
            r.status = CheckStatus::Fail;
            r.detail = d.clone();
            r.time_ns = Some(*t);
            return r;
        }
        // Operations still pending long after invocation at the end count as stuck.
        if cut_short.is_none() {
            if let Some((p, (t, op))) = self
                .pending
                .iter()
                .find(|(_, (t, _))| end.saturating_sub(*t) > self.bound)
            {
                r.status = CheckStatus::Fail;
                r.detail = format!(
                    "{op} (process {p}) invoked at {} was still pending at the end, {} later",
                    crate::time::TraceTime(*t),
                    format_duration(end - t)
                );
                return r;
            }
        }
        if self.checked == 0 {
            r.status = CheckStatus::Skipped;
            r.detail = format!("no operation was invoked after {}", format_duration(from));
        } else {
            r.detail = format!(
                "{} operations invoked after {} all completed",
                self.checked,
                format_duration(from)
            );
        }
        r
    }
}

/// The size of one queued event for protocol `P` (for benchmarks and tuning).
#[doc(hidden)]
pub fn event_size<P: Protocol>() -> usize {
    std::mem::size_of::<Ev<P>>()
}
