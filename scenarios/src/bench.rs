//! `dsim bench phold`: the classic PHOLD model run through the real engine (queue, dispatch,
//! network delivery, trace hashing), beside a minimal hand-written BinaryHeap + ChaCha loop doing
//! the same work, so the engine's overhead is one number.
//!
//! PHOLD: N logical processes, each starting with E events at 1 ms + Exp(1 ms); each event at
//! time t sends one event to a uniformly random LP, arriving at t + 1 ms + Exp(1 ms).

use crate::error::InputError;
use crate::summary::group;
use serde::{Deserialize, Serialize};
use sim::config::{ClockConfig, LinkParams, NetworkConfig};
use sim::dist::{Dist, Shape};
use sim::time::{format_duration, parse_duration};
use sim::time::{Time, NANOS_PER_MILLI};
use sim::{Ctx, Draw, NodeId, Protocol, RequestOf, Rng, SimConfig};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PholdParams {
    pub events_per_node: u32,
}

/// A PHOLD event in flight.
#[derive(Clone, Debug, Serialize)]
pub struct Job;

#[derive(Clone, Debug, Serialize)]
pub struct Start;

pub struct Phold {
    n: u64,
}

const MEAN_NS: f64 = NANOS_PER_MILLI as f64;

impl Phold {
    fn forward(&mut self, cx: &mut Ctx<Self>) {
        let to = NodeId(cx.rng().below(self.n) as u32);
        cx.send(to, Job);
    }
}

impl Protocol for Phold {
    const NAME: &'static str = "phold";
    const DESCRIPTION: &'static str = "PHOLD benchmark model";
    type Msg = Job;
    type Timer = Start;
    type Durable = ();
    type Params = PholdParams;
    type Invariants = sim::NoInvariants;
    type Workload = sim::family::NoClients;

    fn boot(cx: &mut Ctx<Self>, params: &PholdParams, _durable: &()) -> Self {
        for _ in 0..params.events_per_node {
            let d = NANOS_PER_MILLI + libm::round(cx.rng().exp(MEAN_NS)) as u64;
            cx.set_timer(d, Start);
        }
        Phold {
            n: cx.cluster_size() as u64,
        }
    }

    fn on_message(&mut self, cx: &mut Ctx<Self>, _from: NodeId, _msg: Job) {
        self.forward(cx);
    }

    fn on_timer(&mut self, cx: &mut Ctx<Self>, _t: Start) {
        self.forward(cx);
    }

    fn on_client(&mut self, _cx: &mut Ctx<Self>, req: RequestOf<Self>) {
        match req.op {}
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PholdResult {
    pub events: u64,
    pub wall_ms: u64,
    pub events_per_sec: f64,
    pub checksum: String,
}

/// The engine configuration for PHOLD: exact clocks, the PHOLD delay on every link.
pub fn phold_config(nodes: usize, until: Time, seed: u64) -> SimConfig {
    let mut cfg = SimConfig::new(nodes, until, seed);
    cfg.limits.max_events = u64::MAX;
    cfg.limits.max_in_flight = usize::MAX;
    cfg.clocks = ClockConfig::exact();
    cfg.network = NetworkConfig {
        kind: None,
        default: LinkParams {
            latency: Dist {
                shape: Shape::Exponential { mean: MEAN_NS },
                shift: NANOS_PER_MILLI,
                min: None,
                max: None,
            },
            ..LinkParams::default()
        },
        links: Vec::new(),
    };
    cfg
}

/// Runs PHOLD through the engine.
pub fn run_engine(nodes: usize, events_per_node: u32, until: Time, seed: u64) -> PholdResult {
    let cfg = phold_config(nodes, until, seed);
    let setup = sim::Setup {
        params: vec![PholdParams { events_per_node }; nodes],
        ..sim::Setup::defaults(nodes)
    };
    let watch = crate::wall::Stopwatch::start();
    let report = sim::Sim::<Phold>::new(cfg, setup, sim::Outputs::default())
        .run()
        .expect("PHOLD writes no output");
    let wall = watch.elapsed().as_secs_f64();
    PholdResult {
        events: report.events,
        wall_ms: (wall * 1000.0) as u64,
        events_per_sec: report.events as f64 / wall.max(1e-9),
        checksum: report.trace_hash,
    }
}

/// The same model as a minimal hand-written loop: one heap, one ChaCha stream.
pub fn run_baseline(nodes: usize, events_per_node: u32, until: Time, seed: u64) -> PholdResult {
    let watch = crate::wall::Stopwatch::start();
    let mut rng = Rng::stream(seed, "baseline");
    let mut heap: BinaryHeap<Reverse<(Time, u64, u32)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let delay = |rng: &mut Rng| NANOS_PER_MILLI + libm::round(rng.exp(MEAN_NS)) as u64;
    for lp in 0..nodes as u32 {
        for _ in 0..events_per_node {
            let t = delay(&mut rng);
            heap.push(Reverse((t, seq, lp)));
            seq += 1;
        }
    }
    let mut events = 0u64;
    let mut checksum = 0u64;
    while let Some(Reverse((t, _, lp))) = heap.pop() {
        if t > until {
            break;
        }
        events += 1;
        checksum = checksum.rotate_left(5) ^ t ^ u64::from(lp);
        let to = rng.below(nodes as u64) as u32;
        heap.push(Reverse((t + delay(&mut rng), seq, to)));
        seq += 1;
    }
    let wall = watch.elapsed().as_secs_f64();
    PholdResult {
        events,
        wall_ms: (wall * 1000.0) as u64,
        events_per_sec: events as f64 / wall.max(1e-9),
        checksum: format!("{checksum:016x}"),
    }
}

/// `dsim bench phold`'s arguments.
pub struct PholdArgs {
    pub nodes: usize,
    pub events_per_node: u32,
    pub until: String,
    pub seed: u64,
    pub baseline: bool,
    pub repeat: u32,
}

/// Runs `dsim bench phold`: the JSON object, and the same for people.
pub fn phold(a: &PholdArgs) -> Result<(serde_json::Value, String), InputError> {
    use std::fmt::Write;
    let (nodes, epn, seed, repeat) = (a.nodes, a.events_per_node, a.seed, a.repeat);
    let until = parse_duration(&a.until).map_err(|e| InputError::Usage(format!("--until: {e}")))?;
    if repeat == 0 || repeat > 100 {
        return Err(InputError::Usage("--repeat must be between 1 and 100".into()));
    }
    if nodes == 0 || nodes > 1_000_000 {
        return Err(InputError::Usage("--nodes must be between 1 and 1000000".into()));
    }
    if epn == 0 || u64::from(epn) * nodes as u64 > 100_000_000 {
        return Err(InputError::Usage(
            "--events-per-node must be at least 1, and nodes × events-per-node at most 10^8".into(),
        ));
    }
    let mut engines = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..repeat {
        engines.push(run_engine(nodes, epn, until, seed));
        if a.baseline {
            bases.push(run_baseline(nodes, epn, until, seed));
        }
    }
    let rss = crate::wall::peak_rss_mib();
    let median = |mut v: Vec<PholdResult>| -> Option<PholdResult> {
        v.sort_by(|a, b| a.events_per_sec.total_cmp(&b.events_per_sec));
        let n = v.len();
        (n > 0).then(|| v.swap_remove(n / 2))
    };
    let engine = median(engines).expect("at least one run");
    let base = median(bases);
    let ratio = base.as_ref().map(|b| engine.events_per_sec / b.events_per_sec);
    let mut v = serde_json::to_value(&engine).expect("serializes");
    v["nodes"] = nodes.into();
    v["events_per_node"] = epn.into();
    v["until_ns"] = until.into();
    v["peak_rss_mib"] = serde_json::json!(rss);
    if let (Some(b), Some(r)) = (&base, ratio) {
        v["baseline_events"] = b.events.into();
        v["baseline_events_per_sec"] = serde_json::json!(b.events_per_sec);
        v["ratio"] = serde_json::json!(r);
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "PHOLD N={nodes} E={epn} until {} (seed {seed})",
        format_duration(until)
    );
    let _ = writeln!(
        t,
        "  engine    {} events in {} ms = {:.2} M events/s, checksum {}",
        group(engine.events),
        engine.wall_ms,
        engine.events_per_sec / 1e6,
        engine.checksum
    );
    if let (Some(b), Some(r)) = (&base, ratio) {
        let _ = writeln!(
            t,
            "  baseline  {} events in {} ms = {:.2} M events/s (hand-written heap + ChaCha loop)",
            group(b.events),
            b.wall_ms,
            b.events_per_sec / 1e6
        );
        let _ = writeln!(t, "  ratio     {r:.2} of the baseline's speed");
    }
    if let Some(m) = rss {
        let _ = writeln!(t, "  memory    peak RSS {m:.0} MiB");
    }
    Ok((v, t))
}

#[cfg(test)]
mod tests {
    #[test]
    fn event_sizes() {
        eprintln!(
            "phold event {} bytes, raft {} bytes",
            sim::engine::event_size::<super::Phold>(),
            sim::engine::event_size::<protocols::raft::Raft>()
        );
    }
}
