//! From scenario text to a validated, runnable [`Scenario`]: a first pass reads the protocol
//! name; the second parses the whole file with that protocol's parameter type (so errors inside
//! `[params]` have positions too), then every value is checked against the others (node names
//! against `nodes`, fault times against `duration`, …).
//!
//! `[workload]` and `[[ops]]` hold keys of two owners: the engine's (clients, rate, timeouts;
//! `at`, `client`) and the workload family's (the op mix; `op`, `key`, `value`). Each owner's
//! keys are parsed in a pass of their own, straight from the text so type errors keep their
//! positions, and a third pass rejects keys neither owns. `[checks]` works the same way: its
//! engine keys, plus one switch per history check of the family (`linearizable = false`).

mod checks;
mod faults;
mod metrics;

pub use metrics::{plain_name, split_stat, STATS};
mod workload;

use crate::error::{InputError, Source};
use crate::runner::{Prepared, Scenario};
use crate::spec::*;
use protocols::ProtocolVisitor;
use serde::Deserialize;
use sim::cluster::Cluster;
use sim::config::*;
use sim::family::{Family, SpecError};
use sim::ids::{parse_endpoint, Endpoint};
use sim::time::{format_duration, Time, NANOS_PER_SEC};
use sim::{NodeId, Protocol, Setup};
use std::collections::BTreeMap;
use toml::Spanned;

/// Largest cluster a scenario may ask for.
pub const MAX_NODES: i64 = 512;
/// Most clients a scenario may ask for.
pub const MAX_CLIENTS: i64 = 1000;
/// Longest simulated duration (100 days).
pub const MAX_DURATION: Time = 100 * 24 * 3600 * NANOS_PER_SEC;

/// Reads and validates a scenario file.
pub fn load_file(path: &str) -> Result<Box<dyn Scenario>, InputError> {
    let bytes = std::fs::read(path).map_err(|e| InputError::Read {
        path: path.to_string(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".to_string(),
            std::io::ErrorKind::IsADirectory => "is a directory, not a scenario file".to_string(),
            _ => format!("cannot read: {e}"),
        },
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = String::from_utf8_lossy(&e.as_bytes()[..valid]).into_owned();
            let src = Source { path, text: &prefix };
            return Err(src.error(
                valid..valid,
                "not UTF-8 text: this does not look like a scenario file",
                Some("scenario files are TOML; see docs/scenario-format.md".into()),
            ));
        }
    };
    load_str(path, &text)
}

/// Validates scenario text; `path` is only used in messages.
pub fn load_str(path: &str, text: &str) -> Result<Box<dyn Scenario>, InputError> {
    let src = Source { path, text };
    if let Some(i) = text.find('\0') {
        return Err(src.error(
            i..i + 1,
            "the file contains a NUL byte: this does not look like a scenario file",
            None,
        ));
    }
    if text.trim().is_empty() {
        return Err(src.whole(
            "the scenario file is empty",
            Some(format!(
                "a minimal scenario is `protocol = \"single\"`; protocols: {}",
                protocols::NAMES.join(", ")
            )),
        ));
    }
    let header: Header = toml::from_str(text).map_err(|e| src.toml(&e))?;
    let Some(proto) = header.protocol else {
        return Err(src.whole(
            "missing `protocol`",
            Some(format!(
                "add e.g. `protocol = \"single\"`; protocols: {}",
                protocols::NAMES.join(", ")
            )),
        ));
    };
    let span = proto.span();
    let Some(name) = proto.into_inner().as_str().map(str::to_string) else {
        return Err(src.error(
            span,
            "`protocol` must be a string",
            Some("e.g. protocol = \"raft\"".into()),
        ));
    };
    protocols::with_protocol(&name, LoadVisitor { src: &src }).unwrap_or_else(|| {
        Err(src.error(
            span,
            format!("unknown protocol `{name}`"),
            Some(format!(
                "known protocols: {} (see `dsim list`)",
                protocols::NAMES.join(", ")
            )),
        ))
    })
}

struct LoadVisitor<'a> {
    src: &'a Source<'a>,
}

/// Everything parsed from one file, by owner.
pub(super) struct Parsed<P: Protocol> {
    pub file: ScenarioFile<Spanned<P::Params>>,
    pub family: FamilyFile<<P::Workload as Family>::Spec, <P::Workload as Family>::OpSpec>,
    /// The file as plain TOML (to merge per-node parameter overrides key by key).
    pub raw: toml::Table,
}

impl ProtocolVisitor for LoadVisitor<'_> {
    type Output = Result<Box<dyn Scenario>, InputError>;
    fn visit<P: Protocol>(self) -> Self::Output {
        let text = self.src.text;
        let file: ScenarioFile<Spanned<P::Params>> = toml::from_str(text).map_err(|e| self.src.toml(&e))?;
        let keys: RawKeys = toml::from_str(text).map_err(|e| self.src.toml(&e))?;
        let b = Builder::<P> {
            src: self.src,
            keys,
            _p: std::marker::PhantomData,
        };
        b.check_workload_keys(&file)?;
        let family = toml::from_str(text).map_err(|e| self.src.toml(&e))?;
        let raw: toml::Table = toml::from_str(text).map_err(|e| self.src.toml(&e))?;
        b.build(Parsed { file, family, raw })
            .map(|p| Box::new(p) as Box<dyn Scenario>)
    }
}

pub(super) struct Builder<'a, P> {
    pub src: &'a Source<'a>,
    pub keys: RawKeys,
    _p: std::marker::PhantomData<P>,
}

type R<T> = Result<T, InputError>;

impl<P: Protocol> Builder<'_, P> {
    fn err<T>(&self, span: std::ops::Range<usize>, msg: impl Into<String>, hint: Option<String>) -> R<T> {
        Err(self.src.error(span, msg, hint))
    }

    fn int_in(&self, v: &Spanned<i64>, lo: i64, hi: i64, what: &str) -> R<i64> {
        let x = *v.get_ref();
        if x < lo || x > hi {
            let why = if x < lo {
                format!("{what} = {x} is too small: it must be at least {lo}")
            } else {
                format!("{what} = {x} is too large: dsim allows at most {hi}")
            };
            return self.err(v.span(), why, None);
        }
        Ok(x)
    }

    /// A family's complaint about `[workload]` or an `[[ops]]` entry, placed at the key it
    /// names (`keys`: that table's keys as written), else at `whole`.
    fn spec_err<T>(
        &self,
        e: SpecError,
        keys: Option<&BTreeMap<Spanned<String>, serde::de::IgnoredAny>>,
        whole: std::ops::Range<usize>,
    ) -> R<T> {
        let span = e
            .key
            .and_then(|k| keys?.keys().find(|s| s.get_ref() == k).map(|s| s.span()))
            .unwrap_or(whole);
        self.err(span, e.message, e.hint)
    }

    /// Rejects keys of `table` that are in neither list (`what` names the table).
    fn unknown_keys<'k>(
        &self,
        what: &str,
        keys: impl IntoIterator<Item = &'k Spanned<String>>,
        engine: &[&str],
        family: &[&str],
    ) -> R<()> {
        for k in keys {
            let name = k.get_ref().as_str();
            if engine.contains(&name) || family.contains(&name) {
                continue;
            }
            let all: Vec<String> = engine.iter().chain(family).map(|f| format!("`{f}`")).collect();
            return self.err(
                k.span(),
                format!(
                    "unknown field `{name}` in {what}, expected one of {}",
                    all.join(", ")
                ),
                Some("check the spelling; docs/scenario-format.md lists every key".into()),
            );
        }
        Ok(())
    }

    fn build(&self, p: Parsed<P>) -> R<Prepared<P>> {
        let f = &p.file;
        let duration = self.duration(f)?;
        let cluster = self.cluster(f, duration)?;
        let nodes = cluster.len();
        let seed = match &f.seed {
            Some(s) => self.int_in(s, 0, i64::MAX, "seed")? as u64,
            None => 1,
        };
        let mut cfg = SimConfig::new(nodes, duration, seed);
        cfg.cluster = cluster;
        let mut bugs = Vec::new();
        for b in f.bugs.iter().flatten() {
            self.check_bug(b.get_ref(), Some(b.span()))?;
            bugs.push(b.get_ref().clone());
        }
        cfg.bugs = sim::BugSet::new(bugs);
        let params = self.params(f, &p.raw, &cfg.cluster)?;
        if let Some(l) = &f.limits {
            self.limits(l, &mut cfg.limits)?;
        }
        // Clients first: names like c2 are validated against their number.
        let (all_clients, random_clients) = self.client_count(f)?;
        cfg.clients.clients = all_clients;
        let workload = self.family_workload(&p.family)?;
        if let Some(w) = &f.workload {
            self.workload(w, random_clients, &mut cfg)?;
        }
        if cfg.clients.group.is_none() {
            // The protocol's entry group, if the scenario has it.
            cfg.clients.group = P::ENTRY_GROUP
                .filter(|g| cfg.cluster.group(g).is_some())
                .map(str::to_string);
        }
        if let Some(n) = &f.network {
            self.network(n, &mut cfg)?;
        }
        if let Some(c) = &f.clocks {
            self.clocks(c, &mut cfg)?;
        }
        if let Some(s) = &f.storage {
            if let Some(d) = s.sync_latency {
                cfg.storage.sync_latency = d.0;
            }
        }
        cfg.quiet_from = self.quiet_from(f, duration)?;
        let ops = self.scheduled_ops(f, &p.family, &cfg)?;
        let mut named: Vec<faults::Named> = Vec::new();
        for (i, fault) in f.faults.iter().flatten().enumerate() {
            let sf = self.fault(fault, &cfg, i as u32, &named)?;
            if let Some(n) = &sf.name {
                if named.iter().any(|x| &x.name == n) {
                    let span = fault.get_ref().name.as_ref().map_or(fault.span(), |s| s.span());
                    return self.err(span, format!("two faults are named `{n}`"), None);
                }
                named.push(faults::Named {
                    name: n.clone(),
                    at: sf.at,
                    spread: sf.spread,
                    draw: sf.draw,
                });
            }
            if fault.get_ref().enabled != Some(false) {
                cfg.faults.push(sf);
            }
        }
        if let Some(n) = &f.nemesis {
            cfg.nemesis = Some(self.nemesis(n, &cfg)?);
        }
        self.checks(f.checks.as_ref(), &mut cfg)?;
        if let Some(s) = &f.swarm {
            self.swarm(s)?;
        }
        if let Some(b) = &f.buggify {
            cfg.buggify = Some(self.buggify(b.get_ref())?);
        }
        let fault_names: Vec<String> = named.into_iter().map(|x| x.name).collect();
        for m in f.metrics.iter().flatten() {
            let span = self.span_metric(m, &fault_names, &cfg)?;
            cfg.spans.push(span);
        }
        if let Some(stop) = f.limits.as_ref().and_then(|l| l.stop_when_measured.as_ref()) {
            if *stop.get_ref() && cfg.spans.is_empty() {
                return self.err(
                    stop.span(),
                    "`stop_when_measured = true` needs at least one [[metrics]] entry",
                    None,
                );
            }
            cfg.stop_when_measured = *stop.get_ref();
        }
        if let Some(s) = &f.sweep {
            self.sweep(s, &cfg)?;
        }
        Ok(Prepared::new(
            f.name.clone().unwrap_or_else(|| default_name(self.src.path)),
            f.description.clone().unwrap_or_default(),
            (self.src.path.to_string(), self.src.text.to_string()),
            cfg,
            Setup {
                params,
                workload,
                ops,
            },
        ))
    }

    fn duration(&self, f: &ScenarioFile<Spanned<P::Params>>) -> R<Time> {
        let Some(d) = &f.duration else {
            return Ok(10 * NANOS_PER_SEC);
        };
        let v = d.get_ref().0;
        if v == 0 {
            return self.err(d.span(), "duration must be greater than 0", None);
        }
        if v > MAX_DURATION {
            return self.err(
                d.span(),
                "duration is longer than 100 days of simulated time",
                None,
            );
        }
        Ok(v)
    }

    /// `[params]`, merged key by key with a group's `params` and then a node's `[node.nX]`,
    /// each result validated; then the whole cluster, validated by the protocol.
    fn params(
        &self,
        f: &ScenarioFile<Spanned<P::Params>>,
        raw: &toml::Table,
        cluster: &Cluster,
    ) -> R<Vec<P::Params>> {
        let base = f.params.as_ref().map(|p| p.get_ref().clone()).unwrap_or_default();
        if let Err(m) = P::validate_params(&base) {
            let span = f.params.as_ref().map(|p| p.span()).unwrap_or(0..0);
            return self.err(span, format!("[params]: {m}"), None);
        }
        let nodes = cluster.len();
        let table = |v: Option<&toml::Value>| v.and_then(|v| v.as_table()).cloned().unwrap_or_default();
        let merge = |into: &mut toml::Table, over: &toml::Table| {
            for (k, v) in over {
                into.insert(k.clone(), v.clone());
            }
        };
        let parse = |t: toml::Table, span: std::ops::Range<usize>, what: &str| -> R<P::Params> {
            let p = P::Params::deserialize(toml::Value::Table(t))
                .map_err(|e| self.src.error(span.clone(), format!("{what}: {e}"), None))?;
            if let Err(m) = P::validate_params(&p) {
                return self.err(span, format!("{what}: {m}"), None);
            }
            Ok(p)
        };
        let raw_base = table(raw.get("params"));
        // Each node's merged raw table, starting from its group's.
        let mut merged: Vec<toml::Table> = vec![raw_base.clone(); nodes];
        let mut params = vec![base; nodes];
        let raw_groups = raw
            .get("groups")
            .and_then(|g| g.as_array())
            .cloned()
            .unwrap_or_default();
        for (i, g) in f.groups.iter().flatten().enumerate() {
            let Some(over) = &g.get_ref().params else { continue };
            let mut t = raw_base.clone();
            merge(&mut t, &table(raw_groups.get(i).and_then(|g| g.get("params"))));
            let name = g.get_ref().name.get_ref();
            let p = parse(t.clone(), over.span(), &format!("[[groups]] {name}: params"))?;
            for n in cluster.group(name).expect("declared").nodes() {
                merged[n.index()] = t.clone();
                params[n.index()] = p.clone();
            }
        }
        let raw_nodes = table(raw.get("node"));
        for (name, over) in f.node.iter().flatten() {
            let Some(Endpoint::Node(n)) = parse_endpoint(name.get_ref(), nodes, 0) else {
                return self.err(
                    name.span(),
                    format!("[node.{}]: no such node", name.get_ref()),
                    Some(format!("nodes are n1..n{nodes}")),
                );
            };
            let mut t = merged[n.index()].clone();
            merge(&mut t, &table(raw_nodes.get(name.get_ref())));
            params[n.index()] = parse(t, over.span(), &format!("[node.{}]", name.get_ref()))?;
        }
        if let Err(m) = P::validate_cluster(cluster, &params) {
            let span = f.params.as_ref().map(|p| p.span()).unwrap_or(0..0);
            return self.err(
                span,
                m,
                Some("every node's parameters are checked together".into()),
            );
        }
        Ok(params)
    }

    /// The node groups: `[[groups]]` in order, or one group `all` of `nodes` nodes.
    fn cluster(&self, f: &ScenarioFile<Spanned<P::Params>>, duration: Time) -> R<Cluster> {
        let Some(groups) = &f.groups else {
            let nodes = match &f.nodes {
                Some(n) => self.int_in(n, 1, MAX_NODES, "nodes")? as usize,
                None => P::DEFAULT_NODES,
            };
            return Ok(Cluster::single(nodes));
        };
        if groups.is_empty() {
            return self.err(
                0..0,
                "`groups` is empty: declare at least one group, or none",
                None,
            );
        }
        let mut out: Vec<(String, u32, Time)> = Vec::new();
        for g in groups {
            let s = g.get_ref();
            let name = s.name.get_ref();
            let taken = name == "random"
                || name == "random-client"
                || name == sim::cluster::ALL
                || P::ROLES.contains(&name.as_str())
                || parse_endpoint(name, MAX_NODES as usize, MAX_CLIENTS as usize).is_some();
            if name.is_empty() || name.contains('@') || taken {
                return self.err(
                    s.name.span(),
                    format!("`{name}` cannot name a group"),
                    Some(format!(
                        "group names must differ from roles ({}), node and client names, `random` and `all`",
                        P::ROLES.join(", ")
                    )),
                );
            }
            if out.iter().any(|(n, _, _)| n == name) {
                return self.err(s.name.span(), format!("two groups are called `{name}`"), None);
            }
            let n = self.int_in(&s.nodes, 1, MAX_NODES, "nodes")? as u32;
            let boot_at = s.boot_at.as_ref().map(|b| b.get_ref().0).unwrap_or(0);
            if let Some(b) = &s.boot_at {
                if b.get_ref().0 > duration {
                    return self.err(b.span(), "boot_at is after the end of the run", None);
                }
            }
            out.push((name.clone(), n, boot_at));
        }
        let total: i64 = out.iter().map(|(_, n, _)| i64::from(*n)).sum();
        if total > MAX_NODES {
            return self.err(
                0..0,
                format!("the groups have {total} nodes; dsim allows at most {MAX_NODES}"),
                None,
            );
        }
        if let Some(n) = &f.nodes {
            if *n.get_ref() != total {
                return self.err(
                    n.span(),
                    format!("nodes = {} but the groups have {total} nodes", n.get_ref()),
                    Some("leave `nodes` out when declaring groups".into()),
                );
            }
        }
        Ok(Cluster::of(out))
    }

    fn check_bug(&self, name: &str, span: Option<std::ops::Range<usize>>) -> R<()> {
        if P::bugs().iter().any(|b| b.name == name) {
            return Ok(());
        }
        let known: Vec<&str> = P::bugs().iter().map(|b| b.name).collect();
        let hint = if known.is_empty() {
            format!("protocol `{}` has no planted bugs", P::NAME)
        } else {
            format!("planted bugs of `{}`: {}", P::NAME, known.join(", "))
        };
        self.err(span.unwrap_or(0..0), format!("unknown bug `{name}`"), Some(hint))
    }

    fn limits(&self, l: &LimitsSpec, out: &mut Limits) -> R<()> {
        if let Some(v) = &l.max_events {
            out.max_events = self.int_in(v, 1, 10_000_000_000, "max_events")? as u64;
        }
        if let Some(v) = &l.max_in_flight {
            out.max_in_flight = self.int_in(v, 1, 100_000_000, "max_in_flight")? as usize;
        }
        if let Some(v) = &l.max_pause_buffer {
            out.max_pause_buffer = self.int_in(v, 0, 100_000_000, "max_pause_buffer")? as usize;
        }
        if let Some(v) = &l.max_history_ops {
            out.max_history_ops = self.int_in(v, 1, 100_000_000, "max_history_ops")? as u64;
        }
        Ok(())
    }

    fn link_params(
        &self,
        base: LinkParams,
        latency: Option<DistSpec>,
        drop: Option<Prob>,
        dup: Option<Prob>,
        reorder: Option<Prob>,
        reorder_delay: Option<Dur>,
    ) -> LinkParams {
        LinkParams {
            latency: latency.map(|d| d.0).unwrap_or(base.latency),
            drop: drop.map(|p| p.0).unwrap_or(base.drop),
            duplicate: dup.map(|p| p.0).unwrap_or(base.duplicate),
            reorder: reorder.map(|p| p.0).unwrap_or(base.reorder),
            reorder_delay: reorder_delay.map(|d| d.0).unwrap_or(base.reorder_delay),
        }
    }

    fn network(&self, n: &NetworkSpec, cfg: &mut SimConfig) -> R<()> {
        cfg.network.kind = n.kind;
        cfg.network.default = self.link_params(
            cfg.network.default,
            n.latency,
            n.drop,
            n.duplicate,
            n.reorder,
            n.reorder_delay,
        );
        for l in n.links.iter().flatten() {
            let s = l.get_ref();
            let from = self.endpoint(&s.from, cfg)?;
            let to = self.endpoint(&s.to, cfg)?;
            if from == to {
                return self.err(l.span(), "a link needs two different endpoints", None);
            }
            let params = self.link_params(
                cfg.network.default,
                s.latency,
                s.drop,
                s.duplicate,
                s.reorder,
                s.reorder_delay,
            );
            cfg.network.links.push(LinkOverride { from, to, params });
            if s.both_ways.unwrap_or(false) {
                cfg.network.links.push(LinkOverride {
                    from: to,
                    to: from,
                    params,
                });
            }
        }
        Ok(())
    }

    fn clocks(&self, c: &ClocksSpec, cfg: &mut SimConfig) -> R<()> {
        if let Some(o) = c.max_offset {
            cfg.clocks.max_offset = o.0;
        }
        if let Some(d) = &c.max_drift_ppm {
            cfg.clocks.max_drift_ppm = self.int_in(d, 0, 500_000, "max_drift_ppm")? as u64;
        }
        if let Some(d) = &c.assumed_drift_ppm {
            cfg.clocks.assumed_drift_ppm = Some(self.int_in(d, 0, 500_000, "assumed_drift_ppm")? as u64);
        }
        if let Some(d) = &c.drift {
            cfg.clocks.extreme_drift = match d.get_ref().as_str() {
                "uniform" => false,
                "extremes" => true,
                other => {
                    return self.err(
                        d.span(),
                        format!("unknown drift distribution `{other}`"),
                        Some("use \"uniform\" or \"extremes\"".into()),
                    )
                }
            };
        }
        for (name, spec) in c.node.iter().flatten() {
            let node = self.node_name(name, cfg.nodes)?;
            let drift = match &spec.drift_ppm {
                Some(d) => Some(self.int_in(d, -500_000, 500_000, "drift_ppm")?),
                None => None,
            };
            cfg.clocks.nodes.push(ClockOverride {
                node,
                offset: spec.offset.map(|d| d.0),
                drift_ppm: drift,
            });
        }
        Ok(())
    }

    /// The shape of `[swarm]`; that each choice loads is checked by `fuzz --swarm` itself.
    fn swarm(&self, s: &crate::spec::SwarmSpec) -> R<()> {
        if let Some(k) = &s.keep {
            if !(0.0..=1.0).contains(k.get_ref()) {
                return self.err(k.span(), "keep: a probability in [0, 1]", None);
            }
        }
        if let Some(r) = &s.rate_scale {
            let [lo, hi] = *r.get_ref();
            if !(lo > 0.0 && lo <= hi && hi <= 1000.0) {
                return self.err(
                    r.span(),
                    "rate_scale: [low, high] with 0 < low <= high <= 1000",
                    None,
                );
            }
        }
        for (key, values) in s.choose.iter().flatten() {
            if values.get_ref().is_empty() {
                return self.err(
                    values.span(),
                    format!("choose `{}`: list at least one value", key.get_ref()),
                    None,
                );
            }
            if let Err(e) = crate::keypath::check(key.get_ref()) {
                return self.err(key.span(), format!("choose: {e}"), None);
            }
        }
        Ok(())
    }

    fn buggify(&self, b: &crate::spec::BuggifySpec) -> R<sim::config::BuggifyConfig> {
        let known: Vec<&str> = P::buggify_sites().iter().map(|s| s.name).collect();
        let hint = || {
            Some(if known.is_empty() {
                format!("protocol `{}` has no buggify sites", P::NAME)
            } else {
                format!("buggify sites of `{}`: {}", P::NAME, known.join(", "))
            })
        };
        if b.sites.get_ref().is_empty() {
            return self.err(b.sites.span(), "buggify: list at least one site", hint());
        }
        let mut sites: Vec<String> = Vec::new();
        for s in b.sites.get_ref() {
            if !known.contains(&s.get_ref().as_str()) {
                return self.err(
                    s.span(),
                    format!("unknown buggify site `{}`", s.get_ref()),
                    hint(),
                );
            }
            if !sites.contains(s.get_ref()) {
                sites.push(s.get_ref().clone());
            }
        }
        let chance = match &b.chance {
            Some(c) if !(*c.get_ref() > 0.0 && *c.get_ref() <= 1.0) => {
                return self.err(c.span(), "buggify chance: a probability in (0, 1]", None);
            }
            Some(c) => *c.get_ref(),
            None => 0.25,
        };
        Ok(sim::config::BuggifyConfig { sites, chance })
    }

    fn quiet_from(&self, f: &ScenarioFile<Spanned<P::Params>>, duration: Time) -> R<Option<Time>> {
        let nem = f.nemesis.as_ref().and_then(|n| n.get_ref().quiet_from.as_ref());
        let q = match (&f.quiet_from, nem) {
            (Some(_), Some(b)) => {
                return self.err(
                    b.span(),
                    "quiet_from is given twice (top level and [nemesis]); keep one",
                    None,
                )
            }
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => return Ok(None),
        };
        if q.get_ref().0 > duration {
            return self.err(
                q.span(),
                format!(
                    "quiet_from = {} is after the end of the run (duration = {})",
                    format_duration(q.get_ref().0),
                    format_duration(duration)
                ),
                None,
            );
        }
        Ok(Some(q.get_ref().0))
    }

    fn node_name(&self, name: &Spanned<String>, nodes: usize) -> R<NodeId> {
        match parse_endpoint(name.get_ref(), nodes, 0) {
            Some(Endpoint::Node(n)) => Ok(n),
            _ => self.err(
                name.span(),
                format!("no node `{}`", name.get_ref()),
                Some(format!("nodes are n1..n{nodes}")),
            ),
        }
    }

    fn endpoint(&self, name: &Spanned<String>, cfg: &SimConfig) -> R<Endpoint> {
        let clients = cfg.clients.clients;
        parse_endpoint(name.get_ref(), cfg.nodes, clients).map_or_else(
            || {
                let hint = if clients > 0 {
                    format!("nodes are n1..n{}, clients c1..c{clients}", cfg.nodes)
                } else {
                    format!("nodes are n1..n{} (this scenario has no clients)", cfg.nodes)
                };
                self.err(
                    name.span(),
                    format!("no node or client `{}`", name.get_ref()),
                    Some(hint),
                )
            },
            Ok,
        )
    }
}

fn default_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into())
}
