//! Plots of a run, drawn from the files `dsim run --out DIR` writes (`history.jsonl`,
//! `trace.jsonl`). This crate reads what a run left behind; it never runs a simulation.
//!
//! - `latency.svg`: every client operation's latency against the time it completed, by outcome.
//! - `timeline.svg`: each node's role over time (leader, follower, candidate, down…), with the
//!   faults marked.

pub mod causal;
pub mod cdf;
pub mod export;

use plotters::prelude::*;
use sim::output::write_atomic;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("drawing {what}: {message}")]
    Draw { what: &'static str, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn draw_err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> ReportError {
    move |e| ReportError::Draw {
        what,
        message: e.to_string(),
    }
}

/// Draws every plot the files in `dir` allow; returns the files written.
pub fn plot_run(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::new();
    let history = dir.join("history.jsonl");
    if history.is_file() {
        let ops = read_latencies(&history)?;
        if !ops.is_empty() {
            let out = dir.join("latency.svg");
            write_atomic(&out, latency_svg(&ops)?.as_bytes()).map_err(io(&out))?;
            written.push(out);
        }
    }
    let trace = dir.join("trace.jsonl");
    if trace.is_file() {
        let t = read_timeline(&trace)?;
        if !t.nodes.is_empty() {
            let out = dir.join("timeline.svg");
            write_atomic(&out, timeline_svg(&t)?.as_bytes()).map_err(io(&out))?;
            written.push(out);
        }
    }
    Ok(written)
}

/// Writes every export the files in `dir` allow (see [`export`]); returns the files written.
/// A history of a family other than `kv` gets no history exports.
pub fn export_run(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let read = |name: &str| -> Result<String, ReportError> {
        let p = dir.join(name);
        if p.is_file() {
            std::fs::read_to_string(&p).map_err(io(&p))
        } else {
            Ok(String::new())
        }
    };
    let bad = |what: &'static str| {
        move |e: export::ExportError| ReportError::Draw {
            what,
            message: e.to_string(),
        }
    };
    let (history, trace, result) = (read("history.jsonl")?, read("trace.jsonl")?, read("result.json")?);
    let mut written = Vec::new();
    let mut put = |name: &str, text: String| -> Result<(), ReportError> {
        let out = dir.join(name);
        write_atomic(&out, text.as_bytes()).map_err(io(&out))?;
        written.push(out);
        Ok(())
    };
    let kv = !history.is_empty() && !history.contains("\"f\":\"broadcast\"");
    if kv {
        put(
            "history.edn",
            export::history_edn(&history).map_err(bad("history.edn"))?,
        )?;
        put(
            "history.porcupine.json",
            export::history_porcupine(&history).map_err(bad("history.porcupine.json"))?,
        )?;
    }
    if !trace.is_empty() {
        put(
            "trace.chrome.json",
            export::chrome_trace(&trace).map_err(bad("trace.chrome.json"))?,
        )?;
        put(
            "trace.shiviz.log",
            export::shiviz(&trace).map_err(bad("trace.shiviz.log"))?,
        )?;
        if let Some(v) = causal::violation(&trace, &result) {
            put("violation.txt", v)?;
        }
    }
    if !trace.is_empty() || !history.is_empty() {
        let (now, series) =
            export::openmetrics(&trace, &history, &result).map_err(bad("metrics.openmetrics"))?;
        put("metrics.openmetrics", now)?;
        put("metrics-series.openmetrics", series)?;
    }
    Ok(written)
}

/// One completed operation: (completion time in s, latency in ms, outcome: 0 ok, 1 fail, 2 info).
type Latency = (f64, f64, u8);

/// Above this many operations the plot shows percentiles per time bucket instead of points.
const MAX_POINTS: usize = 5000;

fn read_latencies(path: &Path) -> Result<Vec<Latency>, ReportError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    let mut open: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(io(path))?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let (Some(kind), Some(p), Some(t)) =
            (v["type"].as_str(), v["process"].as_u64(), v["time_ns"].as_u64())
        else {
            continue;
        };
        if kind == "invoke" {
            // Open loop: latency counts from the arrival, waiting for a lane included.
            open.insert(p, v["arrived_ns"].as_u64().unwrap_or(t));
        } else if let Some(start) = open.remove(&p) {
            let k = match kind {
                "ok" => 0,
                "fail" => 1,
                _ => 2,
            };
            out.push((t as f64 / 1e9, t.saturating_sub(start) as f64 / 1e6, k));
        }
    }
    Ok(out)
}

fn latency_svg(ops: &[Latency]) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        let e = draw_err("latency.svg");
        root.fill(&WHITE).map_err(&e)?;
        let t_max = ops.iter().map(|o| o.0).fold(0.0, f64::max).max(1e-3);
        let l_max = ops.iter().map(|o| o.1).fold(0.0, f64::max).max(1.0) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption("client operation latency", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..t_max * 1.02, 0.0..l_max)
            .map_err(&e)?;
        chart
            .configure_mesh()
            .x_desc("completed at (s of simulated time)")
            .y_desc("latency (ms)")
            .draw()
            .map_err(&e)?;
        if ops.len() <= MAX_POINTS {
            let kinds = [
                ("ok", RGBColor(31, 119, 180)),
                ("fail", RGBColor(255, 127, 14)),
                ("info", RGBColor(214, 39, 40)),
            ];
            for (k, (kind, color)) in kinds.into_iter().enumerate() {
                let pts: Vec<(f64, f64)> = ops
                    .iter()
                    .filter(|o| o.2 == k as u8)
                    .map(|o| (o.0, o.1))
                    .collect();
                let n = pts.len();
                chart
                    .draw_series(pts.into_iter().map(|p| Circle::new(p, 2, color.filled())))
                    .map_err(&e)?
                    .label(format!("{kind} ({n})"))
                    .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
            }
        } else {
            // Too many points to draw one by one: percentiles over 200 time buckets.
            let buckets = 200usize;
            let mut per: Vec<Vec<f64>> = vec![Vec::new(); buckets];
            for o in ops {
                let b = ((o.0 / (t_max * 1.0001)) * buckets as f64) as usize;
                per[b.min(buckets - 1)].push(o.1);
            }
            for v in &mut per {
                v.sort_by(|a, b| a.total_cmp(b));
            }
            let width = t_max / buckets as f64;
            let series = |q: f64| -> Vec<(f64, f64)> {
                per.iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(i, v)| {
                        let idx = ((v.len() - 1) as f64 * q).round() as usize;
                        ((i as f64 + 0.5) * width, v[idx])
                    })
                    .collect()
            };
            let lines = [
                (0.5, "p50", RGBColor(31, 119, 180)),
                (0.99, "p99", RGBColor(255, 127, 14)),
                (1.0, "max", RGBColor(214, 39, 40)),
            ];
            for (q, name, color) in lines {
                chart
                    .draw_series(LineSeries::new(series(q), color.stroke_width(2)))
                    .map_err(&e)?
                    .label(format!("{name} of {} ops", ops.len()))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

/// Roles over time per node, and fault times.
struct Timeline {
    /// node name → (start s, role) in order.
    nodes: BTreeMap<String, Vec<(f64, String)>>,
    faults: Vec<(f64, String)>,
    end: f64,
}

fn read_timeline(path: &Path) -> Result<Timeline, ReportError> {
    let f = std::fs::File::open(path).map_err(io(path))?;
    let mut t = Timeline {
        nodes: BTreeMap::new(),
        faults: Vec::new(),
        end: 0.0,
    };
    for line in BufReader::new(f).lines() {
        let line = line.map_err(io(path))?;
        // Only role changes and faults matter; skip the (many) message lines unparsed.
        let relevant = line.contains("\"ev\":\"becomes\"") || line.contains("\"ev\":\"fault\"");
        if let Some(ts) = line.find("\"t\":") {
            let digits: String = line[ts + 4..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(ns) = digits.parse::<u64>() {
                t.end = t.end.max(ns as f64 / 1e9);
            }
        }
        if !relevant {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let time = v["t"].as_u64().unwrap_or(0) as f64 / 1e9;
        match v["ev"].as_str().unwrap_or("") {
            "becomes" => {
                if let (Some(node), Some(role)) = (v["node"].as_str(), v["role"].as_str()) {
                    t.nodes
                        .entry(node.to_string())
                        .or_default()
                        .push((time, role.to_string()));
                }
            }
            "fault" => {
                if let Some(kind) = v["kind"].as_str() {
                    let label = match v["node"].as_str() {
                        Some(n) => format!("{kind} {n}"),
                        None => kind.to_string(),
                    };
                    t.faults.push((time, label));
                }
            }
            _ => {}
        }
    }
    Ok(t)
}

fn role_color(role: &str) -> RGBColor {
    match role {
        "leader" | "server" | "primary" => RGBColor(214, 39, 40),
        "candidate" => RGBColor(255, 127, 14),
        "down" => RGBColor(210, 210, 210),
        "follower" | "standby" | "backup" => RGBColor(31, 119, 180),
        _ => RGBColor(44, 160, 44),
    }
}

fn color_name(role: &str) -> &'static str {
    match role {
        "leader" | "server" | "primary" => "red",
        "candidate" => "orange",
        "down" => "grey",
        "follower" | "standby" | "backup" => "blue",
        _ => "green",
    }
}

/// "leader red, follower blue, down grey": the roles drawn, each with its colour.
fn legend(t: &Timeline) -> String {
    let mut roles: Vec<&str> = Vec::new();
    for (_, role) in t.nodes.values().flatten() {
        if !roles.contains(&role.as_str()) {
            roles.push(role);
        }
    }
    roles.sort_by_key(|r| (*r == "down", *r));
    roles
        .iter()
        .map(|r| format!("{r} {}", color_name(r)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn timeline_svg(t: &Timeline) -> Result<String, ReportError> {
    let mut svg = String::new();
    let n = t.nodes.len();
    {
        let height = 150 + 36 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        let e = draw_err("timeline.svg");
        root.fill(&WHITE).map_err(&e)?;
        let end = t.end.max(1e-3);
        let names: Vec<&String> = t.nodes.keys().collect();
        let caption = format!("roles over time: {}; | a fault", legend(t));
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0.0..end, 0.0..(n as f64 + 1.0))
            .map_err(&e)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 2)
            .y_label_formatter(&|y| {
                let i = y.round() as usize;
                if (y - y.round()).abs() < 0.01 && i >= 1 && i <= names.len() {
                    names[i - 1].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("simulated time (s)")
            .draw()
            .map_err(&e)?;
        for (row, (_, segs)) in t.nodes.iter().enumerate() {
            let y = (row + 1) as f64;
            for (k, (start, role)) in segs.iter().enumerate() {
                let stop = segs.get(k + 1).map_or(end, |s| s.0);
                let c = role_color(role);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(*start, y - 0.3), (stop, y + 0.3)],
                        c.filled(),
                    )))
                    .map_err(&e)?;
            }
        }
        let top = n as f64 + 0.65;
        chart
            .draw_series(t.faults.iter().map(|(x, _)| {
                PathElement::new(vec![(*x, top - 0.15), (*x, top + 0.15)], BLACK.stroke_width(1))
            }))
            .map_err(&e)?;
        root.present().map_err(&e)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_reads_roles_and_faults_from_their_fields_not_the_text() {
        let dir = std::env::temp_dir().join(format!("dsim-reports-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        let lines = [
            r#"{"i":0,"t":0,"ev":"starts","node":"n1"}"#,
            r#"{"i":0,"t":0,"ev":"becomes","node":"n1","role":"follower"}"#,
            r#"{"i":0,"t":0,"ev":"becomes","node":"n2","role":"follower"}"#,
            r#"{"i":1,"t":1000,"ev":"becomes","node":"n1","role":"leader","detail":"candidate (term 1)"}"#,
            r#"{"i":2,"t":2000,"ev":"fault","node":"n2","detail":"crash n2","down":true,"kind":"crash"}"#,
            r#"{"i":2,"t":2000,"ev":"becomes","node":"n2","role":"down"}"#,
            r#"{"i":3,"t":3000,"ev":"fault","detail":"crash n2: it is already down; fault skipped"}"#,
            r#"{"i":4,"t":4000,"ev":"fault","node":"n2","detail":"restart n2","kind":"restart"}"#,
        ];
        std::fs::write(&path, lines.join("\n")).unwrap();
        let t = read_timeline(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(t.nodes.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(
            t.nodes["n1"],
            vec![(0.0, "follower".to_string()), (1e-6, "leader".to_string())]
        );
        assert_eq!(
            t.nodes["n2"],
            vec![(0.0, "follower".to_string()), (2e-6, "down".to_string())]
        );
        // The skipped fault did nothing: it is not drawn.
        assert_eq!(
            t.faults,
            vec![(2e-6, "crash n2".to_string()), (4e-6, "restart n2".to_string())]
        );
    }
}
