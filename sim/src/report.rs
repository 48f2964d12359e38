//! The result of one run, serialized as `result.json` and by `dsim run --json`.

use crate::checks::{CheckResult, CheckStatus};
use crate::time::Time;
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MessageStats {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpStats {
    pub invoked: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Still in flight when the run ended.
    pub pending: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Reached the scenario's duration.
    Time,
    /// Nothing left to do.
    Idle,
    /// Hit `limits.max_events`.
    Events,
    /// Stopped at the first violation.
    Violation,
    /// `[limits] stop_when_measured`: every `[[metrics]]` span was measured.
    Measured,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub seed: u64,
    pub nodes: usize,
    pub sim_time_ns: Time,
    pub events: u64,
    /// Events by kind (deliver, timer, sync, …).
    pub events_by_kind: std::collections::BTreeMap<String, u64>,
    pub messages: MessageStats,
    pub ops: OpStats,
    pub checks: Vec<CheckResult>,
    pub violations: usize,
    /// xxHash64 of the canonical trace, 16 hex digits.
    pub trace_hash: String,
    pub stopped_by: StopReason,
    /// Limits that were hit (`max_events`, `max_in_flight`, …).
    pub bounds_hit: Vec<String>,
    pub faults: u64,
    pub trace_bytes: u64,
    /// Metric name → summary (series) or value.
    pub metrics: std::collections::BTreeMap<String, crate::metrics::MetricSummary>,
    /// `[[metrics]]` spans never measured in this run (their start or their condition never
    /// came): censored, not silently missing (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub censored: Vec<String>,
    /// Each series metric's samples with their times (at most
    /// [`crate::metrics::MAX_TIMELINE`] each; not in JSON: `--out` writes `metrics.jsonl`).
    #[serde(skip)]
    pub metric_timelines: std::collections::BTreeMap<String, Vec<(u64, f64)>>,
    /// With [`crate::Outputs::coverage`]: the features the run reached, sorted (not in JSON).
    #[serde(skip)]
    pub coverage: Vec<u64>,
    /// With `[buggify]`: how often each enabled site fired (absent without `[buggify]`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub buggify: std::collections::BTreeMap<String, u64>,
}

impl RunReport {
    /// The report of a run whose simulation panicked (a failed assertion in a protocol or the
    /// engine): one failed check, `no-panic`.
    pub fn panicked(seed: u64, nodes: usize, message: &str) -> Self {
        RunReport {
            seed,
            nodes,
            sim_time_ns: 0,
            events: 0,
            events_by_kind: Default::default(),
            messages: Default::default(),
            ops: Default::default(),
            checks: vec![CheckResult {
                name: "no-panic".into(),
                kind: crate::checks::CheckKind::Always,
                status: CheckStatus::Fail,
                detail: format!("the simulation panicked: {message}"),
                event: None,
                time_ns: None,
            }],
            violations: 1,
            trace_hash: String::new(),
            stopped_by: StopReason::Violation,
            bounds_hit: Vec::new(),
            faults: 0,
            trace_bytes: 0,
            buggify: Default::default(),
            metrics: Default::default(),
            metric_timelines: Default::default(),
            censored: Vec::new(),
            coverage: Vec::new(),
        }
    }

    /// 1 if a check failed, 3 if a check was inconclusive and none failed, else 0.
    pub fn exit_code(&self) -> i32 {
        if self.checks.iter().any(|c| c.status == CheckStatus::Fail) {
            1
        } else if self.checks.iter().any(|c| c.status == CheckStatus::Unknown) {
            3
        } else {
            0
        }
    }

    pub fn failed_checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status == CheckStatus::Fail)
    }
}
