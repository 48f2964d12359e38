//! Everything drawn or exported from the files `dsim run --out DIR` writes (`result.json`,
//! `history.jsonl`, `trace.jsonl`, `metrics.jsonl`): the plots, `report.html`, `violation.txt`
//! and the exports. This crate reads what a run left behind; it never runs a simulation.

pub mod causal;
pub mod cdf;
pub mod diagram;
pub mod export;
pub mod html;
pub mod plots;
pub mod run;

use plotters::prelude::*;
use sim::output::write_atomic;

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

/// What `dsim report` draws and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The message diagram's window in ns (None: the violation's causal slice, else the
    /// start of the run).
    pub window: Option<(u64, u64)>,
    /// PNG instead of SVG files (the HTML report always inlines SVG).
    pub png: bool,
}

/// Draws every plot the files in `dir` allow, `violation.txt` and `report.html`; returns the
/// files written.
pub fn plot_run(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    plot_run_with(dir, &Options::default())
}

/// One drawn plot: its file name base, a heading, the SVG (for the HTML report) and, when
/// asked for, the PNG.
pub struct Drawn {
    pub name: &'static str,
    pub heading: String,
    pub svg: String,
    pub png: Option<Vec<u8>>,
}

fn draw<P: plots::Plot>(p: &P, heading: &str, png: bool, out: &mut Vec<Drawn>) -> Result<(), ReportError> {
    out.push(Drawn {
        name: p.name(),
        heading: heading.to_string(),
        svg: plots::svg(p)?,
        png: if png { Some(plots::png(p)?) } else { None },
    });
    Ok(())
}

pub fn plot_run_with(dir: &Path, opts: &Options) -> Result<Vec<PathBuf>, ReportError> {
    let run = run::Run::load(dir, Some(opts.window.unwrap_or((0, u64::MAX))))?;
    let trace = dir.join("trace.jsonl");
    let slice = match trace.is_file() {
        true => causal::slice_of_file(&trace, &run.result).map_err(io(&trace))?,
        false => None,
    };
    let failing = plots::failing_ops(dir, &run);
    let mut drawn: Vec<Drawn> = Vec::new();
    let png = opts.png;
    if !run.ops.is_empty() {
        draw(&plots::LatencyCdf(&run), "Client latency", png, &mut drawn)?;
        draw(&LatencyScatter(&run.ops), "Latency over time", png, &mut drawn)?;
        draw(&plots::Throughput(&run), "Throughput and faults", png, &mut drawn)?;
    }
    if !run.roles.is_empty() {
        draw(&plots::NodeTimeline(&run), "Node timeline", png, &mut drawn)?;
        let d = match (&slice, opts.window) {
            (Some(s), None) => diagram::Diagram::of_slice(&run, s),
            _ => diagram::Diagram::of_window(&run),
        };
        if !d.items.is_empty() {
            draw(&d, "Message diagram", png, &mut drawn)?;
        }
    }
    if !run.metric_samples.is_empty() {
        draw(
            &plots::MetricsOverTime(&run),
            "Metrics over time",
            png,
            &mut drawn,
        )?;
    }
    if let Some(f) = &failing {
        draw(
            &plots::FailingOpsPlot(f, &run),
            "Operations that cannot be linearized",
            png,
            &mut drawn,
        )?;
    }
    let mut written = Vec::new();
    if let Some(s) = &slice {
        let out = dir.join("violation.txt");
        write_atomic(&out, s.text.as_bytes()).map_err(io(&out))?;
        written.push(out);
    }
    for d in &drawn {
        let (out, bytes) = match &d.png {
            Some(png) => (dir.join(format!("{}.png", d.name)), &png[..]),
            None => (dir.join(format!("{}.svg", d.name)), d.svg.as_bytes()),
        };
        write_atomic(&out, bytes).map_err(io(&out))?;
        written.push(out);
    }
    if !run.result.is_null() {
        let out = dir.join("report.html");
        let page = html::report(&run, slice.as_ref(), opts.window, failing.as_ref(), &drawn);
        write_atomic(&out, page.as_bytes()).map_err(io(&out))?;
        written.push(out);
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
    }
    if !trace.is_empty() || !history.is_empty() {
        let (now, series) =
            export::openmetrics(&trace, &history, &result).map_err(bad("metrics.openmetrics"))?;
        put("metrics.openmetrics", now)?;
        put("metrics-series.openmetrics", series)?;
    }
    Ok(written)
}

/// Above this many operations the plot shows percentiles per time bucket instead of points.
const MAX_POINTS: usize = 5000;

/// Every operation's latency against the time it completed, by outcome.
pub struct LatencyScatter<'a>(pub &'a [run::Op]);

impl plots::Plot for LatencyScatter<'_> {
    fn name(&self) -> &'static str {
        "latency"
    }
    fn size(&self) -> (u32, u32) {
        (900, 420)
    }
    fn draw<DB: DrawingBackend>(&self, root: &plots::Area<DB>) -> Result<(), ReportError> {
        let ops: Vec<(f64, f64, u8)> = self
            .0
            .iter()
            .map(|o| {
                (
                    o.done_ns as f64 / 1e9,
                    o.latency_ns() as f64 / 1e6,
                    o.outcome as u8,
                )
            })
            .collect();
        let ops = &ops[..];
        {
            let e = draw_err("latency.svg");
            root.fill(&WHITE).map_err(&e)?;
            let t_max = ops.iter().map(|o| o.0).fold(0.0, f64::max).max(1e-3);
            let l_max = ops.iter().map(|o| o.1).fold(0.0, f64::max).max(1.0) * 1.05;
            let mut chart = ChartBuilder::on(root)
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
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                        });
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(&e)?;
        }
        Ok(())
    }
}
