//! The human summary of a run (what `dsim run` prints).

use crate::runner::Scenario;
use sim::time::format_duration;
use sim::{CheckStatus, RunReport};
use std::fmt::Write;
use std::path::PathBuf;

pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The human summary of a run; `plots` are the files written into `out`.
pub fn summary(
    scn: &dyn Scenario,
    r: &RunReport,
    wall_ms: u64,
    out: Option<&PathBuf>,
    plots: &[String],
) -> String {
    let mut s = String::new();
    let cfg = scn.config();
    let bugs = bugs_suffix(cfg.bugs.names());
    let _ = writeln!(
        s,
        "{} — {} on {} node{}, seed {}{bugs}",
        scn.name(),
        scn.protocol(),
        cfg.nodes,
        if cfg.nodes == 1 { "" } else { "s" },
        r.seed
    );
    let speed = if wall_ms > 0 {
        format!(" ({:.0}x real time)", r.sim_time_ns as f64 / 1e6 / wall_ms as f64)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  time      {} simulated in {:.2}s{speed}; stopped by {}",
        format_duration(r.sim_time_ns),
        wall_ms as f64 / 1000.0,
        match r.stopped_by {
            sim::report::StopReason::Time => "the duration",
            sim::report::StopReason::Idle => "running out of events",
            sim::report::StopReason::Events => "the event limit (limits.max_events)",
            sim::report::StopReason::Violation => "the first violation",
            sim::report::StopReason::Measured => "measuring every metric (limits.stop_when_measured)",
        }
    );
    let _ = writeln!(s, "  events    {} ({} faults)", group(r.events), r.faults);
    let m = &r.messages;
    let _ = writeln!(
        s,
        "  messages  {} sent, {} delivered, {} dropped, {} duplicated",
        group(m.sent),
        group(m.delivered),
        group(m.dropped),
        group(m.duplicated)
    );
    let o = &r.ops;
    let _ = writeln!(
        s,
        "  ops       {} invoked: {} ok, {} fail, {} info, {} pending at the end",
        group(o.invoked),
        group(o.ok),
        group(o.fail),
        group(o.info),
        group(o.pending)
    );
    let _ = writeln!(s, "  checks");
    for c in &r.checks {
        let mark = match c.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Unknown => "unknown",
            CheckStatus::Skipped => "skipped",
        };
        let kind = c.kind.name();
        let _ = writeln!(s, "    {mark:<8} {:<28} {kind:<11} {}", c.name, c.detail);
    }
    if !r.metrics.is_empty() || !r.censored.is_empty() {
        let _ = writeln!(s, "  metrics");
        for (name, m) in &r.metrics {
            let unit = metric_unit(cfg, name);
            let _ = writeln!(s, "    {name:<37} {}", metric_text(unit, m));
        }
        for name in &r.censored {
            let _ = writeln!(
                s,
                "    {name:<37} censored: never measured (its start or its condition never came)"
            );
        }
    }
    if !r.bounds_hit.is_empty() {
        let _ = writeln!(s, "  bounds    hit: {} (see [limits])", r.bounds_hit.join(", "));
    }
    if !r.buggify.is_empty() {
        let fired: Vec<String> = r.buggify.iter().map(|(k, n)| format!("{k} fired {n}x")).collect();
        let _ = writeln!(s, "  buggify   {}", fired.join(", "));
    }
    let _ = writeln!(s, "  trace     {}", r.trace_hash);
    if let Some(dir) = out {
        let files = plots.join(", ");
        let _ = writeln!(s, "  output    {}/{{{files}}}", dir.display());
    }
    let verdict = match r.exit_code() {
        0 => "OK: no violation".to_string(),
        1 => format!(
            "VIOLATION: {} failed check{} (replay: dsim run {} --seed {}{})",
            r.violations,
            if r.violations == 1 { "" } else { "s" },
            scn.path(),
            r.seed,
            cfg.bugs
                .names()
                .iter()
                .map(|b| format!(" --bug {b}"))
                .collect::<String>()
        ),
        _ => "INCONCLUSIVE: a checker ran out of budget".to_string(),
    };
    let _ = writeln!(s, "  result    {verdict}");
    s
}

/// A metric's unit: a scenario's `[[metrics]]` span is a duration; others as declared.
pub fn metric_unit(cfg: &sim::config::SimConfig, name: &str) -> sim::metrics::Unit {
    match cfg.spans.iter().any(|x| x.name == name) {
        true => sim::metrics::Unit::Ns,
        false => units(name),
    }
}

/// The unit a metric is declared with (any protocol or family may declare it).
fn units(name: &str) -> sim::metrics::Unit {
    protocols::all_metrics()
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.unit)
        .unwrap_or(sim::metrics::Unit::Count)
}

/// One metric's summary in words: `n 3693, median 4.1ms, mean 4.4ms, p99 11ms, max 23ms`.
pub fn metric_text(unit: sim::metrics::Unit, m: &sim::metrics::MetricSummary) -> String {
    use sim::metrics::{MetricSummary, Unit};
    let v = |x: f64| match unit {
        Unit::Ns => short_duration(x),
        Unit::Count if x.fract() == 0.0 && x.abs() < 1e15 => group(x as u64),
        _ => format!("{x:.3}"),
    };
    match m {
        MetricSummary::Value(x) => v(*x),
        MetricSummary::Series {
            n,
            min,
            median,
            mean,
            p99,
            max,
        } => format!(
            "n {}, min {}, median {}, mean {}, p99 {}, max {}",
            group(*n),
            v(*min),
            v(*median),
            v(*mean),
            v(*p99),
            v(*max)
        ),
    }
}

/// A duration to three significant digits: `12.7ms`, `524ms`, `1.20s`, `850ns`.
pub fn short_duration(ns: f64) -> String {
    let ns = ns.max(0.0);
    if ns < 1e3 {
        return format!("{ns:.0}ns");
    }
    // Round to three significant digits first, so 999.9us shows as 1.00ms.
    // (Display only: std floating point is fine here, nothing depends on it.)
    let scale = 10f64.powi(ns.log10().floor() as i32 - 2);
    let ns = (ns / scale).round() * scale;
    let (v, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e3, "us")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{unit}")
}

/// `", bugs: a b"` for the planted bugs of a run, or nothing when there are none.
pub fn bugs_suffix(bugs: &[String]) -> String {
    if bugs.is_empty() {
        String::new()
    } else {
        format!(", bugs: {}", bugs.join(" "))
    }
}
