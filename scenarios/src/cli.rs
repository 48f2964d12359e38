//! The `dsim` command line: parses flags, calls the library, prints, and turns errors into
//! messages and exit codes (0 ok, 1 violation, 2 bad input, 3 inconclusive). It writes through
//! the given streams so tests can run it in-process.

use crate::error::InputError;
use crate::runner::{OutDir, RunJson, Scenario};
use crate::wall::Stopwatch;
use clap::{Args, Parser, Subcommand};
use sim::time::{format_duration, parse_duration};
use sim::{CheckStatus, Outputs, RunReport};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "dsim",
    version,
    about = "A deterministic simulator for distributed protocols",
    long_about = "dsim runs real protocol implementations over a simulated network with seeded \
partitions, crashes, pauses and clock skew, checks safety, liveness and the client history, and \
reports a trace hash: one seed + one scenario file = one exactly reproducible run.\n\n\
Start with:\n  dsim list                                 protocols, planted bugs, bundled scenarios\n  \
dsim run scenarios/single/basic.toml      run a bundled scenario\n\n\
Exit codes: 0 no violation, 1 a check failed, 2 bad input, 3 inconclusive."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario with one seed and check it.
    Run(RunArgs),
    /// List protocols (parameters, planted bugs, checks) and bundled scenarios.
    List {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Check a recorded history for linearizability (exit 0 yes, 1 no, 3 undecided).
    CheckHistory(CheckHistoryArgs),
    /// Measure the engine's and the checker's speed.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Args)]
struct CheckHistoryArgs {
    /// A Jepsen etcd log, a Porcupine kv log, or a dsim history.jsonl.
    file: PathBuf,
    /// The sequential model the history is checked against.
    #[arg(long, value_enum)]
    model: crate::history_cmd::ModelArg,
    /// The file's format (default: guessed from its first line).
    #[arg(long, value_enum)]
    format: Option<crate::history_cmd::FormatArg>,
    /// Give up (verdict unknown, exit 3) after this much wall-clock time, e.g. "10s".
    #[arg(long)]
    timeout: Option<String>,
    /// Give up (verdict unknown, exit 3) after this many search steps.
    #[arg(long, default_value_t = 1_000_000_000)]
    budget: u64,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RunArgs {
    /// Scenario file (TOML), or a bundled scenario's short name such as `single/basic`.
    scenario: String,
    /// Seed for every random stream (overrides the file's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Enable a planted bug (repeatable); `dsim list` names them.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Write trace.txt, trace.jsonl, history.jsonl, result.json and the plots latency.svg and timeline.svg (when there is something to draw) here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (human text goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum BenchCmd {
    /// PHOLD through the real engine, beside a minimal hand-written heap + ChaCha loop.
    Phold {
        /// Logical processes.
        #[arg(long, default_value_t = 1024)]
        nodes: usize,
        /// Initial events per process.
        #[arg(long, default_value_t = 16)]
        events_per_node: u32,
        /// Simulated time to run, e.g. "10s".
        #[arg(long, default_value = "1s")]
        until: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip the hand-written baseline loop.
        #[arg(long)]
        no_baseline: bool,
        /// Run engine and baseline this many times, alternating, and report medians (shared
        /// machines are noisy).
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        #[arg(long)]
        json: bool,
    },
    /// The linearizability checker on every history of the shared test data, per family.
    Check {
        /// The shared data folder (default: $DSIM_SHARED_DATA, else ../shared/data).
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// Runs `dsim` with these arguments (the first is the program name); returns the exit code.
pub fn run<I, S>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let text = e.render().to_string();
            let _ = if code == 0 {
                write!(out, "{text}")
            } else {
                write!(err, "{text}")
            };
            return code;
        }
    };
    let mut io = Io { out, err };
    let result = match cli.cmd {
        Cmd::Run(a) => cmd_run(a, &mut io),
        Cmd::List { json } => cmd_list(json, &mut io),
        Cmd::CheckHistory(a) => cmd_check_history(a, &mut io),
        Cmd::Bench(BenchCmd::Check { data, json }) => cmd_bench_check(data, json, &mut io),
        Cmd::Bench(BenchCmd::Phold {
            nodes,
            events_per_node,
            until,
            seed,
            no_baseline,
            repeat,
            json,
        }) => cmd_phold(
            nodes,
            events_per_node,
            &until,
            seed,
            !no_baseline,
            repeat,
            json,
            &mut io,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(io.err, "error: {e}");
            2
        }
    }
}

/// Where a command prints.
struct Io<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

/// Loads a scenario from a path, or from the bundled set by short name.
fn load(name: &str) -> Result<Box<dyn Scenario>, InputError> {
    if !std::path::Path::new(name).exists() {
        if let Some((path, text)) = crate::bundled::find(name) {
            return crate::load::load_str(path, text);
        }
    }
    crate::load::load_file(name)
}

fn cmd_run(a: RunArgs, io: &mut Io) -> Result<u8, InputError> {
    let mut scn = load(&a.scenario)?;
    if let Some(s) = a.seed {
        scn.config_mut().seed = s;
    }
    for b in &a.bugs {
        scn.enable_bug(b)?;
    }
    let mut out = match &a.out {
        Some(dir) => Some(OutDir::create(dir)?),
        None => None,
    };
    let outputs = match out.as_mut() {
        Some(o) => Outputs {
            trace_jsonl: Some(o.stream("trace.jsonl")?),
            trace_txt: Some(o.stream("trace.txt")?),
            history_jsonl: Some(o.stream("history.jsonl")?),
        },
        None => Outputs::default(),
    };
    let watch = Stopwatch::start();
    let report = run_catching(scn.as_ref(), outputs)?;
    let wall_ms = watch.ms();
    let json = RunJson {
        scenario: scn.path(),
        name: scn.name(),
        protocol: scn.protocol(),
        bugs: scn.config().bugs.names(),
        report: &report,
        wall_ms,
    };
    let text = serde_json::to_string_pretty(&json).expect("a run report serializes");
    let mut plots = Vec::new();
    if let Some(o) = out.as_mut() {
        o.commit().map_err(|e| io_error(o.dir(), e))?;
        o.write("result.json", format!("{text}\n").as_bytes())
            .map_err(|e| io_error(o.dir(), e))?;
        plots = reports::plot_run(o.dir())
            .map_err(|e| InputError::Usage(format!("plotting the run: {e}")))?
            .iter()
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect();
    }
    let human = summary(scn.as_ref(), &report, wall_ms, a.out.as_ref(), &plots);
    if a.json {
        let line = serde_json::to_string(&json).expect("a run report serializes");
        let _ = writeln!(io.out, "{line}");
        let _ = write!(io.err, "{human}");
    } else {
        let _ = write!(io.out, "{human}");
    }
    Ok(report.exit_code() as u8)
}

fn io_error(dir: &std::path::Path, e: std::io::Error) -> InputError {
    InputError::Read {
        path: dir.display().to_string(),
        message: format!("writing the output failed: {e}"),
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
fn run_catching(scn: &dyn Scenario, outputs: Outputs) -> Result<RunReport, InputError> {
    install_panic_hook();
    CAUGHT.with(|c| *c.borrow_mut() = Some(None));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| scn.run(outputs)));
    let caught = CAUGHT.with(|c| c.borrow_mut().take()).flatten();
    match r {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => Err(InputError::Usage(e.to_string())),
        Err(_) => {
            let msg = caught.unwrap_or_default();
            let cfg = scn.config();
            Ok(RunReport {
                seed: cfg.seed,
                nodes: cfg.nodes,
                sim_time_ns: 0,
                events: 0,
                events_by_kind: Default::default(),
                messages: Default::default(),
                ops: Default::default(),
                checks: vec![sim::CheckResult {
                    name: "no-panic".into(),
                    kind: sim::CheckKind::Always,
                    status: CheckStatus::Fail,
                    detail: format!("the simulation panicked: {msg}"),
                    event: None,
                    time_ns: None,
                }],
                violations: 1,
                trace_hash: String::new(),
                stopped_by: sim::report::StopReason::Violation,
                bounds_hit: Vec::new(),
                faults: 0,
                trace_bytes: 0,
            })
        }
    }
}

fn group(n: u64) -> String {
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

/// The human summary of a run; `plots` are the plot files written into `out`.
fn summary(
    scn: &dyn Scenario,
    r: &RunReport,
    wall_ms: u64,
    out: Option<&PathBuf>,
    plots: &[String],
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let cfg = scn.config();
    let bugs = if cfg.bugs.names().is_empty() {
        String::new()
    } else {
        format!(", bugs: {}", cfg.bugs.names().join(" "))
    };
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
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(s, "    {mark:<8} {:<28} {kind:<11} {}", c.name, c.detail);
    }
    if !r.bounds_hit.is_empty() {
        let _ = writeln!(s, "  bounds    hit: {} (see [limits])", r.bounds_hit.join(", "));
    }
    let _ = writeln!(s, "  trace     {}", r.trace_hash);
    if let Some(dir) = out {
        let files = ["result.json", "trace.txt", "trace.jsonl", "history.jsonl"]
            .into_iter()
            .chain(plots.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(", ");
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

fn cmd_list(json: bool, io: &mut Io) -> Result<u8, InputError> {
    let catalog = protocols::catalog();
    let bundled: Vec<serde_json::Value> = crate::bundled::BUNDLED
        .iter()
        .map(|(path, text)| {
            let (name, description, protocol) = match toml::from_str::<toml::Table>(text) {
                Ok(t) => (
                    t.get("name").and_then(|v| v.as_str()).unwrap_or("").to_string(),
                    t.get("description").and_then(|v| v.as_str()).unwrap_or("").to_string(),
                    t.get("protocol").and_then(|v| v.as_str()).unwrap_or("").to_string(),
                ),
                Err(_) => Default::default(),
            };
            serde_json::json!({ "path": path, "name": name, "protocol": protocol, "description": description })
        })
        .collect();
    if json {
        let v = serde_json::json!({ "protocols": catalog, "scenarios": bundled });
        let _ = writeln!(
            io.out,
            "{}",
            serde_json::to_string(&v).expect("catalog serializes")
        );
        return Ok(0);
    }
    let _ = writeln!(io.out, "Protocols");
    for p in &catalog {
        let _ = writeln!(
            io.out,
            "\n  {} — {} ({} links)",
            p.name,
            p.description,
            serde_json::to_string(&p.link)
                .unwrap_or_default()
                .trim_matches('"')
        );
        let _ = writeln!(
            io.out,
            "    roles (fault targets may name one): {}",
            p.roles.join(", ")
        );
        if let Some(obj) = p.params.as_object() {
            if !obj.is_empty() {
                let _ = writeln!(io.out, "    parameters ([params] and per node in [node.nX]):");
                for (k, v) in obj {
                    let doc = p
                        .param_docs
                        .iter()
                        .find(|d| d.name == k)
                        .map(|d| d.description)
                        .unwrap_or("");
                    let v = v.to_string();
                    let _ = writeln!(io.out, "      {k:<24} default {v:<22} {doc}");
                }
            }
        }
        if !p.bugs.is_empty() {
            let _ = writeln!(io.out, "    planted bugs (--bug NAME):");
            for b in &p.bugs {
                let _ = writeln!(io.out, "      {:<28} {}", b.name, b.description);
            }
        }
        let _ = writeln!(io.out, "    checks:");
        for c in &p.checks {
            let kind = serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let _ = writeln!(io.out, "      {:<28} {kind:<11} {}", c.name, c.description);
        }
    }
    let _ = writeln!(io.out, "\n  Every run with clients also checks: stale-read (history), linearizable (history), ops-complete (eventually).");
    let _ = writeln!(
        io.out,
        "\nBundled scenarios (dsim run PATH, or the short name such as single/basic)"
    );
    for b in &bundled {
        let _ = writeln!(
            io.out,
            "  {:<40} {}",
            b["path"].as_str().unwrap_or(""),
            b["description"].as_str().unwrap_or("")
        );
    }
    Ok(0)
}

#[allow(clippy::too_many_arguments)]
fn cmd_phold(
    nodes: usize,
    epn: u32,
    until: &str,
    seed: u64,
    baseline: bool,
    repeat: u32,
    json: bool,
    io: &mut Io,
) -> Result<u8, InputError> {
    let until = parse_duration(until).map_err(|e| InputError::Usage(format!("--until: {e}")))?;
    if repeat == 0 || repeat > 100 {
        return Err(InputError::Usage("--repeat must be between 1 and 100".into()));
    }
    if nodes == 0 || nodes > 1_000_000 {
        return Err(InputError::Usage("--nodes must be between 1 and 1000000".into()));
    }
    if epn == 0 || u64::from(epn) * nodes as u64 > 100_000_000 {
        return Err(InputError::Usage(
            "--events-per-node must be at least 1, and nodes × events-per-node at most 10^8".into(),
        ));
    }
    let mut engines = Vec::new();
    let mut bases = Vec::new();
    for _ in 0..repeat {
        engines.push(crate::bench::run_engine(nodes, epn, until, seed));
        if baseline {
            bases.push(crate::bench::run_baseline(nodes, epn, until, seed));
        }
    }
    let rss = crate::wall::peak_rss_mib();
    let median = |mut v: Vec<crate::bench::PholdResult>| -> Option<crate::bench::PholdResult> {
        v.sort_by(|a, b| a.events_per_sec.total_cmp(&b.events_per_sec));
        let n = v.len();
        (n > 0).then(|| v.swap_remove(n / 2))
    };
    let engine = median(engines).expect("at least one run");
    let base = median(bases);
    let ratio = base.as_ref().map(|b| engine.events_per_sec / b.events_per_sec);
    if json {
        let mut v = serde_json::to_value(&engine).expect("serializes");
        v["nodes"] = nodes.into();
        v["events_per_node"] = epn.into();
        v["until_ns"] = until.into();
        v["peak_rss_mib"] = serde_json::json!(rss);
        if let (Some(b), Some(r)) = (&base, ratio) {
            v["baseline_events"] = b.events.into();
            v["baseline_events_per_sec"] = serde_json::json!(b.events_per_sec);
            v["ratio"] = serde_json::json!(r);
        }
        let _ = writeln!(io.out, "{v}");
    } else {
        let _ = writeln!(
            io.out,
            "PHOLD N={nodes} E={epn} until {} (seed {seed})",
            format_duration(until)
        );
        let _ = writeln!(
            io.out,
            "  engine    {} events in {} ms = {:.2} M events/s, checksum {}",
            group(engine.events),
            engine.wall_ms,
            engine.events_per_sec / 1e6,
            engine.checksum
        );
        if let (Some(b), Some(r)) = (&base, ratio) {
            let _ = writeln!(
                io.out,
                "  baseline  {} events in {} ms = {:.2} M events/s (hand-written heap + ChaCha loop)",
                group(b.events),
                b.wall_ms,
                b.events_per_sec / 1e6
            );
            let _ = writeln!(io.out, "  ratio     {r:.2} of the baseline's speed");
        }
        if let Some(m) = rss {
            let _ = writeln!(io.out, "  memory    peak RSS {m:.0} MiB");
        }
    }
    Ok(0)
}

fn cmd_check_history(a: CheckHistoryArgs, io: &mut Io) -> Result<u8, InputError> {
    let deadline = match &a.timeout {
        Some(t) => {
            let d = parse_duration(t).map_err(|e| InputError::Usage(format!("--timeout: {e}")))?;
            Some(crate::wall::Deadline::after(std::time::Duration::from_nanos(d)))
        }
        None => None,
    };
    let r = crate::history_cmd::check_file(&a.file, a.model, a.format, a.budget, deadline.as_ref())?;
    if a.json {
        let _ = writeln!(io.out, "{}", serde_json::to_string(&r).expect("serializes"));
        let _ = write!(io.err, "{}", crate::history_cmd::render(&r));
    } else {
        let _ = write!(io.out, "{}", crate::history_cmd::render(&r));
    }
    Ok(crate::history_cmd::exit_code(&r))
}

fn cmd_bench_check(data: Option<PathBuf>, json: bool, io: &mut Io) -> Result<u8, InputError> {
    let data = data.unwrap_or_else(crate::history_cmd::default_data_dir);
    let families = crate::history_cmd::bench(&data)?;
    let bad = families.iter().any(|f| !f.mismatches.is_empty());
    if json {
        let v = serde_json::json!({ "families": families });
        let _ = writeln!(io.out, "{v}");
    } else {
        for f in &families {
            let _ = writeln!(
                io.out,
                "{:<6} {:>4} files  {:>8.1} ms in all   slowest {} ({:.1} ms)",
                f.family, f.files, f.total_ms, f.slowest_file, f.slowest_ms
            );
            for m in &f.mismatches {
                let _ = writeln!(io.out, "       WRONG VERDICT {m}");
            }
        }
    }
    Ok(if bad { 1 } else { 0 })
}
