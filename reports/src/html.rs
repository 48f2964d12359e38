//! `report.html`: one self-contained page (no network, inline SVG, no script) with the
//! summary, every check and its verdict, the causal slice of the first violation, the message
//! diagram of that slice, the fault timeline, the failing operations and the plots, linked
//! both ways: a failed check → its slice → the diagram → the faults before it → back.
//! Bounded: every plot is bounded (see `plots`), the fault table shows at most
//! [`MAX_FAULT_ROWS`] rows, the check details at most [`MAX_DETAIL`] characters.

use crate::causal::{Slice, What};
use crate::plots::{fault_color, FailingOps};
use crate::run::Run;
use crate::Drawn;
use serde_json::Value;
use std::fmt::Write as _;

pub const MAX_FAULT_ROWS: usize = 500;
pub const MAX_DETAIL: usize = 4_000;

/// HTML-escapes text.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!(
            "{}… ({} characters in result.json)",
            s.chars().take(n).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_string()
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1280px;padding:0 18px 60px;color:#222}\
h1{font-size:24px;margin:18px 0 4px}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}\
nav{position:sticky;top:0;background:#fff;padding:8px 0;border-bottom:1px solid #eee;z-index:1}nav a{margin-right:14px}\
table{border-collapse:collapse;font-size:14px}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
.pass{color:#1a7f37;font-weight:600}.fail{color:#c62828;font-weight:700}.skipped{color:#888}\
.verdict{font-size:18px;padding:8px 12px;border-radius:6px;display:inline-block;margin:6px 0}\
.bad{background:#fdecea;color:#b71c1c}.good{background:#e8f5e9;color:#1b5e20}\
pre,ol.slice{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:13px}\
ol.slice{list-style:none;padding-left:0}ol.slice li{white-space:pre;padding:1px 4px}ol.slice li.fault{background:#fff3e0}\
ol.slice li.last{background:#fdecea;font-weight:700}:target{outline:2px solid #1f77b4;background:#e3f2fd}\
svg{max-width:100%;height:auto;display:block;margin:8px 0}.swatch{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px}\
code{background:#f4f4f4;padding:1px 4px;border-radius:3px}.muted{color:#666}";

/// The page.
/// `window`: the diagram shows that window instead of the slice.
pub fn report(
    run: &Run,
    slice: Option<&Slice>,
    window: Option<(u64, u64)>,
    failing: Option<&FailingOps>,
    drawn: &[Drawn],
) -> String {
    let r = &run.result;
    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
    let mut h = String::new();
    let name = s("name");
    let seed = r["seed"].as_u64().unwrap_or(0);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>dsim report: {} seed {seed}</title><style>{STYLE}</style></head><body>\n",
        esc(&name)
    );
    let violations = r["violations"].as_u64().unwrap_or(0);
    let bugs: Vec<String> = r["bugs"]
        .as_array()
        .map(|a| a.iter().filter_map(|b| b.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let _ = writeln!(
        h,
        "<header id=\"top\"><h1>{} <span class=\"muted\">— {}</span></h1>",
        esc(&name),
        esc(&s("protocol"))
    );
    let bug_flags: String = bugs.iter().map(|b| format!(" --bug {b}")).collect();
    let replay = format!("dsim run {} --seed {seed}{bug_flags}", s("scenario"));
    let why = match (slice.is_some(), failing.is_some()) {
        (true, _) => "violation",
        (false, true) => "failing-ops",
        _ => "checks",
    };
    if violations > 0 {
        let _ = writeln!(
            h,
            "<div class=\"verdict bad\" id=\"verdict\">VIOLATION: {violations} failed check{} — <a href=\"#{why}\">why</a></div>",
            if violations == 1 { "" } else { "s" }
        );
    } else {
        let _ = writeln!(
            h,
            "<div class=\"verdict good\" id=\"verdict\">OK: no violation</div>"
        );
    }
    let _ = writeln!(
        h,
        "<p>{} nodes, seed {seed}{}, trace hash <code>{}</code>. Replay: <code>{}</code></p></header>",
        r["nodes"].as_u64().unwrap_or(0),
        if bugs.is_empty() {
            String::new()
        } else {
            format!(", planted bugs: {}", esc(&bugs.join(", ")))
        },
        esc(&s("trace_hash")),
        esc(&replay)
    );
    // Navigation.
    let mut nav = vec![("summary", "Summary"), ("checks", "Checks")];
    if slice.is_some() {
        nav.push(("violation", "Why it failed"));
    }
    if drawn.iter().any(|d| d.name == "messages") {
        nav.push(("diagram", "Message diagram"));
    }
    if !run.faults.is_empty() {
        nav.push(("faults", "Faults"));
    }
    if failing.is_some() {
        nav.push(("failing-ops", "Failing operations"));
    }
    nav.push(("plots", "Plots"));
    let _ = write!(h, "<nav>");
    for (id, label) in &nav {
        let _ = write!(h, "<a href=\"#{id}\">{label}</a>");
    }
    let _ = writeln!(h, "</nav>");
    summary(&mut h, run);
    checks(&mut h, r, slice.is_some(), failing.is_some());
    if let Some(sl) = slice {
        violation(&mut h, run, sl);
    }
    if let Some(d) = drawn.iter().find(|d| d.name == "messages") {
        let _ = writeln!(h, "<section id=\"diagram\"><h2>Message diagram</h2>");
        match (slice, window) {
            (_, Some((a, b))) => {
                let _ = writeln!(
                    h,
                    "<p>The messages between servers from {} to {} ms (the window asked for).</p>",
                    crate::plots::num(a as f64 / 1e6),
                    crate::plots::num(b as f64 / 1e6)
                );
            }
            (Some(sl), None) => {
                let _ = writeln!(
                    h,
                    "<p>The messages of <a href=\"#violation\">the causal slice</a> of event {}, as a space-time diagram.</p>",
                    sl.event
                );
            }
            (None, None) => {
                let _ = writeln!(
                    h,
                    "<p>No check failed at an event: the first messages of the run.</p>"
                );
            }
        }
        let _ = writeln!(h, "{}", d.svg);
        if let (Some(sl), None) = (slice, window) {
            let before: Vec<&crate::run::Fault> = run.faults.iter().filter(|f| f.event <= sl.event).collect();
            if !before.is_empty() {
                let _ = write!(h, "<p>Faults before it (latest last): ");
                let from = before.len().saturating_sub(12);
                if from > 0 {
                    let _ = write!(h, "<a href=\"#faults\">{from} earlier</a>, ");
                }
                let links: Vec<String> = before[from..]
                    .iter()
                    .map(|f| {
                        format!(
                            "<a href=\"#fault-{}\">{} at {:.3} ms</a>",
                            f.k,
                            esc(&f.detail),
                            f.at as f64 / 1e6
                        )
                    })
                    .collect();
                let _ = writeln!(h, "{}.</p>", links.join(", "));
            }
        }
        let _ = writeln!(h, "</section>");
    }
    if !run.faults.is_empty() {
        faults(&mut h, run, slice);
    }
    if let Some(f) = failing {
        let _ = writeln!(
            h,
            "<section id=\"failing-ops\"><h2>Operations that cannot be linearized</h2>"
        );
        let _ = writeln!(
            h,
            "<p>The history of <code>{}</code> has no linearization: these {} operations{} cannot be put in any order that respects real time and the key's semantics. Red: the operation no order gets past.</p>",
            esc(&f.key),
            f.ops.len(),
            if f.minimal { " (a minimal set: allow any one of them to take effect anywhere, and the rest can be ordered)" } else { "" }
        );
        if let Some(d) = drawn.iter().find(|d| d.name == "failing-ops") {
            let _ = writeln!(h, "{}", d.svg);
        }
        let _ = writeln!(h, "</section>");
    }
    let _ = writeln!(h, "<section id=\"plots\"><h2>Plots</h2>");
    for d in drawn
        .iter()
        .filter(|d| d.name != "messages" && d.name != "failing-ops")
    {
        let _ = writeln!(
            h,
            "<h3 id=\"plot-{}\">{}</h3>\n{}",
            d.name,
            esc(&d.heading),
            d.svg
        );
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Files beside this one: result.json, trace.txt, trace.jsonl, history.jsonl, the SVG plots and the exports (history.edn, trace.chrome.json, trace.shiviz.log, metrics.openmetrics). <a href=\"#top\">top</a></p></section>"
    );
    let _ = writeln!(h, "</body></html>");
    h
}

fn summary(h: &mut String, run: &Run) {
    let r = &run.result;
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let _ = writeln!(h, "<section id=\"summary\"><h2>Summary</h2><table>");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
    };
    row(
        "simulated time",
        format!(
            "{} ms, stopped by {}",
            crate::plots::num(n(&r["sim_time_ns"]) as f64 / 1e6),
            esc(r["stopped_by"].as_str().unwrap_or("?"))
        ),
    );
    if let Some(b) = r["bounds_hit"].as_array().filter(|b| !b.is_empty()) {
        row(
            "bounds hit",
            esc(&b.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
        );
    }
    row(
        "events",
        format!("{} ({} faults)", n(&r["events"]), n(&r["faults"])),
    );
    let m = &r["messages"];
    row(
        "messages",
        format!(
            "{} sent, {} delivered, {} dropped, {} duplicated",
            n(&m["sent"]),
            n(&m["delivered"]),
            n(&m["dropped"]),
            n(&m["duplicated"])
        ),
    );
    let o = &r["ops"];
    row(
        "client operations",
        format!(
            "{} invoked: {} ok, {} fail, {} info, {} pending at the end",
            n(&o["invoked"]),
            n(&o["ok"]),
            n(&o["fail"]),
            n(&o["info"]),
            n(&o["pending"])
        ),
    );
    if let Some(ms) = r["metrics"].as_object() {
        for (k, v) in ms {
            let ns = r["metric_units"][k] == "ns";
            let show = |x: &Value| match x.as_f64() {
                Some(x) if ns => format!("{} ms", crate::plots::num(x / 1e6)),
                Some(x) => crate::plots::num(x),
                None => x.to_string(),
            };
            let text = match v {
                Value::Object(s) => ["n", "min", "median", "mean", "p99", "max"]
                    .iter()
                    .filter_map(|stat| Some((stat, s.get(*stat)?)))
                    .map(|(stat, x)| {
                        if *stat == "n" {
                            format!("n {x}")
                        } else {
                            format!("{stat} {}", show(x))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                v => show(v),
            };
            row(&format!("metric <code>{}</code>", esc(k)), esc(&text));
        }
    }
    let _ = writeln!(h, "</table></section>");
}

fn checks(h: &mut String, r: &Value, has_slice: bool, has_failing: bool) {
    let _ = writeln!(h, "<section id=\"checks\"><h2>Checks</h2><table><tr><th>check</th><th>kind</th><th>verdict</th><th>detail</th></tr>");
    let empty = Vec::new();
    let first_event = crate::causal::first_failure(r).map(|(e, _)| e);
    for c in r["checks"].as_array().unwrap_or(&empty) {
        let name = c["name"].as_str().unwrap_or("?");
        let status = c["status"].as_str().unwrap_or("?");
        let detail = cut(c["detail"].as_str().unwrap_or(""), MAX_DETAIL);
        let mut links = String::new();
        if status == "fail" {
            if c["event"].as_u64().is_some() && c["event"].as_u64() == first_event && has_slice {
                links = " <a href=\"#violation\">why: the causal slice</a>".into();
            } else if c["kind"] == "history" && name == "linearizable" && has_failing {
                links = " <a href=\"#failing-ops\">the operations</a>".into();
            }
        }
        let detail = if detail.contains('\n') {
            format!("<pre>{}</pre>", esc(&detail))
        } else {
            esc(&detail)
        };
        let _ = writeln!(
            h,
            "<tr id=\"check-{}\"><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td><td>{detail}{links}</td></tr>",
            esc(name),
            esc(name),
            esc(c["kind"].as_str().unwrap_or("")),
            esc(status),
            esc(status)
        );
    }
    let _ = writeln!(h, "</table></section>");
}

/// The fault a slice item is (same event and text), for links.
fn fault_of<'a>(run: &'a Run, event: u64, detail: &str) -> Option<&'a crate::run::Fault> {
    run.faults.iter().find(|f| f.event == event && f.detail == detail)
}

fn violation(h: &mut String, run: &Run, sl: &Slice) {
    let _ = writeln!(
        h,
        "<section id=\"violation\"><h2>Why it failed: <code>{}</code></h2><p class=\"verdict bad\">{}</p>",
        esc(&sl.check),
        esc(&sl.detail)
    );
    let _ = writeln!(
        h,
        "<p>The causal past of event {} — only what could have influenced it: each server's own order, each message from its send to its delivery, and the partitions before it — pruned to its last faults, role changes and messages between servers, oldest first (<a href=\"#diagram\">as a message diagram</a>; the full text in <code>violation.txt</code>).</p><ol class=\"slice\">",
        sl.event
    );
    for (k, it) in sl.items.iter().enumerate() {
        let (class, extra) = match &it.what {
            What::Fault { detail, .. } => (
                " class=\"fault\"",
                fault_of(run, it.event, detail)
                    .map(|f| format!("  <a href=\"#fault-{}\">fault #{}</a>", f.k, f.k + 1))
                    .unwrap_or_default(),
            ),
            _ => ("", String::new()),
        };
        let _ = writeln!(h, "<li id=\"slice-{k}\"{class}>{}{extra}</li>", esc(&it.text));
    }
    let _ = writeln!(
        h,
        "<li class=\"last\">{:>10.3}ms  ^^  `{}` fails after this event (event {})</li></ol>",
        sl.time_ns as f64 / 1e6,
        esc(&sl.check),
        sl.event
    );
    let _ = writeln!(h, "<p><a href=\"#diagram\">→ the message diagram of this slice</a> · <a href=\"#faults\">→ the fault timeline</a></p></section>");
}

fn faults(h: &mut String, run: &Run, slice: Option<&Slice>) {
    let _ = writeln!(
        h,
        "<section id=\"faults\"><h2>Faults</h2><p>{} fault{}{}, in order; lasting ones until their heal (or the end).</p><table><tr><th>#</th><th>at (ms)</th><th>until (ms)</th><th>kind</th><th>what</th><th></th></tr>",
        run.faults.len() as u64 + run.faults_dropped,
        if run.faults.len() == 1 { "" } else { "s" },
        if run.faults_dropped > 0 { format!(" ({} beyond the first {} not read)", run.faults_dropped, crate::run::MAX_FAULTS) } else { String::new() }
    );
    for f in run.faults.iter().take(MAX_FAULT_ROWS) {
        let c = fault_color(&f.kind);
        let until = match (f.lasting, f.until) {
            (false, _) => "—".to_string(),
            (true, Some(u)) => format!("{:.3}", u as f64 / 1e6),
            (true, None) => "end".to_string(),
        };
        let mut link = String::new();
        if let Some(sl) = slice {
            let at = sl.items.iter().position(|it| {
                matches!(&it.what, What::Fault { detail, .. } if *detail == f.detail) && it.event == f.event
            });
            if let Some(k) = at {
                link = format!("<a href=\"#slice-{k}\">in the causal slice</a>");
            } else if f.event <= sl.event {
                link = "<span class=\"muted\">before the violation</span>".into();
            }
        }
        let _ = writeln!(
            h,
            "<tr id=\"fault-{}\"><td>{}</td><td>{:.3}</td><td>{until}</td><td><span class=\"swatch\" style=\"background:rgb({},{},{})\"></span>{}</td><td>{}</td><td>{link}</td></tr>",
            f.k,
            f.k + 1,
            f.at as f64 / 1e6,
            c.0,
            c.1,
            c.2,
            esc(&f.kind),
            esc(&f.detail)
        );
    }
    if run.faults.len() > MAX_FAULT_ROWS {
        let _ = writeln!(
            h,
            "<tr><td colspan=\"6\">… {} more in trace.jsonl</td></tr>",
            run.faults.len() - MAX_FAULT_ROWS
        );
    }
    let _ = writeln!(h, "</table></section>");
}
