//! From scenario text to a validated, runnable [`Scenario`]: a first pass reads the protocol
//! name; the second parses the whole file with that protocol's parameter type (so errors inside
//! `[params]` have positions too), then every value is checked against the others (node names
//! against `nodes`, fault times against `duration`, …).

use crate::error::{InputError, Source};
use crate::runner::{Prepared, Scenario};
use crate::spec::*;
use protocols::ProtocolVisitor;
use serde::Deserialize;
use sim::config::*;
use sim::faults::{FaultAction, FaultKind, PartitionSpec, Target};
use sim::ids::{parse_endpoint, Endpoint};
use sim::time::{format_duration, Time, NANOS_PER_SEC};
use sim::{NodeId, Protocol};
use std::collections::BTreeSet;
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

impl ProtocolVisitor for LoadVisitor<'_> {
    type Output = Result<Box<dyn Scenario>, InputError>;
    fn visit<P: Protocol>(self) -> Self::Output {
        let file: ScenarioFile<Spanned<P::Params>> =
            toml::from_str(self.src.text).map_err(|e| self.src.toml(&e))?;
        let raw: toml::Table = toml::from_str(self.src.text).map_err(|e| self.src.toml(&e))?;
        Builder::<P> {
            src: self.src,
            _p: std::marker::PhantomData,
        }
        .build(file, raw)
        .map(|p| Box::new(p) as Box<dyn Scenario>)
    }
}

struct Builder<'a, P> {
    src: &'a Source<'a>,
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

    fn build(&self, f: ScenarioFile<Spanned<P::Params>>, raw: toml::Table) -> R<Prepared<P>> {
        let nodes = match &f.nodes {
            Some(n) => self.int_in(n, 1, MAX_NODES, "nodes")? as usize,
            None => P::DEFAULT_NODES,
        };
        let duration = match &f.duration {
            Some(d) => {
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
                v
            }
            None => 10 * NANOS_PER_SEC,
        };
        let seed = match &f.seed {
            Some(s) => self.int_in(s, 0, i64::MAX, "seed")? as u64,
            None => 1,
        };
        let mut cfg = SimConfig::new(nodes, duration, seed);

        // Bugs.
        let mut bugs = Vec::new();
        for b in f.bugs.iter().flatten() {
            self.check_bug(b.get_ref(), Some(b.span()))?;
            bugs.push(b.get_ref().clone());
        }
        cfg.bugs = sim::BugSet::new(bugs);

        // Parameters and per-node overrides.
        let base = f.params.as_ref().map(|p| p.get_ref().clone()).unwrap_or_default();
        if let Err(m) = P::validate_params(&base) {
            let span = f.params.as_ref().map(|p| p.span()).unwrap_or(0..0);
            return self.err(span, format!("[params]: {m}"), None);
        }
        let mut params = vec![base; nodes];
        let raw_base = raw
            .get("params")
            .and_then(|v| v.as_table())
            .cloned()
            .unwrap_or_default();
        let raw_nodes = raw
            .get("node")
            .and_then(|v| v.as_table())
            .cloned()
            .unwrap_or_default();
        for (name, over) in f.node.iter().flatten() {
            let Some(Endpoint::Node(n)) = parse_endpoint(name.get_ref(), nodes, 0) else {
                return self.err(
                    name.span(),
                    format!("[node.{}]: no such node", name.get_ref()),
                    Some(format!("nodes are n1..n{nodes}")),
                );
            };
            let mut merged = raw_base.clone();
            if let Some(t) = raw_nodes.get(name.get_ref()).and_then(|v| v.as_table()) {
                for (k, v) in t {
                    merged.insert(k.clone(), v.clone());
                }
            }
            let p: P::Params = P::Params::deserialize(toml::Value::Table(merged)).map_err(|e| {
                self.src
                    .error(over.span(), format!("[node.{}]: {e}", name.get_ref()), None)
            })?;
            if let Err(m) = P::validate_params(&p) {
                return self.err(over.span(), format!("[node.{}]: {m}", name.get_ref()), None);
            }
            params[n.index()] = p;
        }

        if let Some(l) = &f.limits {
            self.limits(l, &mut cfg.limits)?;
        }

        // Clients first: names like c2 are validated against their number.
        let (all_clients, random_clients) = self.client_count(&f)?;
        cfg.clients.clients = all_clients;
        if let Some(w) = &f.workload {
            self.workload(w, random_clients, &mut cfg)?;
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
        cfg.quiet_from = self.quiet_from(&f, duration)?;
        let mut written = BTreeSet::new();
        for op in f.ops.iter().flatten() {
            let o = self.op(op, &cfg)?;
            // Written values must be unique (a read names the write it saw).
            let fixed = match o.op {
                OpTemplate::Write { value: Some(v), .. }
                | OpTemplate::Append { value: Some(v), .. }
                | OpTemplate::Cas { to: Some(v), .. } => Some(v),
                _ => None,
            };
            if let Some(v) = fixed {
                if !written.insert(v) {
                    return self.err(
                        op.span(),
                        format!("the value {v} is written twice; written values must be unique"),
                        Some("leave the value out to get a fresh unique one".into()),
                    );
                }
            }
            let s = op.get_ref();
            let repeat = match &s.repeat {
                Some(r) => self.int_in(r, 1, 1_000_000, "repeat")? as u64,
                None => 1,
            };
            let every = s.every.map(|d| d.0).unwrap_or(0);
            if repeat > 1 && every == 0 {
                return self.err(op.span(), "`repeat` needs `every`, e.g. every = \"10ms\"", None);
            }
            if repeat > 1 && fixed.is_some() {
                return self.err(
                    op.span(),
                    "a repeated write cannot have a fixed `value` or `to` (values are unique)",
                    None,
                );
            }
            let last = o.at.saturating_add((repeat - 1).saturating_mul(every));
            if last > cfg.duration {
                return self.err(op.span(), "repeated operations run past the end of the run", None);
            }
            for k in 0..repeat {
                cfg.scheduled_ops.push(ScheduledOp {
                    at: o.at + k * every,
                    ..o.clone()
                });
            }
        }
        cfg.scheduled_ops.sort_by_key(|o| o.at);
        for fault in f.faults.iter().flatten() {
            let sf = self.fault(fault, &cfg)?;
            cfg.faults.push(sf);
        }
        if let Some(n) = &f.nemesis {
            cfg.nemesis = Some(self.nemesis(n)?);
        }
        let (linearizable, budget, stop) = match &f.checks {
            Some(c) => self.checks(c, &mut cfg)?,
            None => (cfg.clients.clients > 0, DEFAULT_HISTORY_BUDGET, true),
        };
        Ok(Prepared::new(
            f.name.clone().unwrap_or_else(|| default_name(self.src.path)),
            f.description.clone().unwrap_or_default(),
            self.src.path.to_string(),
            cfg,
            params,
            linearizable,
            budget,
            stop,
        ))
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

    /// Clients: those of the random workload (`[workload] clients`, default 3), and any more
    /// that scheduled ops name (they run only their scheduled ops).
    fn client_count(&self, f: &ScenarioFile<Spanned<P::Params>>) -> R<(usize, usize)> {
        let random = match f.workload.as_ref() {
            Some(w) => match &w.clients {
                Some(c) => self.int_in(c, 0, MAX_CLIENTS, "clients")? as usize,
                None => 3,
            },
            None => 0,
        };
        let mut max = 0;
        for op in f.ops.iter().flatten() {
            let name = op.get_ref().client.get_ref();
            match name.strip_prefix('c').and_then(|n| n.parse::<usize>().ok()) {
                Some(i) if i >= 1 && i as i64 <= MAX_CLIENTS => max = max.max(i),
                _ => {
                    return self.err(
                        op.get_ref().client.span(),
                        format!("`{name}` is not a client name"),
                        Some("clients are named c1, c2, …".into()),
                    )
                }
            }
        }
        Ok((random.max(max), random))
    }

    fn workload(&self, w: &WorkloadSpec, random_clients: usize, cfg: &mut SimConfig) -> R<()> {
        if let Some(t) = &w.timeout {
            if t.get_ref().0 == 0 {
                return self.err(t.span(), "timeout must be greater than 0", None);
            }
            cfg.clients.timeout = t.get_ref().0;
        }
        if let Some(r) = &w.retries {
            cfg.clients.retries = self.int_in(r, 0, 1000, "retries")? as u32;
        }
        if let Some(b) = w.backoff {
            cfg.clients.backoff = b.0;
        }
        let keys = match &w.keys {
            Some(k) => self.int_in(k, 1, 1_000_000, "keys")? as u32,
            None => 5,
        };
        let mix = match &w.mix {
            None => Mix::default(),
            Some(m) => {
                let s = m.get_ref();
                let mix = Mix {
                    read: s.read.unwrap_or(0.0),
                    write: s.write.unwrap_or(0.0),
                    cas: s.cas.unwrap_or(0.0),
                    append: s.append.unwrap_or(0.0),
                };
                let all = [mix.read, mix.write, mix.cas, mix.append];
                if all.iter().any(|x| !x.is_finite() || *x < 0.0) || all.iter().sum::<f64>() <= 0.0 {
                    return self.err(
                        m.span(),
                        "mix weights must be non-negative and not all zero",
                        Some("e.g. mix = { read = 0.5, write = 0.3, cas = 0.1, append = 0.1 }".into()),
                    );
                }
                mix
            }
        };
        let count = match &w.count {
            Some(c) => Some(self.int_in(c, 0, 100_000_000, "count")? as u64),
            None => None,
        };
        let interval = match &w.rate {
            Some(r) => r.get_ref().0,
            None => NANOS_PER_SEC / 100,
        };
        let start = w.start.as_ref().map(|s| s.get_ref().0).unwrap_or(0);
        let stop = w.stop.as_ref().map(|s| s.get_ref().0).unwrap_or(cfg.duration);
        if let Some(s) = &w.start {
            if s.get_ref().0 > cfg.duration {
                return self.err(s.span(), "workload starts after the run ends", None);
            }
        }
        if let Some(s) = &w.stop {
            if s.get_ref().0 < start {
                return self.err(s.span(), "workload stops before it starts", None);
            }
        }
        let readers = match &w.readers {
            Some(r) => self.int_in(r, 0, random_clients as i64, "readers")? as usize,
            None => 0,
        };
        let key_ops = match &w.key_ops {
            Some(k) => Some(self.int_in(k, 1, 1_000_000_000, "key_ops")? as u64),
            None => None,
        };
        if random_clients == 0 {
            return Ok(());
        }
        cfg.workload = Some(WorkloadConfig {
            key_ops,
            clients: random_clients,
            readers,
            interval,
            count,
            keys,
            mix,
            start,
            stop,
        });
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

    fn target(&self, name: &Spanned<String>, cfg: &SimConfig) -> R<Target> {
        let s = name.get_ref().as_str();
        if s == "random" {
            return Ok(Target::Random);
        }
        if P::ROLES.contains(&s) {
            return Ok(Target::Role(s.to_string()));
        }
        match parse_endpoint(s, cfg.nodes, 0) {
            Some(Endpoint::Node(n)) => Ok(Target::Node(n)),
            _ => self.err(
                name.span(),
                format!("no node `{s}`"),
                Some(format!(
                    "write a node (n1..n{}), `random`, or a role of {}: {}",
                    cfg.nodes,
                    P::NAME,
                    P::ROLES.join(", ")
                )),
            ),
        }
    }

    /// A target for restart/resume: a crashed or paused node plays no role, so only a name or
    /// `random` (one of the crashed/paused nodes) makes sense.
    fn node_or_random(&self, name: &Spanned<String>, cfg: &SimConfig, action: &str) -> R<Target> {
        match self.target(name, cfg)? {
            Target::Role(r) => self.err(
                name.span(),
                format!("`{action} = \"{r}\"` can never match: a crashed or paused node has no role"),
                Some(format!("name the node (n1..n{}) or write \"random\"", cfg.nodes)),
            ),
            t => Ok(t),
        }
    }

    fn op(&self, o: &Spanned<OpSpec>, cfg: &SimConfig) -> R<ScheduledOp> {
        let s = o.get_ref();
        let at = s.at.get_ref().0;
        if at > cfg.duration {
            return self.err(
                s.at.span(),
                format!("operation at {} is after the end of the run", format_duration(at)),
                None,
            );
        }
        let client = match self.endpoint(&s.client, cfg)? {
            Endpoint::Client(c) => c,
            Endpoint::Node(_) => {
                return self.err(
                    s.client.span(),
                    "operations are issued by clients (c1, c2, …)",
                    None,
                )
            }
        };
        let key_text = s.key.get_ref();
        let key = match key_text.strip_prefix('k').and_then(|k| k.parse::<u32>().ok()) {
            Some(k) => k,
            None => {
                return self.err(
                    s.key.span(),
                    format!("`{key_text}` is not a key"),
                    Some("keys are k0, k1, …".into()),
                )
            }
        };
        let value = |v: &Option<Spanned<i64>>| -> R<Option<u64>> {
            match v {
                None => Ok(None),
                Some(x) => Ok(Some(self.int_in(x, 0, i64::MAX, "value")? as u64)),
            }
        };
        let kind = s.op.get_ref().as_str();
        let allowed: &[&str] = match kind {
            "read" => &[],
            "write" | "append" => &["value"],
            "cas" => &["from", "to"],
            _ => &["value", "from", "to"],
        };
        for (name, present) in [
            ("value", s.value.is_some()),
            ("from", s.from.is_some()),
            ("to", s.to.is_some()),
        ] {
            if present && !allowed.contains(&name) {
                return self.err(
                    o.span(),
                    format!("`{name}` does not apply to a `{kind}` operation"),
                    None,
                );
            }
        }
        let op = match kind {
            "read" => OpTemplate::Read { key },
            "write" => OpTemplate::Write {
                key,
                value: value(&s.value)?,
            },
            "append" => OpTemplate::Append {
                key,
                value: value(&s.value)?,
            },
            "cas" => {
                let Some(from) = value(&s.from)? else {
                    return self.err(o.span(), "a cas needs `from` (the value it expects)", None);
                };
                OpTemplate::Cas {
                    key,
                    from,
                    to: value(&s.to)?,
                }
            }
            other => {
                return self.err(
                    s.op.span(),
                    format!("unknown operation `{other}`"),
                    Some("use read, write, cas or append".into()),
                )
            }
        };
        Ok(ScheduledOp { at, client, op })
    }

    fn fault(&self, fs: &Spanned<FaultSpec>, cfg: &SimConfig) -> R<ScheduledFault> {
        let s = fs.get_ref();
        let at = s.at.get_ref().0;
        if at > cfg.duration {
            return self.err(
                s.at.span(),
                format!(
                    "this fault is at {}, after the end of the run (duration = {})",
                    format_duration(at),
                    format_duration(cfg.duration)
                ),
                Some("move it earlier or make the run longer".into()),
            );
        }
        if let Some(q) = cfg.quiet_from {
            if at >= q {
                return self.err(
                    s.at.span(),
                    format!(
                        "this fault is at {}, inside the quiet period (from {})",
                        format_duration(at),
                        format_duration(q)
                    ),
                    Some("the quiet period has no faults; move the fault or quiet_from".into()),
                );
            }
        }
        let actions: Vec<&str> = [
            ("crash", s.crash.is_some()),
            ("restart", s.restart.is_some()),
            ("pause", s.pause.is_some()),
            ("resume", s.resume.is_some()),
            ("partition", s.partition.is_some()),
            ("isolate", s.isolate.is_some()),
            ("cut", s.cut.is_some()),
            ("heal", s.heal.is_some()),
            ("clock_jump", s.clock_jump.is_some()),
            ("slow_disk", s.slow_disk.is_some()),
            ("lose_unsynced", s.lose_unsynced.is_some()),
        ]
        .iter()
        .filter(|(_, p)| *p)
        .map(|(n, _)| *n)
        .collect();
        if actions.len() != 1 {
            let found = if actions.is_empty() {
                "none".to_string()
            } else {
                actions.join(" and ")
            };
            return self.err(
                fs.span(),
                format!("a fault needs exactly one action; found {found}"),
                Some("actions: crash, restart, pause, resume, partition, isolate, cut, heal, clock_jump, slow_disk, lose_unsynced".into()),
            );
        }
        let action = actions[0];
        // Options that belong to another action are mistakes worth reporting.
        let allowed: &[&str] = match action {
            "crash" => &["restart_after"],
            "lose_unsynced" => &["restart_after", "within"],
            "pause" => &["resume_after"],
            "partition" | "isolate" | "cut" => &["heal_after"],
            "clock_jump" => &["by"],
            "slow_disk" => &["factor", "for"],
            _ => &[],
        };
        let options = [
            ("restart_after", s.restart_after.is_some()),
            ("resume_after", s.resume_after.is_some()),
            ("heal_after", s.heal_after.is_some()),
            ("by", s.by.is_some()),
            ("factor", s.factor.is_some()),
            ("for", s.for_.is_some()),
            ("within", s.within.is_some()),
        ];
        for (name, present) in options {
            if present && !allowed.contains(&name) {
                return self.err(
                    fs.span(),
                    format!("`{name}` does not apply to a `{action}` fault"),
                    None,
                );
            }
        }
        let after = |d: Option<Dur>| d.map(|d| d.0);
        let a = match action {
            "crash" => FaultAction::Crash {
                target: self.target(s.crash.as_ref().expect("checked"), cfg)?,
                restart_after: after(s.restart_after),
            },
            "restart" => FaultAction::Restart {
                target: self.node_or_random(s.restart.as_ref().expect("checked"), cfg, "restart")?,
            },
            "pause" => FaultAction::Pause {
                target: self.target(s.pause.as_ref().expect("checked"), cfg)?,
                resume_after: after(s.resume_after),
            },
            "resume" => FaultAction::Resume {
                target: self.node_or_random(s.resume.as_ref().expect("checked"), cfg, "resume")?,
            },
            "partition" => {
                let p = s.partition.as_ref().expect("checked");
                let spec = match p.get_ref() {
                    PartitionValue::Named(n) if n == "random-halves" => PartitionSpec::RandomHalves,
                    PartitionValue::Named(n) => {
                        return self.err(
                            p.span(),
                            format!("unknown partition `{n}`"),
                            Some(
                                "write groups, e.g. [[\"n1\", \"n2\"], [\"n3\"]], or \"random-halves\""
                                    .into(),
                            ),
                        )
                    }
                    PartitionValue::Groups(groups) => {
                        let mut seen = BTreeSet::new();
                        let mut out = Vec::new();
                        for g in groups {
                            let mut eps = Vec::new();
                            for name in g {
                                let e = self.endpoint(name, cfg)?;
                                if !seen.insert(e) {
                                    return self.err(
                                        name.span(),
                                        format!("`{}` is in two groups", name.get_ref()),
                                        None,
                                    );
                                }
                                eps.push(e);
                            }
                            out.push(eps);
                        }
                        if out.len() < 2 {
                            return self.err(p.span(), "a partition needs at least two groups", None);
                        }
                        PartitionSpec::Groups(out)
                    }
                };
                FaultAction::Partition {
                    spec,
                    heal_after: after(s.heal_after),
                }
            }
            "isolate" => FaultAction::Partition {
                spec: PartitionSpec::Isolate(self.target(s.isolate.as_ref().expect("checked"), cfg)?),
                heal_after: after(s.heal_after),
            },
            "cut" => {
                let c = s.cut.as_ref().expect("checked");
                let ends = c.get_ref();
                if ends.len() != 2 {
                    return self.err(c.span(), "a cut names two nodes: [\"from\", \"to\"]", None);
                }
                let from = self.target(&ends[0], cfg)?;
                let to = self.target(&ends[1], cfg)?;
                if from == to && matches!(from, Target::Node(_)) {
                    return self.err(c.span(), "a cut needs two different nodes", None);
                }
                FaultAction::Cut {
                    from,
                    to,
                    heal_after: after(s.heal_after),
                }
            }
            "heal" => {
                let h = s.heal.as_ref().expect("checked");
                if !*h.get_ref() {
                    return self.err(h.span(), "write `heal = true` (or remove the fault)", None);
                }
                FaultAction::Heal
            }
            "clock_jump" => {
                let Some(by) = &s.by else {
                    return self.err(fs.span(), "a clock_jump needs `by`, e.g. by = \"-2s\"", None);
                };
                FaultAction::ClockJump {
                    target: self.target(s.clock_jump.as_ref().expect("checked"), cfg)?,
                    by_ns: by.get_ref().0,
                }
            }
            "slow_disk" => {
                let factor = match &s.factor {
                    Some(f) => self.int_in(f, 1, 1_000_000, "factor")? as u32,
                    None => 10,
                };
                let Some(d) = s.for_ else {
                    return self.err(
                        fs.span(),
                        "a slow_disk fault needs `for`, e.g. for = \"5s\"",
                        None,
                    );
                };
                FaultAction::SlowDisk {
                    target: self.target(s.slow_disk.as_ref().expect("checked"), cfg)?,
                    factor,
                    duration: d.0,
                }
            }
            "lose_unsynced" => FaultAction::LoseUnsynced {
                target: self.target(s.lose_unsynced.as_ref().expect("checked"), cfg)?,
                within: s.within.map(|d| d.0).unwrap_or(NANOS_PER_SEC),
                restart_after: after(s.restart_after),
            },
            _ => unreachable!("action list above"),
        };
        Ok(ScheduledFault { at, action: a })
    }

    fn nemesis(&self, n: &Spanned<NemesisSpec>) -> R<NemesisConfig> {
        let s = n.get_ref();
        let kinds: Vec<(FaultKind, Time)> = [
            (FaultKind::Crash, &s.crash),
            (FaultKind::Pause, &s.pause),
            (FaultKind::Partition, &s.partition),
            (FaultKind::Cut, &s.cut),
            (FaultKind::ClockJump, &s.clock_jump),
            (FaultKind::Disk, &s.disk),
        ]
        .into_iter()
        .filter_map(|(k, r)| r.as_ref().map(|r| (k, r.get_ref().0)))
        .collect();
        let fault_duration = match &s.fault_duration {
            Some(d) => {
                let [lo, hi] = *d.get_ref();
                if lo.0 > hi.0 {
                    return self.err(
                        d.span(),
                        "fault_duration: the first value must not exceed the second",
                        None,
                    );
                }
                (lo.0, hi.0)
            }
            None => (NANOS_PER_SEC, 5 * NANOS_PER_SEC),
        };
        let slow = match &s.slow_disk_factor {
            Some(f) => self.int_in(f, 1, 1_000_000, "slow_disk_factor")? as u32,
            None => 10,
        };
        let role_crash = match &s.crash_on_role {
            None => None,
            Some(rc) => {
                let r = rc.get_ref();
                let role = r.role.get_ref();
                if !P::ROLES.contains(&role.as_str()) {
                    return self.err(
                        r.role.span(),
                        format!("`{role}` is not a role of {}", P::NAME),
                        Some(format!("roles: {}", P::ROLES.join(", "))),
                    );
                }
                let [lo, hi] = *r.after.get_ref();
                if lo.0 > hi.0 {
                    return self.err(
                        r.after.span(),
                        "after: the first value must not exceed the second",
                        None,
                    );
                }
                Some(sim::config::RoleCrash {
                    role: role.clone(),
                    chance: r.chance.0,
                    after: (lo.0, hi.0),
                })
            }
        };
        if kinds.is_empty() && role_crash.is_none() {
            return self.err(
                n.span(),
                "[nemesis] enables no fault kind",
                Some("give a rate per kind, e.g. crash = \"1/10s\", partition = \"1/20s\"".into()),
            );
        }
        Ok(NemesisConfig {
            role_crash,
            kinds,
            fault_duration,
            max_clock_jump: s.max_clock_jump.map(|d| d.0).unwrap_or(NANOS_PER_SEC),
            slow_disk_factor: slow,
        })
    }

    fn checks(&self, c: &ChecksSpec, cfg: &mut SimConfig) -> R<(bool, u64, bool)> {
        if let Some(s) = c.stale_read {
            cfg.checks.stale_read = s;
        }
        if let Some(w) = c.eventually_within {
            cfg.checks.eventually_within = w.0;
        }
        let decls = <P::Invariants as sim::Invariants<P>>::checks();
        for (name, d) in c.within.iter().flatten() {
            let n = name.get_ref();
            let ok = n == "ops-complete"
                || decls
                    .iter()
                    .any(|x| x.name == n && x.kind == sim::CheckKind::Eventually);
            if !ok {
                let names: Vec<&str> = decls
                    .iter()
                    .filter(|x| x.kind == sim::CheckKind::Eventually)
                    .map(|x| x.name)
                    .chain(["ops-complete"])
                    .collect();
                return self.err(
                    name.span(),
                    format!("`{n}` is not an eventually-check of {}", P::NAME),
                    Some(format!("eventually-checks: {}", names.join(", "))),
                );
            }
            cfg.checks.within.push((n.clone(), d.0));
        }
        for name in c.require.iter().flatten() {
            let n = name.get_ref();
            if !decls
                .iter()
                .any(|x| x.name == n && x.kind == sim::CheckKind::Sometimes)
            {
                let names: Vec<&str> = decls
                    .iter()
                    .filter(|x| x.kind == sim::CheckKind::Sometimes)
                    .map(|x| x.name)
                    .collect();
                return self.err(
                    name.span(),
                    format!("`{n}` is not a sometimes-check of {}", P::NAME),
                    Some(format!("sometimes-checks: {}", names.join(", "))),
                );
            }
            cfg.checks.require.push(n.clone());
        }
        let budget = match &c.history_budget {
            Some(b) => self.int_in(b, 1, 1_000_000_000_000, "history_budget")? as u64,
            None => DEFAULT_HISTORY_BUDGET,
        };
        Ok((
            c.linearizable.unwrap_or(cfg.clients.clients > 0),
            budget,
            c.stop_on_violation.unwrap_or(true),
        ))
    }
}

/// Search steps the linearizability checker may spend per run unless the scenario says.
pub const DEFAULT_HISTORY_BUDGET: u64 = 20_000_000;

fn default_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".into())
}
