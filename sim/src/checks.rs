//! The checks framework: `always` (safety, checked after every event), `sometimes` (must be
//! reached, so a pass is not vacuous), `eventually` (must hold within a bound after the quiet
//! period starts) and `history` (the client history as a whole).

use crate::time::{format_duration, Time, TraceTime};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Always,
    Sometimes,
    Eventually,
    History,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Always => "always",
            CheckKind::Sometimes => "sometimes",
            CheckKind::Eventually => "eventually",
            CheckKind::History => "history",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Fail,
    Unknown,
    Skipped,
}

/// A check a protocol (or the engine) can report.
#[derive(Clone, Debug, Serialize)]
pub struct CheckDecl {
    pub name: &'static str,
    pub kind: CheckKind,
    pub description: &'static str,
    /// A history check that runs only where a scenario switches it on (`[checks] NAME =
    /// true`), e.g. one implied by another that is on by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub opt_in: bool,
}

impl CheckDecl {
    /// This history check off unless a scenario asks for it.
    pub const fn opt_in(mut self) -> Self {
        self.opt_in = true;
        self
    }

    pub const fn always(name: &'static str, description: &'static str) -> Self {
        CheckDecl {
            name,
            kind: CheckKind::Always,
            description,
            opt_in: false,
        }
    }
    pub const fn sometimes(name: &'static str, description: &'static str) -> Self {
        CheckDecl {
            name,
            kind: CheckKind::Sometimes,
            description,
            opt_in: false,
        }
    }
    pub const fn eventually(name: &'static str, description: &'static str) -> Self {
        CheckDecl {
            name,
            kind: CheckKind::Eventually,
            description,
            opt_in: false,
        }
    }
    pub const fn history(name: &'static str, description: &'static str) -> Self {
        CheckDecl {
            name,
            kind: CheckKind::History,
            description,
            opt_in: false,
        }
    }
}

/// A condition a protocol reports whenever it holds ([`crate::CheckSink::holds`]): not a
/// check (nothing fails), but what a scenario's `[[metrics]]` measure up to, e.g. "every live
/// server knows the same leader". Eventually-checks can be measured up to as well.
#[derive(Clone, Debug, Serialize)]
pub struct ConditionDecl {
    pub name: &'static str,
    pub description: &'static str,
}

impl ConditionDecl {
    pub const fn new(name: &'static str, description: &'static str) -> Self {
        ConditionDecl { name, description }
    }
}

/// A scenario's `[[metrics]]` span while the run goes on.
struct Span {
    name: String,
    from: Option<String>,
    until: String,
    started: Option<Time>,
    measured: Option<Time>,
}

/// One check's verdict, as reported in `result.json` (`checks[{name,kind,status,detail}]`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CheckResult {
    pub name: String,
    pub kind: CheckKind,
    pub status: CheckStatus,
    pub detail: String,
    /// Index of the event after which a violation first held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<u64>,
    /// Simulated time (ns) of that event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_ns: Option<Time>,
}

struct Entry {
    decl: CheckDecl,
    failed: Option<(u64, Time, String)>,
    /// First (event, time) at which a `sometimes` check was reached.
    reached: Option<(u64, Time)>,
    /// First time (≥ quiet start) at which an eventually-predicate held.
    held_at: Option<Time>,
    required: bool,
    bound: Time,
}

/// Live state of every check during a run.
pub struct CheckBoard {
    entries: Vec<Entry>,
    pub(crate) event: u64,
    pub(crate) now: Time,
    /// Start of the quiet period, if the scenario has one.
    quiet_from: Option<Time>,
    /// Checks named in `fail`/`reached`/`holds` that were never declared: a protocol bug.
    undeclared: Vec<&'static str>,
    any_failed: bool,
    pub(crate) metrics: crate::metrics::Metrics,
    metric_decls: Vec<crate::metrics::MetricDecl>,
    /// Metrics reported but never declared (a protocol bug, reported like an undeclared check).
    undeclared_metrics: Vec<&'static str>,
    conditions: Vec<ConditionDecl>,
    spans: Vec<Span>,
    /// Spans started and not measured yet.
    open_spans: usize,
    /// What a protocol said about an eventually-check at the end of the run (why it does not
    /// hold), added to the check's detail when it failed.
    explained: Vec<(&'static str, String)>,
}

impl CheckBoard {
    pub fn new(decls: Vec<CheckDecl>, quiet_from: Option<Time>, default_bound: Time) -> Self {
        CheckBoard {
            entries: decls
                .into_iter()
                .map(|decl| Entry {
                    decl,
                    failed: None,
                    reached: None,
                    held_at: None,
                    required: false,
                    bound: default_bound,
                })
                .collect(),
            event: 0,
            now: 0,
            quiet_from,
            undeclared: Vec::new(),
            any_failed: false,
            metrics: Default::default(),
            metric_decls: Vec::new(),
            undeclared_metrics: Vec::new(),
            explained: Vec::new(),
            conditions: Vec::new(),
            spans: Vec::new(),
            open_spans: 0,
        }
    }

    /// Declares the conditions the protocol may report holding.
    pub fn declare_conditions(&mut self, decls: impl IntoIterator<Item = ConditionDecl>) {
        self.conditions.extend(decls);
    }

    /// The scenario's `[[metrics]]`; a span without `from` starts at once.
    pub fn set_spans(&mut self, spans: &[crate::config::SpanMetric]) {
        self.spans = spans
            .iter()
            .map(|s| Span {
                name: s.name.clone(),
                from: s.from.clone(),
                until: s.until.clone(),
                started: if s.from.is_none() { Some(0) } else { None },
                measured: None,
            })
            .collect();
        self.open_spans = self.spans.iter().filter(|s| s.started.is_some()).count();
    }

    /// The scheduled fault named `name` happened: spans from it start now (the first time).
    pub fn mark(&mut self, name: &str) {
        let now = self.now;
        for s in &mut self.spans {
            if s.started.is_none() && s.from.as_deref() == Some(name) {
                s.started = Some(now);
                self.open_spans += 1;
            }
        }
    }

    /// Whether a started span waits for `condition` (so a protocol computes it only then).
    #[inline]
    pub fn wants(&self, condition: &str) -> bool {
        self.open_spans > 0
            && self
                .spans
                .iter()
                .any(|s| s.started.is_some() && s.measured.is_none() && s.until == condition)
    }

    /// True when the scenario has spans and every one is measured.
    pub fn all_measured(&self) -> bool {
        !self.spans.is_empty() && self.spans.iter().all(|s| s.measured.is_some())
    }

    /// Each span's value (ns), or `None` when it was never measured (censored).
    pub fn span_results(&self) -> Vec<(String, Option<Time>)> {
        self.spans
            .iter()
            .map(|s| {
                let v = match (s.started, s.measured) {
                    (Some(a), Some(b)) => Some(b - a),
                    _ => None,
                };
                (s.name.clone(), v)
            })
            .collect()
    }

    /// Declares the metrics that may be reported.
    pub fn declare_metrics(&mut self, decls: impl IntoIterator<Item = crate::metrics::MetricDecl>) {
        self.metric_decls.extend(decls);
    }

    fn metric_declared(&mut self, name: &'static str) -> bool {
        let known = self
            .metric_decls
            .iter()
            .any(|d| std::ptr::eq(d.name, name) || d.name == name);
        if !known && !self.undeclared_metrics.contains(&name) {
            self.undeclared_metrics.push(name);
        }
        known
    }

    /// One sample of a series metric.
    pub fn sample(&mut self, name: &'static str, v: f64) {
        if self.metric_declared(name) {
            self.metrics.sample_at(name, self.now, v);
        }
    }

    /// The single value of a metric (the last one reported counts).
    pub fn value(&mut self, name: &'static str, v: f64) {
        if self.metric_declared(name) {
            self.metrics.value(name, v);
        }
    }

    pub fn decls(&self) -> impl Iterator<Item = &CheckDecl> {
        self.entries.iter().map(|e| &e.decl)
    }

    pub fn set_required(&mut self, name: &str) -> bool {
        match self.entries.iter_mut().find(|e| e.decl.name == name) {
            Some(e) if e.decl.kind == CheckKind::Sometimes => {
                e.required = true;
                true
            }
            _ => false,
        }
    }

    pub fn set_bound(&mut self, name: &str, bound: Time) -> bool {
        match self.entries.iter_mut().find(|e| e.decl.name == name) {
            Some(e) if e.decl.kind == CheckKind::Eventually => {
                e.bound = bound;
                true
            }
            _ => false,
        }
    }

    fn entry(&mut self, name: &'static str) -> Option<&mut Entry> {
        // Names are usually the very same static strings as in the declarations: compare the
        // pointers first (this runs after every event).
        let found = self
            .entries
            .iter()
            .position(|e| std::ptr::eq(e.decl.name, name))
            .or_else(|| self.entries.iter().position(|e| e.decl.name == name));
        match found {
            Some(i) => Some(&mut self.entries[i]),
            None => {
                if !self.undeclared.contains(&name) {
                    self.undeclared.push(name);
                }
                None
            }
        }
    }

    pub fn fail(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        let (event, now) = (self.event, self.now);
        if let Some(e) = self.entry(name) {
            if e.failed.is_none() {
                e.failed = Some((event, now, detail()));
                self.any_failed = true;
            }
        }
    }

    /// Why eventually-check `name` does not hold now (called at the end of the run): shown
    /// after its detail if it failed. The last explanation counts.
    pub fn explain(&mut self, name: &'static str, detail: String) {
        self.explained.retain(|(n, _)| *n != name);
        self.explained.push((name, detail));
    }

    pub fn reached(&mut self, name: &'static str) {
        let at = (self.event, self.now);
        if let Some(e) = self.entry(name) {
            e.reached.get_or_insert(at);
        }
    }

    pub fn holds(&mut self, name: &'static str) {
        let (now, quiet) = (self.now, self.quiet_from);
        if self.open_spans > 0 {
            for s in &mut self.spans {
                if s.started.is_some() && s.measured.is_none() && s.until == name {
                    s.measured = Some(now);
                    self.open_spans -= 1;
                }
            }
        }
        if self
            .conditions
            .iter()
            .any(|c| std::ptr::eq(c.name, name) || c.name == name)
        {
            return;
        }
        if let Some(e) = self.entry(name) {
            if e.held_at.is_none() && quiet.is_some_and(|q| now >= q) {
                e.held_at = Some(now);
            }
        }
    }

    pub fn quiet_from(&self) -> Option<Time> {
        self.quiet_from
    }

    /// True once any check has failed.
    #[inline]
    pub fn any_failed(&self) -> bool {
        self.any_failed
    }

    /// Final verdicts. `end` is the time the run stopped; `cut_short` says a bound (events)
    /// stopped it early.
    pub fn finish(&self, end: Time, cut_short: Option<&str>) -> Vec<CheckResult> {
        let mut out: Vec<CheckResult> = self
            .entries
            .iter()
            .map(|e| self.verdict(e, end, cut_short))
            .collect();
        for name in &self.undeclared {
            out.push(CheckResult {
                name: name.to_string(),
                kind: CheckKind::Always,
                status: CheckStatus::Fail,
                detail: "reported by the protocol's invariants but never declared in checks()".into(),
                event: None,
                time_ns: None,
            });
        }
        for name in &self.undeclared_metrics {
            out.push(CheckResult {
                name: format!("metric {name}"),
                kind: CheckKind::Always,
                status: CheckStatus::Fail,
                detail: "a metric reported but never declared in metrics()".into(),
                event: None,
                time_ns: None,
            });
        }
        out
    }

    fn verdict(&self, e: &Entry, end: Time, cut_short: Option<&str>) -> CheckResult {
        let mut r = CheckResult {
            name: e.decl.name.to_string(),
            kind: e.decl.kind,
            status: CheckStatus::Pass,
            detail: String::new(),
            event: None,
            time_ns: None,
        };
        if let Some((event, t, detail)) = &e.failed {
            r.status = CheckStatus::Fail;
            r.detail = format!("event {event} at {}: {detail}", TraceTime(*t));
            r.event = Some(*event);
            r.time_ns = Some(*t);
            return r;
        }
        match e.decl.kind {
            CheckKind::Always | CheckKind::History => {
                r.detail = format!("held after every event ({})", e.decl.description);
            }
            CheckKind::Sometimes => {
                if let Some((event, t)) = e.reached {
                    r.detail = format!("first reached at event {event}, {}", TraceTime(t));
                    r.event = Some(event);
                    r.time_ns = Some(t);
                } else if e.required {
                    r.status = CheckStatus::Fail;
                    r.detail = format!(
                        "never reached, but the scenario requires it: {}",
                        e.decl.description
                    );
                } else {
                    r.status = CheckStatus::Skipped;
                    r.detail = "not reached in this run".into();
                }
            }
            CheckKind::Eventually => match self.quiet_from {
                None => {
                    r.status = CheckStatus::Skipped;
                    r.detail = "no quiet period in this scenario".into();
                }
                Some(q) => {
                    let deadline = q.saturating_add(e.bound);
                    match e.held_at {
                        Some(t) if t <= deadline => {
                            r.detail =
                                format!("held {} after the quiet period began", format_duration(t - q));
                        }
                        _ if end < deadline => {
                            r.status = CheckStatus::Skipped;
                            r.detail = match cut_short {
                                Some(why) => format!("run stopped early ({why}) before the deadline"),
                                None => format!(
                                    "the run ends before the deadline (quiet from {} + {})",
                                    format_duration(q),
                                    format_duration(e.bound)
                                ),
                            };
                        }
                        Some(t) => {
                            r.status = CheckStatus::Fail;
                            r.detail = format!(
                                "held only {} after the quiet period began; the bound is {}",
                                format_duration(t - q),
                                format_duration(e.bound)
                            );
                            r.time_ns = Some(deadline);
                        }
                        None => {
                            r.status = CheckStatus::Fail;
                            r.detail = format!(
                                "did not hold within {} after the quiet period began at {}: {}",
                                format_duration(e.bound),
                                format_duration(q),
                                e.decl.description
                            );
                            if let Some((_, why)) = self.explained.iter().find(|(n, _)| *n == e.decl.name) {
                                r.detail.push_str(&format!("; at the end of the run, {why}"));
                            }
                            r.time_ns = Some(deadline);
                        }
                    }
                }
            },
        }
        r
    }
}
