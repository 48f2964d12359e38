//! Running a validated scenario: one seed, optional planted bugs, optional output directory
//! (written atomically: temp files renamed into place when the run is over).

use crate::error::InputError;
use serde::Serialize;
use sim::output::write_atomic;
use sim::{Outputs, Protocol, RunReport, Setup, Sim, SimConfig};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A scenario ready to run, whatever its protocol.
pub trait Scenario {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    fn path(&self) -> &str;
    /// The scenario file's text.
    fn source(&self) -> &str;
    fn protocol(&self) -> &'static str;
    fn config(&self) -> &SimConfig;
    fn config_mut(&mut self) -> &mut SimConfig;
    /// Enables a planted bug by name (error if the protocol has no such bug).
    fn enable_bug(&mut self, name: &str) -> Result<(), InputError>;
    /// Runs once with the configured seed.
    fn run(&self, outputs: Outputs) -> Result<RunReport, sim::SimError>;
}

pub struct Prepared<P: Protocol> {
    name: String,
    description: String,
    path: String,
    source: String,
    cfg: SimConfig,
    setup: Setup<P>,
}

impl<P: Protocol> Prepared<P> {
    /// `path` and `source`: where the scenario came from, and its text.
    pub fn new(
        name: String,
        description: String,
        (path, source): (String, String),
        cfg: SimConfig,
        setup: Setup<P>,
    ) -> Self {
        Prepared {
            name,
            description,
            path,
            source,
            cfg,
            setup,
        }
    }

    pub fn setup(&self) -> &Setup<P> {
        &self.setup
    }
}

impl<P: Protocol> Scenario for Prepared<P> {
    fn name(&self) -> &str {
        &self.name
    }
    fn description(&self) -> &str {
        &self.description
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn source(&self) -> &str {
        &self.source
    }
    fn protocol(&self) -> &'static str {
        P::NAME
    }
    fn config(&self) -> &SimConfig {
        &self.cfg
    }
    fn config_mut(&mut self) -> &mut SimConfig {
        &mut self.cfg
    }

    fn enable_bug(&mut self, name: &str) -> Result<(), InputError> {
        if !P::bugs().iter().any(|b| b.name == name) {
            let known: Vec<&str> = P::bugs().iter().map(|b| b.name).collect();
            return Err(InputError::Usage(if known.is_empty() {
                format!("unknown bug `{name}`: protocol `{}` has no planted bugs", P::NAME)
            } else {
                format!(
                    "unknown bug `{name}` for protocol `{}`; its planted bugs: {}",
                    P::NAME,
                    known.join(", ")
                )
            }));
        }
        let mut names = self.cfg.bugs.names().to_vec();
        names.push(name.to_string());
        self.cfg.bugs = sim::BugSet::new(names);
        Ok(())
    }

    fn run(&self, outputs: Outputs) -> Result<RunReport, sim::SimError> {
        Sim::<P>::new(self.cfg.clone(), self.setup.clone(), outputs).run()
    }
}

thread_local! {
    /// Inside `run_catching` on this thread: where a panic's message goes (instead of stderr).
    static CAUGHT: std::cell::RefCell<Option<Option<String>>> = const { std::cell::RefCell::new(None) };
}

/// Installs, once per process, a panic hook that records the message of a panic on a thread
/// inside `run_catching` and hands every other panic to the previous hook. (Swapping hooks per
/// run would race when runs overlap on several threads, as in the tests.)
fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let captured = CAUGHT.with(|c| {
                let mut c = c.borrow_mut();
                let Some(slot) = c.as_mut() else { return false };
                let msg = match info.payload().downcast_ref::<&str>() {
                    Some(s) => s.to_string(),
                    None => info
                        .payload()
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_default(),
                };
                let loc = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                *slot = Some(format!("{msg}{loc}"));
                true
            });
            if !captured {
                prev(info);
            }
        }));
    });
}

/// Runs a scenario; a panic inside the simulation (a failed assertion in a protocol or the
/// engine) becomes a failed check rather than a crash of `dsim`.
pub fn run_catching(scn: &dyn Scenario, outputs: Outputs) -> Result<RunReport, InputError> {
    install_panic_hook();
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scn.run(outputs)));
    let caught = CAUGHT.with(|c| c.borrow_mut().take()).flatten();
    match r {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(InputError::Usage(e.to_string())),
        Err(_) => {
            let cfg = scn.config();
            Ok(RunReport::panicked(
                cfg.seed,
                cfg.nodes,
                &caught.unwrap_or_default(),
            ))
        }
    }
}

/// What `dsim run` did: the report, its wall time, and the files written (if any).
pub struct Ran {
    pub report: RunReport,
    pub wall_ms: u64,
    pub files: Vec<String>,
}

/// Runs `scn` once; with `dir`, writes every output there: `trace.jsonl`, `trace.txt`,
/// `history.jsonl`, `schedule.toml`, `result.json` and the plots, each atomically.
pub fn run_to(scn: &dyn Scenario, dir: Option<&Path>) -> Result<Ran, InputError> {
    let Some(dir) = dir else {
        let watch = crate::wall::Stopwatch::start();
        let report = run_catching(scn, Outputs::default())?;
        let wall_ms = watch.ms();
        return Ok(Ran {
            report,
            wall_ms,
            files: Vec::new(),
        });
    };
    let mut out = OutDir::create(dir)?;
    let schedule_lines = dir.join(".schedule.jsonl.tmp");
    let lines = File::create(&schedule_lines).map_err(|e| io_error(dir, e))?;
    let outputs = Outputs {
        trace_jsonl: Some(out.stream("trace.jsonl")?),
        trace_txt: Some(out.stream("trace.txt")?),
        history_jsonl: Some(out.stream("history.jsonl")?),
        schedule_jsonl: Some(Box::new(lines)),
        coverage: false,
    };
    let watch = crate::wall::Stopwatch::start();
    let report = run_catching(scn, outputs);
    let wall_ms = watch.ms();
    let written = report.and_then(|report| {
        let mut toml = std::io::BufWriter::new(out.stream("schedule.toml")?);
        crate::schedule::write_toml(scn, &schedule_lines, &mut toml)
            .and_then(|_| toml.flush())
            .map_err(|e| io_error(dir, e))?;
        drop(toml);
        out.commit().map_err(|e| io_error(dir, e))?;
        let json = RunJson::new(scn, &report, wall_ms);
        let text = serde_json::to_string_pretty(&json).expect("a run report serializes");
        out.write("result.json", format!("{text}\n").as_bytes())
            .map_err(|e| io_error(dir, e))?;
        let mut lines = String::new();
        for (metric, samples) in &report.metric_timelines {
            for (t, v) in samples {
                let line = serde_json::json!({ "metric": metric, "t": t, "v": v });
                lines.push_str(&line.to_string());
                lines.push('\n');
            }
        }
        out.write("metrics.jsonl", lines.as_bytes())
            .map_err(|e| io_error(dir, e))?;
        Ok(report)
    });
    let _ = fs::remove_file(&schedule_lines);
    let report = written?;
    let mut files: Vec<String> = [
        "result.json",
        "trace.txt",
        "trace.jsonl",
        "history.jsonl",
        "schedule.toml",
        "metrics.jsonl",
    ]
    .map(String::from)
    .to_vec();
    let mut plots =
        reports::plot_run(dir).map_err(|e| InputError::Usage(format!("plotting the run: {e}")))?;
    plots.extend(reports::export_run(dir).map_err(|e| InputError::Usage(format!("exporting the run: {e}")))?);
    files.extend(
        plots
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned())),
    );
    Ok(Ran {
        report,
        wall_ms,
        files,
    })
}

fn io_error(dir: &Path, e: std::io::Error) -> InputError {
    InputError::Read {
        path: dir.display().to_string(),
        message: format!("writing the output failed: {e}"),
    }
}

/// The JSON object of `dsim run --json` and `result.json` (DESIGN.md's CLI contract).
#[derive(Serialize)]
pub struct RunJson<'a> {
    pub scenario: &'a str,
    pub name: &'a str,
    pub protocol: &'a str,
    pub bugs: &'a [String],
    #[serde(flatten)]
    pub report: &'a RunReport,
    /// The node groups: `{name, first, len, boot_at}` (nodes `n{first+1}`…`n{first+len}`).
    pub groups: &'a [sim::cluster::Group],
    /// Each metric's unit (`ns`, `count`, `ratio`), so readers of `metrics` can show it.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metric_units: std::collections::BTreeMap<String, sim::metrics::Unit>,
    pub wall_ms: u64,
}

impl<'a> RunJson<'a> {
    pub fn new(scn: &'a dyn Scenario, report: &'a RunReport, wall_ms: u64) -> Self {
        RunJson {
            scenario: scn.path(),
            name: scn.name(),
            protocol: scn.protocol(),
            bugs: scn.config().bugs.names(),
            report,
            groups: scn.config().cluster.groups(),
            metric_units: report
                .metrics
                .keys()
                .map(|k| (k.clone(), crate::summary::metric_unit(scn.config(), k)))
                .collect(),
            wall_ms,
        }
    }
}

/// Files of an output directory, written under temporary names and renamed at the end.
pub struct OutDir {
    dir: PathBuf,
    pending: Vec<(PathBuf, PathBuf)>,
}

impl OutDir {
    pub fn create(dir: &Path) -> Result<Self, InputError> {
        fs::create_dir_all(dir).map_err(|e| InputError::Read {
            path: dir.display().to_string(),
            message: format!("cannot create the output directory: {e}"),
        })?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            pending: Vec::new(),
        })
    }

    /// Opens `name` for streaming; it appears under its real name only after [`OutDir::commit`].
    pub fn stream(&mut self, name: &str) -> Result<Box<dyn Write>, InputError> {
        let final_path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let f = File::create(&tmp).map_err(|e| InputError::Read {
            path: tmp.display().to_string(),
            message: format!("cannot create: {e}"),
        })?;
        self.pending.push((tmp, final_path));
        Ok(Box::new(f))
    }

    /// Writes a whole file atomically.
    pub fn write(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.dir.join(name), bytes)
    }

    /// Renames every streamed file into place.
    pub fn commit(&mut self) -> std::io::Result<()> {
        for (tmp, fin) in self.pending.drain(..) {
            fs::rename(&tmp, &fin)?;
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        // A run that failed before commit leaves no half-written files behind.
        for (tmp, _) in self.pending.drain(..) {
            let _ = fs::remove_file(tmp);
        }
    }
}
