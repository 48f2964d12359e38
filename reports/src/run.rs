//! What a run left behind, read once and in bounded memory: `result.json`, the completed
//! client operations of `history.jsonl`, and from `trace.jsonl` each node's roles, the fault
//! timeline (paired into intervals) and the messages of one time window. The trace is
//! streamed: only role-change, fault and in-window lines are parsed, so a run of an hour
//! (gigabytes of trace) is read without holding it.

use super::{io, ReportError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Most role changes kept per node (later ones are counted, not drawn).
pub const MAX_ROLE_CHANGES: usize = 20_000;
/// Most faults kept.
pub const MAX_FAULTS: usize = 20_000;
/// Most completed operations kept for the latency plots: beyond it every other one is
/// dropped and only every second new one kept (then every fourth…), evenly thinned.
pub const MAX_OPS: usize = 2_000_000;
/// Time buckets of the throughput plot.
pub const THROUGHPUT_BUCKETS: usize = 150;
/// Most samples read per metric from `metrics.jsonl` (a run writes at most 2 048).
pub const MAX_METRIC_SAMPLES: usize = 10_000;
/// Most trace lines kept for the message diagram's window.
pub const MAX_WINDOW_LINES: usize = 4_000;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        }
    }
}

/// One completed client operation.
#[derive(Clone, Debug)]
pub struct Op {
    pub client: String,
    pub f: String,
    /// When it arrived (open loop: before it got a lane), when it was invoked, when it ended.
    pub arrived_ns: u64,
    pub invoke_ns: u64,
    pub done_ns: u64,
    pub outcome: Outcome,
}

impl Op {
    pub fn latency_ns(&self) -> u64 {
        self.done_ns.saturating_sub(self.arrived_ns)
    }
}

/// A fault as an interval: `until` is when it was healed (None: never, or an instant fault).
#[derive(Clone, Debug)]
pub struct Fault {
    /// Its index among the run's faults, for links (`#fault-K`).
    pub k: usize,
    /// The engine event it happened in.
    pub event: u64,
    pub at: u64,
    pub until: Option<u64>,
    pub kind: String,
    /// The node it acted on (crash, pause, slow disk…), or None for the network's faults.
    pub node: Option<String>,
    pub detail: String,
    /// Whether it lasts (a crash until its restart) rather than happens once (a clock jump).
    pub lasting: bool,
}

/// One trace line of the diagram's window.
#[derive(Clone, Debug)]
pub struct Line {
    pub event: u64,
    pub t: u64,
    pub v: Value,
}

/// The node groups of a run (`result.json` `groups`), in order: name, node names.
pub type Groups = Vec<(String, Vec<String>)>;

#[derive(Default)]
pub struct Run {
    /// `result.json`, or Null when there is none.
    pub result: Value,
    pub ops: Vec<Op>,
    /// Every `ops_stride`-th completed operation is in `ops` (1 until [`MAX_OPS`] is passed).
    pub ops_stride: u64,
    /// Completed operations: all of them, however many `ops` keeps.
    pub ops_completed: u64,
    /// Completions per time bucket over `[0, throughput_ns)`, [ok, not ok], counted over
    /// every operation.
    pub throughput: [Vec<u64>; 2],
    pub throughput_ns: u64,
    /// Invocations that never completed.
    pub pending: u64,
    /// node → its role changes (time, role), in order.
    pub roles: BTreeMap<String, Vec<(u64, String)>>,
    pub roles_dropped: u64,
    pub faults: Vec<Fault>,
    pub faults_dropped: u64,
    /// The last time anything happened (or the run's simulated time).
    pub end_ns: u64,
    pub groups: Groups,
    /// The window the diagram shows, and its lines (at most [`MAX_WINDOW_LINES`]).
    pub window: Option<(u64, u64)>,
    pub window_lines: Vec<Line>,
    pub window_cut: bool,
    /// `metrics.jsonl`: each metric's samples with their times (bounded by the run).
    pub metric_samples: BTreeMap<String, Vec<(u64, f64)>>,
}

/// A fault kind that opens an interval, and the kinds that close it.
fn closes(open: &str) -> &'static [&'static str] {
    match open {
        "crash" | "power-loss" => &["restart"],
        "pause" => &["resume"],
        "partition" => &["partition-healed", "heal-all"],
        "cut" => &["cut-healed", "heal-all"],
        "slow-disk" => &["disk-normal"],
        "client-crash" => &["client-restart"],
        "client-pause" => &["client-resume"],
        _ => &[],
    }
}

/// Kinds that only end another fault: drawn as the end of its band, not on their own.
fn is_closer(kind: &str) -> bool {
    matches!(
        kind,
        "restart"
            | "resume"
            | "partition-healed"
            | "heal-all"
            | "cut-healed"
            | "disk-normal"
            | "client-restart"
            | "client-resume"
    )
}

/// `cut n1 -> n3 (one-way)` / `heal cut n1 -> n3`: the link, so a heal finds its cut.
fn cut_link(detail: &str) -> Option<&str> {
    let at = detail.find("n")?;
    let rest = &detail[at..];
    let end = rest.find(" (").unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The number after `"t":` in a trace line, without parsing the line.
pub fn line_time(line: &str) -> Option<u64> {
    let at = line.find("\"t\":")? + 4;
    let digits = line[at..].bytes().take_while(u8::is_ascii_digit).count();
    line[at..at + digits].parse().ok()
}

/// The number after `"i":`.
pub fn line_event(line: &str) -> Option<u64> {
    let at = line.find("\"i\":")? + 4;
    let digits = line[at..].bytes().take_while(u8::is_ascii_digit).count();
    line[at..at + digits].parse().ok()
}

impl Run {
    /// Reads `dir`'s files. `window`: the diagram's time window in ns (None: none is read).
    pub fn load(dir: &Path, window: Option<(u64, u64)>) -> Result<Run, ReportError> {
        let mut run = Run {
            window,
            ..Run::default()
        };
        let result = dir.join("result.json");
        if result.is_file() {
            let text = std::fs::read_to_string(&result).map_err(io(&result))?;
            run.result = serde_json::from_str(&text).unwrap_or(Value::Null);
        }
        run.end_ns = run.result["sim_time_ns"].as_u64().unwrap_or(0);
        run.groups = groups(&run.result);
        let history = dir.join("history.jsonl");
        run.ops_stride = 1;
        run.throughput_ns = run.end_ns;
        if run.throughput_ns == 0 && history.is_file() {
            // No result.json: the history's last time sets the buckets.
            let f = std::fs::File::open(&history).map_err(io(&history))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(io(&history))?;
                if let Some(at) = line.find("\"time_ns\":") {
                    let rest = &line[at + 10..];
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    run.throughput_ns = run.throughput_ns.max(rest[..digits].parse().unwrap_or(0));
                }
            }
        }
        run.throughput = [vec![0; THROUGHPUT_BUCKETS + 1], vec![0; THROUGHPUT_BUCKETS + 1]];
        if history.is_file() {
            run.read_history(&history)?;
        }
        let trace = dir.join("trace.jsonl");
        if trace.is_file() {
            run.read_trace(&trace)?;
        }
        let metrics = dir.join("metrics.jsonl");
        if metrics.is_file() {
            let f = std::fs::File::open(&metrics).map_err(io(&metrics))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(io(&metrics))?;
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let (Some(m), Some(t), Some(x)) = (v["metric"].as_str(), v["t"].as_u64(), v["v"].as_f64())
                {
                    let samples = run.metric_samples.entry(m.to_string()).or_default();
                    if samples.len() < MAX_METRIC_SAMPLES {
                        samples.push((t, x));
                    }
                }
            }
        }
        if run.groups.is_empty() && !run.roles.is_empty() {
            let mut nodes: Vec<String> = run.roles.keys().cloned().collect();
            nodes.sort_by_key(|n| node_number(n));
            run.groups = vec![("all".into(), nodes)];
        }
        Ok(run)
    }

    fn read_history(&mut self, path: &Path) -> Result<(), ReportError> {
        let f = std::fs::File::open(path).map_err(io(path))?;
        // process → (client, f, arrived, invoked)
        let mut open: BTreeMap<u64, (String, String, u64, u64)> = BTreeMap::new();
        let mut kept = sim::metrics::Thinned::new(MAX_OPS);
        for line in BufReader::new(f).lines() {
            let line = line.map_err(io(path))?;
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let (Some(kind), Some(p), Some(t)) =
                (v["type"].as_str(), v["process"].as_u64(), v["time_ns"].as_u64())
            else {
                continue;
            };
            self.end_ns = self.end_ns.max(t);
            if kind == "invoke" {
                let client = v["client"].as_str().unwrap_or("?").to_string();
                let f = v["f"].as_str().unwrap_or("?").to_string();
                open.insert(p, (client, f, v["arrived_ns"].as_u64().unwrap_or(t), t));
            } else if let Some((client, f, arrived_ns, invoke_ns)) = open.remove(&p) {
                let outcome = match kind {
                    "ok" => Outcome::Ok,
                    "fail" => Outcome::Fail,
                    _ => Outcome::Info,
                };
                let width = (self.throughput_ns / THROUGHPUT_BUCKETS as u64).max(1);
                let b = ((t / width) as usize).min(THROUGHPUT_BUCKETS);
                self.throughput[usize::from(outcome != Outcome::Ok)][b] += 1;
                let op = Op {
                    client,
                    f,
                    arrived_ns,
                    invoke_ns,
                    done_ns: t,
                    outcome,
                };
                kept.offer(self.ops_completed, op);
                self.ops_completed += 1;
            }
        }
        self.ops_stride = kept.stride();
        self.ops = kept.into_items();
        self.pending = open.len() as u64;
        Ok(())
    }

    fn read_trace(&mut self, path: &Path) -> Result<(), ReportError> {
        let f = std::fs::File::open(path).map_err(io(path))?;
        // Open intervals: kind + node/link → index into faults.
        let mut open: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut role_counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut fault_count = 0usize;
        for line in BufReader::new(f).lines() {
            let line = line.map_err(io(path))?;
            let Some(t) = line_time(&line) else { continue };
            self.end_ns = self.end_ns.max(t);
            let mut in_window = self.window.is_some_and(|(a, b)| t >= a && t <= b);
            if in_window && self.window_lines.len() >= MAX_WINDOW_LINES {
                self.window_cut = true;
                in_window = false;
            }
            let relevant = line.contains("\"ev\":\"becomes\"") || line.contains("\"ev\":\"fault\"");
            if !relevant && !in_window {
                continue;
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let event = v["i"].as_u64().unwrap_or(0);
            if in_window {
                self.window_lines.push(Line {
                    event,
                    t,
                    v: v.clone(),
                });
            }
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            match v["ev"].as_str().unwrap_or("") {
                "becomes" => {
                    let node = s("node");
                    let n = role_counts.entry(node.clone()).or_default();
                    *n += 1;
                    if *n > MAX_ROLE_CHANGES {
                        self.roles_dropped += 1;
                        continue;
                    }
                    self.roles.entry(node).or_default().push((t, s("role")));
                }
                "fault" => {
                    let kind = s("kind");
                    // A fault line without a kind did nothing (skipped, or the quiet period).
                    if kind.is_empty() {
                        continue;
                    }
                    let detail = s("detail");
                    let node = v["node"].as_str().map(str::to_string);
                    let subject = match (kind.as_str(), &node) {
                        (_, Some(n)) => n.clone(),
                        ("cut" | "cut-healed", None) => cut_link(&detail).unwrap_or("").to_string(),
                        _ => String::new(),
                    };
                    if is_closer(&kind) {
                        let ends: Vec<(String, String)> = open
                            .keys()
                            .filter(|(k, subj)| {
                                closes(k).contains(&kind.as_str()) && (kind == "heal-all" || *subj == subject)
                            })
                            .cloned()
                            .collect();
                        for key in ends {
                            if let Some(ix) = open.remove(&key) {
                                self.faults[ix].until = Some(t);
                            }
                        }
                        continue;
                    }
                    fault_count += 1;
                    if self.faults.len() >= MAX_FAULTS {
                        self.faults_dropped += 1;
                        continue;
                    }
                    let lasting = !closes(&kind).is_empty();
                    if lasting {
                        // A partition replaces the one before it.
                        if let Some(prev) = open.insert((kind.clone(), subject), self.faults.len()) {
                            self.faults[prev].until.get_or_insert(t);
                        }
                    }
                    self.faults.push(Fault {
                        k: fault_count - 1,
                        event,
                        at: t,
                        until: None,
                        kind,
                        node,
                        detail,
                        lasting,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// When a lasting fault ends on the plot: its heal, or the end of the run.
    pub fn until(&self, f: &Fault) -> u64 {
        if f.lasting {
            f.until.unwrap_or(self.end_ns)
        } else {
            f.at
        }
    }

    /// Every node, grouped, in order.
    pub fn nodes(&self) -> Vec<String> {
        self.groups.iter().flat_map(|(_, n)| n.iter().cloned()).collect()
    }
}

/// `n12` → 12 (others sort last).
pub fn node_number(n: &str) -> u64 {
    n.strip_prefix('n')
        .and_then(|d| d.parse().ok())
        .unwrap_or(u64::MAX)
}

/// `result.json` `groups: [{name, first, len}]` → names and node names.
fn groups(result: &Value) -> Groups {
    let Some(gs) = result["groups"].as_array() else {
        return Vec::new();
    };
    gs.iter()
        .filter_map(|g| {
            let name = g["name"].as_str()?.to_string();
            let first = g["first"].as_u64()?;
            let len = g["len"].as_u64()?;
            Some((
                name,
                (first..first + len).map(|i| format!("n{}", i + 1)).collect(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_pair_into_intervals_and_closers_end_them() {
        let dir = std::env::temp_dir().join(format!("dsim-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lines = [
            r#"{"i":0,"t":0,"ev":"becomes","node":"n1","role":"follower"}"#,
            r#"{"i":1,"t":10,"ev":"fault","node":"n2","detail":"crash n2","down":true,"kind":"crash"}"#,
            r#"{"i":2,"t":20,"ev":"fault","detail":"cut n1 -> n3 (one-way)","kind":"cut"}"#,
            r#"{"i":3,"t":25,"ev":"fault","detail":"crash n2: it is already down; fault skipped"}"#,
            r#"{"i":4,"t":30,"ev":"fault","node":"n2","detail":"restart n2","kind":"restart"}"#,
            r#"{"i":5,"t":35,"ev":"fault","node":"n1","detail":"clock of n1 jumps +5ms","kind":"clock-jump"}"#,
            r#"{"i":6,"t":40,"ev":"fault","detail":"heal all partitions and cuts","kind":"heal-all"}"#,
            r#"{"i":7,"t":50,"ev":"send","id":0,"from":"n1","to":"n2","msg":{"Ping":{}}}"#,
        ];
        std::fs::write(dir.join("trace.jsonl"), lines.join("\n")).unwrap();
        let run = Run::load(&dir, Some((30, 60))).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let got: Vec<(&str, u64, Option<u64>)> = run
            .faults
            .iter()
            .map(|f| (f.kind.as_str(), f.at, f.until))
            .collect();
        assert_eq!(
            got,
            [
                ("crash", 10, Some(30)),
                ("cut", 20, Some(40)),
                ("clock-jump", 35, None)
            ]
        );
        assert_eq!(run.end_ns, 50);
        assert_eq!(run.groups, vec![("all".to_string(), vec!["n1".to_string()])]);
        // The window holds the lines from 30 to 60: the restart, the jump, the heal, the send.
        assert_eq!(run.window_lines.len(), 4);
    }
}
