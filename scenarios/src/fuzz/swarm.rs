//! `dsim fuzz --swarm`: swarm testing (Groce et al., ISSTA 2012; FoundationDB's and TigerBeetle's
//! practice). Each seed also draws, from its own stream `swarm`, a variant of the scenario: which
//! fault kinds are on (each nemesis kind and each kind of network misbehaviour kept with
//! probability `keep`), the rate of each kept kind (scaled by a factor drawn log-uniformly from
//! `rate_scale`), and a value for each key the `[swarm]` table lists under `choose`. A run where
//! only two fault kinds strike, at four times the rate, reaches states that every kind at once
//! never does (the kinds get in each other's way: a crash ends the partition's story).
//!
//! ```toml
//! [swarm]
//! keep = 0.5                                # default 0.5
//! rate_scale = [0.25, 4.0]                  # default [0.25, 4.0]
//! choose = { nodes = [3, 5], "params.heartbeat" = ["20ms", "50ms"] }
//! ```
//!
//! The variant is an ordinary scenario: a failure is written as that text, seed and bugs pinned,
//! with the draws listed in its header, so `dsim run` replays it without `--swarm`.

use crate::error::InputError;
use sim::rng::{Draw, Rng};
use sim::time::{format_duration, parse_rate_interval};

/// The nemesis keys that are rates of a fault kind.
const RATE_KINDS: [&str; 8] = [
    "crash",
    "pause",
    "partition",
    "cut",
    "clock_jump",
    "disk",
    "client_crash",
    "client_pause",
];
/// The network's misbehaviours (probabilities), each a kind that swarm may switch off or scale.
const NETWORK_KINDS: [&str; 3] = ["drop", "duplicate", "reorder"];

/// A scenario ready to draw variants from.
pub struct Swarm {
    base: toml::Table,
    /// The protocol's roles, for crashes aimed at a role.
    roles: Vec<&'static str>,
    /// The protocol's buggify sites.
    sites: Vec<&'static str>,
    keep: f64,
    scale: (f64, f64),
    /// `(dotted path, choices)`, in path order.
    choose: Vec<(String, Vec<toml::Value>)>,
}

/// One seed's variant.
pub struct Variant {
    /// The scenario text, seed and bugs pinned, `[swarm]` removed.
    pub text: String,
    /// What was drawn, one line per setting (`nemesis.crash = "1/830ms" (x2.41)`, `cut off`).
    pub drawn: Vec<String>,
}

fn usage(path: &str, what: String) -> InputError {
    InputError::Usage(format!("{path}: [swarm]: {what}"))
}

impl Swarm {
    /// Reads the `[swarm]` table of `text` (the loader has checked its shape) and checks that
    /// every listed choice makes a scenario that loads.
    pub fn new(path: &str, text: &str) -> Result<Swarm, InputError> {
        let mut base: toml::Table =
            toml::from_str(text).map_err(|e| usage(path, format!("the file does not parse: {e}")))?;
        let spec = match base.remove("swarm") {
            Some(toml::Value::Table(t)) => t,
            _ => toml::Table::new(),
        };
        let num = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        let keep = spec.get("keep").and_then(num).unwrap_or(0.5);
        let scale = match spec.get("rate_scale").and_then(|v| v.as_array()) {
            Some(a) if a.len() == 2 => (num(&a[0]).unwrap_or(0.25), num(&a[1]).unwrap_or(4.0)),
            _ => (0.25, 4.0),
        };
        let mut choose: Vec<(String, Vec<toml::Value>)> = match spec.get("choose").and_then(|v| v.as_table())
        {
            Some(t) => t
                .iter()
                .map(|(k, v)| (k.clone(), v.as_array().cloned().unwrap_or_default()))
                .collect(),
            None => Vec::new(),
        };
        choose.sort_by(|a, b| a.0.cmp(&b.0));
        let protocol = base.get("protocol").and_then(|p| p.as_str()).unwrap_or("");
        let info = protocols::catalog().into_iter().find(|p| p.name == protocol);
        let roles = info.as_ref().map(|p| p.roles.clone()).unwrap_or_default();
        let sites = info
            .map(|p| p.buggify.iter().map(|b| b.name).collect())
            .unwrap_or_default();
        let swarm = Swarm {
            base,
            roles,
            sites,
            keep,
            scale,
            choose,
        };
        // Every choice, alone, must load: a bad value is reported now, not as a failing seed.
        for (key, values) in &swarm.choose {
            for v in values {
                let mut t = swarm.base.clone();
                crate::keypath::set(&mut t, key, v.clone())
                    .map_err(|e| usage(path, format!("choose `{key}`: {e}")))?;
                let text = toml::to_string(&t).map_err(|e| usage(path, e.to_string()))?;
                crate::load::load_str(path, &text).map_err(|e| {
                    usage(
                        path,
                        format!(
                            "choose `{key}` = {v}: {}",
                            crate::keypath::strip_location(&e.to_string())
                        ),
                    )
                })?;
            }
        }
        Ok(swarm)
    }

    /// The variant of `seed`, with `bugs` pinned.
    pub fn draw(&self, seed: u64, bugs: &[String]) -> Variant {
        let mut rng = Rng::stream(seed, "swarm");
        let mut t = self.base.clone();
        let mut drawn = Vec::new();
        self.draw_nemesis(&mut t, &mut rng, &mut drawn);
        self.draw_network(&mut t, &mut rng, &mut drawn);
        self.draw_clocks(&mut t, &mut rng, &mut drawn);
        for (key, values) in &self.choose {
            if values.is_empty() {
                continue;
            }
            let v = values[rng.below(values.len() as u64) as usize].clone();
            drawn.push(format!("{key} = {v}"));
            let _ = crate::keypath::set(&mut t, key, v);
        }
        // Last, so that adding them changed no earlier draw (choosing crash_on_role's role
        // no longer draws: it is the first role, so variants with it changed once).
        self.draw_buggify(&mut t, &mut rng, &mut drawn);
        self.draw_aim(&mut t, &mut rng, &mut drawn);
        t.insert("seed".into(), toml::Value::Integer(seed as i64));
        t.insert(
            "bugs".into(),
            toml::Value::Array(bugs.iter().map(|b| toml::Value::String(b.clone())).collect()),
        );
        Variant {
            text: toml::to_string(&t).unwrap_or_default(),
            drawn,
        }
    }

    /// A log-uniform factor from `rate_scale`.
    fn factor(&self, rng: &mut Rng) -> f64 {
        // libm, not the platform's: the same bits everywhere.
        let (lo, hi) = (libm::log(self.scale.0), libm::log(self.scale.1));
        libm::exp(lo + (hi - lo) * rng.unit_f64())
    }

    fn draw_nemesis(&self, t: &mut toml::Table, rng: &mut Rng, drawn: &mut Vec<String>) {
        let Some(toml::Value::Table(nem)) = t.get_mut("nemesis") else {
            return;
        };
        // Where crashes are on, they may also strike right after a node takes on a role — a
        // new leader before it replicates, a new primary before it syncs — which random crash
        // times almost never do.
        let aimed = nem.contains_key("crash") && !nem.contains_key("crash_on_role") && !self.roles.is_empty();
        if aimed && rng.chance(self.keep) {
            // The protocol's first role is the one worth striking (`Protocol::ROLES`).
            let role = self.roles[0];
            let within = format!("{}ms", 1 + rng.below(20));
            let mut spec = toml::Table::new();
            spec.insert("role".into(), role.into());
            spec.insert("chance".into(), toml::Value::Float(0.5));
            spec.insert(
                "after".into(),
                toml::Value::Array(vec!["0ms".into(), within.clone().into()]),
            );
            drawn.push(format!("nemesis.crash_on_role = {role} within {within} (added)"));
            nem.insert("crash_on_role".into(), toml::Value::Table(spec));
        }
        let mut kinds: Vec<&str> = RATE_KINDS
            .iter()
            .copied()
            .filter(|k| nem.contains_key(*k))
            .collect();
        if nem.contains_key("crash_on_role") {
            kinds.push("crash_on_role");
        }
        let kept: Vec<bool> = kinds.iter().map(|_| rng.chance(self.keep)).collect();
        // At least one kind with a rate stays on: a seed without faults tests little, and a
        // role-aimed crash alone may never strike.
        let rated = kinds.len() - usize::from(nem.contains_key("crash_on_role"));
        let forced = if rated > 0 {
            (!kept[..rated].contains(&true)).then(|| rng.below(rated as u64) as usize)
        } else {
            // A nemesis of `crash_on_role` alone keeps it (else the variant has no nemesis).
            (!kinds.is_empty() && !kept.contains(&true)).then(|| kinds.len() - 1)
        };
        for (i, kind) in kinds.iter().enumerate() {
            if !(kept[i] || forced == Some(i)) {
                nem.remove(*kind);
                drawn.push(format!("nemesis.{kind} off"));
                continue;
            }
            let f = self.factor(rng);
            let Some(toml::Value::String(rate)) = nem.get(*kind) else {
                drawn.push(format!("nemesis.{kind} on"));
                continue;
            };
            let Ok(mean) = parse_rate_interval(rate) else {
                continue;
            };
            // Whole milliseconds (or microseconds for sub-ms rates) keep the file readable.
            let unit = if mean >= 10_000_000 { 1_000_000.0 } else { 1_000.0 };
            let scaled = ((libm::round(mean as f64 / f / unit) * unit) as u64).max(1);
            let new = format!("1/{}", format_duration(scaled));
            drawn.push(format!("nemesis.{kind} = \"{new}\" (x{f:.2})"));
            nem.insert((*kind).into(), toml::Value::String(new));
        }
    }

    fn draw_network(&self, t: &mut toml::Table, rng: &mut Rng, drawn: &mut Vec<String>) {
        let Some(toml::Value::Table(net)) = t.get_mut("network") else {
            return;
        };
        for kind in NETWORK_KINDS {
            let Some(p) = net
                .get(kind)
                .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
            else {
                continue;
            };
            if p <= 0.0 {
                continue;
            }
            if !rng.chance(self.keep) {
                net.insert(kind.into(), toml::Value::Float(0.0));
                drawn.push(format!("network.{kind} off"));
                continue;
            }
            let f = self.factor(rng);
            let q = (p * f).min(0.5);
            // Four significant digits keep the file readable.
            let q = libm::round(q * 1e4) / 1e4;
            drawn.push(format!("network.{kind} = {q} (x{f:.2})"));
            net.insert(kind.into(), toml::Value::Float(q));
        }
    }
}

impl Swarm {
    /// Clock drift is a fault too: its bound is scaled like a rate (at most 50%), and every
    /// node may be put at the bound's extremes.
    fn draw_clocks(&self, t: &mut toml::Table, rng: &mut Rng, drawn: &mut Vec<String>) {
        let Some(toml::Value::Table(clocks)) = t.get_mut("clocks") else {
            return;
        };
        let Some(ppm) = clocks.get("max_drift_ppm").and_then(|v| v.as_integer()) else {
            return;
        };
        if ppm <= 0 {
            return;
        }
        let f = self.factor(rng);
        let scaled = (libm::round(ppm as f64 * f) as i64).clamp(1, 500_000);
        drawn.push(format!("clocks.max_drift_ppm = {scaled} (x{f:.2})"));
        clocks.insert("max_drift_ppm".into(), toml::Value::Integer(scaled));
        if clocks.get("drift").and_then(|d| d.as_str()) != Some("extremes") && rng.chance(self.keep) {
            drawn.push("clocks.drift = \"extremes\"".into());
            clocks.insert("drift".into(), "extremes".into());
        }
    }
}

impl Swarm {
    /// Where the nemesis strikes nodes and the scenario does not aim it: with probability
    /// `keep`, half its faults are aimed at the holder of the protocol's first role (its leader
    /// or primary, by the convention of `Protocol::ROLES`).
    fn draw_aim(&self, t: &mut toml::Table, rng: &mut Rng, drawn: &mut Vec<String>) {
        let Some(toml::Value::Table(nem)) = t.get_mut("nemesis") else {
            return;
        };
        let strikes_nodes = ["crash", "pause", "partition", "clock_jump", "disk"]
            .iter()
            .any(|k| nem.contains_key(*k));
        let Some(role) = self.roles.first() else { return };
        if !strikes_nodes || nem.contains_key("aim") || self.roles.len() < 2 || !rng.chance(self.keep) {
            return;
        }
        let mut spec = toml::Table::new();
        spec.insert("role".into(), (*role).into());
        spec.insert("chance".into(), toml::Value::Float(0.5));
        drawn.push(format!("nemesis.aim = {role}, chance 0.5 (added)"));
        nem.insert("aim".into(), toml::Value::Table(spec));
    }

    /// Where the protocol has buggify sites and the scenario no `[buggify]` table: with
    /// probability `keep`, some sites on (each with probability 1/2, at least one), firing at
    /// the default 25% of calls or, half the time, at every call — a site that always fires
    /// is a regime (every append one entry long), one that fires now and then is an accident.
    fn draw_buggify(&self, t: &mut toml::Table, rng: &mut Rng, drawn: &mut Vec<String>) {
        if self.sites.is_empty() || t.contains_key("buggify") || !rng.chance(self.keep) {
            return;
        }
        let mut on: Vec<&str> = self.sites.iter().copied().filter(|_| rng.chance(0.5)).collect();
        if on.is_empty() {
            on.push(self.sites[rng.below(self.sites.len() as u64) as usize]);
        }
        let chance = if rng.chance(0.5) { 1.0 } else { 0.25 };
        drawn.push(format!("buggify = {on:?} at chance {chance} (added)"));
        let mut spec = toml::Table::new();
        spec.insert(
            "sites".into(),
            toml::Value::Array(on.iter().map(|s| toml::Value::String(s.to_string())).collect()),
        );
        spec.insert("chance".into(), toml::Value::Float(chance));
        t.insert("buggify".into(), toml::Value::Table(spec));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
protocol = "single"
duration = "2s"
[network]
drop = 0.01
[workload]
clients = 2
[nemesis]
crash = "1/1s"
pause = "1/2s"
disk = "1/3s"
[swarm]
choose = { "workload.clients" = [1, 3, 5] }
"#;

    #[test]
    fn a_seed_draws_the_same_variant_every_time_and_seeds_differ() {
        let s = Swarm::new("t.toml", TEXT).expect("valid");
        let a = s.draw(7, &[]);
        assert_eq!(a.text, s.draw(7, &[]).text);
        let texts: std::collections::BTreeSet<String> = (1..40).map(|seed| s.draw(seed, &[]).text).collect();
        assert!(texts.len() > 20, "only {} distinct variants", texts.len());
        // Every variant loads, keeps a fault kind and pins its seed.
        for seed in 1..40 {
            let v = s.draw(seed, &["ack-before-sync".into()]);
            let scn = crate::load::load_str("v.toml", &v.text).expect("a variant loads");
            assert_eq!(scn.config().seed, seed);
            assert_eq!(scn.config().bugs.names(), ["ack-before-sync"]);
            let t: toml::Table = toml::from_str(&v.text).expect("toml");
            let nem = t["nemesis"].as_table().expect("nemesis");
            assert!(
                RATE_KINDS.iter().any(|k| nem.contains_key(*k)),
                "seed {seed}: no fault kind left"
            );
            assert!(!t.contains_key("swarm"));
            assert!(!t.contains_key("buggify"), "single has no buggify sites");
            assert!(v.drawn.iter().any(|d| d.starts_with("workload.clients = ")));
        }
    }

    #[test]
    fn crashes_may_be_aimed_at_a_role_and_drift_is_scaled() {
        let text = r#"
protocol = "raft"
duration = "2s"
[clocks]
max_drift_ppm = 1000
[nemesis]
crash = "1/1s"
"#;
        let s = Swarm::new("r.toml", text).expect("valid");
        let (mut aimed, mut drifts) = (0, std::collections::BTreeSet::new());
        let (mut buggified, mut always, mut aims) = (0, 0, 0);
        for seed in 1..40 {
            let v = s.draw(seed, &[]);
            let scn = crate::load::load_str("v.toml", &v.text).expect("a variant loads");
            let t: toml::Table = toml::from_str(&v.text).expect("toml");
            if let Some(r) = t["nemesis"].get("crash_on_role") {
                assert_eq!(r["role"].as_str(), Some("leader"), "the first role");
                aimed += 1;
            }
            if let Some(a) = t["nemesis"].get("aim") {
                assert_eq!(a["role"].as_str(), Some("leader"));
                aims += 1;
            }
            drifts.insert(t["clocks"]["max_drift_ppm"].as_integer().expect("ppm"));
            if let Some(b) = t.get("buggify") {
                buggified += 1;
                always += usize::from(b["chance"].as_float() == Some(1.0));
                assert_eq!(
                    scn.config().buggify.as_ref().map(|b| b.sites.is_empty()),
                    Some(false)
                );
            }
            assert_eq!(scn.config().seed, seed);
        }
        assert!(
            (5..35).contains(&aimed),
            "{aimed} of 39 variants aimed crashes at a role"
        );
        assert!(
            (8..32).contains(&buggified) && always > 0 && always < buggified,
            "{buggified} of 39 variants buggified, {always} always"
        );
        assert!((8..32).contains(&aims), "{aims} of 39 variants aimed the nemesis");
        assert!(
            drifts.len() > 20 && drifts.iter().all(|d| (250..=4000).contains(d)),
            "{drifts:?}"
        );
    }

    #[test]
    fn a_nemesis_of_a_role_aimed_crash_alone_stays_on() {
        let text = r#"
protocol = "raft"
duration = "2s"
[nemesis]
crash_on_role = { role = "leader", chance = 0.5, after = ["0ms", "5ms"] }
"#;
        let s = Swarm::new("r.toml", text).expect("valid");
        for seed in 1..40 {
            let v = s.draw(seed, &[]);
            crate::load::load_str("v.toml", &v.text)
                .unwrap_or_else(|e| panic!("seed {seed}: the variant does not load: {e}"));
        }
    }

    #[test]
    fn a_choice_that_does_not_load_is_reported_before_any_run() {
        let bad = TEXT.replace("[1, 3, 5]", "[1, -3]");
        let e = Swarm::new("t.toml", &bad).err().expect("rejected").to_string();
        assert!(e.contains("choose `workload.clients` = -3"), "{e}");
    }
}
