//! Tests of the linearizability checker: shared reference histories,
//! property tests against a brute-force oracle, stress tests and parser
//! errors.
//!
//! One file per kind of test; this one holds the helpers they share.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::formats::{self, Format, ParseError};
use super::search::{self, SearchOp};
use super::*;

mod basic;
mod executions;
mod oracle;
mod parsers;
mod shared;
mod stress;

// ------------------------------------------------------------ helpers ---

/// Deterministic PRNG (SplitMix64) so property tests are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn data_dir() -> PathBuf {
    let dir = match std::env::var("DSIM_SHARED_DATA") {
        Ok(d) => PathBuf::from(d),
        Err(_) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
    };
    let expected = dir.join("histories/porcupine/expected.jsonl");
    assert!(
        expected.is_file(),
        "shared test data not found: looked for {} (set DSIM_SHARED_DATA to the shared `data` folder)",
        expected.display()
    );
    dir
}

fn op<I, O>(client: u64, call: u64, ret: u64, input: I, output: O) -> Operation<I, O> {
    Operation {
        client,
        call,
        ret,
        input,
        output,
    }
}

fn verdict<M: Model>(model: &M, ops: &[Operation<M::Input, M::Output>]) -> Verdict {
    check(model, ops, &mut Budget::new(50_000_000)).verdict
}

use RegisterInput as RI;
use RegisterOutput as RO;

fn kv_in(key: &str, op: KvOp) -> KvInput {
    KvInput {
        key: key.to_string(),
        op,
    }
}

/// Re-numbers `(call, ret)` pairs to distinct integers `0..2n` preserving
/// order (ties broken by index), keeping `PENDING` returns.
fn renumber(times: &mut [(u64, u64)]) {
    let mut evs: Vec<(u64, usize, bool)> = Vec::new();
    for (i, &(c, r)) in times.iter().enumerate() {
        evs.push((c, i, false));
        if r != PENDING {
            evs.push((r, i, true));
        }
    }
    evs.sort_unstable();
    for (t, &(_, i, is_ret)) in evs.iter().enumerate() {
        if is_ret {
            times[i].1 = t as u64;
        } else {
            times[i].0 = t as u64;
        }
    }
}
