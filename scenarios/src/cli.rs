//! The `dsim` command line: parses flags, calls the library, prints, and turns errors into
//! messages and exit codes (0 ok, 1 violation, 2 bad input, 3 inconclusive). It writes through
//! the given streams so tests can run it in-process.

use crate::error::InputError;
use crate::runner::{RunJson, Scenario};
use clap::{Args, Parser, Subcommand};
use sim::time::parse_duration;
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
    /// Run one scenario over many seeds in parallel; write each failure as a replayable file.
    #[command(long_about = FUZZ_HELP)]
    Fuzz(FuzzArgs),
    /// Make a failing run small: a scenario file with few faults and operations that still fails.
    #[command(long_about = SHRINK_HELP)]
    Shrink(ShrinkArgs),
    /// Run a scenario for each value of some parameters, many seeds each; write CSVs and CDF plots.
    #[command(long_about = SWEEP_HELP)]
    Sweep(SweepArgs),
    /// Regenerate report.html, the plots and the exports of a `dsim run --out` directory from its files alone.
    #[command(long_about = REPORT_HELP)]
    Report(ReportArgs),
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
    /// The consistency model: `linearizable` (per partition, e.g. key) or `sequential` (one
    /// order of every operation keeping each client's order; the whole history at once).
    #[arg(long, value_enum, default_value = "linearizable")]
    consistency: crate::history_cmd::ConsistencyArg,
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
    /// Write trace.txt, trace.jsonl, history.jsonl, schedule.toml (this run as a replayable scenario), result.json and the plots latency.svg and timeline.svg (when there is something to draw) here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print exactly one JSON object on stdout (human text goes to stderr).
    #[arg(long)]
    json: bool,
    /// Run the scenario twice in this process, the second time after an unrelated run (the
    /// next seed), and compare the traces line by line; exit 1 if they differ, naming the first
    /// differing event. Writes no files.
    #[arg(long, conflicts_with = "out")]
    check_determinism: bool,
}

const FUZZ_HELP: &str = "Runs the scenario once per seed of a half-open range (1..1001 is a \
thousand seeds), in parallel, each run single-threaded and deterministic. The answer never depends \
on --jobs: without --keep-going it is the lowest failing seed (every lower seed still runs), with \
it every failing seed.\n\n\
With --out, each failure is written at once as DIR/seed-N.toml: the scenario with the seed and \
the bugs pinned and a header naming the failing check; `dsim run DIR/seed-N.toml` replays it. \
DIR/fuzz.json holds the campaign's JSON. Ctrl-C stops handing out seeds, lets the running ones \
finish and keeps every failure found.\n\n\
CI: a matrix of N jobs each runs --shard I/N (seed s belongs to shard s mod N); their JSON \
failure lists concatenate. See docs/fuzzing.md.\n\n\
--swarm: each seed also draws which fault kinds are on (each nemesis kind and each network \
misbehaviour kept with probability 0.5), their rates (scaled 1/4x to 4x) and any values the \
scenario's [swarm] table lists under `choose`; a failure's file pins what it drew. Swarm also \
scales clock drift, may aim faults at the protocol's leader or primary (crashes right after a \
node takes the role on; random faults and partitions at its holder) and may turn on the \
protocol's buggify sites ([buggify]; `dsim list` names them).\n\n\
--guided: runs report coverage (each node's moves between abstract protocol states); runs that \
reach something new join a corpus of schedules, and from the first quarter of the range on \
every second seed runs a mutant of one (a fault moved, dropped, repeated, retargeted or resized; \
operations dropped or shifted) instead. Batches of 32 keep it independent of --jobs. With \
--swarm too, the other seeds are swarm variants, and a mutant keeps its parent's draws.\n\n\
Exit codes: 0 no failure, 1 a seed failed, 2 bad input, 3 interrupted or inconclusive.\n\n\
Example:\n  dsim fuzz scenarios/raft/fuzz.toml --seeds 1..1001 --bug commit-previous-term --out found/";

const SHRINK_HELP: &str = "Takes a failing seed (from dsim fuzz), writes its run down as explicit \
faults and client operations (its schedule), confirms that fails the same check, then reduces it \
in stages as DEMi does: faults, then operations and clients, then the duration, the node count, \
the network, the clocks and any [buggify] table. A change is kept only if the same check still fails; each candidate \
re-runs from scratch, several in parallel, and the result never depends on --jobs.\n\n\
The output is an ordinary, commented scenario file: `dsim run MIN.toml` replays the failure.\n\n\
Bounded by --max-steps runs; --max-time only stops it early, with the smallest file so far.\n\n\
Examples:\n  dsim shrink scenarios/raft/fuzz.toml --seed 197 --bug commit-previous-term --out min.toml\n  dsim shrink found/seed-197.toml --out min.toml      # a file dsim fuzz wrote: its seed and bugs are pinned";

#[derive(Args)]
struct ShrinkArgs {
    /// Scenario file (TOML), or a bundled scenario's short name such as `raft/fuzz`.
    scenario: String,
    /// The failing seed (default: the file's own `seed`, as in the files `dsim fuzz --out`
    /// writes).
    #[arg(long)]
    seed: Option<u64>,
    /// Enable a planted bug (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Where to write the small scenario.
    #[arg(long, value_name = "MIN.toml")]
    out: PathBuf,
    /// Parallel runs (default: the machine's cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// The seed ran as `dsim fuzz --swarm` drew it (or shrink the file fuzz wrote).
    #[arg(long)]
    swarm: bool,
    /// Most candidate runs.
    #[arg(long, default_value_t = 10000)]
    max_steps: u64,
    /// Stop early after this much wall-clock time, e.g. "2m" (the result may then be larger).
    #[arg(long, value_name = "DURATION")]
    max_time: Option<String>,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FuzzArgs {
    /// Scenario file (TOML), or a bundled scenario's short name such as `raft/fuzz`.
    scenario: String,
    /// Half-open seed range, e.g. 1..1001.
    #[arg(long, value_name = "A..B")]
    seeds: String,
    /// Parallel runs (default: the machine's cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Run only the seeds of shard I of N (seed s belongs to shard s mod N; 0-based).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Enable a planted bug (repeatable); `dsim list` names them.
    #[arg(long = "bug", value_name = "NAME")]
    bugs: Vec<String>,
    /// Run every seed and report every failure (default: stop at the lowest failing seed).
    #[arg(long)]
    keep_going: bool,
    /// Write each failure here as seed-N.toml, and the campaign's JSON as fuzz.json.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Swarm testing: each seed also draws fault kinds, rates, [swarm] choices, faults aimed at
    /// the leader and buggify sites.
    #[arg(long)]
    swarm: bool,
    /// Coverage-guided search: part of the seeds run mutants of schedules that reached new
    /// protocol states (see docs/fuzzing.md).
    #[arg(long)]
    guided: bool,
    /// Print exactly one JSON object on stdout (no progress bar; the summary goes to stderr).
    #[arg(long)]
    json: bool,
}

const REPORT_HELP: &str = "Regenerate report.html, the plots and the exports of a `dsim run --out` \
directory from its files alone (result.json, trace.jsonl, history.jsonl, metrics.jsonl); no \
simulation runs.\n\n\
report.html is one self-contained page: the verdict and the replay command, every check, the \
causal slice of the first violation (why it failed), its message diagram, the faults, the \
operations that cannot be linearized, and the plots (latency CDF, throughput with fault bands, \
node timeline, metrics over time), linked both ways.\n\n\
Examples:\n  \
dsim run scenarios/raft/figure8.toml --bug commit-previous-term --out out/   # writes out/report.html\n  \
dsim report out/ --window 900ms..1s    # the message diagram of that window instead\n  \
dsim report out/ --format png          # PNG plot files (bundled font)";

const SWEEP_HELP: &str = "Run a scenario for each value of one or more parameters (every \
combination, for several --set), a number of trials (seeds) each, in parallel; take the scenario's \
metrics from every trial and write, into --out DIR:\n\n  \
trials.csv    one row per trial and metric (censored: the metric was never reached)\n  \
summary.csv   param,value,metric,n,min,median,mean,p99,max (times in ms; n and the statistics \
count the measured trials)\n  \
cdf-METRIC.svg  a CDF per metric, one line per value (per [[sweep.plot]] if the file has them)\n  \
sweep.json    the same as --json prints\n\n\
Metrics: the scenario's [[metrics]] (e.g. the time from the fault named `crash` until the \
condition `leader-known` holds), or metrics the run reports: --metric latency.p99 (or [sweep] \
metrics = [\"latency.p99\", …]). Values and trials may \
be declared in the scenario's [sweep] table; a --set replaces that key's values (or adds the key), \
--trials every trial count. Trial k of every value runs seed \
S+k (S: --seed, else the scenario's seed), so values are compared on the same draws. The files are \
byte-identical for any --jobs.\n\n\
Examples:\n  \
dsim sweep scenarios/raft/election-timeouts.toml --out sweep-lan\n  \
dsim sweep scenarios/raft/election-timeouts.toml --set params.candidate_sync=before-asking --out b\n  \
dsim sweep scenarios/raft/leader-crash.toml --set params.heartbeat=20ms,50ms --trials 20 \
--metric latency.p99 --out hb\n\n\
Key paths: params.X, network.drop, nodes, workload.rate, faults.NAME.enabled (an array entry by \
its name or 0-based index). Exit 0, 1 if a trial failed a check, 2 bad input, 3 interrupted.";

#[derive(Args)]
struct SweepArgs {
    /// Scenario file (TOML), or a bundled scenario's short name such as `raft/election-timeouts`.
    scenario: String,
    /// KEY=V1,V2,… a key path and its values, e.g. params.election_timeout=[150ms,300ms],[150ms,200ms]
    /// (repeatable: every combination runs). Replaces that key's values in the file's [sweep] set,
    /// or adds the key.
    #[arg(long = "set", value_name = "KEY=V1,V2,…")]
    sets: Vec<String>,
    /// Trials (seeds) per value (default: the file's [sweep] trials, else 100).
    #[arg(long, value_name = "N")]
    trials: Option<u64>,
    /// A metric to measure (repeatable; replaces the file's [sweep] metrics): a [[metrics]]
    /// name, or a reported metric with a statistic, e.g. latency.p99 or leader-recovery.max.
    #[arg(long = "metric", value_name = "NAME")]
    metrics: Vec<String>,
    /// The first trial's seed (default: the scenario's seed).
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Parallel runs (default: the machine's cores).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Directory for trials.csv, summary.csv, the plots and sweep.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Print exactly one JSON object on stdout (no progress bar; the table goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReportArgs {
    /// A directory `dsim run --out DIR` wrote (result.json, trace.jsonl, history.jsonl).
    dir: PathBuf,
    /// Image format of the plot files: svg, or png (drawn with a bundled font). report.html
    /// always inlines SVG.
    #[arg(long, default_value = "svg", value_name = "svg|png")]
    format: String,
    /// The message diagram's window of simulated time, e.g. 1.5s..1.62s or 900ms..1s
    /// (default: the causal slice of the first violation, else the start of the run).
    #[arg(long, value_name = "T1..T2")]
    window: Option<String>,
    /// Print exactly one JSON object on stdout: `{dir, files}`.
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
        Cmd::Fuzz(a) => cmd_fuzz(a, &mut io),
        Cmd::Sweep(a) => cmd_sweep(a, &mut io),
        Cmd::Report(a) => cmd_report(a, &mut io),
        Cmd::Shrink(a) => cmd_shrink(a, &mut io),
        Cmd::List { json } => {
            if json {
                let _ = writeln!(io.out, "{}", crate::list::json());
            } else {
                let _ = write!(io.out, "{}", crate::list::text());
            }
            Ok(0)
        }
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
        }) => {
            let args = crate::bench::PholdArgs {
                nodes,
                events_per_node,
                until,
                seed,
                baseline: !no_baseline,
                repeat,
            };
            crate::bench::phold(&args).map(|(v, text)| {
                if json {
                    let _ = writeln!(io.out, "{v}");
                } else {
                    let _ = write!(io.out, "{text}");
                }
                0
            })
        }
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
    if a.check_determinism {
        return cmd_check_determinism(&a, scn.as_ref(), io);
    }
    let ran = crate::runner::run_to(scn.as_ref(), a.out.as_deref())?;
    let json = RunJson::new(scn.as_ref(), &ran.report, ran.wall_ms);
    let human = crate::summary::summary(scn.as_ref(), &ran.report, ran.wall_ms, a.out.as_ref(), &ran.files);
    if a.json {
        let line = serde_json::to_string(&json).expect("a run report serializes");
        let _ = writeln!(io.out, "{line}");
        let _ = write!(io.err, "{human}");
    } else {
        let _ = write!(io.out, "{human}");
    }
    Ok(ran.report.exit_code() as u8)
}

/// Set by Ctrl-C during a campaign (a second Ctrl-C exits at once).
fn interrupt_flag() -> &'static std::sync::Arc<std::sync::atomic::AtomicBool> {
    static FLAG: std::sync::OnceLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
        std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sig = signal_hook::consts::SIGINT;
        // Order matters: the conditional exit sees the flag before this Ctrl-C sets it.
        let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone());
        let _ = signal_hook::flag::register(sig, flag.clone());
        flag
    })
}

fn jobs_or_cores(jobs: Option<usize>) -> Result<usize, InputError> {
    match jobs {
        Some(0) => Err(InputError::Usage("--jobs: at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn cmd_shrink(a: ShrinkArgs, io: &mut Io) -> Result<u8, InputError> {
    let max_time = match &a.max_time {
        Some(t) => Some(std::time::Duration::from_nanos(
            parse_duration(t).map_err(|e| InputError::Usage(format!("--max-time: {e}")))?,
        )),
        None => None,
    };
    let mut scn = load(&a.scenario)?;
    let seed = a.seed.unwrap_or(scn.config().seed);
    if a.swarm {
        let mut bugs = scn.config().bugs.names().to_vec();
        bugs.extend(
            a.bugs
                .iter()
                .filter(|b| !scn.config().bugs.names().contains(b))
                .cloned(),
        );
        let v = crate::fuzz::swarm::Swarm::new(scn.path(), scn.source())?.draw(seed, &bugs);
        scn = crate::load::load_str(scn.path(), &v.text)?;
    }
    scn.config_mut().seed = seed;
    for b in &a.bugs {
        scn.enable_bug(b)?;
    }
    use std::io::IsTerminal;
    let opts = crate::shrink::Options {
        jobs: jobs_or_cores(a.jobs)?,
        max_steps: a.max_steps,
        max_time,
        progress: !a.json && std::io::stderr().is_terminal(),
    };
    let r = crate::shrink::shrink(scn.as_ref(), &opts, &a.out)?;
    let human = crate::shrink::render(&r);
    if a.json {
        let _ = writeln!(io.out, "{}", serde_json::to_string(&r).expect("serializes"));
        let _ = write!(io.err, "{human}");
    } else {
        let _ = write!(io.out, "{human}");
    }
    Ok(0)
}

fn cmd_fuzz(a: FuzzArgs, io: &mut Io) -> Result<u8, InputError> {
    let seeds = crate::fuzz::parse_seeds(&a.seeds).map_err(|e| InputError::Usage(format!("--seeds: {e}")))?;
    let shard = match &a.shard {
        Some(s) => {
            Some(crate::fuzz::Shard::parse(s).map_err(|e| InputError::Usage(format!("--shard: {e}")))?)
        }
        None => None,
    };
    let jobs = jobs_or_cores(a.jobs)?;
    let scn = load(&a.scenario)?;
    use std::io::IsTerminal;
    let opts = crate::fuzz::Options {
        seeds,
        jobs,
        shard,
        bugs: a.bugs.clone(),
        keep_going: a.keep_going,
        out: a.out.clone(),
        progress: !a.json && std::io::stderr().is_terminal(),
        swarm: a.swarm,
        guided: a.guided,
    };
    let report = crate::fuzz::fuzz(scn.as_ref(), &opts, interrupt_flag())?;
    let line = serde_json::to_string(&report).expect("a fuzz report serializes");
    if let Some(dir) = &a.out {
        sim::output::write_atomic(&dir.join("fuzz.json"), format!("{line}\n").as_bytes()).map_err(|e| {
            InputError::Read {
                path: dir.display().to_string(),
                message: format!("writing fuzz.json failed: {e}"),
            }
        })?;
    }
    let human = crate::fuzz::render(&report);
    if a.json {
        let _ = writeln!(io.out, "{line}");
        let _ = write!(io.err, "{human}");
    } else {
        let _ = write!(io.out, "{human}");
    }
    Ok(report.exit_code())
}

fn cmd_report(a: ReportArgs, io: &mut Io) -> Result<u8, InputError> {
    let png = match a.format.as_str() {
        "svg" => false,
        "png" => true,
        other => return Err(InputError::Usage(format!("--format {other}: svg or png"))),
    };
    let window = a.window.as_deref().map(parse_window).transpose()?;
    let dir = &a.dir;
    let usable = ["trace.jsonl", "history.jsonl", "result.json"]
        .iter()
        .any(|f| dir.join(f).is_file());
    if !usable {
        return Err(InputError::Read {
            path: dir.display().to_string(),
            message: "no result.json, trace.jsonl or history.jsonl here: give a directory `dsim run --out DIR` wrote".into(),
        });
    }
    let fail = |e: reports::ReportError| InputError::Usage(format!("{}: {e}", dir.display()));
    let opts = reports::Options { window, png };
    let mut files = reports::plot_run_with(dir, &opts).map_err(fail)?;
    files.extend(reports::export_run(dir).map_err(fail)?);
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
        .collect();
    if a.json {
        let v = serde_json::json!({ "dir": dir.display().to_string(), "files": names });
        let _ = writeln!(io.out, "{v}");
    } else {
        let _ = writeln!(io.out, "wrote {} in {}", names.join(", "), dir.display());
    }
    Ok(0)
}

/// `1.5s..1.62s` → (1.5 s, 1.62 s) in ns.
fn parse_window(text: &str) -> Result<(u64, u64), InputError> {
    let usage = |m: String| InputError::Usage(format!("--window {text}: {m}"));
    let (a, b) = text
        .split_once("..")
        .ok_or_else(|| usage("give two times, T1..T2 (e.g. 1.5s..1.62s)".into()))?;
    let t = |s: &str| sim::time::parse_duration(s).map_err(|e| usage(e.to_string()));
    let (a, b) = (t(a)?, t(b)?);
    if a >= b {
        return Err(usage("the window must end after it starts".into()));
    }
    Ok((a, b))
}

fn cmd_sweep(a: SweepArgs, io: &mut Io) -> Result<u8, InputError> {
    if a.trials == Some(0) {
        return Err(InputError::Usage("--trials: at least 1".into()));
    }
    let jobs = jobs_or_cores(a.jobs)?;
    let scn = load(&a.scenario)?;
    use std::io::IsTerminal;
    let opts = crate::sweep::Options {
        sets: a.sets.clone(),
        trials: a.trials,
        metrics: a.metrics.clone(),
        seed: a.seed,
        jobs,
        out: a.out.clone(),
        progress: !a.json && std::io::stderr().is_terminal(),
    };
    let report = crate::sweep::sweep(scn.as_ref(), &opts, interrupt_flag())?;
    let human = crate::sweep::render(&report, &a.out);
    if a.json {
        let _ = writeln!(
            io.out,
            "{}",
            serde_json::to_string(&report).expect("a sweep report serializes")
        );
        let _ = write!(io.err, "{human}");
    } else {
        let _ = write!(io.out, "{human}");
    }
    Ok(report.exit_code())
}

fn cmd_check_determinism(a: &RunArgs, scn: &dyn Scenario, io: &mut Io) -> Result<u8, InputError> {
    let mut other = load(&a.scenario)?;
    other.config_mut().seed = scn.config().seed.wrapping_add(1);
    for b in &a.bugs {
        other.enable_bug(b)?;
    }
    let watch = crate::wall::Stopwatch::start();
    let (report, d) = crate::determinism::check(scn, other.as_ref())?;
    let wall_ms = watch.ms();
    let mut human = crate::summary::summary(scn, &report, wall_ms, None, &[]);
    if d.deterministic {
        human.push_str(&format!(
            "  determinism  the same trace twice (hash {}), the second time after an unrelated run\n",
            d.trace_hashes[0]
        ));
    } else {
        human.push_str(&format!(
            "  determinism  NOT DETERMINISTIC: trace hashes {} and {}\n",
            d.trace_hashes[0], d.trace_hashes[1]
        ));
        if let Some(diff) = &d.first_difference {
            let show = |l: &Option<String>| l.clone().unwrap_or_else(|| "(the trace ended)".into());
            human.push_str(&format!(
                "               first difference at trace.jsonl line {}{}:\n               first:  {}\n               second: {}\n",
                diff.line + 1,
                diff.event.map(|e| format!(" (event {e})")).unwrap_or_default(),
                show(&diff.first),
                show(&diff.second)
            ));
        }
    }
    let code = if d.deterministic {
        report.exit_code() as u8
    } else {
        1
    };
    if a.json {
        let mut v = serde_json::to_value(RunJson::new(scn, &report, wall_ms)).expect("serializes");
        v["determinism"] = serde_json::to_value(&d).expect("serializes");
        let _ = writeln!(io.out, "{v}");
        let _ = write!(io.err, "{human}");
    } else {
        let _ = write!(io.out, "{human}");
    }
    Ok(code)
}

fn cmd_check_history(a: CheckHistoryArgs, io: &mut Io) -> Result<u8, InputError> {
    let deadline = match &a.timeout {
        Some(t) => {
            let d = parse_duration(t).map_err(|e| InputError::Usage(format!("--timeout: {e}")))?;
            Some(crate::wall::Deadline::after(std::time::Duration::from_nanos(d)))
        }
        None => None,
    };
    let r = crate::history_cmd::check_file_as(
        &a.file,
        a.model,
        a.format,
        a.consistency,
        a.budget,
        deadline.as_ref(),
    )?;
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
