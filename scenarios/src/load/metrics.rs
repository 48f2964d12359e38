//! `[[metrics]]` (spans measured without writing Rust) and the shape of `[sweep]`.

use super::{Builder, R};
use crate::spec::*;
use sim::config::{SimConfig, SpanMetric};
use sim::family::Family;
use sim::{CheckKind, Invariants, Protocol};
use toml::Spanned;

/// The statistics a sweep may take of a metric that is a series in one run.
pub const STATS: [&str; 6] = ["n", "min", "median", "mean", "p99", "max"];

/// `latency.p99` → (`latency`, `Some("p99")`); a name without a statistic → (name, None).
pub fn split_stat(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('.') {
        Some((b, st)) if STATS.contains(&st) => (b, Some(st)),
        _ => (name, None),
    }
}

/// A name for a metric or a fault: letters, digits, `-`, `_`.
pub fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl<P: Protocol> Builder<'_, P> {
    /// What `until` may name: the protocol's conditions and its eventually-checks.
    fn conditions() -> Vec<&'static str> {
        let mut out: Vec<&'static str> = <P::Invariants as Invariants<P>>::conditions()
            .iter()
            .map(|c| c.name)
            .collect();
        out.extend(
            <P::Invariants as Invariants<P>>::checks()
                .iter()
                .filter(|c| c.kind == CheckKind::Eventually)
                .map(|c| c.name),
        );
        out
    }

    /// Every metric a run of this protocol can report (engine, protocol, family).
    pub(super) fn reported_metrics() -> Vec<sim::metrics::MetricDecl> {
        let mut all = sim::engine::engine_metrics();
        all.extend(<P::Invariants as Invariants<P>>::metrics());
        all.extend(<P::Workload as Family>::metrics());
        all
    }

    pub(super) fn span_metric(
        &self,
        m: &Spanned<MetricSpec>,
        fault_names: &[String],
        cfg: &SimConfig,
    ) -> R<SpanMetric> {
        let s = m.get_ref();
        let name = s.name.get_ref();
        if !plain_name(name) {
            return self.err(
                s.name.span(),
                format!("metric name `{name}`: use letters, digits, `-` and `_`"),
                Some("e.g. name = \"downtime\"".into()),
            );
        }
        if cfg.spans.iter().any(|x| &x.name == name) {
            return self.err(s.name.span(), format!("two [[metrics]] are named `{name}`"), None);
        }
        if Self::reported_metrics().iter().any(|d| d.name == name) {
            return self.err(
                s.name.span(),
                format!(
                    "`{name}` is already a metric of `{}`: choose another name",
                    P::NAME
                ),
                None,
            );
        }
        let from = match &s.from {
            None => None,
            Some(f) if f.get_ref() == "start" => None,
            Some(f) => {
                if !fault_names.contains(f.get_ref()) {
                    let hint = if fault_names.is_empty() {
                        "give a [[faults]] entry a name (name = \"crash\") or write from = \"start\""
                            .to_string()
                    } else {
                        format!("named faults: {}; or \"start\"", fault_names.join(", "))
                    };
                    return self.err(
                        f.span(),
                        format!("no fault is named `{}`", f.get_ref()),
                        Some(hint),
                    );
                }
                Some(f.get_ref().clone())
            }
        };
        let conditions = Self::conditions();
        let until = s.until.get_ref();
        if !conditions.contains(&until.as_str()) {
            let hint = if conditions.is_empty() {
                format!("protocol `{}` reports no conditions", P::NAME)
            } else {
                format!(
                    "conditions of `{}`: {} (see `dsim list`)",
                    P::NAME,
                    conditions.join(", ")
                )
            };
            return self.err(
                s.until.span(),
                format!("`{until}` is not a condition of `{}`", P::NAME),
                Some(hint),
            );
        }
        Ok(SpanMetric {
            name: name.clone(),
            from,
            until: until.clone(),
        })
    }

    /// The shape of `[sweep]`: trial counts, key paths, and metric names that exist.
    pub(super) fn sweep(&self, s: &Spanned<SweepSpec>, cfg: &SimConfig) -> R<()> {
        let sw = s.get_ref();
        if let Some(t) = &sw.trials {
            self.int_in(t, 1, 1_000_000, "trials")?;
        }
        for t in sw.trials_for.iter().flatten() {
            self.int_in(&t.get_ref().trials, 1, 1_000_000, "trials")?;
        }
        for (key, values) in sw.set.iter().flat_map(|t| t.get_ref().iter()) {
            let span = sw.set.as_ref().map_or(s.span(), |t| t.span());
            if values.as_array().is_none_or(|a| a.is_empty()) {
                return self.err(
                    span,
                    format!("sweep `{key}`: list at least one value, e.g. \"{key}\" = [1, 2]"),
                    None,
                );
            }
            if let Err(e) = crate::keypath::check(key) {
                return self.err(span, format!("sweep: {e}"), None);
            }
        }
        let reported = Self::reported_metrics();
        for m in sw.metrics.iter().flatten() {
            let (base, stat) = split_stat(m.get_ref());
            let span_metric = cfg.spans.iter().any(|x| x.name == base);
            if !span_metric && !reported.iter().any(|d| d.name == base) {
                let mut names: Vec<&str> = cfg.spans.iter().map(|x| x.name.as_str()).collect();
                names.extend(reported.iter().map(|d| d.name));
                return self.err(
                    m.span(),
                    format!(
                        "sweep: `{base}` is neither a [[metrics]] entry nor a metric of `{}`",
                        P::NAME
                    ),
                    Some(format!("metrics: {}", names.join(", "))),
                );
            }
            if span_metric && stat.is_some() {
                return self.err(
                    m.span(),
                    format!(
                        "sweep: `{base}` is one value per run: drop the `.{}`",
                        stat.unwrap_or("")
                    ),
                    None,
                );
            }
        }
        if sw.metrics.is_none() && cfg.spans.is_empty() {
            return self.err(
                s.span(),
                "[sweep] has nothing to measure: declare [[metrics]] or list `metrics`",
                Some("e.g. metrics = [\"latency.p99\"], or a [[metrics]] entry".into()),
            );
        }
        for p in sw.plot.iter().flatten() {
            if let Some(l) = &p.get_ref().labels {
                let n = p.get_ref().values.as_ref().map_or(0, Vec::len);
                if l.get_ref().len() != n {
                    return self.err(
                        l.span(),
                        format!(
                            "plot labels: {} label(s) for {n} value(s); give one per value",
                            l.get_ref().len()
                        ),
                        None,
                    );
                }
            }
            if !plain_name(p.get_ref().name.get_ref()) {
                return self.err(
                    p.get_ref().name.span(),
                    "plot name: use letters, digits, `-` and `_` (it names the file)",
                    None,
                );
            }
        }
        Ok(())
    }
}
