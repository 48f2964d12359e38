//! The kv family's history checks: `stale-read` (cheap, incremental) and `linearizable` (the
//! full check, per key, with `sim::linearize`).

use super::{Kv, KvOp, KvReply};
use sim::checks::{CheckKind, CheckResult, CheckStatus};
use sim::history::{EventType, HistoryEvent, HistoryObserver};
use sim::time::{Time, TraceTime};
use sim::{Key, Value};
use std::collections::BTreeMap;

/// The list an `ok` read returned.
fn read_list(e: &HistoryEvent<Kv>) -> Vec<Value> {
    match e.reply {
        Some(KvReply::Ok(list)) => list.clone(),
        _ => Vec::new(),
    }
}

/// The simple history check: no read returns a value older than a write acknowledged before
/// the read was invoked, and no read returns a value nobody wrote.
///
/// With unique values a read names the write it saw (the last element of the list read). The
/// read is stale if some write `A` was acknowledged before the read was invoked while the write
/// it saw, `W`, had completed before `A` was even invoked: `W` → `A` → read in real time, so a
/// linearizable store cannot return `W`'s value. Incremental: per key it keeps, for each write,
/// only its invocation/completion times.
/// A read in flight: its key, invocation time, and the latest acknowledged write (invoke time,
/// value) of the key when it was invoked.
type PendingRead = (Key, Time, Option<(Time, Value)>);

pub struct StaleReadCheck {
    /// Per value: (key, invoke time, completion time if acknowledged).
    /// Per key, per value written: (invoke time, completion time if acknowledged).
    writes: BTreeMap<Key, BTreeMap<Value, (Time, Option<Time>)>>,
    tracked: usize,
    /// Per key: the latest invocation time among acknowledged writes.
    latest_acked_invoke: BTreeMap<Key, (Time, Value)>,
    /// Reads in flight: process → snapshot of `latest_acked_invoke` at invocation.
    pending_reads: BTreeMap<u64, PendingRead>,
    /// Retired keys whose writes are kept until their last read completes.
    retired: Vec<Key>,
    violation: Option<(Time, String)>,
    reads_checked: u64,
    max_tracked: usize,
    overflowed: bool,
}

impl StaleReadCheck {
    pub fn new(max_tracked: usize) -> Self {
        StaleReadCheck {
            writes: BTreeMap::new(),
            tracked: 0,
            latest_acked_invoke: BTreeMap::new(),
            pending_reads: BTreeMap::new(),
            retired: Vec::new(),
            violation: None,
            reads_checked: 0,
            max_tracked,
            overflowed: false,
        }
    }

    /// Forgets retired keys once no read on them is in flight (a read still needs the writes
    /// of its key to judge what it returns).
    fn forget_retired(&mut self) {
        let reading: std::collections::BTreeSet<Key> =
            self.pending_reads.values().map(|(k, ..)| *k).collect();
        let mut i = 0;
        while i < self.retired.len() {
            let key = self.retired[i];
            if reading.contains(&key) {
                i += 1;
                continue;
            }
            self.retired.swap_remove(i);
            if let Some(w) = self.writes.remove(&key) {
                self.tracked -= w.len();
            }
            self.latest_acked_invoke.remove(&key);
        }
    }

    fn written_value(op: &KvOp) -> Option<(Key, Value)> {
        match *op {
            KvOp::Write { key, value } | KvOp::Append { key, value } => Some((key, value)),
            KvOp::Cas { key, to, .. } => Some((key, to)),
            KvOp::Read { .. } => None,
        }
    }

    fn check_read(
        &mut self,
        key: Key,
        invoked: Time,
        snapshot: Option<(Time, Value)>,
        seen: &[Value],
        at: Time,
    ) {
        self.reads_checked += 1;
        let Some((acked_invoke, acked_value)) = snapshot else {
            return;
        };
        match seen.last() {
            None => {
                self.violation = Some((
                    at,
                    format!(
                        "read of k{key} invoked at {} returned nothing, but write of {acked_value} was acknowledged before it",
                        TraceTime(invoked)
                    ),
                ));
            }
            Some(v) => match self.writes.get(&key).and_then(|w| w.get(v)) {
                None if !self.overflowed => {
                    self.violation =
                        Some((at, format!("read of k{key} returned {v}, which no client wrote")));
                }
                None => {}
                Some(&(_, Some(w_done))) if w_done < acked_invoke => {
                    self.violation = Some((
                        at,
                        format!(
                            "stale read: read of k{key} invoked at {} returned {v}, whose write completed at {}, \
                             before the write of {acked_value} (acknowledged before the read) was invoked at {}",
                            TraceTime(invoked),
                            TraceTime(w_done),
                            TraceTime(acked_invoke)
                        ),
                    ));
                }
                Some(_) => {}
            },
        }
    }
}

impl HistoryObserver<Kv> for StaleReadCheck {
    /// True once a stale read has been seen.
    fn violated(&self) -> bool {
        self.violation.is_some()
    }

    fn key_retired(&mut self, key: Key) {
        self.retired.push(key);
        self.forget_retired();
    }

    fn observe(&mut self, e: &HistoryEvent<Kv>) {
        if self.violation.is_some() {
            return;
        }
        match (e.kind, e.op) {
            (EventType::Invoke, KvOp::Read { key }) => {
                let snap = self.latest_acked_invoke.get(key).copied();
                self.pending_reads.insert(e.process, (*key, e.time, snap));
            }
            (EventType::Invoke, op) => {
                if let Some((key, value)) = Self::written_value(op) {
                    if self.tracked < self.max_tracked {
                        self.tracked += 1;
                        self.writes.entry(key).or_default().insert(value, (e.time, None));
                    } else {
                        self.overflowed = true;
                    }
                }
            }
            (EventType::Ok, KvOp::Read { key }) => {
                if let Some((_, invoked, snap)) = self.pending_reads.remove(&e.process) {
                    let seen = read_list(e);
                    self.check_read(*key, invoked, snap, &seen, e.time);
                }
                if !self.retired.is_empty() {
                    self.forget_retired();
                }
            }
            (EventType::Ok, op) => {
                if let Some((key, value)) = Self::written_value(op) {
                    if let Some(w) = self.writes.get_mut(&key).and_then(|w| w.get_mut(&value)) {
                        w.1 = Some(e.time);
                        let inv = w.0;
                        let slot = self.latest_acked_invoke.entry(key).or_insert((inv, value));
                        if inv > slot.0 {
                            *slot = (inv, value);
                        }
                    }
                }
            }
            (EventType::Fail | EventType::Info, _) => {
                self.pending_reads.remove(&e.process);
            }
        }
    }

    fn finish(&mut self) -> Option<CheckResult> {
        let (status, detail, time_ns) = match &self.violation {
            Some((t, d)) => (CheckStatus::Fail, format!("at {}: {d}", TraceTime(*t)), Some(*t)),
            None if self.reads_checked == 0 => (CheckStatus::Skipped, "no read completed".to_string(), None),
            None => (
                CheckStatus::Pass,
                format!(
                    "{} reads checked{}",
                    self.reads_checked,
                    if self.overflowed {
                        " (write table full: unknown values not flagged)"
                    } else {
                        ""
                    }
                ),
                None,
            ),
        };
        Some(CheckResult {
            name: "stale-read".into(),
            kind: CheckKind::History,
            status,
            detail,
            event: None,
            time_ns,
        })
    }
}

/// One operation of the history in compact form, kept per key until the end of the run.
struct CompactOp {
    client: u32,
    call: u64,
    ret: u64,
    op: KvOp,
    outcome: Compact,
}

impl CompactOp {
    fn invoked(e: &HistoryEvent<Kv>, clock: u64) -> Self {
        CompactOp {
            // 1-based, as clients are named (c1, c2, …).
            client: e.client.0 + 1,
            call: clock,
            ret: sim::linearize::PENDING,
            op: e.op.clone(),
            outcome: Compact::Unknown,
        }
    }

    /// Records how the operation ended (at position `clock` of the history).
    fn complete(&mut self, e: &HistoryEvent<Kv>, clock: u64) {
        match (e.kind, &self.op) {
            (EventType::Ok, KvOp::Read { .. }) => {
                self.ret = clock;
                self.outcome = Compact::Read(read_list(e));
            }
            (EventType::Ok, _) => {
                self.ret = clock;
                self.outcome = Compact::Done;
            }
            (EventType::Fail, KvOp::Cas { .. }) => {
                self.ret = clock;
                self.outcome = Compact::CasFailed;
            }
            // Provably not applied: a read or write that failed has no effect.
            (EventType::Fail, op) => {
                self.ret = clock;
                self.outcome = Compact::Unknown;
                self.op = KvOp::Read { key: op.key() };
            }
            // Indeterminate: stays pending forever.
            _ => {}
        }
    }

    /// The operation for the checkers, or `None` if it constrains nothing (a read whose
    /// answer is unknown, or one that failed).
    fn to_model(
        &self,
    ) -> Option<sim::linearize::Operation<sim::linearize::KvInput, sim::linearize::KvOutput>> {
        use sim::linearize::{KvInput, KvOp as ModelOp, KvOutput};
        if matches!(self.outcome, Compact::Unknown) && self.op.is_read() {
            return None;
        }
        let list = |vals: &[Value]| {
            let mut s = String::new();
            for v in vals {
                s.push_str(&v.to_string());
                s.push(',');
            }
            s
        };
        let op = match self.op {
            KvOp::Read { .. } => ModelOp::Get,
            KvOp::Write { value, .. } => ModelOp::Put(list(&[value])),
            KvOp::Append { value, .. } => ModelOp::Append(list(&[value])),
            KvOp::Cas { from, to, .. } => ModelOp::Cas {
                from: list(&[from]),
                to: list(&[to]),
            },
        };
        let output = match &self.outcome {
            Compact::Read(v) => KvOutput::Value(list(v)),
            Compact::Done => KvOutput::Ok,
            Compact::CasFailed => KvOutput::CasFailed,
            Compact::Unknown => KvOutput::Unknown,
        };
        Some(sim::linearize::Operation {
            client: u64::from(self.client),
            call: self.call,
            ret: self.ret,
            input: KvInput {
                key: format!("k{}", self.op.key()),
                op,
            },
            output,
        })
    }
}

enum Compact {
    Read(Vec<Value>),
    Done,
    CasFailed,
    Unknown,
}

/// The `linearizable` history check: the client history, split per key (P-compositionality),
/// checked with [`sim::linearize`] against the key/value model. Operations are kept compactly
/// per key; indeterminate ones (`info`, or pending at the end) may take effect at any point
/// after their invocation, or never. A key the workload retires (`key_ops`) is checked as soon
/// as its last operations complete and then forgotten, so memory stays flat over long runs;
/// other keys are checked at the end. The budget is a count of search steps, so the verdict
/// never depends on machine speed.
pub struct LinearizableCheck {
    keys: BTreeMap<Key, KeyHistory>,
    /// process → (key, position in its list) of the op in flight.
    in_flight: BTreeMap<u64, (Key, usize)>,
    clock: u64,
    budget_steps: u64,
    steps_used: u64,
    ops: u64,
    keys_checked: u64,
    failure: Option<String>,
    /// Keys the budget ran out on: how many, and the first `MAX_NAMED_UNKNOWN` names.
    unknown_count: u64,
    unknown: Vec<String>,
}

/// How many undecided keys a `linearizable` detail names (the rest are counted).
const MAX_NAMED_UNKNOWN: usize = 10;

#[derive(Default)]
struct KeyHistory {
    ops: Vec<CompactOp>,
    /// Operations in flight that can still complete (not `info`).
    open: usize,
    retired: bool,
}

impl LinearizableCheck {
    pub fn new(budget_steps: u64) -> Self {
        LinearizableCheck {
            keys: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            clock: 0,
            budget_steps,
            steps_used: 0,
            ops: 0,
            keys_checked: 0,
            failure: None,
            unknown_count: 0,
            unknown: Vec::new(),
        }
    }

    /// Checks one key's history (and forgets it).
    fn check_key(&mut self, key: Key) {
        use sim::linearize::{check_with, Budget, CheckOptions, KvModel, Verdict};
        let Some(h) = self.keys.remove(&key) else { return };
        self.keys_checked += 1;
        if self.failure.is_some() {
            return;
        }
        // Failed reads/writes were turned into unknown reads: they constrain nothing.
        let mut ops: Vec<_> = h.ops.iter().filter_map(CompactOp::to_model).collect();
        sim::linearize::formats::merge_unobserved_values(&mut ops);
        let mut budget = Budget::new(self.budget_steps.saturating_sub(self.steps_used));
        let r = check_with(&KvModel, &ops, &mut budget, &CheckOptions::default());
        self.steps_used += budget.steps_used;
        match r.verdict {
            Verdict::Linearizable => {}
            Verdict::Unknown => {
                self.unknown_count += 1;
                if self.unknown.len() < MAX_NAMED_UNKNOWN {
                    self.unknown.push(format!("k{key}"));
                }
            }
            Verdict::NotLinearizable => {
                self.failure = Some(match r.failure {
                    Some(f) => format!(
                        "k{key} is not linearizable: these {} operations cannot be ordered \
                         (values are lists written \"a,b,\"; _ is a value no read returned):\n{}",
                        f.ops.len(),
                        f.timeline
                    ),
                    None => format!("k{key} is not linearizable"),
                });
            }
        }
    }
}

impl HistoryObserver<Kv> for LinearizableCheck {
    fn observe(&mut self, e: &HistoryEvent<Kv>) {
        self.clock += 1;
        let key = e.op.key();
        if e.kind == EventType::Invoke {
            let h = self.keys.entry(key).or_default();
            h.ops.push(CompactOp::invoked(e, self.clock));
            h.open += 1;
            self.in_flight.insert(e.process, (key, h.ops.len() - 1));
            self.ops += 1;
            return;
        }
        let Some((key, pos)) = self.in_flight.remove(&e.process) else {
            return;
        };
        let clock = self.clock;
        let Some(h) = self.keys.get_mut(&key) else { return };
        h.open -= 1;
        h.ops[pos].complete(e, clock);
        if h.retired && h.open == 0 {
            self.check_key(key);
        }
    }

    fn violated(&self) -> bool {
        self.failure.is_some()
    }

    fn key_retired(&mut self, key: Key) {
        let Some(h) = self.keys.get_mut(&key) else { return };
        h.retired = true;
        if h.open == 0 {
            self.check_key(key);
        }
    }

    fn finish(&mut self) -> Option<CheckResult> {
        let mut result = CheckResult {
            name: "linearizable".into(),
            kind: CheckKind::History,
            status: CheckStatus::Pass,
            detail: String::new(),
            event: None,
            time_ns: None,
        };
        if self.ops == 0 {
            result.status = CheckStatus::Skipped;
            result.detail = "no client operations".into();
            return Some(result);
        }
        let keys: Vec<Key> = self.keys.keys().copied().collect();
        for key in keys {
            self.check_key(key);
        }
        if let Some(f) = &self.failure {
            result.status = CheckStatus::Fail;
            result.detail = f.clone();
        } else if self.unknown.is_empty() {
            result.detail = format!(
                "{} operations on {} key{}, {} search steps",
                self.ops,
                self.keys_checked,
                if self.keys_checked == 1 { "" } else { "s" },
                self.steps_used
            );
        } else {
            result.status = CheckStatus::Unknown;
            let more = self.unknown_count - self.unknown.len() as u64;
            result.detail = format!(
                "search budget of {} steps ran out on {}{} (raise [checks] history_budget)",
                self.budget_steps,
                self.unknown.join(", "),
                if more > 0 {
                    format!(" and {more} more keys")
                } else {
                    String::new()
                }
            );
        }
        Some(result)
    }
}

/// The `sequential` history check: one order of *all* operations (every key together, since
/// sequential consistency is not local) that the key/value model accepts and that keeps each
/// client's order — what a ZooKeeper client is promised when it reads from followers. Checked
/// at the end with [`sim::consistency::check_sequential`]; the whole history is kept until
/// then (at most `[limits] max_history_ops` operations; beyond that the verdict is unknown).
pub struct SequentialCheck {
    ops: Vec<CompactOp>,
    /// process → position in `ops` of the op in flight.
    in_flight: BTreeMap<u64, usize>,
    clock: u64,
    budget_steps: u64,
    max_ops: usize,
    overflowed: bool,
}

impl SequentialCheck {
    pub fn new(budget_steps: u64, max_ops: usize) -> Self {
        SequentialCheck {
            ops: Vec::new(),
            in_flight: BTreeMap::new(),
            clock: 0,
            budget_steps,
            max_ops,
            overflowed: false,
        }
    }
}

impl HistoryObserver<Kv> for SequentialCheck {
    fn observe(&mut self, e: &HistoryEvent<Kv>) {
        self.clock += 1;
        if e.kind == EventType::Invoke {
            if self.ops.len() >= self.max_ops {
                self.overflowed = true;
                return;
            }
            self.in_flight.insert(e.process, self.ops.len());
            self.ops.push(CompactOp::invoked(e, self.clock));
        } else if let Some(pos) = self.in_flight.remove(&e.process) {
            self.ops[pos].complete(e, self.clock);
        }
    }

    fn finish(&mut self) -> Option<CheckResult> {
        use sim::consistency::{check_sequential, Verdict};
        use sim::linearize::{Budget, CheckOptions};
        let mut result = CheckResult {
            name: "sequential".into(),
            kind: CheckKind::History,
            status: CheckStatus::Pass,
            detail: String::new(),
            event: None,
            time_ns: None,
        };
        if self.ops.is_empty() {
            result.status = CheckStatus::Skipped;
            result.detail = "no client operations".into();
            return Some(result);
        }
        if self.overflowed {
            result.status = CheckStatus::Unknown;
            result.detail = format!(
                "the history outgrew {} operations (raise [limits] max_history_ops)",
                self.max_ops
            );
            return Some(result);
        }
        let mut ops: Vec<_> = self.ops.iter().filter_map(CompactOp::to_model).collect();
        sim::linearize::formats::merge_unobserved_values(&mut ops);
        let mut budget = Budget::new(self.budget_steps);
        let r = check_sequential(
            &sim::linearize::KvModel,
            &ops,
            &mut budget,
            &CheckOptions::default(),
        );
        let keys: std::collections::BTreeSet<&str> = ops.iter().map(|o| o.input.key.as_str()).collect();
        match r.verdict {
            Verdict::Consistent => {
                result.detail = format!(
                    "{} operations of {} clients on {} keys, {} search steps",
                    ops.len(),
                    ops.iter()
                        .map(|o| o.client)
                        .collect::<std::collections::BTreeSet<_>>()
                        .len(),
                    keys.len(),
                    r.steps
                );
            }
            Verdict::Unknown => {
                result.status = CheckStatus::Unknown;
                result.detail = format!(
                    "search budget of {} steps ran out (raise [checks] history_budget)",
                    self.budget_steps
                );
            }
            Verdict::Inconsistent => {
                result.status = CheckStatus::Fail;
                let f = r.failure.expect("an inconsistent history is explained");
                let what = if f.minimal {
                    format!(
                        "these {} operations cannot be put in one order that keeps each client's order, \
                         even if every other operation takes effect anywhere or not at all",
                        f.ops.len()
                    )
                } else {
                    format!(
                        "no order that keeps each client's order gets past the operation marked below (the \
                         shortest failing prefix of the history, {} operations, is too long to minimise); its \
                         last {} operations",
                        f.prefix_len,
                        f.ops.len()
                    )
                };
                result.detail = format!(
                    "not sequentially consistent: {what} (values are lists written \"a,b,\"; _ is a value no \
                     read returned):\n{}\n{}",
                    f.clients.trim_end(),
                    f.timeline
                );
            }
        }
        Some(result)
    }
}
