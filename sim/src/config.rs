//! A run's configuration, already validated: the engine trusts it. The scenario crate builds it
//! from a file (and reports errors there, with file:line:col).

use crate::dist::Dist;
use crate::faults::FaultAction;
use crate::ids::{ClientId, Endpoint, Key, NodeId};
use crate::protocol::{BugSet, LinkKind};
use crate::time::{Time, NANOS_PER_MILLI, NANOS_PER_SEC};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct SimConfig {
    pub seed: u64,
    pub nodes: usize,
    /// The node groups (one group, `all`, unless the scenario declares `[[groups]]`).
    pub cluster: crate::cluster::Cluster,
    /// Simulated time limit: nothing after it runs.
    pub duration: Time,
    pub limits: Limits,
    pub network: NetworkConfig,
    pub clocks: ClockConfig,
    pub storage: StorageConfig,
    pub clients: ClientConfig,
    pub workload: Option<WorkloadConfig>,
    pub faults: Vec<ScheduledFault>,
    pub nemesis: Option<NemesisConfig>,
    /// From here on no faults: the nemesis stops, everything heals, eventually-checks run.
    pub quiet_from: Option<Time>,
    pub checks: ChecksConfig,
    pub bugs: BugSet,
    /// `[buggify]`: protocol behaviours (legal, but rare in practice) forced now and then.
    pub buggify: Option<BuggifyConfig>,
    /// `[[metrics]]`: spans the scenario measures (from a named fault until a condition holds).
    pub spans: Vec<SpanMetric>,
    /// `[limits] stop_when_measured`: end the run once every span is measured.
    pub stop_when_measured: bool,
}

/// A metric declared in a scenario (`[[metrics]]`), measured without writing Rust: the time
/// from `from` (a named `[[faults]]` entry firing, or the start of the run) until the condition
/// `until` (one of the protocol's conditions or eventually-checks) first holds.
#[derive(Clone, Debug, Serialize)]
pub struct SpanMetric {
    pub name: String,
    /// The name of a scheduled fault; `None`: the start of the run.
    pub from: Option<String>,
    pub until: String,
}

/// FoundationDB's BUGGIFY: a protocol marks places where it may legally behave in a rarely seen
/// way (send one entry instead of a batch, draw a timeout at its minimum); a run enables some
/// of these sites, and each call of an enabled site fires with probability `chance`, until the
/// quiet period. Off unless a scenario (or `dsim fuzz --swarm`) turns it on.
#[derive(Clone, Debug, Serialize)]
pub struct BuggifyConfig {
    /// The enabled sites, by name ([`crate::protocol::Protocol::buggify_sites`]).
    pub sites: Vec<String>,
    pub chance: f64,
}

impl SimConfig {
    /// A small default configuration (used by tests and benchmarks).
    pub fn new(nodes: usize, duration: Time, seed: u64) -> Self {
        SimConfig {
            seed,
            nodes,
            cluster: crate::cluster::Cluster::single(nodes),
            duration,
            limits: Limits::default(),
            network: NetworkConfig::default(),
            clocks: ClockConfig::default(),
            storage: StorageConfig::default(),
            clients: ClientConfig::default(),
            workload: None,
            faults: Vec::new(),
            nemesis: None,
            quiet_from: None,
            checks: ChecksConfig::default(),
            bugs: BugSet::default(),
            buggify: None,
            spans: Vec::new(),
            stop_when_measured: false,
        }
    }
}

/// Bounds on everything (architecture invariant 6). Hitting one is reported.
#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    pub max_events: u64,
    /// Messages in flight at once; more are dropped and counted.
    pub max_in_flight: usize,
    /// Messages buffered for one paused node; more are dropped and counted.
    pub max_pause_buffer: usize,
    /// Client operations recorded; the workload stops invoking past it.
    pub max_history_ops: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 50_000_000,
            max_in_flight: 1_000_000,
            max_pause_buffer: 10_000,
            max_history_ops: 5_000_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct LinkParams {
    pub latency: Dist,
    pub drop: f64,
    pub duplicate: f64,
    pub reorder: f64,
    /// A reordered message is held back by up to this much extra.
    pub reorder_delay: Time,
}

impl Default for LinkParams {
    fn default() -> Self {
        LinkParams {
            latency: Dist::uniform(NANOS_PER_MILLI, 3 * NANOS_PER_MILLI),
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: 10 * NANOS_PER_MILLI,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LinkOverride {
    pub from: Endpoint,
    pub to: Endpoint,
    pub params: LinkParams,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct NetworkConfig {
    /// `None`: the protocol's own choice.
    pub kind: Option<LinkKind>,
    pub default: LinkParams,
    pub links: Vec<LinkOverride>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClockConfig {
    /// Each node's monotonic clock starts at a uniform offset in `0..=max_offset`.
    pub max_offset: Time,
    /// Each node drifts by a uniform amount in `-max_drift_ppm..=max_drift_ppm`. This is also
    /// the bound protocols are told (`Ctx::drift_bound_ppm`), unless `assumed_drift_ppm` says
    /// otherwise.
    pub max_drift_ppm: u64,
    pub assumed_drift_ppm: Option<u64>,
    /// Draw each node's drift from the extremes `±max_drift_ppm` only (boundary values find
    /// timing bugs faster than a uniform spread).
    pub extreme_drift: bool,
    /// Per-node fixed settings that override the random draw.
    pub nodes: Vec<ClockOverride>,
}

impl Default for ClockConfig {
    fn default() -> Self {
        ClockConfig {
            max_offset: 10 * NANOS_PER_MILLI,
            max_drift_ppm: 100,
            assumed_drift_ppm: None,
            extreme_drift: false,
            nodes: Vec::new(),
        }
    }
}

impl ClockConfig {
    /// Perfect clocks: no offset, no drift (monotonic time equals true time).
    pub fn exact() -> Self {
        ClockConfig {
            max_offset: 0,
            max_drift_ppm: 0,
            ..ClockConfig::default()
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ClockOverride {
    pub node: NodeId,
    pub offset: Option<Time>,
    pub drift_ppm: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StorageConfig {
    pub sync_latency: Dist,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            sync_latency: Dist::uniform(NANOS_PER_MILLI / 2, 2 * NANOS_PER_MILLI),
        }
    }
}

/// How clients behave (DESIGN.md "Clients").
#[derive(Clone, Debug, Serialize)]
pub struct ClientConfig {
    pub clients: usize,
    /// How long a client waits for a reply before retrying elsewhere.
    pub timeout: Time,
    /// Retries after the first attempt before the client gives up (`info`).
    pub retries: u32,
    /// Pause before retrying after "no leader known" or "not applied".
    pub backoff: Time,
    /// The group clients address first, and rotate through on retries (None: every node).
    pub group: Option<String>,
    /// Open loop: at most this many operations in flight per client (None: closed loop, one).
    pub in_flight: Option<usize>,
}

impl ClientConfig {
    /// Operations a client can have in flight at once.
    pub fn lanes(&self) -> usize {
        self.in_flight.unwrap_or(1)
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            clients: 0,
            timeout: NANOS_PER_SEC / 2,
            retries: 3,
            backoff: 20 * NANOS_PER_MILLI,
            group: None,
            in_flight: None,
        }
    }
}

/// The random client workload.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadConfig {
    /// Clients `c1..=cN` run the random workload; clients beyond only run scheduled ops.
    pub clients: usize,
    /// The last this-many of those clients only read (the others use `mix`).
    pub readers: usize,
    /// Mean gap between operations of the whole workload (the inverse of the rate).
    pub interval: Time,
    /// Stop after this many operations in total.
    pub count: Option<u64>,
    /// Keys in use at once.
    pub keys: u32,
    /// After this many operations a key retires and a fresh one replaces it.
    pub key_ops: Option<u64>,
    pub start: Time,
    pub stop: Time,
}

/// An explicitly scheduled client operation: the family's `[[ops]]` entry `op`, issued by
/// `client` at `at` (queued until the client is idle).
#[derive(Clone, Debug, Serialize)]
pub struct ScheduledOp<S> {
    pub at: Time,
    pub client: ClientId,
    pub op: S,
    /// Keys that retire once this op is invoked (`retire = true`: no later op names them, so
    /// the checks may judge them as soon as their ops complete).
    pub retire: Vec<Key>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScheduledFault {
    pub at: Time,
    /// The fault strikes at a time drawn uniformly from `[at, at + spread]`, from the stream
    /// `faults/at/<draw>` (faults that share `draw` strike at the same drawn instant, in
    /// order); 0: exactly at `at`.
    pub spread: Time,
    pub draw: u32,
    /// A name `[[metrics]]` can measure from (`from = "NAME"`).
    pub name: Option<String>,
    pub action: FaultAction,
}

/// The random nemesis: each enabled fault kind strikes as a Poisson process with the given mean
/// interval, until the quiet period.
#[derive(Clone, Debug, Serialize)]
pub struct NemesisConfig {
    pub kinds: Vec<(crate::faults::FaultKind, Time)>,
    /// How long a fault lasts before it heals (uniform in the range).
    pub fault_duration: (Time, Time),
    /// Largest clock jump, either direction.
    pub max_clock_jump: Time,
    /// Slow-disk faults multiply sync latency by this.
    pub slow_disk_factor: u32,
    /// Crash a node soon after it takes on a role (e.g. a freshly elected leader), before its
    /// first decisions have spread: random faults almost never land in that window.
    pub role_crash: Option<RoleCrash>,
    /// Node faults strike only this group's nodes (random halves split only this group).
    pub group: Option<String>,
    /// Aim node faults at a role's holder now and then (Jepsen's `:primaries` targets).
    pub aim: Option<Aim>,
}

/// `[nemesis] aim`: with probability `chance`, a random node fault (crash, pause, clock jump,
/// disk fault) strikes a node that holds `role` now, and a random partition puts such a node
/// on the minority side. When no node holds the role, the fault is random as usual.
#[derive(Clone, Debug, Serialize)]
pub struct Aim {
    pub role: String,
    pub chance: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RoleCrash {
    pub role: String,
    /// Probability that a node taking on the role is crashed.
    pub chance: f64,
    /// The crash comes uniformly within this delay after the role change.
    pub after: (Time, Time),
    /// Only nodes of this group.
    pub group: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ChecksConfig {
    /// The workload family's history checks to run, by name (`[checks] NAME = true|false`).
    pub history: Vec<String>,
    /// Search steps a history checker may spend in the whole run.
    pub history_budget: u64,
    /// Default bound for eventually-checks.
    pub eventually_within: Time,
    /// Per-check bounds.
    pub within: Vec<(String, Time)>,
    /// `sometimes` checks that must be reached.
    pub require: Vec<String>,
    /// Stop the run at the first failed check (the verdict cannot change after it).
    pub stop_on_violation: bool,
}

impl ChecksConfig {
    /// The bound of an eventually-check: its own `within`, else the default.
    pub fn bound_of(&self, check: &str) -> Time {
        self.within
            .iter()
            .find(|(n, _)| n == check)
            .map(|(_, b)| *b)
            .unwrap_or(self.eventually_within)
    }
}

impl Default for ChecksConfig {
    fn default() -> Self {
        ChecksConfig {
            history: Vec::new(),
            history_budget: 20_000_000,
            eventually_within: 5 * NANOS_PER_SEC,
            within: Vec::new(),
            require: Vec::new(),
            stop_on_violation: true,
        }
    }
}
