//! Exports of a run for the tools people already use, from the files `dsim run --out` writes:
//!
//! - `history.edn`: the client history as Jepsen-style EDN maps, one per line (the Porcupine kv
//!   log format `dsim check-history --format porcupine-kv` reads); values are dsim's list
//!   strings (`"1,2,"`: a read of `[1, 2]`), a compare-and-set is `:f :cas, :from "1,",
//!   :value "2,"`, and `:time` is the line number.
//! - `history.porcupine.json`: the same operations as Porcupine's `[]Operation`
//!   (`ClientId`, `Input`, `Call`, `Output`, `Return`), kv model ops `0` get, `1` put,
//!   `2` append, `3` cas. Times are event positions (the history's line numbers), strictly
//!   increasing, so an operation invoked in the nanosecond its client's previous one completed
//!   still follows it (Porcupine reads equal times as overlapping). An operation that never
//!   completed returns at `i64::MAX` with `Output.Unknown = true`.
//! - `trace.chrome.json`: Chrome's trace event format (Perfetto, chrome://tracing): a track
//!   per node and client, role spans, a flow arrow per delivered message, drops and faults as
//!   instants (faults on their own track).
//! - `trace.shiviz.log`: a ShiViz log with vector clocks (its first line the parser regex).
//! - `metrics.openmetrics`: OpenMetrics text of the run's counters and histograms at its end
//!   (`promtool check metrics` accepts it), and `metrics-series.openmetrics`: the counters each
//!   simulated second, with timestamps (`promtool tsdb create-blocks-from openmetrics` imports
//!   it); simulated time 0 is the Unix time [`EPOCH_S`].

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Simulated time 0 in the time series, as a Unix time (2026-01-01T00:00:00Z), so imported
/// series sit at a fixed, recent date.
pub const EPOCH_S: u64 = 1_767_225_600;
/// Most trace events in `trace.chrome.json`; past it the file says it was cut.
pub const MAX_CHROME_EVENTS: usize = 500_000;

#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExportError {
    pub line: usize,
    pub message: String,
}

fn bad(line: usize, message: impl Into<String>) -> ExportError {
    ExportError {
        line,
        message: message.into(),
    }
}

fn lines(text: &str) -> impl Iterator<Item = (usize, Result<Value, ExportError>)> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            (
                i + 1,
                serde_json::from_str(l).map_err(|e| bad(i + 1, format!("not a JSON line: {e}"))),
            )
        })
}

/// dsim's list string: `[1, 2]` → `"1,2,"`.
fn list_string(v: &Value) -> String {
    match v {
        Value::Array(a) => a.iter().map(|x| format!("{x},")).collect(),
        Value::Null => String::new(),
        x => format!("{x},"),
    }
}

/// A compare-and-set's `[from, to]` as list strings.
fn cas_pair(line: usize, value: &Value) -> Result<(String, String), ExportError> {
    match value.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((list_string(a), list_string(b))),
        _ => Err(bad(line, "a cas value must be [from, to]")),
    }
}

fn edn_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One history line's fields: (type, process, f, key, value).
fn op_fields(line: usize, v: &Value) -> Result<(String, u64, String, String, Value), ExportError> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let ty = s("type").ok_or_else(|| bad(line, "missing `type`"))?;
    let process = v
        .get("process")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(line, "missing `process`"))?;
    let f = s("f").ok_or_else(|| bad(line, "missing `f`"))?;
    let key = match v.get("key") {
        Some(Value::String(k)) => k.clone(),
        Some(k) => k.to_string(),
        None => String::new(),
    };
    Ok((
        ty,
        process,
        f,
        key,
        v.get("value").cloned().unwrap_or(Value::Null),
    ))
}

/// `history.jsonl` → Jepsen/Porcupine EDN, one map per line.
pub fn history_edn(history: &str) -> Result<String, ExportError> {
    let mut out = String::new();
    // The op in flight per process, for a completion's function.
    let mut inflight: BTreeMap<u64, String> = BTreeMap::new();
    for (n, (line, v)) in lines(history).enumerate() {
        let v = v?;
        let (ty, process, f, key, value) = op_fields(line, &v)?;
        let (ef, from, val) = match (f.as_str(), ty.as_str()) {
            ("read", "invoke") => ("get", None, "nil".to_string()),
            ("read", "ok") => ("get", None, edn_str(&list_string(&value))),
            ("read", _) => ("get", None, "nil".to_string()),
            ("write", _) => ("put", None, edn_str(&list_string(&value))),
            ("append", _) => ("append", None, edn_str(&list_string(&value))),
            ("cas", _) => {
                let (a, b) = cas_pair(line, &value)?;
                ("cas", Some(edn_str(&a)), edn_str(&b))
            }
            (other, _) => return Err(bad(line, format!("the kv family has no operation `{other}`"))),
        };
        if ty == "invoke" {
            inflight.insert(process, ef.to_string());
        } else {
            inflight.remove(&process);
        }
        let from = from.map(|f| format!(", :from {f}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{{:process {process}, :type :{ty}, :f :{ef}, :key {}{from}, :value {val}, :time {}}}",
            edn_str(&key),
            n + 1
        );
    }
    Ok(out)
}

/// `history.jsonl` → Porcupine's `[]Operation` as JSON.
pub fn history_porcupine(history: &str) -> Result<String, ExportError> {
    struct Open {
        client: u64,
        input: Value,
        call: usize,
    }
    let mut open: BTreeMap<u64, Open> = BTreeMap::new();
    // (call, operation): ordered by invocation in the output.
    let mut ops: Vec<(usize, Value)> = Vec::new();
    for (n, (line, v)) in lines(history).enumerate() {
        let v = v?;
        let (ty, process, f, key, value) = op_fields(line, &v)?;
        let t = n + 1;
        if ty == "invoke" {
            let (op, val, from) = match f.as_str() {
                "read" => (0, String::new(), None),
                "write" => (1, list_string(&value), None),
                "append" => (2, list_string(&value), None),
                "cas" => {
                    let (a, b) = cas_pair(line, &value)?;
                    (3, b, Some(a))
                }
                other => return Err(bad(line, format!("the kv family has no operation `{other}`"))),
            };
            let mut input = json!({ "Op": op, "Key": key, "Value": val });
            if let Some(from) = from {
                input["From"] = from.into();
            }
            let client = v
                .get("client")
                .and_then(Value::as_str)
                .and_then(|c| c.trim_start_matches('c').parse::<u64>().ok())
                .map_or(process, |c| c - 1);
            open.insert(
                process,
                Open {
                    client,
                    input,
                    call: t,
                },
            );
            continue;
        }
        let Some(o) = open.remove(&process) else {
            return Err(bad(
                line,
                format!("a completion of process {process} that has no invocation"),
            ));
        };
        let output = match (ty.as_str(), f.as_str()) {
            ("ok", "read") => json!({ "Value": list_string(&value) }),
            ("ok", _) => json!({ "Ok": true }),
            ("fail", "cas") => json!({ "Ok": false }),
            // Did not take effect: Porcupine has no such operation.
            ("fail", _) => continue,
            _ => json!({ "Unknown": true }),
        };
        let ret = if ty == "info" { i64::MAX as u64 } else { t as u64 };
        ops.push((
            o.call,
            json!({ "ClientId": o.client, "Input": o.input, "Call": o.call, "Output": output, "Return": ret }),
        ));
    }
    for (_, o) in open {
        ops.push((
            o.call,
            json!({ "ClientId": o.client, "Input": o.input, "Call": o.call, "Output": { "Unknown": true }, "Return": i64::MAX }),
        ));
    }
    ops.sort_by_key(|(c, _)| *c);
    let all: Vec<Value> = ops.into_iter().map(|(_, o)| o).collect();
    Ok(serde_json::to_string(&all).expect("JSON values serialize") + "\n")
}

/// A message's kind for labels: the enum variant (`AppendEntries`), or `request`/`reply`.
pub(crate) fn msg_kind(msg: &Value) -> String {
    match msg {
        Value::Object(m) if m.len() == 1 => m.keys().next().cloned().unwrap_or_default(),
        Value::Object(m) if m.contains_key("op") => "request".into(),
        Value::Object(m) if m.contains_key("outcome") => "reply".into(),
        Value::String(s) => s.clone(),
        _ => "message".into(),
    }
}

/// A message's kind with its term (or ballot, epoch, view) when it has one, for diagram
/// labels: `RequestVote term=5`.
pub(crate) fn msg_label(msg: &Value) -> String {
    let kind = msg_kind(msg);
    let body = match msg {
        Value::Object(m) if m.len() == 1 => m.values().next(),
        _ => None,
    };
    for key in ["term", "ballot", "epoch", "view"] {
        if let Some(n) = body.and_then(|b| b.get(key)).and_then(Value::as_u64) {
            return format!("{kind} {}{n}", &key[..1]);
        }
    }
    kind
}

/// Track ids: 1 the faults, then nodes `nN` → 1 + N, clients `cN` → 10 000 + N.
fn tid(endpoint: &str) -> u64 {
    if let Some(n) = endpoint.strip_prefix('n').and_then(|n| n.parse::<u64>().ok()) {
        1 + n
    } else if let Some(c) = endpoint.strip_prefix('c').and_then(|c| c.parse::<u64>().ok()) {
        10_000 + c
    } else {
        1
    }
}

/// `trace.jsonl` → Chrome trace event JSON.
pub fn chrome_trace(trace: &str) -> Result<String, ExportError> {
    let us = |t: u64| t as f64 / 1000.0;
    let mut events: Vec<Value> = Vec::new();
    let mut tracks: BTreeMap<u64, String> = BTreeMap::new();
    tracks.insert(1, "faults".into());
    // Per node: (since, role) of the open role span.
    let mut roles: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut sent: BTreeMap<u64, (u64, String)> = BTreeMap::new();
    let mut end = 0u64;
    let mut cut = false;
    for (line, v) in lines(trace) {
        let v = v?;
        if events.len() >= MAX_CHROME_EVENTS {
            cut = true;
            break;
        }
        let t = v
            .get("t")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(line, "missing `t`"))?;
        end = end.max(t);
        let ev = v.get("ev").and_then(Value::as_str).unwrap_or("");
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match ev {
            "becomes" => {
                let node = field("node");
                tracks.insert(tid(&node), node.clone());
                if let Some((since, role)) = roles.remove(&node) {
                    events.push(json!({ "name": role, "cat": "role", "ph": "X", "pid": 1, "tid": tid(&node), "ts": us(since), "dur": us(t - since) }));
                }
                roles.insert(node, (t, field("role")));
            }
            "send" => {
                let (from, id) = (field("from"), v.get("id").and_then(Value::as_u64).unwrap_or(0));
                tracks.insert(tid(&from), from.clone());
                let kind = msg_kind(v.get("msg").unwrap_or(&Value::Null));
                sent.insert(id, (t, kind.clone()));
                events.push(json!({ "name": kind, "cat": "msg", "ph": "s", "id": id, "pid": 1, "tid": tid(&from), "ts": us(t) }));
            }
            "deliver" => {
                let (to, id) = (field("to"), v.get("id").and_then(Value::as_u64).unwrap_or(0));
                tracks.insert(tid(&to), to.clone());
                let kind = sent
                    .remove(&id)
                    .map(|(_, k)| k)
                    .unwrap_or_else(|| "message".into());
                events.push(json!({ "name": kind, "cat": "msg", "ph": "f", "bp": "e", "id": id, "pid": 1, "tid": tid(&to), "ts": us(t) }));
                events.push(json!({ "name": format!("recv {kind}"), "cat": "msg", "ph": "i", "s": "t", "pid": 1, "tid": tid(&to), "ts": us(t) }));
            }
            "drop" => {
                let (from, id) = (field("from"), v.get("id").and_then(Value::as_u64).unwrap_or(0));
                // A message lost at its send has no `send` line: its kind is on this one.
                let kind = sent
                    .remove(&id)
                    .map(|(_, k)| k)
                    .unwrap_or_else(|| msg_kind(v.get("msg").unwrap_or(&Value::Null)));
                events.push(json!({ "name": format!("dropped {kind} ({})", field("detail")), "cat": "drop", "ph": "i", "s": "t", "pid": 1, "tid": tid(&from), "ts": us(t) }));
            }
            "fault" => {
                events.push(json!({ "name": field("detail"), "cat": "fault", "ph": "i", "s": "p", "pid": 1, "tid": 1, "ts": us(t) }));
            }
            _ => {}
        }
    }
    // Clients have no roles: one span each over the run, so their flow arrows have a slice
    // to end on.
    for (tid, name) in &tracks {
        if *tid >= 10_000 {
            events.push(json!({ "name": "client", "cat": "role", "ph": "X", "pid": 1, "tid": tid, "ts": 0.0, "dur": us(end), "args": { "client": name } }));
        }
    }
    for (node, (since, role)) in roles {
        events.push(json!({ "name": role, "cat": "role", "ph": "X", "pid": 1, "tid": tid(&node), "ts": us(since), "dur": us(end - since) }));
    }
    let mut meta =
        vec![json!({ "name": "process_name", "ph": "M", "pid": 1, "args": { "name": "dsim run" } })];
    for (tid, name) in &tracks {
        meta.push(
            json!({ "name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": { "name": name } }),
        );
        meta.push(json!({ "name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid, "args": { "sort_index": tid } }));
    }
    meta.extend(events);
    let mut doc = json!({ "traceEvents": meta, "displayTimeUnit": "ms" });
    if cut {
        doc["otherData"] = json!({ "dsim": format!("cut at {MAX_CHROME_EVENTS} events") });
    }
    Ok(serde_json::to_string(&doc).expect("JSON values serialize") + "\n")
}

/// ShiViz's parser regex, the log's first line: an event's text, then its host and vector clock.
pub const SHIVIZ_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>{.*})";
/// Most events in `trace.shiviz.log`.
pub const MAX_SHIVIZ_EVENTS: usize = 20_000;

/// `trace.jsonl` → a ShiViz log: the regex, a blank line, then per event its text and
/// `host {"host": n, …}`, the host's vector clock after the event (sends, deliveries, drops,
/// role changes and faults; a delivery merges the sender's clock at the send).
pub fn shiviz(trace: &str) -> Result<String, ExportError> {
    let mut out = format!("{SHIVIZ_REGEX}\n\n");
    let mut clocks: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut at_send: BTreeMap<u64, BTreeMap<String, u64>> = BTreeMap::new();
    let mut kinds: BTreeMap<u64, String> = BTreeMap::new();
    let mut n = 0usize;
    for (line, v) in lines(trace) {
        let v = v?;
        if n >= MAX_SHIVIZ_EVENTS {
            out.push_str(&format!(
                "cut: the log keeps the first {MAX_SHIVIZ_EVENTS} events\ndsim {{\"dsim\":1}}\n"
            ));
            break;
        }
        let t = v
            .get("t")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(line, "missing `t`"))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let id = v.get("id").and_then(Value::as_u64).unwrap_or(0);
        let ms = t as f64 / 1e6;
        let (host, text) = match v.get("ev").and_then(Value::as_str).unwrap_or("") {
            "send" => {
                let kind = msg_kind(v.get("msg").unwrap_or(&Value::Null));
                kinds.insert(id, kind.clone());
                (
                    field("from"),
                    format!("{ms:.3}ms send {kind} #{id} to {}", field("to")),
                )
            }
            "deliver" => {
                let kind = kinds.get(&id).cloned().unwrap_or_else(|| "message".into());
                (
                    field("to"),
                    format!("{ms:.3}ms receive {kind} #{id} from {}", field("from")),
                )
            }
            "drop" => (
                field("from"),
                format!(
                    "{ms:.3}ms message #{id} to {} dropped ({})",
                    field("to"),
                    field("detail")
                ),
            ),
            "becomes" => (field("node"), format!("{ms:.3}ms becomes {}", field("role"))),
            "fault" if !field("node").is_empty() => {
                (field("node"), format!("{ms:.3}ms fault: {}", field("detail")))
            }
            _ => continue,
        };
        let mut clock = clocks.remove(&host).unwrap_or_default();
        if v.get("ev").and_then(Value::as_str) == Some("deliver") {
            // A duplicate is delivered twice: keep the send's clock for both.
            if let Some(sent) = at_send.get(&id) {
                for (h, c) in sent {
                    let e = clock.entry(h.clone()).or_default();
                    *e = (*e).max(*c);
                }
            }
        }
        *clock.entry(host.clone()).or_default() += 1;
        if v.get("ev").and_then(Value::as_str) == Some("send") {
            at_send.insert(id, clock.clone());
        }
        let json = serde_json::to_string(&clock).expect("a clock serializes");
        let _ = writeln!(out, "{text}\n{host} {json}");
        clocks.insert(host, clock);
        n += 1;
    }
    Ok(out)
}

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0,
];

/// Counters by (family, labels) at one instant.
#[derive(Default, Clone)]
struct Counts {
    sent: BTreeMap<String, u64>,
    delivered: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
    leaders: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    ops: BTreeMap<(String, String), u64>,
}

fn counter_lines(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    m: &BTreeMap<String, u64>,
    ts: Option<u64>,
) {
    if m.is_empty() {
        return;
    }
    // The family named with its `_total`: what both promtool's linter and its OpenMetrics
    // importer accept.
    let _ = writeln!(out, "# TYPE {name}_total counter\n# HELP {name}_total {help}");
    for (k, v) in m {
        sample(out, &format!("{name}_total{{{label}=\"{k}\"}}"), *v, ts);
    }
}

/// One sample line, with its timestamp in a time series.
fn sample(out: &mut String, series: &str, v: u64, ts: Option<u64>) {
    let _ = match ts {
        Some(t) => writeln!(out, "{series} {v} {t}"),
        None => writeln!(out, "{series} {v}"),
    };
}

impl Counts {
    fn write(&self, out: &mut String, ts: Option<u64>) {
        counter_lines(
            out,
            "dsim_messages_sent",
            "Messages sent, by sender.",
            "node",
            &self.sent,
            ts,
        );
        counter_lines(
            out,
            "dsim_messages_delivered",
            "Messages delivered, by receiver.",
            "node",
            &self.delivered,
            ts,
        );
        counter_lines(
            out,
            "dsim_messages_dropped",
            "Messages dropped, by sender.",
            "node",
            &self.dropped,
            ts,
        );
        counter_lines(
            out,
            "dsim_leader_terms",
            "Times the node became leader.",
            "node",
            &self.leaders,
            ts,
        );
        counter_lines(
            out,
            "dsim_faults",
            "Faults that struck the node (crash, restart, pause, …).",
            "node",
            &self.faults,
            ts,
        );
        if !self.ops.is_empty() {
            let _ = writeln!(
                out,
                "# TYPE dsim_operations_total counter\n# HELP dsim_operations_total Client operations completed, by type and outcome."
            );
            for ((f, outcome), v) in &self.ops {
                sample(
                    out,
                    &format!("dsim_operations_total{{op=\"{f}\",outcome=\"{outcome}\"}}"),
                    *v,
                    ts,
                );
            }
        }
    }
}

/// OpenMetrics of a run: `(end-of-run text, time series text)`, from `trace.jsonl`,
/// `history.jsonl` and `result.json` (any may be empty).
pub fn openmetrics(trace: &str, history: &str, result: &str) -> Result<(String, String), ExportError> {
    let mut c = Counts::default();
    let mut series = String::new();
    let mut next_second = 1u64;
    let flush = |c: &Counts, upto: u64, next: &mut u64, series: &mut String| {
        while *next <= upto {
            c.write(series, Some(EPOCH_S + *next - 1));
            *next += 1;
        }
    };
    for (line, v) in lines(trace) {
        let v = v?;
        let t = v
            .get("t")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(line, "missing `t`"))?;
        flush(&c, t / 1_000_000_000, &mut next_second, &mut series);
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let bump = |m: &mut BTreeMap<String, u64>, k: String| *m.entry(k).or_default() += 1;
        match v.get("ev").and_then(Value::as_str).unwrap_or("") {
            "send" => bump(&mut c.sent, field("from")),
            "deliver" => bump(&mut c.delivered, field("to")),
            "drop" => bump(&mut c.dropped, field("from")),
            "becomes" if field("role") == "leader" => bump(&mut c.leaders, field("node")),
            "fault" if !field("node").is_empty() => bump(&mut c.faults, field("node")),
            _ => {}
        }
    }
    // Latencies per operation type, and completions.
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut hist: BTreeMap<String, (Vec<u64>, u64, f64)> = BTreeMap::new();
    for (line, v) in lines(history) {
        let v = v?;
        let (ty, process, f, _, _) = op_fields(line, &v)?;
        let t = v.get("time_ns").and_then(Value::as_u64).unwrap_or(0);
        if ty == "invoke" {
            invoked.insert(process, t);
            continue;
        }
        *c.ops.entry((f.clone(), ty.clone())).or_default() += 1;
        if let (Some(t0), true) = (invoked.remove(&process), ty == "ok") {
            let secs = (t - t0) as f64 / 1e9;
            let h = hist.entry(f).or_insert_with(|| (vec![0; BUCKETS.len()], 0, 0.0));
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.0[i] += 1;
                }
            }
            h.1 += 1;
            h.2 += secs;
        }
    }
    let end_s = serde_json::from_str::<Value>(result)
        .ok()
        .and_then(|r| r.get("sim_time_ns").and_then(Value::as_u64))
        .unwrap_or(0);
    flush(&c, end_s / 1_000_000_000 + 1, &mut next_second, &mut series);
    series.push_str("# EOF\n");
    let mut out = String::new();
    c.write(&mut out, None);
    if !hist.is_empty() {
        let _ = writeln!(
            out,
            "# TYPE dsim_operation_latency_seconds histogram\n# UNIT dsim_operation_latency_seconds seconds\n# HELP dsim_operation_latency_seconds Latency of operations that completed ok, by type."
        );
        for (f, (counts, n, sum)) in &hist {
            for (b, k) in BUCKETS.iter().zip(counts) {
                let _ = writeln!(
                    out,
                    "dsim_operation_latency_seconds_bucket{{op=\"{f}\",le=\"{b}\"}} {k}"
                );
            }
            let _ = writeln!(
                out,
                "dsim_operation_latency_seconds_bucket{{op=\"{f}\",le=\"+Inf\"}} {n}"
            );
            let _ = writeln!(out, "dsim_operation_latency_seconds_count{{op=\"{f}\"}} {n}");
            let _ = writeln!(out, "dsim_operation_latency_seconds_sum{{op=\"{f}\"}} {sum}");
        }
    }
    // The protocol's and the engine's metrics, as gauges.
    if let Some(Value::Object(m)) = serde_json::from_str::<Value>(result)
        .ok()
        .and_then(|r| r.get("metrics").cloned())
    {
        if !m.is_empty() {
            let _ = writeln!(
                out,
                "# TYPE dsim_metric gauge\n# HELP dsim_metric The run's metrics (result.json `metrics`; durations in ns), one sample per statistic."
            );
            for (name, v) in &m {
                match v {
                    Value::Object(s) => {
                        for (stat, x) in s {
                            let _ = writeln!(out, "dsim_metric{{name=\"{name}\",stat=\"{stat}\"}} {x}");
                        }
                    }
                    x => {
                        let _ = writeln!(out, "dsim_metric{{name=\"{name}\",stat=\"value\"}} {x}");
                    }
                }
            }
        }
    }
    out.push_str("# EOF\n");
    Ok((out, series))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = r#"{"type":"invoke","process":0,"client":"c1","f":"write","key":"k1","value":3,"time_ns":10,"i":1}
{"type":"ok","process":0,"client":"c1","f":"write","key":"k1","value":3,"time_ns":20,"i":2}
{"type":"invoke","process":0,"client":"c1","f":"read","key":"k1","value":null,"time_ns":20,"i":2}
{"type":"ok","process":0,"client":"c1","f":"read","key":"k1","value":[3],"time_ns":30,"i":3}
{"type":"invoke","process":1,"client":"c2","f":"cas","key":"k1","value":[3,4],"time_ns":31,"i":4}
{"type":"fail","process":1,"client":"c2","f":"cas","key":"k1","value":[3,4],"time_ns":40,"i":5}
{"type":"invoke","process":1,"client":"c2","f":"append","key":"k1","value":5,"time_ns":41,"i":6}
"#;

    #[test]
    fn edn_lines_carry_dsim_values_and_cas_as_from_and_value() {
        let e = history_edn(H).unwrap();
        let l: Vec<&str> = e.lines().collect();
        assert_eq!(
            l[0],
            "{:process 0, :type :invoke, :f :put, :key \"k1\", :value \"3,\", :time 1}"
        );
        assert_eq!(
            l[3],
            "{:process 0, :type :ok, :f :get, :key \"k1\", :value \"3,\", :time 4}"
        );
        assert!(
            l[5].contains(":type :fail, :f :cas, :key \"k1\", :from \"3,\", :value \"4,\""),
            "{}",
            l[5]
        );
    }

    #[test]
    fn porcupine_times_are_strictly_increasing_and_keep_a_clients_order() {
        let p: Value = serde_json::from_str(&history_porcupine(H).unwrap()).unwrap();
        let ops = p.as_array().unwrap();
        assert_eq!(ops.len(), 4);
        // The read was invoked in the nanosecond the write returned, but after it.
        assert!(ops[0]["Return"].as_u64() < ops[1]["Call"].as_u64());
        assert_eq!(ops[2]["Output"], json!({ "Ok": false }));
        assert_eq!(ops[3]["Return"], json!(i64::MAX));
        assert_eq!(ops[3]["ClientId"], 1);
    }
}
