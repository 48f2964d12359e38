//! The client history: each operation's invocation and completion with true-time stamps,
//! streamed to observers (checkers, `history.jsonl`) as it happens, never held whole. The
//! operations are the workload family's ([`crate::family`]); the checks that read them are
//! the family's too, except the engine's own `ops-complete`.

use crate::checks::{CheckKind, CheckResult, CheckStatus};
use crate::family::Family;
use crate::ids::{ClientId, Key};
use crate::time::{format_duration, Time, TraceTime};
use std::collections::BTreeMap;
use std::io::{self, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    /// Completed and took effect.
    Ok,
    /// Completed without taking effect (e.g. a compare-and-set whose comparison failed; it is
    /// still checked against the value it saw).
    Fail,
    /// Indeterminate: the client gave up; it may or may not take effect, ever.
    Info,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        }
    }
}

/// One line of the history.
#[derive(Debug)]
pub struct HistoryEvent<'a, F: Family> {
    pub kind: EventType,
    pub process: u64,
    pub client: ClientId,
    pub op: &'a F::Op,
    /// The server's answer, for `ok` and `fail`.
    pub reply: Option<&'a F::Reply>,
    pub time: Time,
    /// Index of the engine event it happened in (as in `trace.jsonl` and a check's `event`).
    pub event: u64,
    /// On an invocation in the open loop: when the operation arrived, if it waited for a free
    /// lane (latency counts from here). Otherwise `time`.
    pub arrived: Time,
}

/// The `history.jsonl` line, keys in this order: `type`, `process`, `client`, the family's
/// fields, `time_ns`, `i`.
impl<F: Family> serde::Serialize for HistoryEvent<'_, F> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut fields = Vec::with_capacity(4);
        F::history_fields(self.op, self.kind, self.reply, &mut fields);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.kind.name())?;
        m.serialize_entry("process", &self.process)?;
        m.serialize_entry("client", &self.client.to_string())?;
        for (k, v) in &fields {
            m.serialize_entry(k, v)?;
        }
        m.serialize_entry("time_ns", &self.time)?;
        if self.arrived < self.time {
            m.serialize_entry("arrived_ns", &self.arrived)?;
        }
        m.serialize_entry("i", &self.event)?;
        m.end()
    }
}

/// Something that consumes the history as it streams.
pub trait HistoryObserver<F: Family> {
    fn observe(&mut self, event: &HistoryEvent<F>);
    /// No operation will be invoked on `key` again (the workload rotates keys).
    fn key_retired(&mut self, _key: Key) {}
    /// The verdict at the end of the run.
    fn finish(&mut self) -> Option<CheckResult>;
    /// True once a violation is certain (lets the run stop early).
    fn violated(&self) -> bool {
        false
    }
    /// Reports the check's metrics (declared in the family's `metrics()`), before `finish`.
    fn metrics(&mut self, _sink: &mut crate::protocol::CheckSink) {}
}

/// Streams the history to `history.jsonl`.
pub struct HistoryWriter {
    out: io::BufWriter<Box<dyn Write>>,
    error: Option<io::Error>,
}

impl HistoryWriter {
    pub fn new(out: Box<dyn Write>) -> Self {
        HistoryWriter {
            out: io::BufWriter::with_capacity(1 << 16, out),
            error: None,
        }
    }

    pub fn write<F: Family>(&mut self, event: &HistoryEvent<F>) {
        let r = serde_json::to_writer(&mut self.out, event)
            .map_err(io::Error::from)
            .and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = r {
            self.error.get_or_insert(e);
        }
    }

    pub fn finish_io(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()
    }
}

/// The engine-level liveness check "every client operation completes after the quiet period".
pub struct OpsCompleteCheck<F: Family> {
    /// Operations invoked at or after this time must complete with `ok` or `fail`.
    from: Option<Time>,
    bound: Time,
    checked: u64,
    violation: Option<(Time, String)>,
    /// process → invoke time, for operations in the window.
    pending: BTreeMap<u64, (Time, F::Op)>,
}

impl<F: Family> OpsCompleteCheck<F> {
    /// Watches operations invoked from `quiet_from + bound` on.
    pub fn new(quiet_from: Option<Time>, bound: Time) -> Self {
        OpsCompleteCheck {
            from: quiet_from.map(|q| q.saturating_add(bound)),
            bound,
            checked: 0,
            violation: None,
            pending: BTreeMap::new(),
        }
    }

    /// True once an operation gave up after the quiet period.
    pub fn violated(&self) -> bool {
        self.violation.is_some()
    }

    pub fn observe(&mut self, e: &HistoryEvent<F>) {
        let Some(from) = self.from else { return };
        match e.kind {
            EventType::Invoke => {
                if e.time >= from {
                    self.pending.insert(e.process, (e.time, e.op.clone()));
                }
            }
            EventType::Ok | EventType::Fail => {
                if self.pending.remove(&e.process).is_some() {
                    self.checked += 1;
                }
            }
            EventType::Info => {
                if let Some((t, op)) = self.pending.remove(&e.process) {
                    if self.violation.is_none() {
                        self.violation = Some((
                            e.time,
                            format!(
                                "{} {op} invoked at {} (after the quiet period had lasted {}) gave up without an answer",
                                e.client,
                                TraceTime(t),
                                format_duration(self.bound)
                            ),
                        ));
                    }
                }
            }
        }
    }

    pub fn finish(&self, end: Time, cut_short: Option<&str>) -> CheckResult {
        let mut r = CheckResult {
            name: "ops-complete".into(),
            kind: CheckKind::Eventually,
            status: CheckStatus::Pass,
            detail: String::new(),
            event: None,
            time_ns: None,
        };
        let Some(from) = self.from else {
            r.status = CheckStatus::Skipped;
            r.detail = "no quiet period in this scenario".into();
            return r;
        };
        if let Some((t, d)) = &self.violation {
            r.status = CheckStatus::Fail;
            r.detail = d.clone();
            r.time_ns = Some(*t);
            return r;
        }
        // Operations still pending long after invocation at the end count as stuck.
        if cut_short.is_none() {
            if let Some((p, (t, op))) = self
                .pending
                .iter()
                .find(|(_, (t, _))| end.saturating_sub(*t) > self.bound)
            {
                r.status = CheckStatus::Fail;
                r.detail = format!(
                    "{op} (process {p}) invoked at {} was still pending at the end, {} later",
                    TraceTime(*t),
                    format_duration(end - t)
                );
                return r;
            }
        }
        if self.checked == 0 {
            r.status = CheckStatus::Skipped;
            r.detail = format!("no operation was invoked after {}", format_duration(from));
        } else {
            r.detail = format!(
                "{} operations invoked after {} all completed",
                self.checked,
                format_duration(from)
            );
        }
        r
    }
}
