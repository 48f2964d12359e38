//! Property tests against a brute-force oracle, of the plain and the relaxed
//! search.

use super::*;

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
