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
    let opts = CheckOptions::default();
    let check = Stopwatch::start();
    let (result, ops, describe): (CheckResult, usize, Box<dyn Fn(usize) -> String>) = match (model, history) {
        (ModelArg::Register, History::Register(ops)) => {
            let r = check_with(&RegisterModel, &ops, &mut budget, &opts);
            let n = ops.len();
            (r, n, Box::new(move |i| describe_op(&RegisterModel, &ops[i])))
        }
        (ModelArg::Kv, History::Kv(mut ops)) => {
            if format == Format::DsimJsonl {
                formats::merge_unobserved_values(&mut ops);
            }
            let r = check_with(&KvModel, &ops, &mut budget, &opts);
            let n = ops.len();
            (r, n, Box::new(move |i| describe_op(&KvModel, &ops[i])))
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
    let failure = result.failure.as_ref().map(|f| FailureJson {
        partition: f.partition.clone(),
        ops: f.ops.iter().map(|i| describe(*i)).collect(),
        culprit: describe(f.culprit),
        minimal: f.minimal,
        timeline: f.timeline.clone(),
    });
    Ok(HistoryJson {
        file: shown,
        model: match model {
            ModelArg::Register => "register",
            ModelArg::Kv => "kv",
        },
        format: format_name(format),
        verdict: verdict_name(result.verdict),
        ops,
        partitions: result.partitions,
        steps: result.steps,
        check_ms,
        wall_ms: watch.ms(),
        failure,
        exhausted: result.exhausted.map(|e| format!("{e:?}").to_lowercase()),
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
    if let Some(f) = &r.failure {
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
        "linearizable" => 0,
        "not-linearizable" => 1,
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
