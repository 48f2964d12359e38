//! The scenario file as written (TOML, parsed with serde + the `toml` crate, which keeps spans).
//! Every table rejects unknown keys. Values that need more than a type (durations, rates,
//! probabilities, distributions) have their own deserializers so their errors point at them.
//! `docs/scenario-format.md` documents every key; keep the two in step.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use sim::dist::{Dist, Shape};
pub use sim::time::Dur;
use sim::time::{parse_duration, parse_rate_interval, parse_signed_duration, Time};
use std::collections::BTreeMap;
use std::fmt;
use toml::Spanned;

/// The first pass: only the protocol name, so the second pass can use its parameter type.
#[derive(Deserialize)]
pub struct Header {
    pub protocol: Option<Spanned<toml::Value>>,
}

/// The workload family's keys of `[workload]` and `[[ops]]` (a pass of its own: the engine's
/// keys of those tables are in [`WorkloadSpec`] and [`OpSpec`]; neither rejects the other's).
#[derive(Deserialize)]
pub struct FamilyFile<WS, OS> {
    pub workload: Option<WS>,
    pub ops: Option<Vec<OS>>,
}

/// The keys, as written, of the tables two passes share, for unknown-key errors.
#[derive(Deserialize)]
pub struct RawKeys {
    pub workload: Option<BTreeMap<Spanned<String>, de::IgnoredAny>>,
    pub ops: Option<Vec<BTreeMap<Spanned<String>, de::IgnoredAny>>>,
    pub checks: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

/// The field names a derived `Deserialize` struct accepts (asked of serde itself, so they
/// cannot drift from the struct).
pub fn fields_of<T: de::DeserializeOwned>() -> &'static [&'static str] {
    struct Probe(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("field probe")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<M: fmt::Display>(_msg: M) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Probe {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _v: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut probe = Probe(None);
    let _ = T::deserialize(&mut probe);
    probe.0.unwrap_or(&[])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile<PP> {
    pub name: Option<String>,
    pub description: Option<String>,
    pub protocol: Spanned<String>,
    pub nodes: Option<Spanned<i64>>,
    pub duration: Option<Spanned<Dur>>,
    pub seed: Option<Spanned<i64>>,
    pub quiet_from: Option<Spanned<Dur>>,
    pub bugs: Option<Vec<Spanned<String>>>,
    pub params: Option<PP>,
    /// Node groups, in order: `[[groups]] name = "master", nodes = 1`.
    pub groups: Option<Vec<Spanned<GroupSpec<PP>>>>,
    /// Per-node parameter overrides: `[node.n3]`.
    pub node: Option<BTreeMap<Spanned<String>, Spanned<PP>>>,
    pub limits: Option<LimitsSpec>,
    pub network: Option<NetworkSpec>,
    pub clocks: Option<ClocksSpec>,
    pub storage: Option<StorageSpec>,
    pub workload: Option<WorkloadSpec>,
    pub ops: Option<Vec<Spanned<OpSpec>>>,
    pub faults: Option<Vec<Spanned<FaultSpec>>>,
    pub nemesis: Option<Spanned<NemesisSpec>>,
    pub checks: Option<ChecksSpec>,
    /// What `dsim fuzz --swarm` may vary per seed (a plain run ignores it).
    pub swarm: Option<SwarmSpec>,
    /// `[buggify] sites = ["short-append"], chance = 0.25`.
    pub buggify: Option<Spanned<BuggifySpec>>,
    /// `[[metrics]] name = "downtime", from = "crash", until = "leader-known"`.
    pub metrics: Option<Vec<Spanned<MetricSpec>>>,
    /// What `dsim sweep` varies (a plain run ignores it).
    pub sweep: Option<Spanned<SweepSpec>>,
}

/// `[[metrics]]`: the time from a named fault (or the start) until a condition first holds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub name: Spanned<String>,
    pub from: Option<Spanned<String>>,
    pub until: Spanned<String>,
}

/// `[sweep] trials = 1000, set = { "params.x" = [...] }, metrics = [...]`, `[[sweep.plot]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub trials: Option<Spanned<i64>>,
    /// Trials per value, where some values need fewer or more: `{ "[150ms, 150ms]" = 100 }`
    /// is not TOML-friendly, so this is a list of `{ value = …, trials = N }`.
    pub trials_for: Option<Vec<Spanned<TrialsFor>>>,
    /// Key path → values, in the file's order (the first key is the outermost loop).
    pub set: Option<Spanned<toml::Table>>,
    pub metrics: Option<Vec<Spanned<String>>>,
    pub plot: Option<Vec<Spanned<PlotSpec>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialsFor {
    pub value: toml::Value,
    pub trials: Spanned<i64>,
}

/// `[[sweep.plot]] title = "…", values = [...]`: one CDF plot per metric over these values.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    pub name: Spanned<String>,
    pub title: Option<String>,
    pub values: Option<Vec<toml::Value>>,
    /// Legend labels, one per entry of `values` (default: the values themselves).
    pub labels: Option<Spanned<Vec<String>>>,
}

/// `[buggify] sites = [...], chance = 0.25`: the protocol's buggify sites to enable.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuggifySpec {
    pub sites: Spanned<Vec<Spanned<String>>>,
    pub chance: Option<Spanned<f64>>,
}

/// `[swarm] keep = 0.5, rate_scale = [0.25, 4.0], choose = { "params.x" = [1, 2] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmSpec {
    pub keep: Option<Spanned<f64>>,
    pub rate_scale: Option<Spanned<[f64; 2]>>,
    pub choose: Option<BTreeMap<Spanned<String>, Spanned<Vec<toml::Value>>>>,
}

/// `[[groups]] name = "brokers", nodes = 3, params = { … }, boot_at = "5s"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec<PP> {
    pub name: Spanned<String>,
    pub nodes: Spanned<i64>,
    /// Parameters of the group's nodes, merged over `[params]` key by key.
    pub params: Option<PP>,
    /// When the group's nodes start (default 0): later, they join a running cluster.
    pub boot_at: Option<Spanned<Dur>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// End the run once every `[[metrics]]` span is measured.
    pub stop_when_measured: Option<Spanned<bool>>,
    pub max_events: Option<Spanned<i64>>,
    pub max_in_flight: Option<Spanned<i64>>,
    pub max_pause_buffer: Option<Spanned<i64>>,
    pub max_history_ops: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub kind: Option<sim::LinkKind>,
    pub latency: Option<DistSpec>,
    pub drop: Option<Prob>,
    pub duplicate: Option<Prob>,
    pub reorder: Option<Prob>,
    pub reorder_delay: Option<Dur>,
    /// Per-link overrides: `[[network.links]] from = "n1", to = "n2", latency = "20ms"`.
    pub links: Option<Vec<Spanned<LinkSpec>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    /// Also apply to the reverse direction.
    pub both_ways: Option<bool>,
    pub latency: Option<DistSpec>,
    pub drop: Option<Prob>,
    pub duplicate: Option<Prob>,
    pub reorder: Option<Prob>,
    pub reorder_delay: Option<Dur>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClocksSpec {
    pub max_offset: Option<Dur>,
    pub max_drift_ppm: Option<Spanned<i64>>,
    /// The drift bound protocols are told, if different from the real one (to model a wrong
    /// assumption).
    pub assumed_drift_ppm: Option<Spanned<i64>>,
    /// `"uniform"` (default) or `"extremes"`: every node drifts by exactly ±max_drift_ppm.
    pub drift: Option<Spanned<String>>,
    /// `[clocks.node.n1] offset = "0ms", drift_ppm = 200`.
    pub node: Option<BTreeMap<Spanned<String>, ClockNodeSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockNodeSpec {
    pub offset: Option<Dur>,
    pub drift_ppm: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageSpec {
    pub sync_latency: Option<DistSpec>,
}

/// The engine's keys of `[workload]` (the family's are its own type; see [`FamilyFile`]).
#[derive(Deserialize, Default)]
pub struct WorkloadSpec {
    pub clients: Option<Spanned<i64>>,
    pub rate: Option<Spanned<Rate>>,
    pub count: Option<Spanned<i64>>,
    pub keys: Option<Spanned<i64>>,
    /// Retire a key after this many operations (a fresh key takes its place).
    pub key_ops: Option<Spanned<i64>>,
    /// The last this-many workload clients only read.
    pub readers: Option<Spanned<i64>>,
    pub timeout: Option<Spanned<Dur>>,
    pub retries: Option<Spanned<i64>>,
    pub backoff: Option<Dur>,
    pub start: Option<Spanned<Dur>>,
    pub stop: Option<Spanned<Dur>>,
    /// The node group clients address (default: the protocol's entry group, else every node).
    pub group: Option<Spanned<String>>,
    /// `"closed"` (default: one operation in flight per client) or `"open"` (arrivals at
    /// `rate` whatever the completions, up to `in_flight` per client).
    pub mode: Option<Spanned<String>>,
    /// Open loop: operations in flight per client at most (default 16).
    pub in_flight: Option<Spanned<i64>>,
}

/// The engine's keys of an `[[ops]]` entry: `[[ops]] at = "1s", client = "c1", …` (the rest,
/// e.g. `op = "write", key = "k0", value = 7`, are the workload family's).
#[derive(Deserialize)]
pub struct OpSpec {
    pub at: Spanned<Dur>,
    pub client: Spanned<String>,
    /// Issue the op this many times (default 1), `every` apart.
    pub repeat: Option<Spanned<i64>>,
    pub every: Option<Dur>,
    /// The last op on its keys: once it is invoked they retire (schedules write it where the
    /// random workload's `key_ops` retired a key).
    pub retire: Option<Spanned<bool>>,
}

/// One scheduled fault: `at` plus exactly one action key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// A duration, or `{ dist = "uniform", min = "…", max = "…" }`: a time drawn per seed.
    pub at: Spanned<toml::Value>,
    /// A name `[[metrics]]` measure from.
    pub name: Option<Spanned<String>>,
    /// `enabled = false` leaves the fault out (a sweep can switch it: `faults.NAME.enabled`).
    pub enabled: Option<bool>,
    pub crash: Option<Spanned<String>>,
    pub restart_after: Option<Dur>,
    pub restart: Option<Spanned<String>>,
    pub pause: Option<Spanned<String>>,
    pub resume_after: Option<Dur>,
    pub resume: Option<Spanned<String>>,
    /// `[["n1", "n2"], ["n3", "n4", "n5"]]` or `"random-halves"`.
    pub partition: Option<Spanned<PartitionValue>>,
    /// Cut one node (a name, `random` or a role) off from everyone.
    pub isolate: Option<Spanned<String>>,
    pub heal_after: Option<Dur>,
    /// One-way: `["n1", "n2"]` drops messages from n1 to n2.
    pub cut: Option<Spanned<Vec<Spanned<String>>>>,
    pub heal: Option<Spanned<bool>>,
    pub clock_jump: Option<Spanned<String>>,
    pub by: Option<Spanned<SignedDur>>,
    pub slow_disk: Option<Spanned<String>>,
    pub factor: Option<Spanned<i64>>,
    #[serde(rename = "for")]
    pub for_: Option<Dur>,
    pub lose_unsynced: Option<Spanned<String>>,
    pub within: Option<Dur>,
}

pub enum PartitionValue {
    Groups(Vec<Vec<Spanned<String>>>),
    Named(String),
}

impl<'de> Deserialize<'de> for PartitionValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PartitionValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("groups of nodes, e.g. [[\"n1\", \"n2\"], [\"n3\"]], or \"random-halves\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<PartitionValue, E> {
                Ok(PartitionValue::Named(s.to_string()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<PartitionValue, A::Error> {
                let mut groups = Vec::new();
                while let Some(g) = seq.next_element::<Vec<Spanned<String>>>()? {
                    groups.push(g);
                }
                Ok(PartitionValue::Groups(groups))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NemesisSpec {
    pub crash: Option<Spanned<Rate>>,
    pub pause: Option<Spanned<Rate>>,
    pub partition: Option<Spanned<Rate>>,
    pub cut: Option<Spanned<Rate>>,
    pub clock_jump: Option<Spanned<Rate>>,
    pub disk: Option<Spanned<Rate>>,
    pub client_crash: Option<Spanned<Rate>>,
    pub client_pause: Option<Spanned<Rate>>,
    /// Node faults strike only this group.
    pub group: Option<Spanned<String>>,
    pub quiet_from: Option<Spanned<Dur>>,
    /// `["1s", "5s"]`: how long each fault lasts before it heals.
    pub fault_duration: Option<Spanned<[Dur; 2]>>,
    pub max_clock_jump: Option<Spanned<Dur>>,
    pub slow_disk_factor: Option<Spanned<i64>>,
    /// `{ role = "leader", chance = 0.3, after = ["0ms", "20ms"] }`: crash nodes soon after they
    /// take on a role.
    pub crash_on_role: Option<Spanned<RoleCrashSpec>>,
    /// `{ role = "leader", chance = 0.5 }`: aim random node faults and partitions at a role.
    pub aim: Option<Spanned<AimSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AimSpec {
    pub role: Spanned<String>,
    pub chance: Prob,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCrashSpec {
    pub role: Spanned<String>,
    pub chance: Prob,
    pub after: Spanned<[Dur; 2]>,
    pub group: Option<Spanned<String>>,
}

/// The engine's keys of `[checks]`; every other key switches a history check of the workload
/// family on or off (`linearizable = false`).
#[derive(Deserialize, Default)]
pub struct ChecksSpec {
    /// Search steps the linearizability checker may spend (verdict `unknown` past it).
    pub history_budget: Option<Spanned<i64>>,
    pub eventually_within: Option<Dur>,
    pub within: Option<BTreeMap<Spanned<String>, Dur>>,
    pub require: Option<Vec<Spanned<String>>>,
    pub stop_on_violation: Option<bool>,
}

// ----- values with their own deserializers -----

/// A duration that may be negative: `"-2s"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedDur(pub i64);

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SignedDur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string, possibly negative, e.g. \"-2s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SignedDur, E> {
                parse_signed_duration(s).map(SignedDur).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A rate such as `"200/s"` or `"1/10s"`, stored as the mean interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate(pub Time);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate string, e.g. \"200/s\" or \"1/10s\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Rate, E> {
                parse_rate_interval(s).map(Rate).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A probability in `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prob(pub f64);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Prob;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a probability between 0 and 1, e.g. 0.01")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Prob, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Prob(v))
                } else {
                    Err(E::custom(format!(
                        "{v} is not a probability: use a number between 0 and 1"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Prob, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// A distribution: `"2ms"` (constant) or `{ dist = "uniform", min = "1ms", max = "5ms" }`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DistSpec(pub Dist);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DistTable {
    dist: String,
    value: Option<Dur>,
    min: Option<Dur>,
    max: Option<Dur>,
    mean: Option<Dur>,
    sd: Option<Dur>,
    median: Option<Dur>,
    sigma: Option<f64>,
    shift: Option<Dur>,
}

impl DistTable {
    fn build(self) -> Result<Dist, String> {
        let need = |v: Option<Dur>, what: &str| -> Result<Time, String> {
            v.map(|d| d.0)
                .ok_or_else(|| format!("dist = \"{}\" needs `{what}`", self.dist))
        };
        let allow = |present: &[(&str, bool)], allowed: &[&str]| -> Result<(), String> {
            for (name, is) in present {
                if *is && !allowed.contains(name) {
                    return Err(format!(
                        "`{name}` does not apply to dist = \"{}\" (it takes {})",
                        self.dist,
                        allowed.join(", ")
                    ));
                }
            }
            Ok(())
        };
        let present = [
            ("value", self.value.is_some()),
            ("mean", self.mean.is_some()),
            ("sd", self.sd.is_some()),
            ("median", self.median.is_some()),
            ("sigma", self.sigma.is_some()),
        ];
        let shape = match self.dist.as_str() {
            "constant" => {
                allow(&present, &["value"])?;
                Shape::Constant {
                    value: need(self.value, "value")?,
                }
            }
            "uniform" => {
                allow(&present, &[])?;
                let (lo, hi) = (need(self.min, "min")?, need(self.max, "max")?);
                if lo > hi {
                    return Err("uniform: `min` is greater than `max`".into());
                }
                Shape::Uniform { min: lo, max: hi }
            }
            "normal" => {
                allow(&present, &["mean", "sd"])?;
                Shape::Normal {
                    mean: need(self.mean, "mean")? as f64,
                    sd: need(self.sd, "sd")? as f64,
                }
            }
            "exponential" => {
                allow(&present, &["mean"])?;
                let mean = need(self.mean, "mean")?;
                if mean == 0 {
                    return Err("exponential: `mean` must be greater than 0".into());
                }
                Shape::Exponential { mean: mean as f64 }
            }
            "lognormal" => {
                allow(&present, &["median", "sigma"])?;
                let sigma = self
                    .sigma
                    .ok_or_else(|| "dist = \"lognormal\" needs `sigma` (e.g. 0.5)".to_string())?;
                if !(sigma.is_finite() && (0.0..=10.0).contains(&sigma)) {
                    return Err("lognormal: `sigma` must be between 0 and 10".into());
                }
                Shape::LogNormal {
                    median: need(self.median, "median")? as f64,
                    sigma,
                }
            }
            other => {
                return Err(format!(
                    "unknown distribution `{other}`; use constant, uniform, normal, exponential or lognormal"
                ))
            }
        };
        let (min, max) = match shape {
            // For uniform, min/max are its range (and so also its clamps).
            Shape::Uniform { .. } => (None, None),
            _ => (self.min.map(|d| d.0), self.max.map(|d| d.0)),
        };
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                return Err("`min` is greater than `max`".into());
            }
        }
        Ok(Dist {
            shape,
            shift: self.shift.map(|d| d.0).unwrap_or(0),
            min,
            max,
        })
    }
}

impl<'de> Deserialize<'de> for DistSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DistSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration (\"2ms\") or a distribution table, e.g. { dist = \"uniform\", min = \"1ms\", max = \"5ms\" }",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<DistSpec, E> {
                parse_duration(s)
                    .map(|v| DistSpec(Dist::constant(v)))
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DistSpec, A::Error> {
                let t = DistTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                t.build().map(DistSpec).map_err(de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}
