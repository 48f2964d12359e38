//! `dsim fuzz`: one scenario over a range of seeds, in parallel, each failure written at once as
//! a scenario file that replays it. The answer — which seeds fail, and how — never depends on
//! `--jobs` or on timing (see [`exec`]).

pub(crate) mod exec;
pub(crate) mod guided;
pub mod pin;
pub(crate) mod progress;
pub mod swarm;

use crate::error::InputError;
use crate::runner::{run_catching, Scenario};
use serde::Serialize;
use sim::checks::CheckStatus;
use sim::{Outputs, RunReport};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// `--shard I/N`: seed `s` belongs to shard `s mod N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` (0-based, `I < N`).
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not I/N, e.g. 0/4"))?;
        let index: u64 = i
            .trim()
            .parse()
            .map_err(|_| format!("`{i}` is not a shard number"))?;
        let count: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a shard count"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: need 0 ≤ I < N (shards are 0-based)"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses a half-open seed range `A..B` (as in Rust: `1..1001` is a thousand seeds).
pub fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("`{s}` is not a range A..B, e.g. 1..1001"))?;
    let a: u64 = a.trim().parse().map_err(|_| format!("`{a}` is not a seed"))?;
    let b: u64 = b.trim().parse().map_err(|_| format!("`{b}` is not a seed"))?;
    if b <= a {
        return Err(format!(
            "{a}..{b} is empty (the range is half-open: {a}..{} is one seed)",
            a + 1
        ));
    }
    Ok(a..b)
}

/// The seeds of `range` that belong to `shard`, in order, without listing them.
#[derive(Clone, Copy, Debug)]
struct Seeds {
    first: u64,
    step: u64,
    count: u64,
}

impl Seeds {
    fn new(range: &Range<u64>, shard: Option<Shard>) -> Seeds {
        let Shard { index, count: n } = shard.unwrap_or(Shard { index: 0, count: 1 });
        let first = range.start + (index + n - range.start % n) % n;
        let count = if first >= range.end {
            0
        } else {
            (range.end - 1 - first) / n + 1
        };
        Seeds {
            first,
            step: n,
            count,
        }
    }

    fn seed(&self, i: usize) -> u64 {
        self.first + i as u64 * self.step
    }
}

pub struct Options {
    pub seeds: Range<u64>,
    pub jobs: usize,
    pub shard: Option<Shard>,
    pub bugs: Vec<String>,
    pub keep_going: bool,
    pub out: Option<PathBuf>,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Each seed also draws a variant of the scenario (see [`swarm`]).
    pub swarm: bool,
    /// Coverage-guided search over schedules (see [`guided`]).
    pub guided: bool,
}

/// One failing seed (DESIGN.md: `failures[{seed, check, detail, trace_hash}]`).
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    pub seed: u64,
    /// The check that failed first (earliest event; a history check found at the end last).
    pub check: String,
    pub detail: String,
    pub trace_hash: String,
    /// Every check that failed.
    pub checks: Vec<String>,
    pub events: u64,
    pub sim_time_ns: u64,
    /// The scenario file written for it (with `--out`), which `dsim run` replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// With `--swarm`: the settings this seed drew (pinned in its file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swarm: Option<Vec<String>>,
    /// With `--guided`, for a mutant: its parent and the changes (its file holds the schedule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutated: Option<String>,
}

/// With `--guided`: what the corpus gathered.
#[derive(Debug, Serialize)]
pub struct CorpusStats {
    /// Runs that reached a new coverage feature and joined the corpus.
    pub schedules: u64,
    /// Distinct features reached.
    pub features: u64,
}

/// What `dsim fuzz --json` prints.
#[derive(Debug, Serialize)]
pub struct FuzzReport {
    pub scenario: String,
    pub protocol: String,
    pub bugs: Vec<String>,
    pub seeds: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Seeds whose runs count: every seed of the shard, or with a failure and no
    /// `--keep-going` every seed up to the lowest failing one.
    pub seeds_run: u64,
    pub failures: Vec<Failure>,
    /// Seeds where a history check ran out of budget (and nothing failed).
    pub inconclusive: Vec<u64>,
    /// Stopped by Ctrl-C before every seed ran.
    pub interrupted: bool,
    pub jobs: usize,
    /// `plain`, `swarm` or `guided`.
    pub search: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corpus: Option<CorpusStats>,
    pub wall_ms: u64,
}

impl FuzzReport {
    /// 1 if a seed failed, 3 if interrupted or inconclusive without failures, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.failures.is_empty() {
            1
        } else if self.interrupted || !self.inconclusive.is_empty() {
            3
        } else {
            0
        }
    }
}

/// How one case ended.
struct Outcome {
    seed: u64,
    failure: Option<Failure>,
    inconclusive: bool,
    /// The run could not start (the engine rejected the configuration).
    error: Option<String>,
    /// What ran, if not the campaign's file with this seed.
    ran: Option<Ran>,
    /// With `--guided`: the features the run reached, and its schedule if any was new.
    coverage: Option<(Vec<u64>, Option<String>)>,
}

impl exec::Finished for Outcome {
    fn failed(&self) -> bool {
        self.failure.is_some() || self.error.is_some()
    }
}

/// The check a failing run is filed under: the earliest violation; history checks judged at
/// the end come last; ties in report order.
pub fn first_failure(r: &RunReport) -> Option<&sim::checks::CheckResult> {
    r.failed_checks().min_by_key(|c| c.event.unwrap_or(u64::MAX))
}

fn outcome(seed: u64, r: Result<RunReport, InputError>) -> Outcome {
    let r = match r {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                seed,
                failure: None,
                inconclusive: false,
                error: Some(e.to_string()),
                ran: None,
                coverage: None,
            }
        }
    };
    let failure = first_failure(&r).map(|c| Failure {
        seed,
        check: c.name.clone(),
        detail: c.detail.clone(),
        trace_hash: r.trace_hash.clone(),
        checks: r.failed_checks().map(|c| c.name.clone()).collect(),
        events: r.events,
        sim_time_ns: r.sim_time_ns,
        file: None,
        swarm: None,
        mutated: None,
    });
    Outcome {
        seed,
        inconclusive: failure.is_none() && r.checks.iter().any(|c| c.status == CheckStatus::Unknown),
        failure,
        error: None,
        ran: None,
        coverage: None,
    }
}

/// A case that ran nothing (a mutant the loader rejected): it passes and adds no coverage.
fn skipped(seed: u64) -> Outcome {
    Outcome {
        seed,
        failure: None,
        inconclusive: false,
        error: None,
        ran: None,
        coverage: None,
    }
}

/// Loads the campaign's scenario afresh (each thread parses it once) with the bugs enabled.
fn prepare(path: &str, text: &str, bugs: &[String]) -> Result<Box<dyn Scenario>, InputError> {
    let mut s = crate::load::load_str(path, text)?;
    for b in bugs {
        s.enable_bug(b)?;
    }
    Ok(s)
}

/// The failure's replayable file, written atomically into `dir`; returns its path.
/// `text` is the scenario the seed ran (the file's own, or its swarm variant).
fn write_failure(dir: &Path, scn: &dyn Scenario, text: &str, f: &Failure) -> std::io::Result<String> {
    let bugs = scn.config().bugs.names().to_vec();
    let bug_flags: String = bugs.iter().map(|b| format!(" --bug {b}")).collect();
    let file = dir.join(format!("seed-{}.toml", f.seed));
    let first_line = f.detail.lines().next().unwrap_or("");
    let header = vec![
        format!(
            "Found by dsim fuzz: seed {} of {} fails `{}`.",
            f.seed,
            scn.path(),
            f.check
        ),
        first_line.to_string(),
        format!(
            "Replay: dsim run {}   (or: dsim run {} --seed {}{bug_flags})",
            file.display(),
            scn.path(),
            f.seed
        ),
        format!("Trace hash {}.", f.trace_hash),
    ];
    let mut header = header;
    if let Some(drawn) = &f.swarm {
        header[2] = format!(
            "Replay: dsim run {}   (this file pins what --swarm drew)",
            file.display()
        );
        header.push(String::new());
        header.push(format!(
            "Drawn by --swarm for this seed (from {}): {}",
            scn.path(),
            drawn.join("; ")
        ));
    }
    let mut run_seed = f.seed;
    if let Some(how) = &f.mutated {
        // A mutant runs with its parent's seed, which its schedule pins.
        run_seed = toml::from_str::<toml::Table>(text)
            .ok()
            .and_then(|t| t.get("seed")?.as_integer())
            .map_or(f.seed, |s| s as u64);
        header[0] = format!(
            "Found by dsim fuzz --guided: case {} of {} (a mutated schedule) fails `{}`.",
            f.seed,
            scn.path(),
            f.check
        );
        header[2] = format!(
            "Replay: dsim run {}   (the schedule below, seed {run_seed})",
            file.display()
        );
        header.push(String::new());
        header.push(format!("Mutation: {how}."));
    }
    header.push(format!("Shrink: dsim shrink {} --out min.toml", file.display()));
    let text = pin::pin(text, run_seed, &bugs, &header);
    sim::output::write_atomic(&file, text.as_bytes())?;
    Ok(file.display().to_string())
}

/// How the campaign picks each case's scenario.
enum Search {
    Plain,
    Swarm(swarm::Swarm),
    /// With a swarm, the fresh cases are swarm variants (and their mutants inherit the draws).
    Guided(std::sync::RwLock<guided::Corpus>, Option<swarm::Swarm>),
}

impl Search {
    fn name(&self) -> &'static str {
        match self {
            Search::Plain => "plain",
            Search::Swarm(_) => "swarm",
            Search::Guided(_, None) => "guided",
            Search::Guided(_, Some(_)) => "guided+swarm",
        }
    }
}

/// What a case ran, when it is not the campaign's own file with the case's seed.
struct Ran {
    text: String,
    /// How the text was made (a mutant's parent and changes).
    origin: Option<String>,
}

/// Runs case `i` (seed `seed`) of the campaign with the per-thread scenario `s`.
fn run_case(
    search: &Search,
    s: &mut Option<Box<dyn Scenario>>,
    path: &str,
    bugs: &[String],
    index: usize,
    count: usize,
    seed: u64,
) -> Outcome {
    let Some(s) = s.as_mut() else {
        return outcome(
            seed,
            Err(InputError::Usage("the scenario no longer loads".into())),
        );
    };
    match search {
        Search::Plain => {
            s.config_mut().seed = seed;
            outcome(seed, run_catching(s.as_ref(), Outputs::default()))
        }
        Search::Swarm(sw) => {
            let v = sw.draw(seed, bugs);
            let mut o = match crate::load::load_str(path, &v.text) {
                Ok(s) => outcome(seed, run_catching(s.as_ref(), Outputs::default())),
                Err(e) => outcome(seed, Err(e)),
            };
            if let Some(f) = o.failure.as_mut() {
                f.swarm = Some(v.drawn);
            }
            o.ran = Some(Ran {
                text: v.text,
                origin: None,
            });
            o
        }
        Search::Guided(corpus, sw) => {
            let mutant = {
                let c = corpus.read().expect("no panic holds the lock");
                if c.mutates(index, count) {
                    c.mutant(seed)
                } else {
                    None
                }
            };
            let loaded;
            let mut drawn = None;
            let (scn, ran): (&dyn Scenario, _) = match mutant {
                Some((cand, origin)) => {
                    let text = cand.text(&[]);
                    // The mutant keeps its parent's seed (pinned in the schedule): the network
                    // and the nodes draw as they did, so only the mutation differs.
                    let Ok(mut m) = crate::load::load_str(path, &text) else {
                        // A mutant the loader rejects is skipped as passing (it ran nothing).
                        return skipped(seed);
                    };
                    for b in bugs {
                        let _ = m.enable_bug(b);
                    }
                    loaded = m;
                    let ran = Ran {
                        text,
                        origin: Some(origin),
                    };
                    (loaded.as_ref(), Some(ran))
                }
                None => match sw {
                    Some(sw) => {
                        let v = sw.draw(seed, bugs);
                        loaded = match crate::load::load_str(path, &v.text) {
                            Ok(s) => s,
                            Err(e) => return outcome(seed, Err(e)),
                        };
                        drawn = Some(v.drawn);
                        let ran = Ran {
                            text: v.text,
                            origin: None,
                        };
                        (loaded.as_ref(), Some(ran))
                    }
                    None => {
                        s.config_mut().seed = seed;
                        (s.as_ref(), None)
                    }
                },
            };
            let (report, lines) = match crate::shrink::run_recording(scn, true) {
                Ok(r) => r,
                Err(e) => return outcome(seed, Err(e)),
            };
            // Only a run with a feature the corpus lacks (as of this batch) can join it, so only
            // its schedule is written out as text.
            let new = corpus
                .read()
                .expect("no panic holds the lock")
                .is_new(&report.coverage);
            let schedule = match new.then(|| crate::schedule::toml_text(scn, &lines)) {
                Some(Ok(text)) => Some(text),
                Some(Err(e)) => {
                    return outcome(seed, Err(InputError::Usage(format!("writing the schedule: {e}"))))
                }
                None => None,
            };
            let schedule = Some((report.coverage.clone(), schedule));
            let mut o = outcome(seed, Ok(report));
            if let (Some(f), Some(r)) = (o.failure.as_mut(), &ran) {
                f.mutated = r.origin.clone();
                f.swarm = drawn;
            }
            o.ran = ran;
            o.coverage = schedule;
            o
        }
    }
}

/// Runs the campaign over `scn` (already loaded, so bad input was reported before any run).
/// `stop` is set by Ctrl-C.
pub fn fuzz(scn: &dyn Scenario, opts: &Options, stop: &AtomicBool) -> Result<FuzzReport, InputError> {
    let watch = crate::wall::Stopwatch::start();
    let mut bugs = scn.config().bugs.names().to_vec();
    for b in &opts.bugs {
        if !bugs.contains(b) {
            bugs.push(b.clone());
        }
    }
    let base = prepare(scn.path(), scn.source(), &bugs)?;
    if let Some(dir) = &opts.out {
        std::fs::create_dir_all(dir).map_err(|e| InputError::Read {
            path: dir.display().to_string(),
            message: format!("cannot create the output directory: {e}"),
        })?;
    }
    let seeds = Seeds::new(&opts.seeds, opts.shard);
    let count = seeds.count as usize;
    let bar = progress::Bar::new(seeds.count, opts.progress);
    let failures_so_far = AtomicUsize::new(0);
    let write_errors: std::sync::Mutex<Vec<String>> = Default::default();
    let shared = Arc::new((base.path().to_string(), base.source().to_string()));
    let search = if opts.guided {
        let sw = match opts.swarm {
            true => Some(swarm::Swarm::new(base.path(), base.source())?),
            false => None,
        };
        Search::Guided(Default::default(), sw)
    } else if opts.swarm {
        Search::Swarm(swarm::Swarm::new(base.path(), base.source())?)
    } else {
        Search::Plain
    };
    // Guided search grows its corpus between batches; the others run as one batch.
    let batch = if opts.guided { guided::BATCH } else { count.max(1) };
    let mut results: Vec<Option<Outcome>> = Vec::with_capacity(count);
    let mut first = 0;
    while first < count {
        let n = batch.min(count - first);
        let mut part = exec::execute(
            n,
            opts.jobs,
            !opts.keep_going,
            stop,
            || prepare(&shared.0, &shared.1, &bugs).ok(),
            |s, j| {
                run_case(
                    &search,
                    s,
                    &shared.0,
                    &bugs,
                    first + j,
                    count,
                    seeds.seed(first + j),
                )
            },
            |_, o| {
                if o.failure.is_some() {
                    failures_so_far.fetch_add(1, Ordering::SeqCst);
                }
                bar.tick(failures_so_far.load(Ordering::SeqCst));
                if let (Some(dir), Some(f)) = (&opts.out, &o.failure) {
                    let mut pinned = prepare(&shared.0, &shared.1, &bugs).ok();
                    if let Some(p) = pinned.as_mut() {
                        p.config_mut().seed = o.seed;
                        let text = o.ran.as_ref().map_or(shared.1.as_str(), |r| r.text.as_str());
                        if let Err(e) = write_failure(dir, p.as_ref(), text, f) {
                            write_errors.lock().expect("lock").push(e.to_string());
                        }
                    }
                }
            },
        );
        first += n;
        let failed = part
            .iter()
            .flatten()
            .any(|o| o.failure.is_some() || o.error.is_some());
        let cut = part.iter().any(Option::is_none);
        if let Search::Guided(corpus, _) = &search {
            let mut c = corpus.write().expect("no panic holds the lock");
            // Taken: a campaign keeps every outcome, and their features add up.
            for o in part.iter_mut().flatten() {
                if let Some((features, schedule)) = o.coverage.take() {
                    c.offer(&features, o.seed, || {
                        schedule
                            .as_ref()
                            .and_then(|s| crate::shrink::candidate::Candidate::parse(s).ok())
                    });
                }
            }
        }
        results.extend(part);
        if cut || (failed && !opts.keep_going) {
            break;
        }
    }
    results.resize_with(count, || None);
    bar.finish();
    if let Some(e) = results.iter().flatten().find_map(|o| o.error.clone()) {
        return Err(InputError::Usage(e));
    }
    if let Some(e) = write_errors.into_inner().expect("lock").into_iter().next() {
        return Err(InputError::Usage(format!("writing a failure: {e}")));
    }
    let ran: Vec<&Outcome> = results.iter().flatten().collect();
    let mut failures: Vec<Failure> = ran.iter().filter_map(|o| o.failure.clone()).collect();
    if let Some(dir) = &opts.out {
        for f in &mut failures {
            f.file = Some(dir.join(format!("seed-{}.toml", f.seed)).display().to_string());
        }
    }
    // Without --keep-going the seeds above the lowest failure are skipped on purpose; any other
    // seed that did not run was stopped by Ctrl-C.
    let needed = match (opts.keep_going, failures.first()) {
        (false, Some(f)) => results
            .iter()
            .position(|o| o.as_ref().is_some_and(|o| o.seed == f.seed))
            .map_or(count, |p| p + 1),
        _ => count,
    };
    let interrupted = results[..needed].iter().any(Option::is_none);
    let corpus = match &search {
        Search::Guided(c, _) => {
            let c = c.read().expect("no panic holds the lock");
            Some(CorpusStats {
                schedules: c.added,
                features: c.features() as u64,
            })
        }
        _ => None,
    };
    Ok(FuzzReport {
        scenario: scn.path().to_string(),
        protocol: scn.protocol().to_string(),
        bugs,
        seeds: format!("{}..{}", opts.seeds.start, opts.seeds.end),
        shard: opts.shard.map(|s| s.to_string()),
        seeds_run: ran.len() as u64,
        failures,
        inconclusive: ran.iter().filter(|o| o.inconclusive).map(|o| o.seed).collect(),
        interrupted,
        jobs: opts.jobs,
        search: search.name(),
        corpus,
        wall_ms: watch.ms(),
    })
}

/// The human summary of a campaign.
pub fn render(r: &FuzzReport) -> String {
    let mut s = String::new();
    let shard = r
        .shard
        .as_ref()
        .map(|x| format!(", shard {x}"))
        .unwrap_or_default();
    let bugs = crate::summary::bugs_suffix(&r.bugs);
    s.push_str(&format!(
        "fuzz {} — seeds {}{shard}{bugs}, {} jobs\n",
        r.scenario, r.seeds, r.jobs
    ));
    let secs = r.wall_ms as f64 / 1000.0;
    let rate = if secs > 0.0 {
        r.seeds_run as f64 / secs
    } else {
        0.0
    };
    s.push_str(&format!(
        "  ran       {} seeds in {secs:.1}s ({rate:.1} seeds/s){}\n",
        r.seeds_run,
        if r.interrupted { "; interrupted" } else { "" }
    ));
    if r.search != "plain" {
        s.push_str(&format!("  search    {}", r.search));
        if let Some(c) = &r.corpus {
            s.push_str(&format!(
                ": {} schedules joined the corpus, {} coverage features",
                c.schedules, c.features
            ));
        }
        s.push('\n');
    }
    for f in &r.failures {
        let first = f.detail.lines().next().unwrap_or("");
        s.push_str(&format!("  FAIL      seed {}: {} — {first}\n", f.seed, f.check));
        let bug_flags: String = r.bugs.iter().map(|b| format!(" --bug {b}")).collect();
        match &f.file {
            Some(file) => s.push_str(&format!("            replay: dsim run {file}\n")),
            // A swarm variant or a mutant is not the plain seed: only its file replays it.
            None if f.mutated.is_some() || f.swarm.is_some() => s.push_str(&format!(
                "            replay: fuzz again with --out DIR: DIR/seed-{}.toml holds what ran\n",
                f.seed
            )),
            None => s.push_str(&format!(
                "            replay: dsim run {} --seed {}{bug_flags}\n",
                r.scenario, f.seed
            )),
        }
    }
    if !r.inconclusive.is_empty() {
        s.push_str(&format!(
            "  unknown   {} seeds where a history check ran out of budget: {:?}\n",
            r.inconclusive.len(),
            r.inconclusive
        ));
    }
    let verdict = match (r.failures.len(), r.interrupted) {
        (0, true) => "INTERRUPTED: no failure in the seeds that ran".to_string(),
        (0, false) => "OK: no failure".to_string(),
        (1, _) => format!("FAILURE: seed {} fails", r.failures[0].seed),
        (n, _) => format!("FAILURES: {n} seeds fail (lowest {})", r.failures[0].seed),
    };
    s.push_str(&format!("  result    {verdict}\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_range_once() {
        for (a, b) in [(0u64, 10u64), (1, 1001), (7, 8), (5, 17)] {
            for n in 1..5 {
                let mut all: Vec<u64> = Vec::new();
                for i in 0..n {
                    let s = Seeds::new(&(a..b), Some(Shard { index: i, count: n }));
                    for k in 0..s.count as usize {
                        assert_eq!(s.seed(k) % n, i);
                        all.push(s.seed(k));
                    }
                }
                all.sort();
                assert_eq!(all, (a..b).collect::<Vec<_>>(), "{a}..{b} in {n} shards");
            }
        }
    }

    #[test]
    fn ranges_and_shards_parse_or_say_why() {
        assert_eq!(parse_seeds("1..1001"), Ok(1..1001));
        assert!(parse_seeds("5..5").unwrap_err().contains("empty"));
        assert!(parse_seeds("1-9").is_err());
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        assert!(Shard::parse("3/3").unwrap_err().contains("0-based"));
        assert!(Shard::parse("x").is_err());
    }
}
