//! `dsim run --check-determinism`: the scenario runs twice in one process, the second time after
//! an unrelated run (so allocations land elsewhere and any hidden dependence on addresses,
//! hash-map order or the wall clock shows), and the two traces are compared line by line.

use crate::error::InputError;
use crate::runner::{run_catching, Scenario};
use serde::Serialize;
use sim::{Outputs, RunReport};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `trace.jsonl` sink that keeps a hash per line (and the text of one chosen line).
#[derive(Default)]
struct Lines {
    hashes: Vec<u64>,
    current: Vec<u8>,
    keep: Option<usize>,
    kept: Option<String>,
}

#[derive(Clone, Default)]
struct LineSink(Arc<Mutex<Lines>>);

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut l = self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?;
        for &b in buf {
            if b == b'\n' {
                let line = std::mem::take(&mut l.current);
                if l.keep == Some(l.hashes.len()) {
                    l.kept = Some(String::from_utf8_lossy(&line).into_owned());
                }
                l.hashes.push(xxhash_rust::xxh64::xxh64(&line, 0));
            } else {
                l.current.push(b);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where two runs of one scenario first differ.
#[derive(Debug, Serialize)]
pub struct Difference {
    /// 0-based line of `trace.jsonl`.
    pub line: usize,
    /// The event index that line names (in the first run), if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<u64>,
    /// That line in the first run and in the second (absent: the trace ended).
    pub first: Option<String>,
    pub second: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeterminismReport {
    pub deterministic: bool,
    pub trace_hashes: [String; 2],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_difference: Option<Difference>,
}

fn traced(scn: &dyn Scenario, keep: Option<usize>) -> Result<(RunReport, Lines), InputError> {
    let sink = LineSink::default();
    sink.0.lock().expect("fresh").keep = keep;
    let outputs = Outputs {
        trace_jsonl: Some(Box::new(sink.clone())),
        ..Outputs::default()
    };
    let report = run_catching(scn, outputs)?;
    let lines = std::mem::take(&mut *sink.0.lock().expect("the run is over"));
    Ok((report, lines))
}

/// The first line where two traces (as line hashes) differ; one ending early differs there.
fn first_differing_line(a: &[u64], b: &[u64]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))
}

/// Runs `scn`, then `other` (an unrelated run), then `scn` again; compares the two.
pub fn check(scn: &dyn Scenario, other: &dyn Scenario) -> Result<(RunReport, DeterminismReport), InputError> {
    let (first, a) = traced(scn, None)?;
    let _ = run_catching(other, Outputs::default())?;
    let (second, b) = traced(scn, None)?;
    let second_hash = second.trace_hash;
    let line = first_differing_line(&a.hashes, &b.hashes);
    let deterministic = line.is_none() && first.trace_hash == second_hash;
    let first_difference = match line {
        None => None,
        Some(line) => {
            // Run each once more, keeping that line (a nondeterministic run may of course
            // differ elsewhere this time; the line number is what was observed).
            let (_, x) = traced(scn, Some(line))?;
            let _ = run_catching(other, Outputs::default())?;
            let (_, y) = traced(scn, Some(line))?;
            let event = x
                .kept
                .as_deref()
                .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .and_then(|v| v["i"].as_u64());
            Some(Difference {
                line,
                event,
                first: x.kept,
                second: y.kept,
            })
        }
    };
    Ok((
        first.clone(),
        DeterminismReport {
            deterministic,
            trace_hashes: [first.trace_hash, second_hash],
            first_difference,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_differing_line_is_found() {
        assert_eq!(first_differing_line(&[1, 2, 3], &[1, 2, 3]), None);
        assert_eq!(first_differing_line(&[1, 2, 3], &[1, 5, 3]), Some(1));
        assert_eq!(first_differing_line(&[1, 2], &[1, 2, 3]), Some(2));
        assert_eq!(first_differing_line(&[], &[7]), Some(0));
    }

    #[test]
    fn the_sink_hashes_lines_and_keeps_one() {
        let mut s = LineSink::default();
        s.0.lock().unwrap().keep = Some(1);
        s.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        s.write_all(b":2}\n").unwrap();
        let l = s.0.lock().unwrap();
        assert_eq!(l.hashes.len(), 2);
        assert_eq!(l.hashes[1], xxhash_rust::xxh64::xxh64(b"{\"b\":2}", 0));
        assert_eq!(l.kept.as_deref(), Some("{\"b\":2}"));
    }
}
