//! Why did it fail: the causal slice of a violation. The happens-before graph of a run
//! (petgraph) has a vertex per trace line that happened at an endpoint — a send, a delivery, a
//! drop, a timer, a role change, a boot, a fault — and edges for each endpoint's local order
//! and from each send to its delivery (or drop). The slice is the causal past of the event at
//! which the first check failed: only what could have influenced it. `violation.txt` shows it
//! oldest first, pruned for reading: its last [`EVENTS`] faults, boots and role changes and its
//! last [`WINDOW`] deliveries and drops between servers (client traffic is in the history),
//! repeats on a link folded into one line.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Message lines kept at the end of the slice.
pub const WINDOW: usize = 30;
/// Fault, boot and role-change lines kept at the end of the slice.
pub const EVENTS: usize = 30;

/// One trace line at an endpoint.
#[derive(Clone, Debug)]
struct Line {
    /// Its position in the trace.
    seq: usize,
    /// The engine event it belongs to.
    event: u64,
    t: u64,
    ev: String,
    /// Where it happened: the sender of a send or a drop, the receiver of a delivery.
    at: String,
    v: Value,
}

/// The happens-before graph of a trace.
pub struct Graph {
    g: DiGraph<usize, ()>,
    lines: Vec<Line>,
    /// Faults at no single endpoint (partitions, heals): context for every slice.
    global: Vec<Line>,
}

/// A server (`n3`), not a client (`c3`).
fn is_node(endpoint: &str) -> bool {
    endpoint
        .strip_prefix('n')
        .is_some_and(|n| n.parse::<u32>().is_ok())
}

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

impl Graph {
    /// Builds the graph from `trace.jsonl` text (lines that are not JSON are skipped).
    pub fn from_trace(trace: &str) -> Graph {
        Graph::from_lines(trace.lines(), u64::MAX)
    }

    /// Builds the graph from trace lines, up to and including engine event `through`.
    pub fn from_lines<S: AsRef<str>>(trace: impl Iterator<Item = S>, through: u64) -> Graph {
        let mut g = DiGraph::new();
        let mut lines = Vec::new();
        let mut last: BTreeMap<String, NodeIndex> = BTreeMap::new();
        let mut sends: BTreeMap<u64, NodeIndex> = BTreeMap::new();
        let mut global = Vec::new();
        for (seq, l) in trace.enumerate() {
            let l = l.as_ref();
            if crate::run::line_event(l).is_some_and(|i| i > through) {
                break;
            }
            let Ok(v) = serde_json::from_str::<Value>(l) else {
                continue;
            };
            let ev = s(&v, "ev");
            let at = match ev.as_str() {
                "send" | "drop" => s(&v, "from"),
                "deliver" => s(&v, "to"),
                _ => s(&v, "node"),
            };
            if at.is_empty() {
                if ev == "fault" && v.get("kind").is_some() {
                    global.push(Line {
                        seq,
                        event: v.get("i").and_then(Value::as_u64).unwrap_or(0),
                        t: v.get("t").and_then(Value::as_u64).unwrap_or(0),
                        ev,
                        at,
                        v,
                    });
                }
                continue;
            }
            let line = Line {
                seq,
                event: v.get("i").and_then(Value::as_u64).unwrap_or(0),
                t: v.get("t").and_then(Value::as_u64).unwrap_or(0),
                ev: ev.clone(),
                at: at.clone(),
                v,
            };
            let ix = g.add_node(lines.len());
            let id = line.v.get("id").and_then(Value::as_u64);
            if let Some(prev) = last.insert(at, ix) {
                g.add_edge(prev, ix, ());
            }
            match (ev.as_str(), id) {
                ("send", Some(id)) => {
                    sends.insert(id, ix);
                }
                ("deliver" | "drop", Some(id)) => {
                    if let Some(&from) = sends.get(&id) {
                        g.add_edge(from, ix, ());
                    }
                }
                _ => {}
            }
            lines.push(line);
        }
        Graph { g, lines, global }
    }

    /// Indices (into the trace's endpoint lines) of the causal past of engine event `event`,
    /// the event's own lines included, in trace order.
    fn past(&self, event: u64) -> Vec<usize> {
        let seeds: Vec<NodeIndex> = self
            .g
            .node_indices()
            .filter(|ix| self.lines[self.g[*ix]].event == event)
            .collect();
        let mut keep = vec![false; self.lines.len()];
        let rev = Reversed(&self.g);
        for seed in seeds {
            let mut dfs = Dfs::new(rev, seed);
            while let Some(ix) = dfs.next(rev) {
                keep[self.g[ix]] = true;
            }
        }
        (0..self.lines.len()).filter(|i| keep[*i]).collect()
    }
}

/// A message's short text: `AppendEntries{term: 2, …}` from its JSON.
fn msg_text(msg: &Value) -> String {
    let (kind, body) = match msg {
        Value::Object(m) if m.len() == 1 => {
            let (k, v) = m.iter().next().expect("one entry");
            (k.clone(), v.clone())
        }
        other => (String::new(), other.clone()),
    };
    let fields = match &body {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Array(a) => format!("[{} entries]", a.len()),
                    Value::Object(_) => "{…}".to_string(),
                    v => v.to_string(),
                };
                format!("{k}: {v}")
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let text = if kind.is_empty() {
        format!("{{{fields}}}")
    } else {
        format!("{kind}{{{fields}}}")
    };
    if text.chars().count() > 110 {
        format!("{}…}}", text.chars().take(108).collect::<String>())
    } else {
        text
    }
}

/// The first failed check with an event: (event, the check's JSON).
pub fn first_failure(result: &Value) -> Option<(u64, &Value)> {
    result
        .get("checks")?
        .as_array()?
        .iter()
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("fail"))
        .filter_map(|c| Some((c.get("event")?.as_u64()?, c)))
        .min_by_key(|(e, _)| *e)
}

/// What one kept line of the slice is, for the message diagram.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A delivery or a drop between servers; `send` is the send's (event, time) when known.
    Message {
        from: String,
        to: String,
        kind: String,
        dropped: bool,
        send: Option<(u64, u64)>,
    },
    Fault {
        node: Option<String>,
        detail: String,
    },
    Role {
        node: String,
        role: String,
    },
    Timer {
        node: String,
        detail: String,
    },
    Boot {
        node: String,
        how: String,
    },
}

/// One line of the pruned slice, as `violation.txt` shows it.
#[derive(Clone, Debug)]
pub struct Item {
    pub event: u64,
    pub t: u64,
    pub what: What,
    /// Its line in `violation.txt` (without the repeat count).
    pub text: String,
}

/// The causal slice of a run's first violation.
pub struct Slice {
    pub check: String,
    pub detail: String,
    pub event: u64,
    pub time_ns: u64,
    /// What is kept, oldest first (repeats not folded).
    pub items: Vec<Item>,
    /// `violation.txt`.
    pub text: String,
}

/// `violation.txt` for a run whose `result.json` has a failed check with an event; `None`
/// when no check failed at an event.
pub fn violation(trace: &str, result: &str) -> Option<String> {
    let r: Value = serde_json::from_str(result).ok()?;
    let (event, _) = first_failure(&r)?;
    Some(slice(&Graph::from_lines(trace.lines(), event), &r)?.text)
}

/// The slice from a trace file, read up to the failing event (at most [`MAX_GRAPH_LINES`]
/// lines before it: a later violation's past is cut there, and says so).
pub fn slice_of_file(path: &std::path::Path, result: &Value) -> std::io::Result<Option<Slice>> {
    use std::io::BufRead;
    let Some((event, _)) = first_failure(result) else {
        return Ok(None);
    };
    let open = || std::fs::File::open(path).map(std::io::BufReader::new);
    let mut before = 0usize;
    for line in open()?.lines() {
        if crate::run::line_event(&line?).is_some_and(|i| i > event) {
            break;
        }
        before += 1;
    }
    let skip = before.saturating_sub(MAX_GRAPH_LINES);
    let lines = open()?.lines().map_while(Result::ok).skip(skip);
    let g = Graph::from_lines(lines, event);
    let mut s = slice(&g, result);
    if skip > 0 {
        if let Some(s) = &mut s {
            s.text = format!(
                "(the trace up to the violation has {before} lines: only its last {MAX_GRAPH_LINES} were read)\n{}",
                s.text
            );
        }
    }
    Ok(s)
}

/// Most trace lines before the violation the graph is built from.
pub const MAX_GRAPH_LINES: usize = 4_000_000;

/// The pruned causal past of the first failure in `result`, from the graph of its trace.
pub fn slice(g: &Graph, r: &Value) -> Option<Slice> {
    let (event, check) = first_failure(r)?;
    let mut past: Vec<&Line> = g.past(event).into_iter().map(|i| &g.lines[i]).collect();
    // Partitions and heals reach everyone: each one before the event is part of the story.
    past.extend(g.global.iter().filter(|l| l.event <= event));
    past.sort_by_key(|l| l.seq);
    // Messages the sends of which are in the past but whose text lives on the send line.
    let mut sent_msg: BTreeMap<u64, (Value, u64, u64)> = BTreeMap::new();
    let mut rows: Vec<(String, bool, Item)> = Vec::new(); // (text, is a message, item)
    for l in &past {
        let id = l.v.get("id").and_then(Value::as_u64).unwrap_or(0);
        let ms = l.t as f64 / 1e6;
        let msg_item =
            |from: String, to: String, msg: &Value, dropped: bool, send: Option<(u64, u64)>| What::Message {
                from,
                to,
                kind: crate::export::msg_label(msg),
                dropped,
                send,
            };
        let row = match l.ev.as_str() {
            "send" => {
                sent_msg.insert(id, (l.v.get("msg").cloned().unwrap_or(Value::Null), l.event, l.t));
                continue;
            }
            // Client requests and replies are in the history; the slice shows the protocol.
            "deliver" | "drop" if !is_node(&s(&l.v, "from")) || !is_node(&s(&l.v, "to")) => None,
            "deliver" => {
                let (msg, se, st) = sent_msg.get(&id).cloned().unwrap_or((Value::Null, 0, 0));
                let send = sent_msg.contains_key(&id).then_some((se, st));
                Some((
                    format!(
                        "{ms:>10.3}ms  {} -> {}  {}",
                        s(&l.v, "from"),
                        l.at,
                        msg_text(&msg)
                    ),
                    true,
                    msg_item(s(&l.v, "from"), l.at.clone(), &msg, false, send),
                ))
            }
            "drop" => {
                let (msg, send) = match sent_msg.get(&id) {
                    Some((m, se, st)) => (m.clone(), Some((*se, *st))),
                    None => (l.v.get("msg").cloned().unwrap_or(Value::Null), None),
                };
                Some((
                    format!(
                        "{ms:>10.3}ms  {} -x {}  {}  (dropped: {})",
                        l.at,
                        s(&l.v, "to"),
                        msg_text(&msg),
                        s(&l.v, "detail")
                    ),
                    true,
                    msg_item(l.at.clone(), s(&l.v, "to"), &msg, true, send),
                ))
            }
            "fault" => Some((
                format!("{ms:>10.3}ms  !!  {}", s(&l.v, "detail")),
                false,
                What::Fault {
                    node: l.v.get("node").and_then(Value::as_str).map(str::to_string),
                    detail: s(&l.v, "detail"),
                },
            )),
            "becomes" => Some((
                format!("{ms:>10.3}ms  {}  becomes {}", l.at, s(&l.v, "role")),
                false,
                What::Role {
                    node: l.at.clone(),
                    role: s(&l.v, "role"),
                },
            )),
            "timer" => Some((
                format!("{ms:>10.3}ms  {}  timer {}", l.at, s(&l.v, "detail")),
                true,
                What::Timer {
                    node: l.at.clone(),
                    detail: s(&l.v, "detail"),
                },
            )),
            ev if ev.starts_with("start") || ev.starts_with("restart") => Some((
                format!("{ms:>10.3}ms  {}  {ev}", l.at),
                false,
                What::Boot {
                    node: l.at.clone(),
                    how: ev.to_string(),
                },
            )),
            _ => None,
        };
        if let Some((text, msg, what)) = row {
            let item = Item {
                event: l.event,
                t: l.t,
                what,
                text: text.clone(),
            };
            rows.push((text, msg, item));
        }
    }
    let total = rows.len();
    // What the line before already says: a boot's `becomes follower`, a crash's `becomes
    // down`; and a timer that did not change the node's role (heartbeats, retries).
    let body = |k: usize| rows[k].0.get(14..).unwrap_or("").to_string();
    let implied = |k: usize| -> bool {
        let body_k = body(k);
        let prev = k.checked_sub(1).map(body);
        let next = (k + 1 < rows.len()).then(|| body(k + 1));
        let node = body_k.split_whitespace().next().unwrap_or("");
        if let Some(role) = body_k.strip_prefix(&format!("{node}  becomes ")) {
            let p = prev.unwrap_or_default();
            return (role == "down" && p == format!("!!  crash {node}"))
                || (p.starts_with(&format!("{node}  "))
                    && (p.ends_with("starts") || p.ends_with("durable state")));
        }
        if body_k.starts_with(&format!("{node}  timer ")) {
            return !next.is_some_and(|n| n.starts_with(&format!("{node}  becomes ")));
        }
        false
    };
    let keep: Vec<bool> = (0..rows.len()).map(|k| !implied(k)).collect();
    let rows: Vec<(String, bool, Item)> = rows
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(r, _)| r)
        .collect();
    // Keep the last EVENTS faults, boots and role changes, and the last WINDOW message rows.
    let messages: Vec<usize> = (0..rows.len()).filter(|k| rows[*k].1).collect();
    let cut_below = messages.len().saturating_sub(WINDOW);
    let first_kept_msg = messages.get(cut_below).copied().unwrap_or(usize::MAX);
    let others: Vec<usize> = (0..rows.len()).filter(|k| !rows[*k].1).collect();
    let first_kept_other = others
        .get(others.len().saturating_sub(EVENTS))
        .copied()
        .unwrap_or(usize::MAX);
    let mut out = String::new();
    let name = check.get("name").and_then(Value::as_str).unwrap_or("?");
    let detail = check.get("detail").and_then(Value::as_str).unwrap_or("");
    let _ = writeln!(out, "Why `{name}` failed: {detail}");
    let _ = writeln!(
        out,
        "The causal past of event {event}: what could have influenced it ({} of {} trace lines at endpoints).",
        past.len(),
        g.lines.len() + g.global.len()
    );
    let _ = writeln!(
        out,
        "Its last {EVENTS} faults, boots and role changes and its last {WINDOW} messages between servers; oldest first.\n"
    );
    let mut skipped = 0usize;
    let mut last_text: Option<String> = None;
    let mut repeat = 0usize;
    let mut items = Vec::new();
    let flush = |out: &mut String, last: &mut Option<String>, repeat: &mut usize| {
        if let Some(t) = last.take() {
            if *repeat > 1 {
                let _ = writeln!(out, "{t}   (×{repeat})");
            } else {
                let _ = writeln!(out, "{t}");
            }
        }
        *repeat = 0;
    };
    for (k, (text, msg, item)) in rows.iter().enumerate() {
        if (*msg && k < first_kept_msg) || (!*msg && k < first_kept_other) {
            skipped += 1;
            continue;
        }
        items.push(item.clone());
        if skipped > 0 {
            flush(&mut out, &mut last_text, &mut repeat);
            let _ = writeln!(
                out,
                "            …  {skipped} earlier line(s) of the causal past left out"
            );
            skipped = 0;
        }
        // Fold a line that repeats the previous one but for its time (a heartbeat per interval).
        let key = text.get(14..).unwrap_or("").to_string();
        if last_text
            .as_ref()
            .is_some_and(|l| l.get(14..) == Some(key.as_str()))
        {
            repeat += 1;
            continue;
        }
        flush(&mut out, &mut last_text, &mut repeat);
        last_text = Some(text.clone());
        repeat = 1;
    }
    flush(&mut out, &mut last_text, &mut repeat);
    let time_ns = check.get("time_ns").and_then(Value::as_u64).unwrap_or(0);
    let _ = writeln!(
        out,
        "{:>10.3}ms  ^^  `{name}` fails after this event ({total} lines in the slice before pruning)",
        time_ns as f64 / 1e6
    );
    Some(Slice {
        check: name.to_string(),
        detail: detail.to_string(),
        event,
        time_ns,
        items,
        text: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// n3 talks only to n4 and never to n1: nothing n3 or n4 did is in the past of n1's event.
    #[test]
    fn the_slice_holds_the_causal_past_and_nothing_else() {
        let trace = r#"{"i":1,"t":1,"ev":"send","id":0,"from":"n2","to":"n1","msg":{"Ping":{"n":1}}}
{"i":1,"t":1,"ev":"send","id":1,"from":"n3","to":"n4","msg":{"Gossip":{"n":7}}}
{"i":2,"t":2,"ev":"deliver","id":1,"from":"n3","to":"n4"}
{"i":3,"t":3,"ev":"deliver","id":0,"from":"n2","to":"n1"}
{"i":4,"t":4,"ev":"fault","node":"n2","detail":"crash n2","kind":"crash"}
{"i":4,"t":4,"ev":"fault","groups":[["n1"],["n2"]],"detail":"partition {n1} | {n2}","kind":"partition"}
{"i":5,"t":5,"ev":"becomes","node":"n1","role":"leader"}
"#;
        let result = r#"{"checks":[{"name":"x","status":"fail","detail":"boom","event":5,"time_ns":5}]}"#;
        let v = violation(trace, result).expect("a slice");
        assert!(v.contains("n2 -> n1  Ping{n: 1}"), "{v}");
        assert!(v.contains("n1  becomes leader"), "{v}");
        assert!(
            !v.contains("Gossip"),
            "n3's message to n4 is not in n1's past:\n{v}"
        );
        assert!(
            !v.contains("crash n2"),
            "n2's crash came after its message and never reached n1:\n{v}"
        );
        assert!(
            v.contains("!!  partition {n1} | {n2}"),
            "a partition before the event is context:\n{v}"
        );
        assert!(violation(trace, r#"{"checks":[{"name":"x","status":"pass"}]}"#).is_none());
    }
}
