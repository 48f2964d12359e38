//! `dsim check-history` and `dsim bench check`: the linearizability checker on recorded histories
//! (Jepsen etcd logs, Porcupine kv logs, dsim's own `history.jsonl`).

use crate::error::InputError;
use crate::wall::{Deadline, Stopwatch};
use serde::Serialize;
use sim::linearize::formats::{self, Format, History};
use sim::linearize::{
    check_with, Budget, CheckOptions, CheckResult, KvModel, Model, Operation, RegisterModel, Verdict,
};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    /// One register: read, write, compare-and-set (Jepsen etcd logs).
    Register,
    /// Keys with get, put, append, compare-and-set, checked per key.
    Kv,
}

/// The consistency model the history must satisfy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsistencyArg {
    /// Every operation takes effect at one point between its invocation and its completion.
    #[default]
    Linearizable,
    /// One order of all operations keeps each client's order (real time between clients
    /// ignored); the whole history is searched at once.
    Sequential,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Jepsen log lines: `INFO  jepsen.util - 2 :invoke :cas [3 0]`.
    Jepsen,
    /// Porcupine's kv logs: one EDN map per line.
    PorcupineKv,
    /// dsim's history.jsonl.
    Jsonl,
}

impl FormatArg {
    fn format(self) -> Format {
        match self {
            FormatArg::Jepsen => Format::JepsenEtcd,
            FormatArg::PorcupineKv => Format::PorcupineKv,
            FormatArg::Jsonl => Format::DsimJsonl,
        }
    }
}

/// The verdict of one file, as printed with `--json`.
#[derive(Serialize)]
pub struct HistoryJson {
    pub file: String,
    pub model: &'static str,
    /// `linearizable` or `sequential`.
    pub consistency: &'static str,
    pub format: &'static str,
    pub verdict: &'static str,
    pub ops: usize,
    pub partitions: usize,
    pub steps: u64,
    pub check_ms: f64,
    pub wall_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exhausted: Option<String>,
}

#[derive(Serialize)]
pub struct FailureJson {
    pub partition: String,
    /// The minimal non-linearizable sub-history: one description per operation.
    pub ops: Vec<String>,
    pub culprit: String,
    pub minimal: bool,
    pub timeline: String,
    /// Sequential consistency: the failing ops per client, in its order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clients: Option<String>,
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable => "not-linearizable",
        Verdict::Unknown => "unknown",
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::JepsenEtcd => "jepsen",
        Format::PorcupineKv => "porcupine-kv",
        Format::DsimJsonl => "jsonl",
    }
}

/// Reads, parses and checks one history file.
pub fn check_file(
    path: &Path,
    model: ModelArg,
    format: Option<FormatArg>,
    max_steps: u64,
    deadline: Option<&Deadline>,
) -> Result<HistoryJson, InputError> {
    check_file_as(
        path,
        model,
        format,
        ConsistencyArg::Linearizable,
        max_steps,
        deadline,
    )
}

/// The outcome of either checker, as the report shows it.
struct Outcome {
    verdict: &'static str,
    partitions: usize,
    steps: u64,
    failure: Option<FailureJson>,
    exhausted: Option<String>,
}

fn checked<M: Model>(
    m: &M,
    ops: &[Operation<M::Input, M::Output>],
    consistency: ConsistencyArg,
    budget: &mut Budget<'_>,
) -> Outcome {
    let opts = CheckOptions::default();
    let describe = |i: usize| describe_op(m, &ops[i]);
    match consistency {
        ConsistencyArg::Linearizable => {
            let r: CheckResult = check_with(m, ops, budget, &opts);
            Outcome {
                verdict: verdict_name(r.verdict),
                partitions: r.partitions,
                steps: r.steps,
                failure: r.failure.as_ref().map(|f| FailureJson {
                    partition: f.partition.clone(),
                    ops: f.ops.iter().map(|i| describe(*i)).collect(),
                    culprit: describe(f.culprit),
                    minimal: f.minimal,
                    timeline: f.timeline.clone(),
                    clients: None,
                }),
                exhausted: r.exhausted.map(|e| format!("{e:?}").to_lowercase()),
            }
        }
        ConsistencyArg::Sequential => {
            use sim::consistency::{check_sequential, Verdict as Sc};
            let r = check_sequential(m, ops, budget, &opts);
            Outcome {
                verdict: match r.verdict {
                    Sc::Consistent => "sequentially-consistent",
                    Sc::Inconsistent => "not-sequentially-consistent",
                    Sc::Unknown => "unknown",
                },
                partitions: 1,
                steps: r.steps,
                failure: r.failure.as_ref().map(|f| FailureJson {
                    partition: "all".into(),
                    ops: f.ops.iter().map(|i| describe(*i)).collect(),
                    culprit: describe(f.culprit),
                    minimal: f.minimal,
                    timeline: f.timeline.clone(),
                    clients: Some(f.clients.clone()),
                }),
                exhausted: r.exhausted.map(|e| format!("{e:?}").to_lowercase()),
            }
        }
    }
}

/// [`check_file`] for a given consistency model.
pub fn check_file_as(
    path: &Path,
    model: ModelArg,
    format: Option<FormatArg>,
    consistency: ConsistencyArg,
    max_steps: u64,
    deadline: Option<&Deadline>,
) -> Result<HistoryJson, InputError> {
    let watch = Stopwatch::start();
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InputError::Read {
        path: shown.clone(),
        message: match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".into(),
            std::io::ErrorKind::InvalidData => "not UTF-8 text: is this a history file?".into(),
            _ => format!("cannot read: {e}"),
        },
    })?;
    let format = match format {
        Some(f) => f.format(),
        None => match text.lines().find(|l| !l.trim().is_empty()) {
            // Empty: any format fits; it is linearizable.
            None => match model {
                ModelArg::Register => Format::JepsenEtcd,
                ModelArg::Kv => Format::DsimJsonl,
            },
            Some(first) => formats::detect_format(first).ok_or_else(|| InputError::Read {
                path: format!(
                    "{shown}:{}",
                    1 + text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0)
                ),
                message:
                    "cannot tell the format from the first line; pass --format jepsen|porcupine-kv|jsonl"
                        .into(),
            })?,
        },
    };
    let history = formats::parse(format, &text).map_err(|e| InputError::Read {
        path: format!("{shown}:{}", e.line),
        message: e.message,
    })?;
    let cancel = || deadline.is_some_and(|d| d.passed());
    let mut budget = Budget::new(max_steps);
    if deadline.is_some() {
        budget.cancel = Some(&cancel);
    }
    let check = Stopwatch::start();
    let (result, ops) = match (model, history) {
        (ModelArg::Register, History::Register(ops)) => {
            (checked(&RegisterModel, &ops, consistency, &mut budget), ops.len())
        }
        (ModelArg::Kv, History::Kv(mut ops)) => {
            if format == Format::DsimJsonl {
                formats::merge_unobserved_values(&mut ops);
            }
            (checked(&KvModel, &ops, consistency, &mut budget), ops.len())
        }
        (m, _) => {
            let hint = match m {
                ModelArg::Register => "--model register reads Jepsen logs (--format jepsen)",
                ModelArg::Kv => "--model kv reads Porcupine kv logs and dsim history.jsonl",
            };
            return Err(InputError::Usage(format!(
                "{shown}: a {} history does not fit --model {}; {hint}",
                format_name(format),
                match m {
                    ModelArg::Register => "register",
                    ModelArg::Kv => "kv",
                }
            )));
        }
    };
    let check_ms = check.elapsed().as_secs_f64() * 1000.0;
    Ok(HistoryJson {
        file: shown,
        model: match model {
            ModelArg::Register => "register",
            ModelArg::Kv => "kv",
        },
        consistency: match consistency {
            ConsistencyArg::Linearizable => "linearizable",
            ConsistencyArg::Sequential => "sequential",
        },
        format: format_name(format),
        verdict: result.verdict,
        ops,
        partitions: result.partitions,
        steps: result.steps,
        check_ms,
        wall_ms: watch.ms(),
        failure: result.failure,
        exhausted: result.exhausted,
    })
}

fn describe_op<M: Model>(m: &M, o: &Operation<M::Input, M::Output>) -> String {
    m.describe(&o.input, &o.output)
}

/// Human-readable report of one file.
pub fn render(r: &HistoryJson) -> String {
    let mut s = format!(
        "{}: {} ({} ops, {} partition{}, {} search steps, {:.1} ms)\n",
        r.file,
        r.verdict,
        r.ops,
        r.partitions,
        if r.partitions == 1 { "" } else { "s" },
        r.steps,
        r.check_ms
    );
    if let Some(f) = r.failure.as_ref().filter(|f| f.clients.is_some()) {
        s.push_str(&format!(
            "  no order of all operations keeps each client's order; {} operations{}:\n",
            f.ops.len(),
            if f.minimal {
                " that cannot be ordered (a minimal set)"
            } else {
                " at the end of the shortest failing prefix"
            }
        ));
        for line in f.clients.iter().flat_map(|c| c.lines()).chain(f.timeline.lines()) {
            s.push_str("    ");
            s.push_str(line);
            s.push('\n');
        }
    } else if let Some(f) = &r.failure {
        s.push_str(&format!(
            "  partition {} cannot be linearized; {} operations that cannot be ordered{}:\n",
            f.partition,
            f.ops.len(),
            if f.minimal { " (a minimal set)" } else { "" }
        ));
        for line in f.timeline.lines() {
            s.push_str("    ");
            s.push_str(line);
            s.push('\n');
        }
    }
    if let Some(e) = &r.exhausted {
        s.push_str(&format!(
            "  the search stopped early ({e}): raise --budget or --timeout\n"
        ));
    }
    s
}

pub fn exit_code(r: &HistoryJson) -> u8 {
    match r.verdict {
        "linearizable" | "sequentially-consistent" => 0,
        "not-linearizable" | "not-sequentially-consistent" => 1,
        _ => 3,
    }
}

/// One line of `expected.jsonl` of the shared history data.
#[derive(serde::Deserialize)]
struct Expected {
    file: String,
    model: String,
    linearizable: Option<bool>,
}

/// Per-family totals for `dsim bench check`.
#[derive(Serialize, Default)]
pub struct FamilyTotals {
    pub family: String,
    pub files: usize,
    pub total_ms: f64,
    pub slowest_file: String,
    pub slowest_ms: f64,
    pub mismatches: Vec<String>,
}

/// Checks every history listed in `<data>/histories/porcupine/expected.jsonl`.
pub fn bench(data: &Path) -> Result<Vec<FamilyTotals>, InputError> {
    let root = data.join("histories").join("porcupine");
    let listing = root.join("expected.jsonl");
    let text = std::fs::read_to_string(&listing).map_err(|e| InputError::Read {
        path: listing.display().to_string(),
        message: format!("cannot read ({e}); point --data (or $DSIM_SHARED_DATA) at the shared data folder"),
    })?;
    let mut families: Vec<FamilyTotals> = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let e: Expected = serde_json::from_str(line).map_err(|err| InputError::Read {
            path: format!("{}:{}", listing.display(), i + 1),
            message: err.to_string(),
        })?;
        let model = if e.model == "kv" {
            ModelArg::Kv
        } else {
            ModelArg::Register
        };
        let r = check_file(&root.join(&e.file), model, None, 1_000_000_000, None)?;
        let family = e.file.split('/').next().unwrap_or("").to_string();
        let fam = match families.iter_mut().position(|f| f.family == family) {
            Some(p) => &mut families[p],
            None => {
                families.push(FamilyTotals {
                    family: family.clone(),
                    ..FamilyTotals::default()
                });
                families.last_mut().expect("just pushed")
            }
        };
        fam.files += 1;
        fam.total_ms += r.check_ms;
        if r.check_ms > fam.slowest_ms {
            fam.slowest_ms = r.check_ms;
            fam.slowest_file = e.file.clone();
        }
        let want = e
            .linearizable
            .map(|l| if l { "linearizable" } else { "not-linearizable" });
        if want.is_some_and(|w| w != r.verdict) {
            fam.mismatches.push(format!(
                "{}: {} (expected {})",
                e.file,
                r.verdict,
                want.unwrap_or("")
            ));
        }
    }
    Ok(families)
}

/// Where the shared test data is: `$DSIM_SHARED_DATA`, else `../shared/data` beside the
/// repository root (when run from the root).
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("DSIM_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"))
}
