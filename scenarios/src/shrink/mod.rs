//! `dsim shrink`: a failing run made small. The run is materialised as its schedule (every fault
//! and operation explicit), confirmed to fail the same check, then reduced in stages as DEMi
//! (Scott et al., NSDI'16) does — faults, then operations and clients, then the duration, the
//! node count, the network and the clocks — keeping a change only if the same check still fails.
//! Every candidate re-runs from scratch; the candidates of one step run in parallel and the
//! lowest-numbered one that still fails wins, so the result never depends on `--jobs`. Bounded
//! in steps (runs); a wall-clock budget may only stop it early.

pub(crate) mod candidate;
mod stages;

use crate::error::InputError;
use crate::fuzz::first_failure;
use crate::runner::{run_catching, Scenario};
use candidate::Candidate;
use serde::Serialize;
use sim::{Outputs, RunReport};
use std::io::Write;
use std::sync::{Arc, Mutex};

pub struct Options {
    pub jobs: usize,
    /// Most candidate runs.
    pub max_steps: u64,
    /// Stop early (with the smallest failing scenario so far) after this long.
    pub max_time: Option<std::time::Duration>,
    pub progress: bool,
}

/// What `dsim shrink --json` prints (DESIGN.md: `check, events_before, events_after,
/// faults_before, faults_after, ops_before, ops_after, output`).
#[derive(Debug, Serialize)]
pub struct ShrinkReport {
    pub scenario: String,
    pub seed: u64,
    pub bugs: Vec<String>,
    pub check: String,
    pub events_before: u64,
    pub events_after: u64,
    pub faults_before: usize,
    pub faults_after: usize,
    pub ops_before: usize,
    pub ops_after: usize,
    pub nodes_before: i64,
    pub nodes_after: i64,
    pub duration_before_ns: u64,
    pub duration_after_ns: u64,
    pub output: String,
    /// Candidate runs spent.
    pub steps: u64,
    /// `fixpoint` (no stage removes anything more), `steps` or `time` (a budget ran out).
    pub stopped_by: &'static str,
    /// What each successful reduction did, in order.
    pub log: Vec<String>,
    pub wall_ms: u64,
}

/// A candidate's run: whether it fails the check, and its size.
#[derive(Clone, Default)]
pub(crate) struct Tried {
    fails: bool,
    events: u64,
    /// When the check first failed (safety checks know; history checks fail at the end).
    at: Option<sim::time::Time>,
}

impl crate::fuzz::exec::Finished for Tried {
    fn failed(&self) -> bool {
        self.fails
    }
}

/// The search state: the smallest failing candidate so far, and the budgets.
pub(crate) struct Shrinker<'a> {
    check: String,
    best: Candidate,
    events: u64,
    /// When the best candidate's check fails, if the check says.
    pub(crate) violation_at: Option<sim::time::Time>,
    steps: u64,
    opts: &'a Options,
    started: crate::wall::Stopwatch,
    out_of: Option<&'static str>,
    log: Vec<String>,
    spinner: Option<indicatif::ProgressBar>,
}

impl Shrinker<'_> {
    /// Runs one candidate from its text.
    fn run(check: &str, c: &Candidate) -> Tried {
        let text = c.text(&[]);
        let Ok(s) = crate::load::load_str("shrink-candidate.toml", &text) else {
            return Tried::default();
        };
        match run_catching(s.as_ref(), Outputs::default()) {
            Ok(r) => {
                let failed = r.failed_checks().find(|f| f.name == check);
                Tried {
                    fails: failed.is_some(),
                    events: r.events,
                    at: failed.and_then(|f| f.time_ns),
                }
            }
            Err(_) => Tried::default(),
        }
    }

    fn budget_left(&mut self) -> u64 {
        if self.out_of.is_some() {
            return 0;
        }
        if self.opts.max_time.is_some_and(|t| self.started.elapsed() >= t) {
            self.out_of = Some("time");
            return 0;
        }
        let left = self.opts.max_steps.saturating_sub(self.steps);
        if left == 0 {
            self.out_of = Some("steps");
        }
        left
    }

    /// Runs the candidates (as many as the budget allows) in parallel; the lowest-numbered one
    /// that still fails becomes the best, and its index is returned.
    pub(crate) fn first_failing(&mut self, cands: Vec<Candidate>, what: &str) -> Option<usize> {
        let left = self.budget_left() as usize;
        let n = cands.len().min(left);
        if n == 0 {
            return None;
        }
        let stop = std::sync::atomic::AtomicBool::new(false);
        let check = self.check.clone();
        let results = crate::fuzz::exec::execute(
            n,
            self.opts.jobs,
            true,
            &stop,
            || (),
            |_, i| Self::run(&check, &cands[i]),
            |_, _| {},
        );
        let lowest = results.iter().position(|r| r.as_ref().is_some_and(|t| t.fails));
        // Steps are counted deterministically: every candidate up to the winner (or all).
        self.steps += lowest.map_or(n, |i| i + 1) as u64;
        let i = lowest?;
        if let Some(t) = &results[i] {
            self.events = t.events;
            self.violation_at = t.at;
        }
        self.best = cands[i].clone();
        self.log.push(format!(
            "{what}: {} faults, {} ops, {} events",
            self.best.faults.len(),
            self.best.ops.len(),
            self.events
        ));
        if let Some(s) = &self.spinner {
            s.set_message(format!(
                "step {}: {}",
                self.steps,
                self.log.last().map_or("", |l| l.as_str())
            ));
        }
        Some(i)
    }
}

/// Captures the schedule lines of one run.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `scn` (seed and bugs already set) and returns its report and its schedule's JSON lines;
/// with `coverage`, the report carries the run's coverage too.
pub(crate) fn run_recording(scn: &dyn Scenario, coverage: bool) -> Result<(RunReport, Vec<u8>), InputError> {
    let lines = Captured::default();
    let outputs = Outputs {
        schedule_jsonl: Some(Box::new(lines.clone())),
        coverage,
        ..Outputs::default()
    };
    let report = run_catching(scn, outputs)?;
    let bytes = std::mem::take(&mut *lines.0.lock().expect("the run is over"));
    Ok((report, bytes))
}

/// Runs `scn` (seed and bugs already set) and returns its report and materialised schedule.
fn materialise(scn: &dyn Scenario) -> Result<(RunReport, String), InputError> {
    let (report, bytes) = run_recording(scn, false)?;
    let text = crate::schedule::toml_text(scn, &bytes)
        .map_err(|e| InputError::Usage(format!("writing the schedule: {e}")))?;
    Ok((report, text))
}

/// Shrinks the failing run of `scn` (seed and bugs set) and writes the result to `out`.
pub fn shrink(scn: &dyn Scenario, opts: &Options, out: &std::path::Path) -> Result<ShrinkReport, InputError> {
    let started = crate::wall::Stopwatch::start();
    let cfg = scn.config();
    let (report, text) = materialise(scn)?;
    let Some(check) = first_failure(&report).map(|c| c.name.clone()) else {
        return Err(InputError::Usage(format!(
            "seed {} of {} fails no check: there is nothing to shrink (dsim fuzz finds a failing seed)",
            cfg.seed,
            scn.path()
        )));
    };
    let start = Candidate::parse(&text)
        .map_err(|e| InputError::Usage(format!("the schedule does not parse: {e}")))?;
    let confirmed = Shrinker::run(&check, &start);
    if !confirmed.fails {
        return Err(InputError::Usage(format!(
            "the schedule of seed {} does not fail `{check}` again, so it cannot be shrunk \
             (a replay differs only on same-nanosecond ties or when the run hit max_events)",
            cfg.seed
        )));
    }
    let spinner = opts.progress.then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.enable_steady_tick(std::time::Duration::from_millis(200));
        s
    });
    let mut sh = Shrinker {
        check: check.clone(),
        best: start.clone(),
        events: confirmed.events,
        violation_at: confirmed.at,
        steps: 1,
        opts,
        started,
        out_of: None,
        log: Vec::new(),
        spinner,
    };
    stages::run_all(&mut sh);
    if let Some(s) = &sh.spinner {
        s.finish_and_clear();
    }
    let best = sh.best.clone();
    let bugs = cfg.bugs.names().to_vec();
    let dur = |c: &Candidate| c.duration();
    let header = vec![
        format!(
            "Shrunk by dsim shrink from {}, seed {}{}: it still fails `{check}`.",
            scn.path(),
            cfg.seed,
            crate::summary::bugs_suffix(&bugs)
        ),
        format!(
            "Faults {} -> {}, operations {} -> {}, events {} -> {}, nodes {} -> {}, duration {} -> {}.",
            start.faults.len(),
            best.faults.len(),
            start.ops.len(),
            best.ops.len(),
            report.events,
            sh.events,
            start.nodes().unwrap_or(0),
            best.nodes().unwrap_or(0),
            sim::time::format_duration(dur(&start)),
            sim::time::format_duration(dur(&best)),
        ),
        format!("Replay: dsim run {}", out.display()),
        String::new(),
        "Every fault and operation is explicit (no nemesis, no random workload): remove or edit".into(),
        "entries to see what the failure needs.".into(),
    ];
    sim::output::write_atomic(out, best.text(&header).as_bytes()).map_err(|e| InputError::Read {
        path: out.display().to_string(),
        message: format!("cannot write: {e}"),
    })?;
    Ok(ShrinkReport {
        scenario: scn.path().to_string(),
        seed: cfg.seed,
        bugs,
        check,
        events_before: report.events,
        events_after: sh.events,
        faults_before: start.faults.len(),
        faults_after: best.faults.len(),
        ops_before: start.ops.len(),
        ops_after: best.ops.len(),
        nodes_before: start.nodes().unwrap_or(0),
        nodes_after: best.nodes().unwrap_or(0),
        duration_before_ns: dur(&start),
        duration_after_ns: dur(&best),
        output: out.display().to_string(),
        steps: sh.steps,
        stopped_by: sh.out_of.unwrap_or("fixpoint"),
        log: sh.log,
        wall_ms: sh.started.ms(),
    })
}

/// The human summary.
pub fn render(r: &ShrinkReport) -> String {
    let mut s = format!(
        "shrink {} seed {}{} — fails `{}`\n",
        r.scenario,
        r.seed,
        crate::summary::bugs_suffix(&r.bugs),
        r.check
    );
    s.push_str(&format!(
        "  faults    {} -> {}\n",
        r.faults_before, r.faults_after
    ));
    s.push_str(&format!("  ops       {} -> {}\n", r.ops_before, r.ops_after));
    s.push_str(&format!(
        "  events    {} -> {}\n",
        r.events_before, r.events_after
    ));
    s.push_str(&format!("  nodes     {} -> {}\n", r.nodes_before, r.nodes_after));
    s.push_str(&format!(
        "  duration  {} -> {}\n",
        sim::time::format_duration(r.duration_before_ns),
        sim::time::format_duration(r.duration_after_ns)
    ));
    let why = match r.stopped_by {
        "fixpoint" => "nothing more could be removed",
        "steps" => "the step budget ran out (--max-steps)",
        _ => "the time budget ran out (--max-time)",
    };
    s.push_str(&format!(
        "  search    {} runs in {:.1}s; {why}\n",
        r.steps,
        r.wall_ms as f64 / 1000.0
    ));
    s.push_str(&format!(
        "  output    {}   (replay: dsim run {})\n",
        r.output, r.output
    ));
    s
}
