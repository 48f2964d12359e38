//! `[workload]` and `[[ops]]`: the engine's keys and the workload family's.

use super::{Builder, MAX_CLIENTS, R};
use crate::spec::*;
use sim::config::{ScheduledOp, SimConfig, WorkloadConfig};
use sim::family::Family;
use sim::ids::Endpoint;
use sim::time::{format_duration, NANOS_PER_SEC};
use sim::Protocol;
use std::collections::BTreeSet;
use toml::Spanned;

/// Most operations in flight across all open-loop clients (`clients × in_flight`): each is a
/// lane the engine keeps.
const MAX_LANES: usize = 100_000;

/// The largest value an `[[ops]]` entry may name.
const MAX_VALUE: u64 = 1_000_000_000_000_000;

type OpSpecOf<P> = <<P as Protocol>::Workload as Family>::OpSpec;
type SpecOf<P> = <<P as Protocol>::Workload as Family>::Spec;

impl<P: Protocol> Builder<'_, P> {
    /// Rejects `[workload]` and `[[ops]]` keys neither the engine nor the family knows, and
    /// any client operations for a protocol that serves none. Runs before the family's own
    /// pass, whose errors for such keys would be less clear.
    pub(super) fn check_workload_keys(&self, f: &ScenarioFile<Spanned<P::Params>>) -> R<()> {
        let family = P::Workload::NAME;
        if P::Workload::OPS.is_empty() {
            let w = self.keys.workload.as_ref().and_then(|w| w.keys().next());
            let o = self
                .keys
                .ops
                .as_ref()
                .and_then(|o| o.first())
                .and_then(|o| o.keys().next());
            if let Some(k) = w.or(o) {
                return self.err(
                    k.span(),
                    format!("protocol `{}` serves no client operations", P::NAME),
                    Some("remove [workload] and [[ops]]".into()),
                );
            }
        }
        let fam_workload = super::super::spec::fields_of::<SpecOf<P>>();
        if let Some(w) = &self.keys.workload {
            let what = format!("[workload] (engine keys, and the `{family}` family's)");
            self.unknown_keys(&what, w.keys(), fields_of::<WorkloadSpec>(), fam_workload)?;
            if !P::Workload::KEYED {
                if let Some(k) = w
                    .keys()
                    .find(|k| ["keys", "key_ops"].contains(&k.get_ref().as_str()))
                {
                    return self.err(
                        k.span(),
                        format!("the `{family}` family's operations name no keys"),
                        None,
                    );
                }
            }
        }
        let fam_ops = fields_of::<OpSpecOf<P>>();
        for entry in self.keys.ops.iter().flatten() {
            let what = format!("[[ops]] (engine keys, and the `{family}` family's)");
            self.unknown_keys(&what, entry.keys(), fields_of::<OpSpec>(), fam_ops)?;
        }
        let _ = f;
        Ok(())
    }

    /// The family's `[workload]` keys, checked by the family.
    pub(super) fn family_workload(&self, fam: &FamilyFile<SpecOf<P>, OpSpecOf<P>>) -> R<SpecOf<P>> {
        let spec = fam.workload.clone().unwrap_or_default();
        if let Err(e) = P::Workload::validate(&spec) {
            return self.spec_err(e, self.keys.workload.as_ref(), 0..0);
        }
        Ok(spec)
    }

    /// Clients: those of the random workload (`[workload] clients`, default 3), and any more
    /// that scheduled ops name (they run only their scheduled ops).
    pub(super) fn client_count(&self, f: &ScenarioFile<Spanned<P::Params>>) -> R<(usize, usize)> {
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

    pub(super) fn workload(&self, w: &WorkloadSpec, random_clients: usize, cfg: &mut SimConfig) -> R<()> {
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
        cfg.clients.in_flight = match (w.mode.as_ref().map(|m| m.get_ref().as_str()), &w.in_flight) {
            (None | Some("closed"), None) => None,
            (Some("open"), n) => Some(match n {
                Some(n) => self.int_in(n, 1, 10_000, "in_flight")? as usize,
                None => 16,
            }),
            (None | Some("closed"), Some(n)) => {
                return self.err(
                    n.span(),
                    "`in_flight` is for the open loop",
                    Some(
                        "add mode = \"open\" (the closed loop has one operation in flight per client)".into(),
                    ),
                )
            }
            (Some(other), _) => {
                let span = w.mode.as_ref().map(|m| m.span()).unwrap_or(0..0);
                return self.err(
                    span,
                    format!("unknown mode `{other}`"),
                    Some("use \"closed\" (one operation in flight per client) or \"open\"".into()),
                );
            }
        };
        if let (Some(n), Some(span)) = (cfg.clients.in_flight, w.in_flight.as_ref().map(|s| s.span())) {
            if n.saturating_mul(cfg.clients.clients) > MAX_LANES {
                return self.err(
                    span,
                    format!(
                        "{} clients × in_flight {n} is over {MAX_LANES} operations in flight",
                        cfg.clients.clients
                    ),
                    Some("fewer clients or a smaller in_flight".into()),
                );
            }
        }
        cfg.clients.group = match &w.group {
            Some(g) if cfg.cluster.group(g.get_ref()).is_some() => Some(g.get_ref().clone()),
            Some(g) => {
                let names: Vec<&str> = cfg.cluster.groups().iter().map(|g| g.name.as_str()).collect();
                return self.err(
                    g.span(),
                    format!("no node group `{}`", g.get_ref()),
                    Some(format!("groups: {}", names.join(", "))),
                );
            }
            None => None,
        };
        let keys = match &w.keys {
            Some(k) => self.int_in(k, 1, 1_000_000, "keys")? as u32,
            None => 5,
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
            start,
            stop,
        });
        Ok(())
    }

    /// The `[[ops]]` entries: the engine's keys here, the family's checked by the family;
    /// `repeat` expanded; sorted by time.
    pub(super) fn scheduled_ops(
        &self,
        f: &ScenarioFile<Spanned<P::Params>>,
        fam: &FamilyFile<SpecOf<P>, OpSpecOf<P>>,
        cfg: &SimConfig,
    ) -> R<Vec<ScheduledOp<OpSpecOf<P>>>> {
        let mut out = Vec::new();
        let mut written = BTreeSet::new();
        let specs = fam.ops.iter().flatten();
        for (i, (entry, spec)) in f.ops.iter().flatten().zip(specs).enumerate() {
            let keys = self.keys.ops.as_ref().and_then(|o| o.get(i));
            let info = match P::Workload::validate_op(spec) {
                Ok(info) => info,
                Err(e) => return self.spec_err(e, keys, entry.span()),
            };
            // Fresh values count up from the largest named one, and must stay exact in JSON
            // and TOML.
            if let Some(v) = info.values.iter().find(|v| **v > MAX_VALUE) {
                return self.err(
                    entry.span(),
                    format!("the value {v} is too large"),
                    Some("values are at most 10^15".into()),
                );
            }
            // Written values must be unique (a read names the write it saw).
            for v in &info.writes {
                if !written.insert(*v) {
                    return self.err(
                        entry.span(),
                        format!("the value {v} is written twice; written values must be unique"),
                        Some("leave the value out to get a fresh unique one".into()),
                    );
                }
            }
            let (at, client) = self.op_time_and_client(entry, cfg)?;
            let s = entry.get_ref();
            let repeat = match &s.repeat {
                Some(r) => self.int_in(r, 1, 1_000_000, "repeat")? as u64,
                None => 1,
            };
            let every = s.every.map(|d| d.0).unwrap_or(0);
            if repeat > 1 && every == 0 {
                return self.err(
                    entry.span(),
                    "`repeat` needs `every`, e.g. every = \"10ms\"",
                    None,
                );
            }
            if repeat > 1 && !info.writes.is_empty() {
                return self.err(
                    entry.span(),
                    "a repeated write cannot have a fixed `value` or `to` (values are unique)",
                    None,
                );
            }
            let last = at.saturating_add((repeat - 1).saturating_mul(every));
            if last > cfg.duration {
                return self.err(
                    entry.span(),
                    "repeated operations run past the end of the run",
                    None,
                );
            }
            let retire = match &s.retire {
                Some(r) if *r.get_ref() => {
                    if repeat > 1 {
                        return self.err(r.span(), "a repeated op cannot retire its keys", None);
                    }
                    info.keys.clone()
                }
                _ => Vec::new(),
            };
            for k in 0..repeat {
                let op = ScheduledOp {
                    at: at + k * every,
                    client,
                    op: spec.clone(),
                    retire: retire.clone(),
                };
                out.push((op, info.keys.clone(), entry.span()));
            }
        }
        // By time, ties in file order (a stable sort).
        out.sort_by_key(|(o, _, _)| o.at);
        let mut retired = BTreeSet::new();
        for (op, keys, span) in &out {
            if let Some(k) = keys.iter().find(|k| retired.contains(*k)) {
                return self.err(
                    span.clone(),
                    format!("this op names k{k}, which an earlier op retired (`retire = true`)"),
                    Some("no op may name a key after the op that retires it".into()),
                );
            }
            retired.extend(op.retire.iter().copied());
        }
        Ok(out.into_iter().map(|(op, _, _)| op).collect())
    }

    fn op_time_and_client(&self, o: &Spanned<OpSpec>, cfg: &SimConfig) -> R<(u64, sim::ClientId)> {
        let s = o.get_ref();
        let at = s.at.get_ref().0;
        if at > cfg.duration {
            return self.err(
                s.at.span(),
                format!("operation at {} is after the end of the run", format_duration(at)),
                None,
            );
        }
        match self.endpoint(&s.client, cfg)? {
            Endpoint::Client(c) => Ok((at, c)),
            Endpoint::Node(_) => self.err(
                s.client.span(),
                "operations are issued by clients (c1, c2, …)",
                None,
            ),
        }
    }
}
