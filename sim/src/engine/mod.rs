//! The discrete-event engine: one thread, one queue ordered by (time, insertion sequence), and
//! the run loop that drives protocols, clients, the network, disks, clocks and faults.
//!
//! The engine is split by concern:
//! - `event.rs`: what sits in the queue;
//! - `core.rs`: the state a handler's effects reach (queue, network, trace) and per-node
//!   bookkeeping (disk, timers, pause buffer);
//! - `effects.rs`: the engine's implementation of the protocol-facing [`Ctx`](crate::Ctx);
//! - `dispatch.rs`: handling each kind of event;
//! - `lifecycle.rs`: boot, crash, pause/resume, and the bookkeeping after each node event;
//! - `clients.rs`: the clients' plumbing and the history;
//! - `faults.rs`: resolving and applying faults, the nemesis;
//! - `trace_lines.rs`: the human and JSON trace lines.

mod client_faults;
mod clients;
mod core;
mod coverage;
mod dispatch;
mod effects;
mod event;
mod faults;
mod lifecycle;
mod nemesis;
mod resolve;
mod trace_lines;

use self::core::{Core, Counters, NodeMeta, NodeSlot};
use self::event::{Ev, EventKind, Handled};
use crate::checks::{CheckBoard, CheckDecl, CheckKind, CheckStatus};
use crate::clock::NodeClock;
use crate::config::{ScheduledOp, SimConfig};
use crate::family::{CheckSetup, Family};
use crate::faults::{FaultKind, FaultRecord, Origin};
use crate::history::{HistoryObserver, HistoryWriter, OpsCompleteCheck};
use crate::ids::NodeId;
use crate::metrics::{MetricDecl, Unit};
use crate::net::Network;
use crate::protocol::{CheckSink, Invariants, Protocol, World};
use crate::queue::EventQueue;
use crate::report::{RunReport, StopReason};
use crate::rng::{Draw, Rng};
use crate::schedule::ScheduleWriter;
use crate::time::Time;
use crate::trace::Trace;
use crate::workload::Clients;
use std::collections::BTreeSet;
use std::io::Write;

/// Where a run's streams go (each optional).
#[derive(Default)]
pub struct Outputs {
    pub trace_jsonl: Option<Box<dyn Write>>,
    pub trace_txt: Option<Box<dyn Write>>,
    pub history_jsonl: Option<Box<dyn Write>>,
    /// The replayable schedule, as JSON lines (see [`crate::schedule`]).
    pub schedule_jsonl: Option<Box<dyn Write>>,
    /// Collect coverage (for `dsim fuzz --guided`): [`RunReport::coverage`].
    pub coverage: bool,
}

/// A history observer plugged in from outside the engine.
pub type BoxedObserver<F> = Box<dyn HistoryObserver<F>>;

/// The protocol-typed half of a run's configuration (the rest is [`SimConfig`]).
pub struct Setup<P: Protocol> {
    /// Each node's parameters (per-node overrides already merged).
    pub params: Vec<P::Params>,
    /// The workload family's `[workload]` keys.
    pub workload: <P::Workload as Family>::Spec,
    /// Scheduled operations, sorted by time.
    pub ops: Vec<ScheduledOp<<P::Workload as Family>::OpSpec>>,
}

impl<P: Protocol> Clone for Setup<P> {
    fn clone(&self) -> Self {
        Setup {
            params: self.params.clone(),
            workload: self.workload.clone(),
            ops: self.ops.clone(),
        }
    }
}

impl<P: Protocol> Setup<P> {
    /// Default parameters on every node, the family's default workload, no scheduled ops.
    pub fn defaults(nodes: usize) -> Self {
        Self::with_params(vec![P::Params::default(); nodes])
    }

    /// These parameters (one per node), the family's default workload, no scheduled ops.
    pub fn with_params(params: Vec<P::Params>) -> Self {
        Setup {
            params,
            workload: Default::default(),
            ops: Vec::new(),
        }
    }
}

/// The engine's metric: each completed (`ok` or `fail`) operation's latency.
pub(crate) const LATENCY: &str = "latency";

/// The open-loop engine metric: how long an arrival waited for a free lane.
pub(crate) const QUEUEING: &str = "queueing";

/// The engine's own metrics.
pub fn engine_metrics() -> Vec<MetricDecl> {
    vec![
        MetricDecl::new(
            LATENCY,
            Unit::Ns,
            "time from an operation's invocation (open loop: its arrival) to its ok or fail completion",
        ),
        MetricDecl::new(
            QUEUEING,
            Unit::Ns,
            "open loop: time an arrival waited for a free lane before it was invoked",
        ),
    ]
}

/// Errors a run can end with (outputs could not be written).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("writing the run's output failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One simulation run of protocol `P`.
pub struct Sim<P: Protocol> {
    cfg: SimConfig,
    nodes: Vec<NodeSlot<P>>,
    core: Core<P>,
    clients: Clients<P::Workload>,
    scheduled_ops: Vec<ScheduledOp<<P::Workload as Family>::OpSpec>>,
    inv: P::Invariants,
    board: CheckBoard,
    /// History checks: the family's (those `[checks]` enables), then any added by
    /// `observe_history`.
    observers: Vec<BoxedObserver<P::Workload>>,
    history: Option<HistoryWriter>,
    schedule: Option<ScheduleWriter>,
    /// Every fault that happened, for checks (bounded).
    fault_timeline: Vec<FaultRecord>,
    /// Each paused client's events, replayed when it resumes.
    client_buffers: Vec<Vec<Ev<P>>>,
    scheduled_faults_rng: Rng,
    role_crash_rng: Rng,
    aim_rng: Rng,
    nemesis_rngs: Vec<(FaultKind, Rng)>,
    quiet: bool,
    partition_gen: u64,
    events: u64,
    events_by_kind: [u64; EventKind::ALL.len()],
    last_history_stop: bool,
    ops_check: OpsCompleteCheck<P::Workload>,
    coverage: Option<coverage::Coverage>,
}

impl<P: Protocol> Sim<P> {
    /// Builds a run.
    pub fn new(cfg: SimConfig, setup: Setup<P>, outputs: Outputs) -> Self {
        let n_nodes_cov = cfg.nodes;
        let Setup {
            params,
            workload,
            ops,
        } = setup;
        assert_eq!(params.len(), cfg.nodes, "one parameter set per node");
        assert!(cfg.nodes >= 1);
        let seed = cfg.seed;
        let n_clients = cfg.clients.clients;
        let inv = P::Invariants::new(&cfg.cluster, &params);
        let nodes = Self::node_table(&cfg, params);
        let board = Self::check_board(&cfg);
        let clients = Self::clients(&cfg, &workload, &ops);
        let observers = Self::history_checks(&cfg);
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
        let ops_bound = cfg.checks.bound_of("ops-complete");
        let core = Core {
            n_nodes: cfg.nodes,
            cluster: cfg.cluster.clone(),
            now: 0,
            event: 0,
            queue: EventQueue::new(),
            net: Network::new(
                &cfg.network,
                cfg.network.kind.unwrap_or(P::LINK),
                cfg.nodes,
                n_clients,
                seed,
            ),
            trace: Trace::new(outputs.trace_jsonl, outputs.trace_txt),
            bugs: cfg.bugs.clone(),
            drift_bound_ppm: cfg.clocks.assumed_drift_ppm.unwrap_or(cfg.clocks.max_drift_ppm),
            sync_latency: cfg.storage.sync_latency,
            crash_requested: None,
            max_in_flight: cfg.limits.max_in_flight,
            counters: Counters::default(),
            bounds_hit: BTreeSet::new(),
            next_msg: 0,
            buggify: cfg.buggify.as_ref().map(|b| core::Buggify {
                sites: b.sites.clone(),
                chance: b.chance,
                until: cfg.quiet_from.unwrap_or(Time::MAX),
                fired: vec![0; b.sites.len()],
            }),
        };
        Sim {
            inv,
            ops_check: OpsCompleteCheck::new(cfg.quiet_from, ops_bound),
            scheduled_faults_rng: Rng::stream(seed, "faults"),
            role_crash_rng: Rng::stream(seed, "faults/role-crash"),
            aim_rng: Rng::stream(seed, "faults/aim"),
            nemesis_rngs,
            cfg,
            nodes,
            core,
            clients,
            scheduled_ops: ops,
            board,
            observers,
            history: outputs.history_jsonl.map(HistoryWriter::new),
            schedule: outputs.schedule_jsonl.map(ScheduleWriter::new),
            coverage: outputs.coverage.then(|| coverage::Coverage::new(n_nodes_cov)),
            fault_timeline: Vec::new(),
            client_buffers: (0..n_clients).map(|_| Vec::new()).collect(),
            quiet: false,
            partition_gen: 0,
            events: 0,
            events_by_kind: [0; EventKind::ALL.len()],
            last_history_stop: false,
        }
    }

    /// Every node's slot, not yet booted, with its clock drawn from the `clocks` stream.
    fn node_table(cfg: &SimConfig, params: Vec<P::Params>) -> Vec<NodeSlot<P>> {
        let mut clocks_rng = Rng::stream(cfg.seed, "clocks");
        params
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
                let mut meta = NodeMeta::new(p, NodeClock::new(offset, drift), cfg.seed, id);
                meta.boot_at = cfg.cluster.group_of(id).boot_at;
                NodeSlot { state: None, meta }
            })
            .collect()
    }

    /// The clients, with the family's generator; fresh values start above every value the
    /// scheduled operations name, and the keys they name are pinned.
    fn clients(
        cfg: &SimConfig,
        spec: &<P::Workload as Family>::Spec,
        ops: &[ScheduledOp<<P::Workload as Family>::OpSpec>],
    ) -> Clients<P::Workload> {
        let mut base = 0;
        let mut pinned = BTreeSet::new();
        for o in ops {
            let info = <P::Workload as Family>::validate_op(&o.op)
                .unwrap_or_else(|e| panic!("scheduled operations are validated first: {}", e.message));
            base = info.values.iter().copied().fold(base, u64::max);
            pinned.extend(info.keys);
        }
        let family = <P::Workload as Family>::new(spec, cfg.clients.clients);
        Clients::new(
            &cfg.clients,
            cfg.workload.as_ref(),
            family,
            &cfg.cluster,
            cfg.seed,
            base + 1,
            pinned,
        )
    }

    /// The family's history checks the scenario enables.
    fn history_checks(cfg: &SimConfig) -> Vec<BoxedObserver<P::Workload>> {
        if cfg.clients.clients == 0 {
            return Vec::new();
        }
        let setup = CheckSetup {
            budget_steps: cfg.checks.history_budget,
            max_tracked: cfg.limits.max_history_ops.min(10_000_000) as usize,
            quiet_from: cfg.quiet_from,
        };
        cfg.checks
            .history
            .iter()
            .map(|name| {
                <P::Workload as Family>::make_check(name, &setup).unwrap_or_else(|| {
                    panic!(
                        "`{name}` is not a history check of {}",
                        <P::Workload as Family>::NAME
                    )
                })
            })
            .collect()
    }

    /// The board of the protocol's always/sometimes/eventually checks, with the scenario's
    /// requirements and bounds.
    fn check_board(cfg: &SimConfig) -> CheckBoard {
        let mut decls: Vec<CheckDecl> = <P::Invariants as Invariants<P>>::checks();
        decls.retain(|d| d.kind != CheckKind::History);
        let mut board = CheckBoard::new(decls, cfg.quiet_from, cfg.checks.eventually_within);
        for name in &cfg.checks.require {
            board.set_required(name);
        }
        for (name, b) in &cfg.checks.within {
            board.set_bound(name, *b);
        }
        board.declare_metrics(engine_metrics());
        board.declare_metrics(<P::Invariants as Invariants<P>>::metrics());
        board.declare_metrics(<P::Workload as Family>::metrics());
        board.declare_conditions(<P::Invariants as Invariants<P>>::conditions());
        board.set_spans(&cfg.spans);
        board
    }

    /// Adds a history observer whose verdict becomes a `history` check.
    pub fn observe_history(&mut self, obs: BoxedObserver<P::Workload>) {
        self.observers.push(obs);
    }

    fn schedule_start(&mut self) {
        for i in 0..self.cfg.nodes as u32 {
            let at = self.nodes[i as usize].meta.boot_at;
            self.core.queue.push(at, Ev::Boot { node: i });
        }
        let faults = self.cfg.faults.clone();
        for (i, f) in faults.into_iter().enumerate() {
            let at = if f.spread > 0 {
                let mut rng = Rng::stream(self.cfg.seed, &format!("faults/at/{}", f.draw));
                f.at + rng.range_inclusive(0, f.spread)
            } else {
                f.at
            };
            self.core.queue.push(
                at,
                Ev::Fault {
                    action: Box::new(f.action),
                    origin: Origin::Scheduled,
                    mark: f.name.map(|_| i as u32),
                },
            );
        }
        for (i, op) in self.scheduled_ops.iter().enumerate() {
            self.core.queue.push(op.at, Ev::ScheduledOp { index: i as u32 });
        }
        self.schedule_workload_start();
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
        let (stop, last_processed) = self.run_loop();
        let end = match stop {
            StopReason::Time => self.cfg.duration,
            _ => last_processed,
        };
        let seen = inspect(&World::new(&self.nodes, &self.fault_timeline, end));
        self.finish(end, stop).map(|r| (r, seen))
    }

    /// Processes events until a bound, a violation or an empty queue stops the run; returns why
    /// and the time of the last event processed.
    fn run_loop(&mut self) -> (StopReason, Time) {
        let max_events = self.cfg.limits.max_events;
        let mut last_processed = 0;
        while let Some((t, ev)) = self.core.queue.pop() {
            // The duration first: a run whose next event lies past its end is complete, however
            // many events it took.
            if t > self.cfg.duration {
                return (StopReason::Time, last_processed);
            }
            if self.events >= max_events {
                self.core.bounds_hit.insert("max_events");
                return (StopReason::Events, last_processed);
            }
            self.core.now = t;
            self.core.event = self.events;
            self.board.event = self.events;
            self.board.now = t;
            let kind = ev.kind();
            let handled = self.dispatch(ev);
            if handled == Handled::Stale {
                continue;
            }
            self.events += 1;
            self.events_by_kind[kind as usize] += 1;
            last_processed = t;
            if let Handled::Touched(n) = handled {
                if let Some(c) = &mut self.coverage {
                    if let Some(state) = &self.nodes[n.index()].state {
                        c.observe(n, kind as u8, state.role(), state.coverage());
                    }
                }
                self.after_node_event(n);
            }
            if self.cfg.checks.stop_on_violation && (self.board.any_failed() || self.history_violated()) {
                return (StopReason::Violation, last_processed);
            }
            if self.cfg.stop_when_measured && self.board.all_measured() {
                return (StopReason::Measured, last_processed);
            }
        }
        (StopReason::Idle, last_processed)
    }

    fn history_violated(&mut self) -> bool {
        if self.last_history_stop {
            return true;
        }
        let v = self.ops_check.violated() || self.observers.iter().any(|o| o.violated());
        self.last_history_stop = v;
        v
    }

    fn finish(mut self, end: Time, stop: StopReason) -> Result<RunReport, SimError> {
        let cut_short = match stop {
            StopReason::Events => Some("event limit"),
            StopReason::Violation => Some("a violation was found"),
            StopReason::Measured => Some("every metric was measured"),
            _ => None,
        };
        {
            let world = World::new(&self.nodes, &self.fault_timeline, end);
            let mut sink = CheckSink::new(&mut self.board);
            self.inv.at_end(&world, &mut sink);
            for o in &mut self.observers {
                o.metrics(&mut sink);
            }
        }
        let mut checks = self.board.finish(end, cut_short);
        if self.cfg.clients.clients > 0 {
            checks.push(self.ops_check.finish(end, cut_short));
        }
        for o in &mut self.observers {
            checks.extend(o.finish());
        }
        if let Some(h) = self.history.as_mut() {
            h.finish_io()?;
        }
        if let Some(s) = self.schedule.as_mut() {
            s.finish_io()?;
        }
        self.core.trace.finish()?;
        let violations = checks.iter().filter(|c| c.status == CheckStatus::Fail).count();
        let spans = self.board.span_results();
        let mut ops = self.core.counters.ops;
        ops.pending = self.clients.list.iter().map(|c| c.busy_lanes() as u64).sum();
        Ok(RunReport {
            seed: self.cfg.seed,
            nodes: self.cfg.nodes,
            sim_time_ns: end,
            events: self.events,
            events_by_kind: EventKind::ALL
                .iter()
                .zip(self.events_by_kind)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.name().to_string(), n))
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
            metrics: {
                let mut m = self.board.metrics.summaries();
                for (name, v) in &spans {
                    if let Some(v) = v {
                        m.insert(name.clone(), crate::metrics::MetricSummary::Value(*v as f64));
                    }
                }
                m
            },
            metric_timelines: self.board.metrics.timelines(),
            censored: spans
                .into_iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| n)
                .collect(),
            coverage: self
                .coverage
                .take()
                .map(coverage::Coverage::features)
                .unwrap_or_default(),
            buggify: self
                .core
                .buggify
                .as_ref()
                .map(|b| b.sites.iter().cloned().zip(b.fired.iter().copied()).collect())
                .unwrap_or_default(),
        })
    }
}

/// The size of one queued event for protocol `P` (for benchmarks and tuning).
#[doc(hidden)]
pub fn event_size<P: Protocol>() -> usize {
    std::mem::size_of::<Ev<P>>()
}
