//! History file parsers: Jepsen etcd logs, Porcupine kv logs (EDN) and
//! dsim's own `history.jsonl`.
//!
//! In all three the file order is the real-time order, so each event line
//! gets the next integer as its time. A completion belongs to the latest
//! invocation of the same process. Invocations that never complete, and
//! indeterminate (`info`) completions, become pending ops
//! ([`PENDING`] return, unknown output): they may take effect
//! at any point after their call, or never. Errors carry the 1-based line
//! number; parsers never panic on malformed input.
//!
//! Each format family has its own file: `jepsen` (etcd logs), `porcupine`
//! (EDN kv logs) and `dsim` (`history.jsonl`, plus
//! [`merge_unobserved_values`]); this one holds what they share.

mod dsim;
mod jepsen;
mod porcupine;

pub use dsim::{merge_unobserved_values, parse_dsim_jsonl};
pub use jepsen::parse_etcd;
pub use porcupine::parse_porcupine_kv;

use std::collections::BTreeMap;
use std::fmt;

use super::kv::{KvInput, KvOutput};
use super::register::{RegisterInput, RegisterOutput};
use super::{Operation, PENDING};

/// A history file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Jepsen etcd register log (`INFO  jepsen.util - 2 :invoke :cas [3 0]`).
    JepsenEtcd,
    /// Porcupine kv log: one EDN map per line.
    PorcupineKv,
    /// dsim `history.jsonl`: one JSON object per line.
    DsimJsonl,
}

/// A parse failure at a 1-based line number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number of the offending line.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line,
        message: message.into(),
    })
}

/// A parsed history, in the shape its format implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum History {
    /// A single register (check with [`RegisterModel`](super::RegisterModel)).
    Register(Vec<Operation<RegisterInput, RegisterOutput>>),
    /// A kv store (check with [`KvModel`](super::KvModel)).
    Kv(Vec<Operation<KvInput, KvOutput>>),
}

/// Guesses the format from the first non-empty line of a file.
pub fn detect_format(first_nonempty_line: &str) -> Option<Format> {
    let l = first_nonempty_line.trim();
    if l.contains("jepsen.util") {
        return Some(Format::JepsenEtcd);
    }
    let rest = l.strip_prefix('{')?.trim_start();
    if rest.starts_with(':') {
        Some(Format::PorcupineKv)
    } else if rest.starts_with('"') || rest.starts_with('}') {
        Some(Format::DsimJsonl)
    } else {
        None
    }
}

/// Parses `text` in `format`.
pub fn parse(format: Format, text: &str) -> Result<History, ParseError> {
    Ok(match format {
        Format::JepsenEtcd => History::Register(parse_etcd(text)?),
        Format::PorcupineKv => History::Kv(parse_porcupine_kv(text)?),
        Format::DsimJsonl => History::Kv(parse_dsim_jsonl(text)?),
    })
}

/// How an invocation ended.
enum Completion<O> {
    /// Completed with this output.
    Done(O),
    /// Provably did not take effect: drop the op.
    Dropped,
    /// Indeterminate: pending forever with an unknown output.
    Indeterminate,
}

/// Shared invocation/completion bookkeeping of all three formats.
struct Builder<I, O> {
    /// `None` for dropped ops.
    ops: Vec<Option<Operation<I, O>>>,
    /// Invocation line of each op (for messages).
    lines: Vec<usize>,
    in_flight: BTreeMap<u64, usize>,
    time: u64,
    unknown: O,
}

impl<I, O: Clone> Builder<I, O> {
    fn new(unknown: O) -> Self {
        Builder {
            ops: Vec::new(),
            lines: Vec::new(),
            in_flight: BTreeMap::new(),
            time: 0,
            unknown,
        }
    }

    fn invoke(&mut self, line: usize, process: u64, client: u64, input: I) -> Result<(), ParseError> {
        if let Some(&prev) = self.in_flight.get(&process) {
            return err(
                line,
                format!(
                    "process {process} invokes again while its operation from line {} is in flight",
                    self.lines[prev]
                ),
            );
        }
        self.in_flight.insert(process, self.ops.len());
        self.ops.push(Some(Operation {
            client,
            call: self.time,
            ret: PENDING,
            input,
            output: self.unknown.clone(),
        }));
        self.lines.push(line);
        self.time += 1;
        Ok(())
    }

    /// The in-flight op of `process`, for validating a completion.
    fn pending_input(&self, line: usize, process: u64) -> Result<&I, ParseError> {
        let Some(&i) = self.in_flight.get(&process) else {
            return err(
                line,
                format!("completion for process {process} without a matching invocation"),
            );
        };
        match &self.ops[i] {
            Some(op) => Ok(&op.input),
            None => err(line, "internal: in-flight op was dropped"),
        }
    }

    fn complete(&mut self, line: usize, process: u64, c: Completion<O>) -> Result<(), ParseError> {
        let Some(i) = self.in_flight.remove(&process) else {
            return err(
                line,
                format!("completion for process {process} without a matching invocation"),
            );
        };
        match c {
            Completion::Done(out) => {
                if let Some(op) = &mut self.ops[i] {
                    op.ret = self.time;
                    op.output = out;
                }
            }
            Completion::Dropped => self.ops[i] = None,
            Completion::Indeterminate => {}
        }
        self.time += 1;
        Ok(())
    }

    /// Unmatched invocations stay pending (already `PENDING`/unknown).
    fn finish(self) -> Vec<Operation<I, O>> {
        self.ops.into_iter().flatten().collect()
    }
}

/// 1-based line numbers with their text, skipping blank lines.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty())
}
