//! Tests of the linearizability checker: shared reference histories,
//! property tests against a brute-force oracle, stress tests and parser
//! errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::formats::{self, Format, ParseError};
use super::search::{self, SearchOp};
use super::*;

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

// ------------------------------------------------ shared reference data ---

#[test]
fn shared_histories_get_expected_verdicts() {
    let base = data_dir().join("histories/porcupine");
    let expected = std::fs::read_to_string(base.join("expected.jsonl")).expect("read expected.jsonl");
    let mut checked = 0;
    for (n, line) in expected.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).expect("expected.jsonl line is JSON");
        let file = v["file"].as_str().expect("file field");
        let model = v["model"].as_str().expect("model field");
        let want = v["linearizable"].as_bool();
        let text = std::fs::read_to_string(base.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (res, n_ops) = match model {
            "etcd" => {
                let ops = formats::parse_etcd(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let r = check(&RegisterModel, &ops, &mut Budget::new(20_000_000));
                if let Some(f) = &r.failure {
                    let sub: Vec<_> = f.ops.iter().map(|&i| ops[i].clone()).collect();
                    assert_eq!(
                        verdict(&RegisterModel, &sub),
                        Verdict::NotLinearizable,
                        "{file}: explanation {:?} is linearizable on its own",
                        f.ops
                    );
                }
                (r, ops.len())
            }
            "kv" => {
                let ops = formats::parse_porcupine_kv(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
                let r = check(&KvModel, &ops, &mut Budget::new(20_000_000));
                if let Some(f) = &r.failure {
                    let sub: Vec<_> = f.ops.iter().map(|&i| ops[i].clone()).collect();
                    assert_eq!(
                        verdict(&KvModel, &sub),
                        Verdict::NotLinearizable,
                        "{file}: explanation {:?} is linearizable on its own",
                        f.ops
                    );
                    assert!(f.ops.iter().all(|&i| ops[i].input.key == f.partition));
                }
                (r, ops.len())
            }
            other => panic!("expected.jsonl line {}: unknown model {other}", n + 1),
        };
        assert_eq!(
            n_ops as u64,
            v["ops"].as_u64().expect("ops field"),
            "{file}: op count"
        );
        let want_verdict = match want {
            Some(true) => Verdict::Linearizable,
            Some(false) => Verdict::NotLinearizable,
            // etcd_095 is empty: an empty history is linearizable.
            None => {
                assert_eq!(n_ops, 0, "{file}: only the empty file has no verdict");
                Verdict::Linearizable
            }
        };
        assert_eq!(res.verdict, want_verdict, "{file}");
        if let Some(f) = &res.failure {
            assert!(f.ops.contains(&f.culprit) && !f.conflicting.contains(&f.culprit));
            assert!(
                f.timeline.contains("<-- cannot be linearized"),
                "{file}: {}",
                f.timeline
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 108, "every line of expected.jsonl is checked");
    // The empty log has no line in expected.jsonl (no upstream test).
    let empty = std::fs::read_to_string(base.join("etcd/etcd_095.log")).expect("etcd_095.log");
    let ops = formats::parse_etcd(&empty).expect("parses");
    assert!(ops.is_empty());
    assert_eq!(verdict(&RegisterModel, &ops), Verdict::Linearizable);
}

// ------------------------------------------------------- basic cases ---

#[test]
fn empty_and_pending_only_histories_are_linearizable() {
    let none: Vec<Operation<RegisterInput, RegisterOutput>> = Vec::new();
    let r = check(&RegisterModel, &none, &mut Budget::new(10));
    assert_eq!(r.verdict, Verdict::Linearizable);
    assert_eq!(r.steps, 0);
    let pending = vec![
        op(1, 0, PENDING, RI::Write(3), RO::Unknown),
        op(2, 1, PENDING, RI::Read, RO::Read(Some(7))),
    ];
    assert_eq!(verdict(&RegisterModel, &pending), Verdict::Linearizable);
}

#[test]
fn register_semantics() {
    // Stale read: write 1, then write 2, then read 1.
    let stale = vec![
        op(1, 0, 1, RI::Write(1), RO::Ok),
        op(1, 2, 3, RI::Write(2), RO::Ok),
        op(2, 4, 5, RI::Read, RO::Read(Some(1))),
    ];
    assert_eq!(verdict(&RegisterModel, &stale), Verdict::NotLinearizable);
    // The same with the second write concurrent with the read is fine.
    let concurrent = vec![
        op(1, 0, 1, RI::Write(1), RO::Ok),
        op(1, 2, 5, RI::Write(2), RO::Ok),
        op(2, 3, 4, RI::Read, RO::Read(Some(1))),
    ];
    assert_eq!(verdict(&RegisterModel, &concurrent), Verdict::Linearizable);
    // Reading nil before any write; a failed cas on nil is legal, an ok one
    // is not.
    let nil = vec![
        op(1, 0, 1, RI::Read, RO::Read(None)),
        op(1, 2, 3, RI::Cas { from: 0, to: 1 }, RO::CasFailed),
    ];
    assert_eq!(verdict(&RegisterModel, &nil), Verdict::Linearizable);
    let bad_cas = vec![op(1, 0, 1, RI::Cas { from: 0, to: 1 }, RO::Ok)];
    assert_eq!(verdict(&RegisterModel, &bad_cas), Verdict::NotLinearizable);
    // An indeterminate cas takes effect if its `from` matches where it is
    // placed: it can explain reading 5...
    let info_cas = vec![
        op(1, 0, 1, RI::Write(4), RO::Ok),
        op(2, 2, PENDING, RI::Cas { from: 4, to: 5 }, RO::Unknown),
        op(3, 3, 4, RI::Read, RO::Read(Some(5))),
        op(3, 5, 6, RI::Read, RO::Read(Some(5))),
    ];
    assert_eq!(verdict(&RegisterModel, &info_cas), Verdict::Linearizable);
    // ...but not reading 5 when the value was never 4.
    let mut no_match = info_cas.clone();
    no_match[0].input = RI::Write(3);
    assert_eq!(verdict(&RegisterModel, &no_match), Verdict::NotLinearizable);
    // An indeterminate write may also never happen.
    let never = vec![
        op(1, 0, PENDING, RI::Write(9), RO::Unknown),
        op(2, 1, 2, RI::Read, RO::Read(None)),
        op(2, 3, 4, RI::Read, RO::Read(Some(9))),
        op(2, 5, 6, RI::Read, RO::Read(Some(9))),
    ];
    assert_eq!(verdict(&RegisterModel, &never), Verdict::Linearizable);
    // It happens at most once.
    let mut twice = never.clone();
    twice.push(op(3, 7, 8, RI::Write(1), RO::Ok));
    twice.push(op(2, 9, 10, RI::Read, RO::Read(Some(9))));
    assert_eq!(verdict(&RegisterModel, &twice), Verdict::NotLinearizable);
}

#[test]
fn kv_semantics_and_partitions() {
    let h = vec![
        op(1, 0, 1, kv_in("a", KvOp::Append("x".into())), KvOutput::Ok),
        op(2, 2, 5, kv_in("a", KvOp::Append("y".into())), KvOutput::Ok),
        op(3, 3, 4, kv_in("a", KvOp::Get), KvOutput::Value("x".into())),
        op(3, 6, 7, kv_in("a", KvOp::Get), KvOutput::Value("xy".into())),
        op(
            1,
            8,
            9,
            kv_in(
                "a",
                KvOp::Cas {
                    from: "xy".into(),
                    to: "z".into(),
                },
            ),
            KvOutput::Ok,
        ),
        op(
            1,
            10,
            11,
            kv_in(
                "a",
                KvOp::Cas {
                    from: "xy".into(),
                    to: "q".into(),
                },
            ),
            KvOutput::CasFailed,
        ),
        op(2, 12, 13, kv_in("b", KvOp::Get), KvOutput::Value(String::new())),
        op(2, 14, 15, kv_in("b", KvOp::Put("p".into())), KvOutput::Ok),
        op(3, 16, 17, kv_in("a", KvOp::Get), KvOutput::Value("z".into())),
    ];
    let r = check(&KvModel, &h, &mut Budget::new(1000));
    assert_eq!((r.verdict, r.partitions), (Verdict::Linearizable, 2));
    // Reading "yx" contradicts the real-time order of the appends.
    let mut bad = h.clone();
    bad[3].output = KvOutput::Value("yx".into());
    let r = check(&KvModel, &bad, &mut Budget::new(1000));
    assert_eq!(r.verdict, Verdict::NotLinearizable);
    let f = r.failure.expect("failure");
    assert_eq!((f.partition.as_str(), f.culprit), ("a", 3));
}

#[test]
fn many_partitions_and_the_failing_one_is_found() {
    let mut h = Vec::new();
    for k in 0..5000u64 {
        let key = format!("k{k}");
        h.push(op(
            k,
            4 * k,
            4 * k + 1,
            kv_in(&key, KvOp::Put(format!("v{k}"))),
            KvOutput::Ok,
        ));
        h.push(op(
            k,
            4 * k + 2,
            4 * k + 3,
            kv_in(&key, KvOp::Get),
            KvOutput::Value(format!("v{k}")),
        ));
    }
    let r = check(&KvModel, &h, &mut Budget::new(1_000_000));
    assert_eq!((r.verdict, r.partitions), (Verdict::Linearizable, 5000));
    // Nothing ever writes "v0" to k3500: the read alone is the explanation.
    h[7001].output = KvOutput::Value("v0".into());
    let r = check(&KvModel, &h, &mut Budget::new(1_000_000));
    assert_eq!(r.verdict, Verdict::NotLinearizable);
    let f = r.failure.expect("failure");
    assert_eq!(
        (f.partition.as_str(), f.culprit, f.ops.clone()),
        ("k3500", 7001, vec![7001])
    );
}

#[test]
fn budget_cancel_and_memory_give_unknown() {
    // A hard non-linearizable history: 14 concurrent writes, then reads of
    // 5 and of 6 one after the other, which no order of the writes allows.
    // Refuting it means trying the orders of the writes.
    let mut h: Vec<_> = (0..14)
        .map(|i| op(i, i, 100 + i, RI::Write(i as i64), RO::Ok))
        .collect();
    h.push(op(99, 200, 201, RI::Read, RO::Read(Some(5))));
    h.push(op(99, 202, 203, RI::Read, RO::Read(Some(6))));
    let r = check(&RegisterModel, &h, &mut Budget::new(100));
    assert_eq!(
        (r.verdict, r.exhausted),
        (Verdict::Unknown, Some(Exhausted::Steps))
    );
    assert!(r.steps <= 100);
    let cancel = || true;
    let mut b = Budget::new(u64::MAX);
    b.cancel = Some(&cancel);
    let r = check(&RegisterModel, &h, &mut b);
    assert_eq!(
        (r.verdict, r.exhausted),
        (Verdict::Unknown, Some(Exhausted::Cancelled))
    );
    let mut b = Budget::new(u64::MAX);
    b.max_memory_bytes = 1;
    let r = check(&RegisterModel, &h, &mut b);
    assert_eq!(
        (r.verdict, r.exhausted),
        (Verdict::Unknown, Some(Exhausted::Memory))
    );
    // With enough budget it is decided.
    assert_eq!(verdict(&RegisterModel, &h), Verdict::NotLinearizable);
    // A budget spanning several search slices is used to the last step, not counted twice.
    let full = check(&RegisterModel, &h, &mut Budget::default()).steps;
    let max = 60_000;
    assert!(
        full > max,
        "the history must need more than {max} steps (needs {full})"
    );
    let r = check(&RegisterModel, &h, &mut Budget::new(max));
    assert_eq!((r.verdict, r.steps), (Verdict::Unknown, max));
}

#[test]
fn verdict_is_deterministic_across_runs() {
    let text = std::fs::read_to_string(data_dir().join("histories/porcupine/kv/c10-bad.txt")).expect("read");
    let ops = formats::parse_porcupine_kv(&text).expect("parse");
    let a = check(&KvModel, &ops, &mut Budget::default());
    let b = check(&KvModel, &ops, &mut Budget::default());
    assert_eq!(a, b);
}

#[test]
fn failure_explanation_is_minimal_and_rendered() {
    // A stale read among unrelated noise: the explanation is exactly the
    // two writes and the read.
    let h = vec![
        op(1, 0, 1, RI::Write(1), RO::Ok),
        op(2, 2, 3, RI::Read, RO::Read(Some(1))),
        op(1, 4, 5, RI::Write(2), RO::Ok),
        op(3, 6, 7, RI::Read, RO::Read(Some(2))),
        op(2, 8, 12, RI::Read, RO::Read(Some(1))),
        op(4, 9, 10, RI::Write(3), RO::Ok),
        op(4, 13, 14, RI::Read, RO::Read(Some(3))),
    ];
    let r = check(&RegisterModel, &h, &mut Budget::new(100_000));
    let f = r.failure.expect("failure");
    assert_eq!(f.culprit, 4);
    assert_eq!(f.ops, vec![0, 2, 4]);
    assert_eq!(f.conflicting, vec![0, 2]);
    assert!(f.minimal);
    assert_eq!(f.prefix_len, 6);
    let want = "\
c1  |--write(1)--|
c1                 |--write(2)--|
c2                                |--read() -> 1--|   <-- cannot be linearized
";
    assert_eq!(f.timeline, want);
    // Without explanations only the culprit is reported.
    let opts = CheckOptions {
        explain: false,
        ..CheckOptions::default()
    };
    let f = check_with(&RegisterModel, &h, &mut Budget::new(100_000), &opts)
        .failure
        .expect("failure");
    assert_eq!((f.ops, f.minimal), (vec![4], false));
}

// ----------------------------------------------------- brute-force oracle ---

/// Brute force: tries every order of the ops that respects real time
/// (a before b if a returned before b was invoked); pending ops may be left
/// out. Checks the kv history as a whole (one map state), so it also tests
/// that partitioning per key is sound.
fn oracle<S: Clone>(
    ops: &[(u64, u64)],
    placed: &mut Vec<bool>,
    state: S,
    step: &dyn Fn(&S, usize) -> Option<S>,
) -> bool {
    if ops.iter().zip(placed.iter()).all(|(o, &p)| p || o.1 == PENDING) {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        let blocked = (0..ops.len()).any(|j| !placed[j] && j != i && ops[j].1 < ops[i].0);
        if blocked {
            continue;
        }
        if let Some(next) = step(&state, i) {
            placed[i] = true;
            let ok = oracle(ops, placed, next, step);
            placed[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}

/// Oracle on a sub-history given by intervals and op indices.
type OracleFn<'a> = dyn Fn(&[(u64, u64)], &[usize]) -> bool + 'a;

/// Runs the checker on `ops` and compares with the oracle `ok` (which takes
/// the intervals and indices of a sub-history): same verdict; on failure the
/// reported ops must fail on their own, and the culprit's prefix must be
/// the shortest failing one.
fn compare_with_oracle<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    ok: &OracleFn<'_>,
) -> bool {
    let all: Vec<usize> = (0..ops.len()).collect();
    // (`all` is the whole history; prefixes below are per partition.)
    let times: Vec<(u64, u64)> = ops.iter().map(|o| (o.call, o.ret)).collect();
    let want = ok(&times, &all);
    let r = check(model, ops, &mut Budget::new(50_000_000));
    let expected = if want {
        Verdict::Linearizable
    } else {
        Verdict::NotLinearizable
    };
    assert_eq!(r.verdict, expected, "{ops:?}");
    if let Some(f) = r.failure {
        let sub: Vec<(u64, u64)> = f.ops.iter().map(|&i| times[i]).collect();
        assert!(
            !ok(&sub, &f.ops),
            "explanation {:?} passes the oracle: {ops:?}",
            f.ops
        );
        // The failing partition's history up to time t: later returns
        // become pending.
        let part = model
            .partition(ops)
            .into_iter()
            .find(|(name, _)| *name == f.partition)
            .map(|(_, idx)| idx)
            .expect("failing partition exists");
        let prefix = |t: u64| -> (Vec<(u64, u64)>, Vec<usize>) {
            let idx: Vec<usize> = part.iter().copied().filter(|&i| times[i].0 <= t).collect();
            let tm = idx
                .iter()
                .map(|&i| (times[i].0, if times[i].1 <= t { times[i].1 } else { PENDING }))
                .collect();
            (tm, idx)
        };
        let t = ops[f.culprit].ret;
        let (tm, idx) = prefix(t);
        assert!(!ok(&tm, &idx), "prefix up to the culprit passes: {ops:?}");
        // The claim of the explanation: its ops cannot be linearized even
        // with every other op of the prefix relaxed (pending); if minimal,
        // relaxing any one of them (but the culprit) as well passes.
        let relaxed = |keep: &dyn Fn(usize) -> bool| -> Vec<(u64, u64)> {
            idx.iter()
                .zip(&tm)
                .map(|(&i, &(c, r))| (c, if keep(i) { r } else { PENDING }))
                .collect()
        };
        assert!(f.ops.contains(&f.culprit));
        assert!(
            !ok(&relaxed(&|i| f.ops.contains(&i)), &idx),
            "explanation {:?} passes with the other ops relaxed: {ops:?}",
            f.ops
        );
        if f.minimal {
            for &x in &f.conflicting {
                assert!(
                    ok(&relaxed(&|i| i != x && f.ops.contains(&i)), &idx),
                    "explanation {:?} claims minimality, but {x} is not needed: {ops:?}",
                    f.ops
                );
            }
        }
        if let Some(before) = part.iter().map(|&i| times[i].1).filter(|&x| x < t).max() {
            let (tm, idx) = prefix(before);
            assert!(ok(&tm, &idx), "a shorter prefix fails too: {ops:?}");
        }
    }
    want
}

/// Number of random cases per oracle test; `DSIM_ORACLE_CASES` raises it
/// for a longer soak.
fn oracle_cases() -> usize {
    std::env::var("DSIM_ORACLE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn random_times(rng: &mut Rng, n: usize, pending_percent: u64) -> Vec<(u64, u64)> {
    let mut t: Vec<(u64, u64)> = (0..n)
        .map(|_| {
            let c = rng.below(40);
            let r = if rng.chance(pending_percent) {
                PENDING
            } else {
                c + 1 + rng.below(12)
            };
            (c, r)
        })
        .collect();
    renumber(&mut t);
    t
}

#[test]
fn register_matches_brute_force_oracle() {
    let mut rng = Rng(7);
    let mut seen = [0usize; 2];
    for case in 0..oracle_cases() {
        let n = 1 + rng.below(8) as usize;
        let times = random_times(&mut rng, n, 15);
        let ops: Vec<_> = times
            .iter()
            .map(|&(c, r)| {
                let v = rng.below(3) as i64;
                let (input, output) = match rng.below(3) {
                    0 => (RI::Read, RO::Read((v > 0).then_some(v - 1))),
                    1 => (RI::Write(v), RO::Ok),
                    _ => (
                        RI::Cas {
                            from: v,
                            to: rng.below(3) as i64,
                        },
                        if rng.chance(50) { RO::Ok } else { RO::CasFailed },
                    ),
                };
                let output = if r == PENDING && rng.chance(70) {
                    RO::Unknown
                } else {
                    output
                };
                op(rng.below(4), c, r, input, output)
            })
            .collect();
        let ok = |t: &[(u64, u64)], idx: &[usize]| {
            let step = |s: &Option<i64>, k: usize| {
                let o = &ops[idx[k]];
                RegisterModel.step(s, &o.input, &o.output)
            };
            oracle(t, &mut vec![false; t.len()], None, &step)
        };
        let want = compare_with_oracle(&RegisterModel, &ops, &ok);
        seen[usize::from(want)] += 1;
        let _ = case;
    }
    assert!(
        seen[0] > 300 && seen[1] > 300,
        "both verdicts exercised: {seen:?}"
    );
}

#[test]
fn kv_matches_brute_force_oracle() {
    let mut rng = Rng(11);
    let vals = ["", "a", "b", "ab", "ba"];
    let mut seen = [0usize; 2];
    for case in 0..oracle_cases() {
        let n = 1 + rng.below(8) as usize;
        let times = random_times(&mut rng, n, 15);
        let ops: Vec<_> = times
            .iter()
            .map(|&(c, r)| {
                let key = if rng.chance(70) { "k" } else { "j" };
                let v = || vals[1 + (c as usize % 2)].to_string();
                let (kop, out) = match rng.below(4) {
                    0 => (
                        KvOp::Get,
                        KvOutput::Value(vals[rng.below(5) as usize].to_string()),
                    ),
                    1 => (KvOp::Put(v()), KvOutput::Ok),
                    2 => (KvOp::Append(v()), KvOutput::Ok),
                    _ => (
                        KvOp::Cas {
                            from: vals[rng.below(3) as usize].to_string(),
                            to: v(),
                        },
                        if rng.chance(50) {
                            KvOutput::Ok
                        } else {
                            KvOutput::CasFailed
                        },
                    ),
                };
                let out = if r == PENDING && rng.chance(70) {
                    KvOutput::Unknown
                } else {
                    out
                };
                op(rng.below(4), c, r, kv_in(key, kop), out)
            })
            .collect();
        let ok = |t: &[(u64, u64)], idx: &[usize]| {
            let step = |s: &BTreeMap<String, String>, k: usize| {
                let o = &ops[idx[k]];
                let cur = s.get(&o.input.key).cloned().unwrap_or_default();
                let next = KvModel.step(&cur, &o.input, &o.output)?;
                let mut s = s.clone();
                s.insert(o.input.key.clone(), next);
                Some(s)
            };
            oracle(t, &mut vec![false; t.len()], BTreeMap::new(), &step)
        };
        let want = compare_with_oracle(&KvModel, &ops, &ok);
        seen[usize::from(want)] += 1;
        let _ = case;
    }
    assert!(
        seen[0] > 300 && seen[1] > 300,
        "both verdicts exercised: {seen:?}"
    );
}

/// The pruning the explainer's re-checks switch on (`relaxed` searches:
/// run dominance, irrelevant states, dead runs) against the oracle, on
/// histories with many pending ops (which is what re-checks look like) and
/// the ops those rules reason about: blind puts/writes, appends, reads and
/// cas with preconditions.
#[test]
fn relaxed_search_matches_brute_force_oracle() {
    let mut rng = Rng(23);
    let vals = ["", "a", "b", "ab", "ba", "aa"];
    let mut seen = [0usize; 2];
    for _ in 0..oracle_cases() {
        let n = 2 + rng.below(8) as usize;
        let times = random_times(&mut rng, n, 50);
        let kv = rng.chance(60);
        let sops: Vec<SearchOp> = times
            .iter()
            .enumerate()
            .map(|(orig, &(call, ret))| SearchOp { call, ret, orig })
            .collect();
        let pick = |rng: &mut Rng, k: u64| vals[rng.below(k) as usize].to_string();
        let (want, got) = if kv {
            let ops: Vec<_> = times
                .iter()
                .map(|&(c, r)| {
                    let (kop, out) = match rng.below(5) {
                        0 | 1 => (KvOp::Get, KvOutput::Value(pick(&mut rng, 6))),
                        2 => (KvOp::Put(pick(&mut rng, 3)), KvOutput::Ok),
                        3 => (
                            KvOp::Append(vals[1 + rng.below(2) as usize].to_string()),
                            KvOutput::Ok,
                        ),
                        _ => (
                            KvOp::Cas {
                                from: pick(&mut rng, 4),
                                to: pick(&mut rng, 6),
                            },
                            if rng.chance(60) {
                                KvOutput::Ok
                            } else {
                                KvOutput::CasFailed
                            },
                        ),
                    };
                    let out = if r == PENDING && rng.chance(40) {
                        KvOutput::Unknown
                    } else {
                        out
                    };
                    op(rng.below(4), c, r, kv_in("k", kop), out)
                })
                .collect();
            let step = |s: &String, k: usize| KvModel.step(s, &ops[k].input, &ops[k].output);
            let want = oracle(&times, &mut vec![false; n], String::new(), &step);
            let got = search::search(&KvModel, &ops, &sops, &mut Budget::new(1_000_000), true);
            let plain = search::search(&KvModel, &ops, &sops, &mut Budget::new(1_000_000), false);
            assert_eq!(
                got == search::Outcome::Linearizable,
                plain == search::Outcome::Linearizable
            );
            (want, got)
        } else {
            let ops: Vec<_> = times
                .iter()
                .map(|&(c, r)| {
                    let v = rng.below(3) as i64;
                    let (input, output) = match rng.below(4) {
                        0 | 1 => (RI::Read, RO::Read((v > 0).then_some(v - 1))),
                        2 => (RI::Write(v), RO::Ok),
                        _ => (
                            RI::Cas {
                                from: v,
                                to: rng.below(3) as i64,
                            },
                            if rng.chance(60) { RO::Ok } else { RO::CasFailed },
                        ),
                    };
                    let output = if r == PENDING && rng.chance(40) {
                        RO::Unknown
                    } else {
                        output
                    };
                    op(rng.below(4), c, r, input, output)
                })
                .collect();
            let step = |s: &Option<i64>, k: usize| RegisterModel.step(s, &ops[k].input, &ops[k].output);
            let want = oracle(&times, &mut vec![false; n], None, &step);
            let got = search::search(&RegisterModel, &ops, &sops, &mut Budget::new(1_000_000), true);
            (want, got)
        };
        let expected = if want {
            search::Outcome::Linearizable
        } else {
            search::Outcome::NotLinearizable { lower: 0 }
        };
        let got = match got {
            search::Outcome::NotLinearizable { .. } => search::Outcome::NotLinearizable { lower: 0 },
            o => o,
        };
        assert_eq!(got, expected, "times {times:?}");
        seen[usize::from(want)] += 1;
    }
    assert!(
        seen[0] > 300 && seen[1] > 300,
        "both verdicts exercised: {seen:?}"
    );
}

// ------------------------------------------ histories from real executions ---

/// Builds a history from a sequential execution: op `i` takes effect at
/// time `10 * i + 5`; its interval is widened around that point by up to
/// `spread` time units each side; some become indeterminate (`info`),
/// whether or not they took effect. Such a history is linearizable by
/// construction.
fn widen<I, O: Clone>(
    rng: &mut Rng,
    seq: Vec<(I, O, bool)>,
    spread: u64,
    unknown: &O,
) -> Vec<Operation<I, O>> {
    let mut times: Vec<(u64, u64)> = (0..seq.len() as u64)
        .map(|i| {
            let lp = 10 * i + 5 + spread;
            (lp - 1 - rng.below(spread), lp + 1 + rng.below(spread))
        })
        .collect();
    let mut ops: Vec<Operation<I, O>> = Vec::new();
    for (i, (input, output, info)) in seq.into_iter().enumerate() {
        if info {
            times[i].1 = PENDING;
        }
        let output = if info { unknown.clone() } else { output };
        ops.push(op(rng.below(8), 0, 0, input, output));
    }
    renumber(&mut times);
    for (o, (c, r)) in ops.iter_mut().zip(times) {
        o.call = c;
        o.ret = r;
    }
    ops
}

#[test]
fn widened_sequential_register_histories_are_linearizable() {
    let mut rng = Rng(3);
    for case in 0..300 {
        let n = 1 + rng.below(60) as usize;
        let mut state: Option<i64> = None;
        let mut seq = Vec::new();
        for _ in 0..n {
            let v = rng.below(4) as i64;
            let input = match rng.below(3) {
                0 => RI::Read,
                1 => RI::Write(v),
                _ => RI::Cas {
                    from: v,
                    to: rng.below(4) as i64,
                },
            };
            let info = rng.chance(10);
            // An indeterminate op may or may not have taken effect.
            let applies = !info || rng.chance(50);
            let (output, next) = match input {
                RI::Read => (RO::Read(state), state),
                RI::Write(v) => (RO::Ok, Some(v)),
                RI::Cas { from, to } if state == Some(from) => (RO::Ok, Some(to)),
                RI::Cas { .. } => (RO::CasFailed, state),
            };
            if applies {
                state = next;
            }
            seq.push((input, output, info));
        }
        let spread = 1 + rng.below(80);
        let ops = widen(&mut rng, seq, spread, &RO::Unknown);
        let r = check(&RegisterModel, &ops, &mut Budget::new(10_000_000));
        assert_eq!(r.verdict, Verdict::Linearizable, "case {case}: {ops:?}");
    }
}

#[test]
fn widened_sequential_kv_histories_are_linearizable() {
    let mut rng = Rng(5);
    for case in 0..300 {
        let n = 1 + rng.below(80) as usize;
        let mut state: BTreeMap<String, String> = BTreeMap::new();
        let mut seq = Vec::new();
        for i in 0..n {
            let key = ["a", "b", "c"][rng.below(3) as usize].to_string();
            let cur = state.get(&key).cloned().unwrap_or_default();
            let val = format!("{}.", i % 5);
            let kop = match rng.below(4) {
                0 => KvOp::Get,
                1 => KvOp::Put(val),
                2 => KvOp::Append(val),
                _ => KvOp::Cas {
                    from: if rng.chance(50) { cur.clone() } else { "0.".into() },
                    to: val,
                },
            };
            let (out, next) = match &kop {
                KvOp::Get => (KvOutput::Value(cur.clone()), cur.clone()),
                KvOp::Put(v) => (KvOutput::Ok, v.clone()),
                KvOp::Append(v) => (KvOutput::Ok, format!("{cur}{v}")),
                KvOp::Cas { from, to } if *from == cur => (KvOutput::Ok, to.clone()),
                KvOp::Cas { .. } => (KvOutput::CasFailed, cur.clone()),
            };
            let info = rng.chance(10);
            if !info || rng.chance(50) {
                state.insert(key.clone(), next);
            }
            seq.push((kv_in(&key, kop), out, info));
        }
        let spread = 1 + rng.below(80);
        let ops = widen(&mut rng, seq, spread, &KvOutput::Unknown);
        let r = check(&KvModel, &ops, &mut Budget::new(10_000_000));
        assert_eq!(r.verdict, Verdict::Linearizable, "case {case}: {ops:?}");
    }
}

// ------------------------------------------------------------- stress ---

/// A simulated kv workload: `clients` clients each run ops back to back on
/// `keys` keys (mostly unique appends, some gets and puts); each op takes
/// effect at a random point inside its interval; about 1% time out
/// (`info`), of which half took effect.
fn kv_workload(
    rng: &mut Rng,
    clients: u64,
    ops_per_client: u64,
    keys: u64,
) -> Vec<Operation<KvInput, KvOutput>> {
    // (effect time, client, call, ret, key, op, info, applies)
    let mut raw = Vec::new();
    for c in 0..clients {
        let mut t = rng.below(50);
        for n in 0..ops_per_client {
            let call = t;
            let ret = call + 5 + rng.below(60);
            let at = call + 1 + rng.below(ret - call - 1);
            let key = format!("k{}", rng.below(keys));
            let kop = match rng.below(10) {
                0..=3 => KvOp::Get,
                4 => KvOp::Put(format!("<{c}.{n}>")),
                _ => KvOp::Append(format!("<{c}.{n}>")),
            };
            let info = rng.chance(1);
            let applies = !info || rng.chance(50);
            raw.push((at, c, call, ret, key, kop, info, applies));
            t = ret + 1 + rng.below(20);
        }
    }
    raw.sort_by_key(|r| (r.0, r.1));
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let mut ops = Vec::new();
    for (_, c, call, ret, key, kop, info, applies) in raw {
        let cur = state.get(&key).cloned().unwrap_or_default();
        let (out, next) = match &kop {
            KvOp::Get => (KvOutput::Value(cur.clone()), cur),
            KvOp::Put(v) => (KvOutput::Ok, v.clone()),
            KvOp::Append(v) => (KvOutput::Ok, format!("{cur}{v}")),
            KvOp::Cas { .. } => unreachable!("the workload has no cas"),
        };
        if applies {
            state.insert(key.clone(), next);
        }
        // Times: effect order is kept by scaling; `2 * t + 1` for returns
        // keeps calls and returns distinct.
        let (ret, out) = if info {
            (PENDING, KvOutput::Unknown)
        } else {
            (2 * ret + 1, out)
        };
        ops.push(op(c, 2 * call, ret, kv_in(&key, kop), out));
    }
    ops
}

/// Turns one get into a provably stale read: it returns its value with the
/// token of an append that certainly precedes it removed. Certain means no
/// put on that key (completed or indeterminate) can fall between the
/// append and the get. Returns the index of the get.
fn inject_stale_read(ops: &mut [Operation<KvInput, KvOutput>]) -> usize {
    let n = ops.len();
    for g in (n / 3..n).chain(0..n / 3) {
        let KvOutput::Value(v) = &ops[g].output else {
            continue;
        };
        if ops[g].ret == PENDING {
            continue;
        }
        let (key, gc, gr) = (ops[g].input.key.clone(), ops[g].call, ops[g].ret);
        for w in 0..n {
            let KvOp::Append(tok) = &ops[w].input.op else {
                continue;
            };
            if ops[w].input.key != key
                || ops[w].ret == PENDING
                || ops[w].ret >= gc
                || !v.contains(tok.as_str())
            {
                continue;
            }
            let (wc, tok) = (ops[w].call, tok.clone());
            let blocked = ops.iter().any(|p| {
                matches!(p.input.op, KvOp::Put(_))
                    && p.input.key == key
                    && !(p.ret != PENDING && p.ret < wc)
                    && p.call < gr
            });
            if !blocked {
                let stale = v.replace(tok.as_str(), "");
                ops[g].output = KvOutput::Value(stale);
                return g;
            }
        }
    }
    panic!("no get suitable for a stale read");
}

#[test]
fn stress_many_clients_with_indeterminate_ops() {
    for seed in 0..3 {
        let mut rng = Rng(100 + seed);
        let mut ops = kv_workload(&mut rng, 50, 60, 10);
        assert!(ops.len() == 3000 && ops.iter().any(|o| o.ret == PENDING));
        let mut b = Budget::new(5_000_000);
        let r = check(&KvModel, &ops, &mut b);
        assert_eq!(r.verdict, Verdict::Linearizable, "seed {seed}");
        assert!(r.steps < 200_000, "seed {seed}: {} steps", r.steps);
        let g = inject_stale_read(&mut ops);
        let mut b = Budget::new(5_000_000);
        let r = check(&KvModel, &ops, &mut b);
        assert_eq!(r.verdict, Verdict::NotLinearizable, "seed {seed}");
        let f = r.failure.expect("failure");
        assert_eq!(f.partition, ops[g].input.key);
        let sub: Vec<_> = f.ops.iter().map(|&i| ops[i].clone()).collect();
        assert_eq!(verdict(&KvModel, &sub), Verdict::NotLinearizable);
    }
}

#[test]
fn stress_register_with_indeterminate_writes() {
    // One register, 10 clients, unique written values, ~1% of the writes
    // indeterminate; then a read of an overwritten value. (Refuting a stale
    // read means exhausting every configuration before it; on one register
    // that grows fast with concurrency and with indeterminate writes, which
    // never expire. The 50-client case is covered per key by the kv test.)
    let mut rng = Rng(42);
    let mut raw = Vec::new();
    for c in 0..10u64 {
        let mut t = rng.below(30);
        for n in 0..200u64 {
            let call = t;
            let ret = call + 3 + rng.below(30);
            let at = call + 1 + rng.below(ret - call - 1);
            let write = rng.chance(50);
            let info = write && rng.chance(2);
            raw.push((at, c, call, ret, write.then_some((c * 1000 + n) as i64), info));
            t = ret + 1 + rng.below(40);
        }
    }
    raw.sort_by_key(|r| (r.0, r.1));
    let mut state = None;
    let mut ops = Vec::new();
    for (_, c, call, ret, write, info) in raw {
        let (input, output) = match write {
            Some(v) => {
                if !info || rng.chance(50) {
                    state = Some(v);
                }
                (RI::Write(v), if info { RO::Unknown } else { RO::Ok })
            }
            None => (RI::Read, RO::Read(state)),
        };
        let ret = if info { PENDING } else { 2 * ret + 1 };
        ops.push(op(c, 2 * call, ret, input, output));
    }
    assert_eq!(
        check(&RegisterModel, &ops, &mut Budget::new(5_000_000)).verdict,
        Verdict::Linearizable
    );
    // Stale read: value of a completed write w1 that was followed by a
    // completed write w2, both before the read; values are unique.
    let n = ops.len();
    let (mut w1, mut w2) = (None, None);
    for (i, o) in ops.iter().enumerate().skip(n / 2) {
        if let (RI::Write(_), RO::Ok) = (o.input, o.output) {
            match w1 {
                None => w1 = Some(i),
                Some(a) if ops[a].ret < o.call => {
                    w2 = Some(i);
                    break;
                }
                Some(_) => {}
            }
        }
    }
    let (w1, w2) = (w1.expect("w1"), w2.expect("w2"));
    let RI::Write(stale) = ops[w1].input else {
        unreachable!()
    };
    let r = (0..n)
        .find(|&i| ops[i].input == RI::Read && ops[i].call > ops[w2].ret)
        .expect("a later read");
    ops[r].output = RO::Read(Some(stale));
    assert!(ops.iter().filter(|o| o.ret == PENDING).count() >= 5);
    let res = check(&RegisterModel, &ops, &mut Budget::new(5_000_000));
    assert_eq!(res.verdict, Verdict::NotLinearizable);
    assert_eq!(res.failure.expect("failure").culprit, r);
}

/// A kv workload shaped like dsim's consensus histories: one key, `clients`
/// clients running ops back to back, values unique integers written as
/// `"n,"` (appends extend the list); 45% gets, 25% puts, 20% appends, 10%
/// cas (half from the current value); each op takes effect at a random
/// point of its interval, and about 2% time out (pending; half took
/// effect). Linearizable by construction.
fn dsim_like_workload(rng: &mut Rng, clients: u64, ops_per_client: u64) -> Vec<Operation<KvInput, KvOutput>> {
    // (effect time, client, call, ret, kind, info, applies)
    let mut raw = Vec::new();
    for c in 0..clients {
        let mut t = rng.below(50);
        for _ in 0..ops_per_client {
            let call = t;
            let ret = call + 5 + rng.below(15);
            let at = call + 1 + rng.below(ret - call - 1);
            let info = rng.chance(1);
            let applies = !info || rng.chance(50);
            raw.push((at, c, call, ret, rng.below(20), info, applies));
            t = ret + 1 + rng.below(80);
        }
    }
    raw.sort_by_key(|r| (r.0, r.1));
    let mut state = String::new();
    let mut old: Vec<String> = vec![String::new()];
    let mut fresh = 0u64;
    let mut ops = Vec::new();
    for (_, c, call, ret, kind, info, applies) in raw {
        fresh += 1;
        let v = format!("{fresh},");
        let (kop, out, next) = match kind {
            0..=8 => (KvOp::Get, KvOutput::Value(state.clone()), state.clone()),
            9..=13 => (KvOp::Put(v.clone()), KvOutput::Ok, v),
            14..=17 => (KvOp::Append(v.clone()), KvOutput::Ok, format!("{state}{v}")),
            _ => {
                let from = if rng.chance(50) {
                    state.clone()
                } else {
                    old[rng.below(old.len() as u64) as usize].clone()
                };
                if from == state {
                    (KvOp::Cas { from, to: v.clone() }, KvOutput::Ok, v)
                } else {
                    (KvOp::Cas { from, to: v }, KvOutput::CasFailed, state.clone())
                }
            }
        };
        if applies && next != state {
            old.push(std::mem::replace(&mut state, next));
        }
        let (ret, out) = if info {
            (PENDING, KvOutput::Unknown)
        } else {
            (2 * ret + 1, out)
        };
        ops.push(op(c, 2 * call, ret, kv_in("k", kop), out));
    }
    // Distinct times, as in a real history (equal ones would make the
    // culprit one of several ops returning at once).
    let mut times: Vec<(u64, u64)> = ops.iter().map(|o| (o.call, o.ret)).collect();
    renumber(&mut times);
    for (o, (c, r)) in ops.iter_mut().zip(times) {
        (o.call, o.ret) = (c, r);
    }
    ops
}

/// Makes one late get provably stale: it returns the value of a completed
/// put `p1` although another completed put `p2` certainly came between
/// (values are unique, so nothing else writes it). Returns the get's index.
fn inject_stale_get(ops: &mut [Operation<KvInput, KvOutput>], at_percent: usize) -> usize {
    let mut by_call: Vec<usize> = (0..ops.len()).collect();
    by_call.sort_by_key(|&i| ops[i].call);
    let completed_put = |o: &Operation<KvInput, KvOutput>| {
        matches!(o.input.op, KvOp::Put(_)) && o.output == KvOutput::Ok && o.ret != PENDING
    };
    for &g in &by_call[ops.len() * at_percent / 100..] {
        if !matches!(ops[g].output, KvOutput::Value(_)) || ops[g].ret == PENDING {
            continue;
        }
        let latest_before = |t: u64| {
            (0..ops.len())
                .filter(|&i| completed_put(&ops[i]) && ops[i].ret < t)
                .max_by_key(|&i| ops[i].ret)
        };
        let Some(p2) = latest_before(ops[g].call) else {
            continue;
        };
        let Some(p1) = latest_before(ops[p2].call) else {
            continue;
        };
        let KvOp::Put(v) = &ops[p1].input.op else {
            unreachable!()
        };
        ops[g].output = KvOutput::Value(v.clone());
        return g;
    }
    panic!("no get suitable for a stale read");
}

/// Relaxing ops of a linearizable history only adds linearizations, so the
/// relaxed search (with its extra pruning) must never refute one, however
/// many ops are relaxed; nor miss a stale read that stays strict.
#[test]
fn relaxed_search_never_refutes_relaxations_of_linearizable_histories() {
    let mut rng = Rng(77);
    for round in 0..12 {
        let mut ops = dsim_like_workload(&mut rng, 30, 8);
        if round % 2 == 0 {
            formats::merge_unobserved_values(&mut ops);
        }
        let percent = [20, 50, 80, 95, 99, 100][round % 6];
        let sops: Vec<SearchOp> = ops
            .iter()
            .enumerate()
            .map(|(orig, o)| SearchOp {
                call: o.call,
                ret: if rng.chance(percent) { PENDING } else { o.ret },
                orig,
            })
            .collect();
        let mut b = Budget::new(2_000_000);
        let out = search::search(&KvModel, &ops, &sops, &mut b, true);
        assert_eq!(
            out,
            search::Outcome::Linearizable,
            "round {round}: {} steps",
            b.steps_used
        );
    }
}

/// dsim-sized histories (30 clients, ~500 ops of the failing key before the
/// violation, many of them alike after `merge_unobserved_values`): the
/// explanation of a single stale read is a handful of ops, 1-minimal, found
/// within a small share of the budget, and fails on its own.
#[test]
fn explanations_of_long_many_client_histories_are_small() {
    for seed in 0..3 {
        let mut rng = Rng(300 + seed);
        let mut ops = dsim_like_workload(&mut rng, 30, 20);
        let mut merged = ops.clone();
        formats::merge_unobserved_values(&mut merged);
        assert_eq!(verdict(&KvModel, &merged), Verdict::Linearizable, "seed {seed}");
        let g = inject_stale_get(&mut ops, 85);
        formats::merge_unobserved_values(&mut ops);
        let r = check(&KvModel, &ops, &mut Budget::new(10_000_000));
        assert_eq!(r.verdict, Verdict::NotLinearizable, "seed {seed}");
        let f = r.failure.expect("failure");
        assert_eq!(f.culprit, g, "seed {seed}");
        assert!(f.prefix_len > 400, "seed {seed}: prefix of {} ops", f.prefix_len);
        assert!(
            f.ops.len() <= 12 && f.minimal,
            "seed {seed}: {} ops (minimal {}):\n{}",
            f.ops.len(),
            f.minimal,
            f.timeline
        );
        let no_explanation = CheckOptions {
            explain: false,
            ..CheckOptions::default()
        };
        let search_only = check_with(&KvModel, &ops, &mut Budget::new(10_000_000), &no_explanation);
        let explain_steps = r.steps - search_only.steps;
        assert!(explain_steps < 400_000, "seed {seed}: {explain_steps} steps");
        let sub: Vec<_> = f.ops.iter().map(|&i| ops[i].clone()).collect();
        assert_eq!(verdict(&KvModel, &sub), Verdict::NotLinearizable, "seed {seed}");
    }
}

// ------------------------------------------------------------ parsers ---

fn parse_err<T: std::fmt::Debug>(r: Result<T, ParseError>) -> (usize, String) {
    match r {
        Err(e) => (e.line, e.message),
        Ok(v) => panic!("expected a parse error, got {v:?}"),
    }
}

#[test]
fn etcd_parser() {
    let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\n\
                INFO  jepsen.util - 1   :invoke :read   nil\n\
                \n\
                INFO  jepsen.util - 2\t:ok\t:cas\t[3 0]\n\
                INFO  jepsen.util - 1\t:fail\t:read\t:timed-out\n\
                INFO  jepsen.util - 3\t:invoke\t:write\t4\n\
                INFO  jepsen.util - 3\t:info\t:write\t:timed-out\n\
                INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n\
                INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\n\
                INFO  jepsen.util - 4\t:invoke\t:read\tnil\n\
                INFO  jepsen.util - 4\t:ok\t:read\tnil\n\
                INFO  jepsen.util - 8\t:invoke\t:write\t1\n";
    let ops = formats::parse_etcd(text).expect("parses");
    let got: Vec<_> = ops
        .iter()
        .map(|o| (o.client, o.call, o.ret, o.input, o.output))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 0, 2, RI::Cas { from: 3, to: 0 }, RO::Ok),
            (1, 1, 3, RI::Read, RO::Unknown),
            (3, 4, PENDING, RI::Write(4), RO::Unknown),
            (0, 6, 7, RI::Cas { from: 1, to: 2 }, RO::CasFailed),
            (4, 8, 9, RI::Read, RO::Read(None)),
            (8, 10, PENDING, RI::Write(1), RO::Unknown),
        ]
    );
    let bad = |line: &str| {
        parse_err(formats::parse_etcd(&format!(
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\n{line}\n"
        )))
    };
    assert_eq!(bad("garbage").0, 3);
    assert_eq!(bad("INFO  jepsen.util - 5\t:ok\t:read\t3").0, 3); // no invocation
    assert_eq!(bad("INFO  jepsen.util - 0\t:ok\t:write\t3").0, 3); // wrong f
    assert_eq!(bad("INFO  jepsen.util - 0\t:invoke\t:read\tnil").0, 3); // in flight
    assert_eq!(bad("INFO  jepsen.util - 0\t:bogus\t:read\tnil").0, 3);
    assert_eq!(bad("INFO  jepsen.util - x\t:ok\t:read\tnil").0, 3);
    assert_eq!(bad("INFO  jepsen.util - 0\t:ok\t:read\t[1").0, 3);
    assert_eq!(bad("INFO  jepsen.util - 1\t:invoke\t:cas\t[1 x]").0, 3);
    assert_eq!(bad("INFO  jepsen.util - 1\t:invoke\t:frob\tnil").0, 3);
    assert_eq!(bad("INFO  jepsen.util - 1\t:invoke").0, 3);
}

#[test]
fn porcupine_kv_parser() {
    let text = "{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x 9 0 y\"}\n\
                {:process 4, :type :invoke, :f :get, :key \"3\", :value nil}\n\
                {:process 4, :type :ok, :f :get, :key \"3\", :value \"\"}\n\
                {:process 9, :type :ok, :f :append, :key \"0\", :value \"x 9 0 y\"}\n\
                {:process 1, :type :invoke, :f :put, :key \"1\", :value \"a\\\"b\"}\n";
    let ops = formats::parse_porcupine_kv(text).expect("parses");
    assert_eq!(ops.len(), 3);
    assert_eq!((ops[0].call, ops[0].ret), (0, 3));
    assert_eq!(ops[0].input, kv_in("0", KvOp::Append("x 9 0 y".into())));
    assert_eq!(ops[1].output, KvOutput::Value(String::new()));
    assert_eq!((ops[2].ret, &ops[2].output), (PENDING, &KvOutput::Unknown));
    assert_eq!(ops[2].input.op, KvOp::Put("a\"b".into()));
    let bad = |line: &str| {
        parse_err(formats::parse_porcupine_kv(&format!(
            "{{:process 1, :type :invoke, :f :get, :key \"1\", :value nil}}\n{line}\n"
        )))
    };
    assert_eq!(bad("{:process 2, :type :invoke, :f :get, :key \"1\"").0, 2);
    assert_eq!(bad("{:process 2, :type :invoke, :f :get, :key \"1}").0, 2);
    assert_eq!(bad("{:process 2, :type :invoke, :f :get, :value nil}").0, 2);
    assert_eq!(
        bad("{:process 2, :type :ok, :f :get, :key \"1\", :value \"\"}").0,
        2
    );
    assert_eq!(
        bad("{:process 1, :type :ok, :f :put, :key \"1\", :value \"\"}").0,
        2
    );
    assert_eq!(bad("{:process 1, :type :ok, :f :get, :key \"1\", :value 3}").0, 2);
    assert_eq!(
        bad("{:process 2, :type :weird, :f :get, :key \"1\", :value nil}").0,
        2
    );
    assert_eq!(
        bad("{:process 2, :type :invoke, :f :put, :key \"1\", :value nil}").0,
        2
    );
    assert_eq!(bad("process 2").0, 2);
}

const DSIM_EXAMPLE: &str = r#"{"type":"invoke","process":0,"client":"c1","f":"write","key":"k0","value":17,"time_ns":1234}
{"type":"ok","process":0,"client":"c1","f":"write","key":"k0","value":17,"time_ns":2345}
{"type":"invoke","process":1,"client":"c2","f":"read","key":"k1","value":null,"time_ns":3000}
{"type":"ok","process":1,"client":"c2","f":"read","key":"k1","value":[3,17],"time_ns":3100}
{"type":"invoke","process":2,"client":"c3","f":"cas","key":"k1","value":[3,18],"time_ns":3200}
{"type":"fail","process":2,"client":"c3","f":"cas","key":"k1","value":[3,18],"time_ns":3300}
{"type":"invoke","process":0,"client":"c1","f":"append","key":"k2","value":19,"time_ns":4000}
{"type":"info","process":0,"client":"c1","f":"append","key":"k2","value":19,"time_ns":9000}
"#;

#[test]
fn dsim_jsonl_parser() {
    let ops = formats::parse_dsim_jsonl(DSIM_EXAMPLE).expect("parses");
    let got: Vec<_> = ops
        .iter()
        .map(|o| (o.client, o.call, o.ret, o.input.clone(), o.output.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 0, 1, kv_in("k0", KvOp::Put("17,".into())), KvOutput::Ok),
            (2, 2, 3, kv_in("k1", KvOp::Get), KvOutput::Value("3,17,".into())),
            (
                3,
                4,
                5,
                kv_in(
                    "k1",
                    KvOp::Cas {
                        from: "3,".into(),
                        to: "18,".into()
                    }
                ),
                KvOutput::CasFailed
            ),
            (
                1,
                6,
                PENDING,
                kv_in("k2", KvOp::Append("19,".into())),
                KvOutput::Unknown
            ),
        ]
    );
    // The example reads [3,17] from a key nobody wrote.
    assert_eq!(verdict(&KvModel, &ops), Verdict::NotLinearizable);
    let good = DSIM_EXAMPLE.replace("\"value\":[3,17]", "\"value\":[]");
    assert_eq!(
        verdict(&KvModel, &formats::parse_dsim_jsonl(&good).expect("parses")),
        Verdict::Linearizable
    );

    // A failed read/write/append did not happen; a completed write of 5
    // followed by a read of [5] and an ok cas [5,6] then a read of [6].
    let text = r#"{"type":"invoke","process":0,"client":"c1","f":"write","key":"a","value":5,"time_ns":1}
{"type":"ok","process":0,"client":"c1","f":"write","key":"a","value":5,"time_ns":2}
{"type":"invoke","process":1,"client":"c2","f":"write","key":"a","value":9,"time_ns":3}
{"type":"fail","process":1,"client":"c2","f":"write","key":"a","value":9,"time_ns":4}
{"type":"invoke","process":0,"client":"c1","f":"cas","key":"a","value":[5,6],"time_ns":5}
{"type":"ok","process":0,"client":"c1","f":"cas","key":"a","value":[5,6],"time_ns":6}
{"type":"invoke","process":0,"client":"c1","f":"append","key":"a","value":7,"time_ns":7}
{"type":"ok","process":0,"client":"c1","f":"append","key":"a","value":7,"time_ns":8}
{"type":"invoke","process":1,"client":"c2","f":"read","key":"a","value":null,"time_ns":9}
{"type":"ok","process":1,"client":"c2","f":"read","key":"a","value":[6,7],"time_ns":10}
{"type":"invoke","process":1,"client":"c2","f":"read","key":"a","value":null,"time_ns":11}
"#;
    let ops = formats::parse_dsim_jsonl(text).expect("parses");
    assert_eq!(
        ops.len(),
        5,
        "the failed write is dropped, the last read is pending"
    );
    assert_eq!(verdict(&KvModel, &ops), Verdict::Linearizable);

    let line = |l: &str| {
        parse_err(formats::parse_dsim_jsonl(&format!(
            "{}\n{l}\n",
            DSIM_EXAMPLE.trim_end()
        )))
    };
    let inv = r#"{"type":"invoke","process":7,"client":"c7","f":"read","key":"k","value":null,"time_ns":1}"#;
    assert_eq!(line("{not json").0, 9);
    assert_eq!(line("[1,2]").0, 9);
    assert_eq!(line(&inv.replace("invoke", "launch")).0, 9);
    assert_eq!(line(&inv.replace(",\"time_ns\":1", "")).0, 9);
    assert_eq!(line(&inv.replace("\"key\":\"k\",", "")).0, 9);
    assert_eq!(line(&inv.replace("\"read\"", "\"frob\"")).0, 9);
    assert_eq!(line(&inv.replace("invoke", "ok")).0, 9); // no invocation
    assert_eq!(
        line(&inv.replace(
            "\"read\",\"key\":\"k\",\"value\":null",
            "\"cas\",\"key\":\"k\",\"value\":[1]"
        ))
        .0,
        9
    );
    assert_eq!(
        line(&inv.replace(
            "\"read\",\"key\":\"k\",\"value\":null",
            "\"write\",\"key\":\"k\",\"value\":\"x\""
        ))
        .0,
        9
    );
    let (n, msg) =
        line(r#"{"type":"ok","process":0,"client":"c1","f":"write","key":"k2","value":19,"time_ns":1}"#);
    assert_eq!(n, 9, "process 0 retired its append with info: {msg}");
    // A completion that contradicts its invocation.
    let pair = format!(
        "{inv}\n{}",
        inv.replace("invoke", "ok")
            .replace("null", "[1]")
            .replace("read", "write")
    );
    let (n, _) = parse_err(formats::parse_dsim_jsonl(&pair));
    assert_eq!(n, 2);
}

#[test]
fn format_detection() {
    assert_eq!(
        detect_format("INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]"),
        Some(Format::JepsenEtcd)
    );
    assert_eq!(
        detect_format("{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x\"}"),
        Some(Format::PorcupineKv)
    );
    assert_eq!(
        detect_format(DSIM_EXAMPLE.lines().next().unwrap_or("")),
        Some(Format::DsimJsonl)
    );
    assert_eq!(detect_format("hello"), None);
    assert!(
        matches!(formats::parse(Format::JepsenEtcd, ""), Ok(formats::History::Register(v)) if v.is_empty())
    );
}

/// Explains a dsim `history.jsonl` named by `DSIM_EXPLAIN_HISTORY` (skipped
/// when unset), checking it as `dsim check-history --model kv` does:
///
/// ```text
/// DSIM_EXPLAIN_HISTORY=out/history.jsonl \
///     cargo test --release -p sim explain_dsim_history -- --nocapture
/// ```
#[test]
fn explain_dsim_history_from_env() {
    let Ok(path) = std::env::var("DSIM_EXPLAIN_HISTORY") else {
        return;
    };
    let text = std::fs::read_to_string(&path).expect("read the history");
    let mut ops = formats::parse_dsim_jsonl(&text).expect("parse the history");
    formats::merge_unobserved_values(&mut ops);
    let r = check(&KvModel, &ops, &mut Budget::default());
    eprintln!("{path}: {:?} in {} steps", r.verdict, r.steps);
    if let Some(f) = r.failure {
        eprintln!(
            "partition {}: {} ops of {} (minimal {})\n{}",
            f.partition,
            f.ops.len(),
            f.prefix_len,
            f.minimal,
            f.timeline
        );
        let sub: Vec<_> = f.ops.iter().map(|&i| ops[i].clone()).collect();
        assert_eq!(verdict(&KvModel, &sub), Verdict::NotLinearizable);
    }
}
