//! `dsim sweep`: parameter sweeps for experiments. Each value of each swept key (or each
//! combination, for several keys) becomes a variant of the scenario; each variant runs `trials`
//! seeds (`seed`, `seed + 1`, …: the same seeds for every value, so values are compared on the
//! same draws), in parallel; the scenario's metrics are taken from every trial and written as
//! `trials.csv` (one row per trial and metric, censored trials included), `summary.csv`
//! (`param,value,metric,n,min,median,mean,p99,max`, times in ms) and a CDF plot per metric.
//! The files are byte-identical for any `--jobs`: trials are collected in (value, trial) order.

use crate::error::InputError;
use crate::fuzz::exec;
use crate::keypath;
use crate::runner::{run_catching, Scenario};
use crate::spec::SweepSpec;
use serde::{Deserialize, Serialize};
use sim::metrics::{MetricSummary, Unit};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Trials per value when neither the file nor `--trials` says.
pub const DEFAULT_TRIALS: u64 = 100;
/// Most trials one sweep may run (all values together).
pub const MAX_TRIALS: u64 = 10_000_000;
/// Most trials per value (`--trials`, `[sweep] trials`).
pub const MAX_TRIALS_PER_VALUE: u64 = 1_000_000;
/// Most values (combinations) one sweep may have.
pub const MAX_POINTS: usize = 10_000;

pub struct Options {
    /// `KEY=V1,V2,…` flags: each replaces that key's values in the file's `[sweep] set`, or
    /// adds the key.
    pub sets: Vec<String>,
    pub trials: Option<u64>,
    /// `--metric NAME`: what to measure instead of the file's `[sweep] metrics`.
    pub metrics: Vec<String>,
    pub seed: Option<u64>,
    pub jobs: usize,
    pub out: PathBuf,
    pub progress: bool,
}

/// The `[sweep]` table alone (the loader has validated the file already).
#[derive(Deserialize)]
struct OnlySweep {
    sweep: Option<SweepSpec>,
}

/// One swept key and its values.
struct Axis {
    key: String,
    values: Vec<toml::Value>,
}

/// One value (combination): its variant text and trial count.
struct Point {
    values: Vec<toml::Value>,
    text: String,
    trials: u64,
    seed: u64,
}

impl Point {
    fn label(&self) -> String {
        if self.values.is_empty() {
            return "-".into();
        }
        self.values
            .iter()
            .map(keypath::label)
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// What a sweep measures per trial.
#[derive(Clone)]
enum Measure {
    /// A `[[metrics]]` span (ns).
    Span(String),
    /// A metric the run reports; a series is reduced by `stat`.
    Reported { name: String, stat: String, unit: Unit },
}

impl Measure {
    fn name(&self) -> String {
        match self {
            Measure::Span(n) => n.clone(),
            Measure::Reported { name, stat, .. } if stat.is_empty() => name.clone(),
            Measure::Reported { name, stat, .. } => format!("{name}.{stat}"),
        }
    }

    fn unit(&self) -> Unit {
        match self {
            Measure::Span(_) => Unit::Ns,
            Measure::Reported { unit, .. } => *unit,
        }
    }

    /// The trial's value in the sweep's units (ms for times), or `None`: censored.
    fn take(&self, r: &sim::RunReport) -> Option<f64> {
        let raw = match self {
            Measure::Span(n) => match r.metrics.get(n) {
                Some(MetricSummary::Value(v)) => Some(*v),
                _ => None,
            },
            Measure::Reported { name, stat, .. } => match r.metrics.get(name) {
                Some(MetricSummary::Value(v)) => Some(*v),
                Some(MetricSummary::Series {
                    n,
                    min,
                    median,
                    mean,
                    p99,
                    max,
                }) => Some(match stat.as_str() {
                    "n" => *n as f64,
                    "min" => *min,
                    "mean" => *mean,
                    "p99" => *p99,
                    "max" => *max,
                    _ => *median,
                }),
                None => None,
            },
        }?;
        Some(
            if self.unit() == Unit::Ns && !matches!(self, Measure::Reported { stat, .. } if stat == "n") {
                raw / 1e6
            } else {
                raw
            },
        )
    }
}

/// One trial's outcome.
struct Trial {
    values: Vec<Option<f64>>,
    /// The first failed check, if any.
    failed: Option<String>,
    /// Bounds the run hit (`max_events`, …): a censored value may come from one.
    bounds: Vec<String>,
}

impl exec::Finished for Trial {
    fn failed(&self) -> bool {
        false
    }
}

#[derive(Serialize)]
pub struct SummaryRow {
    pub param: String,
    pub value: String,
    pub metric: String,
    pub n: usize,
    pub censored: usize,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub mean: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Serialize)]
pub struct FailedTrial {
    pub value: String,
    pub seed: u64,
    pub check: String,
}

#[derive(Serialize)]
pub struct SweepReport {
    pub scenario: String,
    pub param: String,
    pub values: Vec<String>,
    pub metrics: Vec<String>,
    pub trials: u64,
    pub censored: usize,
    /// Trials that hit a bound of `[limits]` (named in their `verdict` in trials.csv).
    pub bounded_trials: usize,
    pub failed_trials: Vec<FailedTrial>,
    pub interrupted: bool,
    pub summary: Vec<SummaryRow>,
    pub files: Vec<String>,
    pub wall_ms: u64,
}

impl SweepReport {
    /// 1 if a trial failed a check, 3 if interrupted, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.failed_trials.is_empty() {
            1
        } else if self.interrupted {
            3
        } else {
            0
        }
    }
}

fn usage(msg: impl Into<String>) -> InputError {
    InputError::Usage(msg.into())
}

/// `KEY=V1,V2,…`.
fn parse_set(s: &str) -> Result<Axis, InputError> {
    let Some((k, v)) = s.split_once('=') else {
        return Err(usage(format!(
            "--set {s}: write KEY=V1,V2,… e.g. --set params.heartbeat=20ms,50ms"
        )));
    };
    let key = k.trim().to_string();
    keypath::check(&key).map_err(|e| usage(format!("--set {s}: {e}")))?;
    let values = keypath::parse_list(v).map_err(|e| usage(format!("--set {s}: {e}")))?;
    Ok(Axis { key, values })
}

/// Every combination of the axes' values, the first axis outermost.
fn combinations(axes: &[Axis]) -> Vec<Vec<toml::Value>> {
    let mut out: Vec<Vec<toml::Value>> = vec![Vec::new()];
    for a in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                a.values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    out
}

/// The measures: `--metric`, else the file's `[sweep] metrics`, else every `[[metrics]]` span.
fn measures(
    spec: Option<&SweepSpec>,
    scn: &dyn Scenario,
    flags: &[String],
) -> Result<Vec<Measure>, InputError> {
    let spans = &scn.config().spans;
    let mut reported = sim::engine::engine_metrics();
    if let Some(p) = protocols::catalog()
        .into_iter()
        .find(|p| p.name == scn.protocol())
    {
        reported.extend(p.metrics);
        reported.extend(p.workload.metrics);
    }
    let names: Vec<String> = if !flags.is_empty() {
        flags.to_vec()
    } else if let Some(list) = spec.and_then(|s| s.metrics.as_ref()) {
        list.iter().map(|m| m.get_ref().clone()).collect()
    } else {
        spans.iter().map(|s| s.name.clone()).collect()
    };
    names
        .iter()
        .map(|m| {
            if spans.iter().any(|s| &s.name == m) {
                return Ok(Measure::Span(m.clone()));
            }
            let (name, stat) = crate::load::split_stat(m);
            let (name, stat) = (name.to_string(), stat.unwrap_or("").to_string());
            if spans.iter().any(|s| s.name == name) {
                return Err(usage(format!("--metric {m}: `{name}` is one value per run: write --metric {name}")));
            }
            let Some(d) = reported.iter().find(|d| d.name == name) else {
                let mut known: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
                known.extend(reported.iter().map(|d| d.name));
                return Err(usage(format!(
                    "--metric {m}: `{name}` is neither a [[metrics]] entry nor a metric of `{}`; metrics: {} (a series takes .median unless it names .n, .min, .mean, .p99 or .max)",
                    scn.protocol(),
                    known.join(", ")
                )));
            };
            Ok(Measure::Reported { name, stat, unit: d.unit })
        })
        .collect()
}

/// Builds every variant and checks that each loads (exit 2 naming the value if one does not).
fn points(
    scn: &dyn Scenario,
    spec: Option<&SweepSpec>,
    opts: &Options,
) -> Result<(Vec<Axis>, Vec<Point>), InputError> {
    // The file's keys, then each --set: it replaces that key's values, or adds the key.
    let mut axes: Vec<Axis> = spec
        .and_then(|s| s.set.as_ref())
        .map(|m| {
            m.get_ref()
                .iter()
                .map(|(k, v)| Axis {
                    key: k.clone(),
                    values: v.as_array().cloned().unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    for s in &opts.sets {
        let a = parse_set(s)?;
        match axes.iter_mut().find(|x| x.key == a.key) {
            Some(x) => x.values = a.values,
            None => axes.push(a),
        }
    }
    let count = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.values.len()));
    if count.is_none_or(|n| n > MAX_POINTS) {
        return Err(usage(format!(
            "the sweep has more than {MAX_POINTS} values (combinations of {})",
            axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    if let Some(t) = opts.trials.filter(|t| !(1..=MAX_TRIALS_PER_VALUE).contains(t)) {
        return Err(usage(format!(
            "--trials {t}: between 1 and {MAX_TRIALS_PER_VALUE}"
        )));
    }
    let base: toml::Table =
        toml::from_str(scn.source()).map_err(|e| usage(format!("{}: {e}", scn.path())))?;
    let file_trials = spec.and_then(|s| s.trials.as_ref()).map(|t| *t.get_ref() as u64);
    let mut out = Vec::new();
    for values in combinations(&axes) {
        let mut t = base.clone();
        t.remove("sweep");
        let mut what = Vec::new();
        for (a, v) in axes.iter().zip(&values) {
            what.push(format!("{} = {}", a.key, keypath::label(v)));
            keypath::set(&mut t, &a.key, v.clone()).map_err(|e| usage(format!("sweep {}: {e}", a.key)))?;
        }
        let text = toml::to_string(&t).map_err(|e| usage(format!("sweep: {e}")))?;
        let variant = crate::load::load_str(scn.path(), &text).map_err(|e| {
            usage(format!(
                "{}: with {}: {}",
                scn.path(),
                what.join(", "),
                keypath::strip_location(&e.to_string())
            ))
        })?;
        let per_value = spec
            .and_then(|s| s.trials_for.as_ref())
            .and_then(|l| l.iter().find(|f| values.contains(&f.get_ref().value)))
            .map(|f| *f.get_ref().trials.get_ref() as u64);
        let trials = opts
            .trials
            .or(per_value)
            .or(file_trials)
            .unwrap_or(DEFAULT_TRIALS);
        let seed = opts.seed.unwrap_or(variant.config().seed);
        if seed
            .checked_add(trials - 1)
            .is_none_or(|last| last > i64::MAX as u64)
        {
            return Err(usage(format!(
                "seeds {seed}.. for {trials} trials run past the largest seed (2^63 - 1)"
            )));
        }
        out.push(Point {
            values,
            text,
            trials,
            seed,
        });
    }
    Ok((axes, out))
}

/// Nearest-rank statistics of the measured values.
fn stats(v: &mut [f64]) -> [Option<f64>; 5] {
    if v.is_empty() {
        return [None; 5];
    }
    v.sort_by(f64::total_cmp);
    let rank = |q: f64| sim::metrics::nearest_rank(v, q);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    [
        Some(v[0]),
        Some(rank(0.5)),
        Some(mean),
        Some(rank(0.99)),
        Some(v[v.len() - 1]),
    ]
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) => {
            let s = format!("{x:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" {
                "0".into()
            } else {
                s.to_string()
            }
        }
        None => String::new(),
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_file(dir: &Path, name: &str, text: &str, files: &mut Vec<String>) -> Result<(), InputError> {
    let path = dir.join(name);
    sim::output::write_atomic(&path, text.as_bytes()).map_err(|e| InputError::Read {
        path: path.display().to_string(),
        message: format!("cannot write: {e}"),
    })?;
    files.push(name.to_string());
    Ok(())
}

/// Runs the sweep and writes its files into `opts.out`.
pub fn sweep(scn: &dyn Scenario, opts: &Options, stop: &AtomicBool) -> Result<SweepReport, InputError> {
    let watch = crate::wall::Stopwatch::start();
    let spec: Option<SweepSpec> = toml::from_str::<OnlySweep>(scn.source())
        .map_err(|e| usage(format!("{}: {e}", scn.path())))?
        .sweep;
    let measures = measures(spec.as_ref(), scn, &opts.metrics)?;
    if measures.is_empty() {
        return Err(usage(format!(
            "{}: nothing to measure: name a metric (--metric latency.p99), declare [[metrics]] in the scenario or list [sweep] metrics (docs/scenario-format.md)",
            scn.path()
        )));
    }
    let (axes, points) = points(scn, spec.as_ref(), opts)?;
    // At most MAX_POINTS × MAX_TRIALS_PER_VALUE: no overflow.
    let total: u64 = points.iter().map(|p| p.trials).sum();
    if total > MAX_TRIALS {
        return Err(usage(format!(
            "the sweep has {total} trials; at most {MAX_TRIALS}"
        )));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| InputError::Read {
        path: opts.out.display().to_string(),
        message: format!("cannot create the output directory: {e}"),
    })?;
    // Case i → (point, trial).
    let starts: Vec<u64> = points
        .iter()
        .scan(0u64, |acc, p| {
            let s = *acc;
            *acc += p.trials;
            Some(s)
        })
        .collect();
    let locate = |i: usize| -> (usize, u64) {
        let p = starts.partition_point(|s| *s <= i as u64) - 1;
        (p, i as u64 - starts[p])
    };
    let bar = crate::fuzz::progress::Bar::with_unit(total, opts.progress, "trials");
    let failed_so_far = AtomicUsize::new(0);
    let path = scn.path().to_string();
    let results = exec::execute(
        total as usize,
        opts.jobs,
        false,
        stop,
        || -> Vec<Option<Box<dyn Scenario>>> { (0..points.len()).map(|_| None).collect() },
        |state, i| {
            let (p, k) = locate(i);
            let point = &points[p];
            let scn = state[p].get_or_insert_with(|| {
                crate::load::load_str(&path, &point.text).expect("every variant was loaded once already")
            });
            scn.config_mut().seed = point.seed + k;
            match run_catching(scn.as_ref(), sim::Outputs::default()) {
                Ok(r) => Trial {
                    values: measures.iter().map(|m| m.take(&r)).collect(),
                    failed: r.failed_checks().next().map(|c| c.name.clone()),
                    bounds: r.bounds_hit.clone(),
                },
                Err(e) => Trial {
                    values: vec![None; measures.len()],
                    failed: Some(format!("error: {e}")),
                    bounds: Vec::new(),
                },
            }
        },
        |_, t| {
            if t.failed.is_some() {
                failed_so_far.fetch_add(1, Ordering::SeqCst);
            }
            bar.tick(failed_so_far.load(Ordering::SeqCst));
        },
    );
    bar.finish();
    let interrupted = results.iter().any(Option::is_none);
    let param = if axes.is_empty() {
        "-".to_string()
    } else {
        axes.iter().map(|a| a.key.as_str()).collect::<Vec<_>>().join(";")
    };
    // trials.csv, and per (point, metric) the measured values.
    let mut trials_csv = String::from("param,value,trial,seed,metric,measured,censored,verdict\n");
    let mut measured: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); measures.len()]; points.len()];
    let mut censored: Vec<Vec<usize>> = vec![vec![0; measures.len()]; points.len()];
    let mut failed_trials = Vec::new();
    let mut bounded = 0usize;
    for (i, r) in results.iter().enumerate() {
        let Some(t) = r else { continue };
        let (p, k) = locate(i);
        let point = &points[p];
        let seed = point.seed + k;
        if let Some(check) = &t.failed {
            failed_trials.push(FailedTrial {
                value: point.label(),
                seed,
                check: check.clone(),
            });
        }
        let mut verdict = t
            .failed
            .as_ref()
            .map_or("pass".to_string(), |c| format!("fail: {c}"));
        if !t.bounds.is_empty() {
            bounded += 1;
            verdict.push_str(&format!(" (bound hit: {})", t.bounds.join(" ")));
        }
        for (mi, (m, v)) in measures.iter().zip(&t.values).enumerate() {
            match v {
                Some(x) => measured[p][mi].push(*x),
                None => censored[p][mi] += 1,
            }
            trials_csv.push_str(&format!(
                "{},{},{k},{seed},{},{},{},{}\n",
                field(&param),
                field(&point.label()),
                field(&m.name()),
                num(*v),
                v.is_none(),
                field(&verdict)
            ));
        }
    }
    let mut summary_csv = String::from("param,value,metric,n,min,median,mean,p99,max\n");
    let mut summary = Vec::new();
    for (p, point) in points.iter().enumerate() {
        for (mi, m) in measures.iter().enumerate() {
            let mut v = measured[p][mi].clone();
            let [min, median, mean, p99, max] = stats(&mut v);
            summary_csv.push_str(&format!(
                "{},{},{},{},{},{},{},{},{}\n",
                field(&param),
                field(&point.label()),
                field(&m.name()),
                v.len(),
                num(min),
                num(median),
                num(mean),
                num(p99),
                num(max)
            ));
            summary.push(SummaryRow {
                param: param.clone(),
                value: point.label(),
                metric: m.name(),
                n: v.len(),
                censored: censored[p][mi],
                min,
                median,
                mean,
                p99,
                max,
            });
        }
    }
    let mut files = Vec::new();
    write_file(&opts.out, "trials.csv", &trials_csv, &mut files)?;
    write_file(&opts.out, "summary.csv", &summary_csv, &mut files)?;
    // The CDF plots: per metric, one per [[sweep.plot]] (or one of every value).
    // (file suffix, title, the points with their legend labels)
    type Plot = (String, Option<String>, Vec<(usize, String)>);
    let plots: Vec<Plot> = match spec.as_ref().and_then(|s| s.plot.as_ref()) {
        Some(list) => list
            .iter()
            .map(|pl| {
                let pl = pl.get_ref();
                let idx = (0..points.len())
                    .filter_map(|p| {
                        let Some(vs) = &pl.values else {
                            return Some((p, points[p].label()));
                        };
                        let k = vs.iter().position(|v| points[p].values.contains(v))?;
                        let label = pl.labels.as_ref().map(|l| l.get_ref()[k].clone());
                        Some((p, label.unwrap_or_else(|| points[p].label())))
                    })
                    .collect();
                (format!("-{}", pl.name.get_ref()), pl.title.clone(), idx)
            })
            .collect(),
        _ => vec![(
            String::new(),
            None,
            (0..points.len()).map(|p| (p, points[p].label())).collect(),
        )],
    };
    for (mi, m) in measures.iter().enumerate() {
        for (suffix, title, idx) in &plots {
            let series: Vec<reports::cdf::CdfSeries> = idx
                .iter()
                .map(|(p, label)| reports::cdf::CdfSeries {
                    label: label.clone(),
                    values: measured[*p][mi].clone(),
                    censored: censored[*p][mi],
                })
                .collect();
            let x_label = match m.unit() {
                Unit::Ns if !matches!(&m, Measure::Reported { stat, .. } if stat == "n") => {
                    format!("{} (ms)", m.name())
                }
                _ => m.name(),
            };
            let title = title
                .clone()
                .unwrap_or_else(|| format!("{}: CDF by {param}", m.name()));
            let svg = reports::cdf::cdf_svg(&title, &x_label, &series).map_err(|e| usage(e.to_string()))?;
            write_file(
                &opts.out,
                &format!("cdf-{}{suffix}.svg", m.name()),
                &svg,
                &mut files,
            )?;
        }
    }
    let report = SweepReport {
        scenario: scn.path().to_string(),
        param,
        values: points.iter().map(Point::label).collect(),
        metrics: measures.iter().map(Measure::name).collect(),
        trials: results.iter().flatten().count() as u64,
        censored: censored.iter().flatten().sum(),
        bounded_trials: bounded,
        failed_trials,
        interrupted,
        summary,
        files,
        wall_ms: watch.ms(),
    };
    // The file leaves out the wall-clock time, so it too is the same for any --jobs.
    let mut value = serde_json::to_value(&report).expect("a sweep report serializes");
    if let Some(m) = value.as_object_mut() {
        m.remove("wall_ms");
    }
    let json = serde_json::to_string_pretty(&value).expect("a JSON value serializes");
    let mut files = report.files.clone();
    write_file(&opts.out, "sweep.json", &format!("{json}\n"), &mut files)?;
    Ok(SweepReport { files, ..report })
}

/// The human summary: a table per metric.
pub fn render(r: &SweepReport, out: &Path) -> String {
    let mut s = format!(
        "sweep {}: {} trials over {} value(s) of {}{}\n",
        r.scenario,
        r.trials,
        r.values.len(),
        r.param,
        if r.interrupted {
            " (INTERRUPTED: partial results)"
        } else {
            ""
        }
    );
    let width = r.values.iter().map(|v| v.len()).max().unwrap_or(5).max(5);
    for m in &r.metrics {
        s.push_str(&format!(
            "\n  {m}\n  {:width$}  {:>6} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            "value", "n", "censored", "min", "median", "mean", "p99", "max"
        ));
        for row in r.summary.iter().filter(|row| &row.metric == m) {
            s.push_str(&format!(
                "  {:width$}  {:>6} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
                row.value,
                row.n,
                row.censored,
                num(row.min),
                num(row.median),
                num(row.mean),
                num(row.p99),
                num(row.max)
            ));
        }
    }
    if r.censored > 0 {
        s.push_str(&format!(
            "\n  {} measurement(s) censored: never measured in its trial (a span's condition never held, or the run \
             reported no such metric); the statistics cover the measured trials only (see trials.csv)\n",
            r.censored
        ));
    }
    if r.bounded_trials > 0 {
        s.push_str(&format!(
            "  {} trial(s) hit a bound of [limits] (see the verdict column of trials.csv)\n",
            r.bounded_trials
        ));
    }
    for f in r.failed_trials.iter().take(5) {
        s.push_str(&format!(
            "  FAILED  value {} seed {}: {}\n",
            f.value, f.seed, f.check
        ));
    }
    if r.failed_trials.len() > 5 {
        s.push_str(&format!(
            "  … and {} more failed trials\n",
            r.failed_trials.len() - 5
        ));
    }
    s.push_str(&format!(
        "\n  wrote {} in {} ({:.1}s)\n",
        r.files.join(", "),
        out.display(),
        r.wall_ms as f64 / 1000.0
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_nearest_rank_and_numbers_trim() {
        let mut v = vec![5.0, 1.0, 3.0, 2.0, 4.0];
        let [min, med, mean, p99, max] = stats(&mut v);
        assert_eq!(
            (min, med, mean, p99, max),
            (Some(1.0), Some(3.0), Some(3.0), Some(5.0), Some(5.0))
        );
        assert_eq!(num(Some(287.5)), "287.5");
        assert_eq!(num(Some(3.0)), "3");
        assert_eq!(num(Some(0.0001)), "0");
        assert_eq!(num(None), "");
        assert_eq!(field("[150ms, 150ms]"), "\"[150ms, 150ms]\"");
    }

    #[test]
    fn combinations_run_the_first_axis_outermost() {
        let a = Axis {
            key: "a".into(),
            values: vec![1.into(), 2.into()],
        };
        let b = Axis {
            key: "b".into(),
            values: vec!["x".into(), "y".into()],
        };
        let c = combinations(&[a, b]);
        let labels: Vec<String> = c
            .iter()
            .map(|v| v.iter().map(keypath::label).collect::<Vec<_>>().join(";"))
            .collect();
        assert_eq!(labels, ["1;x", "1;y", "2;x", "2;y"]);
    }
}
