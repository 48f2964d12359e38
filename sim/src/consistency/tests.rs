//! Sequential consistency against a brute-force oracle, and the classic histories.

use super::*;
use crate::linearize::{Budget, CheckOptions, KvInput, KvModel, KvOp, KvOutput, Model, Operation, PENDING};
use std::collections::BTreeSet;

type Op = Operation<KvInput, KvOutput>;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn op(client: u64, call: u64, ret: u64, key: &str, op: KvOp, output: KvOutput) -> Op {
    Operation {
        client,
        call,
        ret,
        input: KvInput {
            key: key.to_string(),
            op,
        },
        output,
    }
}

fn get(c: u64, call: u64, ret: u64, key: &str, v: &str) -> Op {
    op(c, call, ret, key, KvOp::Get, KvOutput::Value(v.to_string()))
}

fn put(c: u64, call: u64, ret: u64, key: &str, v: &str) -> Op {
    op(c, call, ret, key, KvOp::Put(v.to_string()), KvOutput::Ok)
}

/// Checks with and without the linearizability shortcut; both must agree.
fn check(ops: &[Op]) -> ScResult {
    let r = check_sequential(
        &KvModel,
        ops,
        &mut Budget::new(10_000_000),
        &CheckOptions::default(),
    );
    let full = sequential::check_sequential_with(
        &KvModel,
        ops,
        &mut Budget::new(10_000_000),
        &CheckOptions::default(),
        false,
    );
    assert_eq!(r.verdict, full.verdict, "shortcut and search disagree: {ops:#?}");
    assert_eq!(r.failure, full.failure);
    full
}

/// How the oracle treats each op: it must be placed after its client's earlier completed
/// strict ops (`Strict`), may be placed after them or never (`Optional`), or may be placed
/// anywhere or never (`Free`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Strict,
    Optional,
    Free,
}

/// Brute force: every order of the ops that keeps each client's order; the whole history is
/// one map from key to value (no partitioning), so it also tests that the search composes
/// parts correctly.
/// (placed ops, state of every key written so far).
type Config = (Vec<bool>, Vec<(String, String)>);

fn oracle(ops: &[Op], roles: &[Role]) -> bool {
    fn go(
        ops: &[Op],
        roles: &[Role],
        placed: &mut Vec<bool>,
        state: &mut Vec<(String, String)>,
        seen: &mut BTreeSet<Config>,
    ) -> bool {
        if (0..ops.len()).all(|i| placed[i] || roles[i] != Role::Strict) {
            return true;
        }
        if !seen.insert((placed.clone(), state.clone())) {
            return false;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            let blocked = roles[i] != Role::Free
                && (0..ops.len()).any(|j| {
                    !placed[j]
                        && j != i
                        && roles[j] == Role::Strict
                        && ops[j].client == ops[i].client
                        && ops[j].ret < ops[i].call
                });
            if blocked {
                continue;
            }
            let key = &ops[i].input.key;
            let at = state.iter().position(|(k, _)| k == key);
            let cur = at.map_or(String::new(), |a| state[a].1.clone());
            if let Some(next) = KvModel.step(&cur, &ops[i].input, &ops[i].output) {
                let saved = state.clone();
                match at {
                    Some(a) => state[a].1 = next,
                    None => {
                        state.push((key.clone(), next));
                        state.sort();
                    }
                }
                placed[i] = true;
                let ok = go(ops, roles, placed, state, seen);
                placed[i] = false;
                *state = saved;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    go(
        ops,
        roles,
        &mut vec![false; ops.len()],
        &mut Vec::new(),
        &mut BTreeSet::new(),
    )
}

fn roles_of(ops: &[Op]) -> Vec<Role> {
    ops.iter()
        .map(|o| {
            if o.ret == PENDING {
                Role::Optional
            } else {
                Role::Strict
            }
        })
        .collect()
}

/// A random history of 1–9 ops by 1–3 clients on 1–2 keys. Each client runs its ops one
/// after another (sometimes overlapping two of them, as with lanes); reads return a value
/// some write produced, often the latest, sometimes an older one or one never written.
fn random_history(rng: &mut Rng) -> Vec<Op> {
    let n = 1 + rng.below(9) as usize;
    let clients = 1 + rng.below(3);
    let keys = ["x", "y"];
    let nkeys = 1 + rng.below(2) as usize;
    let mut next_free = vec![0u64; clients as usize];
    let mut written: Vec<Vec<String>> = vec![vec![String::new()]; 2];
    let mut ops = Vec::new();
    for k in 0..n {
        let c = rng.below(clients);
        let call = next_free[c as usize] + rng.below(4);
        let ret = call + 1 + rng.below(8);
        next_free[c as usize] = if rng.chance(15) { call + 1 } else { ret + 1 };
        let key = rng.below(nkeys as u64) as usize;
        let v = format!("{k},");
        let (o, out) = match rng.below(5) {
            0 | 1 => {
                let w = &written[key];
                let seen = if rng.chance(10) {
                    "9,".to_string()
                } else if rng.chance(60) {
                    w.last().cloned().unwrap_or_default()
                } else {
                    w[rng.below(w.len() as u64) as usize].clone()
                };
                (KvOp::Get, KvOutput::Value(seen))
            }
            2 => {
                written[key].push(v.clone());
                (KvOp::Put(v), KvOutput::Ok)
            }
            3 => {
                let last = written[key].last().cloned().unwrap_or_default();
                written[key].push(format!("{last}{v}"));
                (KvOp::Append(v), KvOutput::Ok)
            }
            _ => {
                let w = &written[key];
                let from = w[rng.below(w.len() as u64) as usize].clone();
                let ok = rng.chance(50);
                if ok {
                    written[key].push(v.clone());
                }
                (
                    KvOp::Cas { from, to: v },
                    if ok { KvOutput::Ok } else { KvOutput::CasFailed },
                )
            }
        };
        let pending = rng.chance(12);
        let out = if pending && rng.chance(70) {
            KvOutput::Unknown
        } else {
            out
        };
        ops.push(op(
            c,
            call,
            if pending { PENDING } else { ret },
            keys[key],
            o,
            out,
        ));
    }
    ops
}

#[test]
fn matches_brute_force_oracle() {
    let mut rng = Rng(0x5eed);
    let mut seen = [0usize; 2];
    let mut minimal_checked = 0;
    for _ in 0..4000 {
        let ops = random_history(&mut rng);
        let want = oracle(&ops, &roles_of(&ops));
        let r = check(&ops);
        let expected = if want {
            Verdict::Consistent
        } else {
            Verdict::Inconsistent
        };
        assert_eq!(r.verdict, expected, "{ops:#?}");
        seen[usize::from(want)] += 1;
        let Some(f) = r.failure else { continue };
        // The claim: within the prefix up to the culprit's return (later invocations left
        // out), these ops cannot be ordered even if every other completed op may take effect
        // anywhere or never (ops pending in the history stay as they were).
        let end = ops[f.culprit].ret;
        let prefix: Vec<Op> = ops.iter().filter(|o| o.call <= end).cloned().collect();
        let at: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].call <= end).collect();
        assert_eq!(f.prefix_len, prefix.len());
        let relaxed = |keep: &dyn Fn(usize) -> bool| -> Vec<Role> {
            at.iter()
                .map(|&i| match ops[i].ret {
                    PENDING => Role::Optional,
                    _ if keep(i) => Role::Strict,
                    _ => Role::Free,
                })
                .collect()
        };
        // The prefix itself fails, and one return earlier it does not.
        assert!(!oracle(&prefix, &roles_of(&prefix)), "prefix passes: {ops:#?}");
        assert!(!f.ops.is_empty());
        assert!(
            !oracle(&prefix, &relaxed(&|i| f.ops.contains(&i))),
            "explanation {:?} is consistent with the rest relaxed: {ops:#?}",
            f.ops
        );
        assert!(f.minimal, "small histories are always minimised: {ops:#?}");
        for &x in &f.ops {
            minimal_checked += 1;
            assert!(
                oracle(&prefix, &relaxed(&|i| i != x && f.ops.contains(&i))),
                "explanation {:?} claims minimality, but {x} is not needed: {ops:#?}",
                f.ops
            );
        }
    }
    assert!(
        seen[0] > 400 && seen[1] > 400,
        "both verdicts exercised: {seen:?}"
    );
    assert!(minimal_checked > 400);
}

/// A stale read: linearizability fails (the read began after the write completed), sequential
/// consistency holds (the reader is simply ordered before the write).
#[test]
fn a_stale_read_is_sequentially_consistent_but_not_linearizable() {
    let ops = vec![put(1, 0, 1, "x", "1,"), get(2, 2, 3, "x", "")];
    assert_eq!(check(&ops).verdict, Verdict::Consistent);
    let lin = crate::linearize::check(&KvModel, &ops, &mut Budget::new(1_000_000));
    assert_eq!(lin.verdict, crate::linearize::Verdict::NotLinearizable);
}

/// Within one client, order matters: reading the old value after one's own write is not
/// sequentially consistent.
#[test]
fn a_client_must_see_its_own_write() {
    let ops = vec![put(1, 0, 1, "x", "1,"), get(1, 2, 3, "x", "")];
    let r = check(&ops);
    assert_eq!(r.verdict, Verdict::Inconsistent);
    let f = r.failure.expect("explained");
    assert_eq!(f.ops, vec![0, 1]);
    assert!(
        f.clients.contains("c1: put(x, \"1,\"), then get(x) -> \"\""),
        "{}",
        f.clients
    );
}

/// Sequential consistency is not local (Herlihy & Wing §3.2): each key on its own can be
/// ordered, the two together cannot (Dekker's pattern, each client misses the other's write).
#[test]
fn not_local_dekker() {
    let ops = vec![
        put(1, 0, 1, "x", "1,"),
        get(1, 2, 3, "y", ""),
        put(2, 0, 1, "y", "1,"),
        get(2, 2, 3, "x", ""),
    ];
    for key in ["x", "y"] {
        let one: Vec<Op> = ops.iter().filter(|o| o.input.key == key).cloned().collect();
        assert_eq!(check(&one).verdict, Verdict::Consistent, "{key} alone");
    }
    let r = check(&ops);
    assert_eq!(r.verdict, Verdict::Inconsistent);
    let f = r.failure.expect("explained");
    assert_eq!(f.ops.len(), 4, "every op is needed: {:?}", f.ops);
    assert!(f.minimal);
    assert_eq!(f.clients.lines().count(), 2, "{}", f.clients);
}

/// Overlapping ops of one client (two lanes) are not ordered with each other.
#[test]
fn overlapping_ops_of_a_client_are_unordered() {
    // c1 writes x while it reads x; the read may come first.
    let ops = vec![put(1, 0, 5, "x", "1,"), get(1, 1, 2, "x", "")];
    assert_eq!(check(&ops).verdict, Verdict::Consistent);
}

/// An op whose outcome is unknown may take effect later than the client's next ops, or never.
#[test]
fn unknown_ops_are_optional_and_may_come_late() {
    let w = op(1, 0, PENDING, "x", KvOp::Put("1,".into()), KvOutput::Unknown);
    // The client's next read does not see it, another client later does.
    let ops = vec![w.clone(), get(1, 2, 3, "x", ""), get(2, 4, 5, "x", "1,")];
    assert_eq!(check(&ops).verdict, Verdict::Consistent);
    // But it cannot take effect before the client's earlier op.
    let ops = vec![
        get(1, 0, 1, "x", "1,"),
        op(1, 2, PENDING, "x", KvOp::Put("1,".into()), KvOutput::Unknown),
    ];
    assert_eq!(check(&ops).verdict, Verdict::Inconsistent);
}

/// A long, consistent history of many keys (a follower-read shape: readers lag behind the
/// writer) stays linear in cost; a small budget gives `Unknown`, not a wrong verdict.
#[test]
fn long_histories_and_the_budget() {
    let mut ops = Vec::new();
    let mut t = 0;
    for k in 0..300u64 {
        let key = format!("k{}", k % 20);
        let v = format!("{k},");
        ops.push(put(1, t, t + 1, &key, &v));
        // Readers see each write only some steps later.
        ops.push(get(
            2,
            t + 1,
            t + 2,
            &format!("k{}", k.saturating_sub(3) % 20),
            "",
        ));
        t += 3;
    }
    // Fix the readers' values: reader c2 sees the write made 3 writes earlier.
    for k in 0..300usize {
        let seen = k.checked_sub(3).map_or(String::new(), |j| {
            // last write of that key at or before j
            let key = j % 20;
            let last = (0..=j).rev().find(|&m| m % 20 == key).expect("j itself");
            format!("{last},")
        });
        let seen = if k < 3 && (k % 20) != 0 {
            String::new()
        } else {
            seen
        };
        ops[2 * k + 1].output = KvOutput::Value(seen);
    }
    let r = check(&ops);
    assert_eq!(r.verdict, Verdict::Consistent, "{:?}", r.failure);
    assert!(r.steps < 50_000, "near-linear search: {} steps", r.steps);
    let small = sequential::check_sequential_with(
        &KvModel,
        &dekker_chain(12),
        &mut Budget::new(5),
        &CheckOptions::default(),
        false,
    );
    assert_eq!(small.verdict, Verdict::Unknown);
    assert_eq!(small.exhausted, Some(crate::linearize::Exhausted::Steps));
}

/// Many clients each missing every other client's write: inconsistent, and costly to refute.
fn dekker_chain(n: u64) -> Vec<Op> {
    let mut ops = Vec::new();
    for c in 0..n {
        ops.push(put(c, 0, 1, &format!("k{c}"), "1,"));
        ops.push(get(c, 2, 3, &format!("k{}", (c + 1) % n), ""));
    }
    ops
}

#[test]
fn deterministic() {
    let mut rng = Rng(42);
    for _ in 0..200 {
        let ops = random_history(&mut rng);
        assert_eq!(check(&ops), check(&ops));
    }
}

/// A long history whose last read goes back in time: the explanation names that read as the
/// culprit and shows the end of the prefix (too long to minimise).
#[test]
fn long_failing_history_shows_where_it_breaks() {
    let mut ops = Vec::new();
    let mut t = 0;
    for k in 0..400u64 {
        ops.push(put(1, t, t + 1, "x", &format!("{k},")));
        ops.push(get(2, t + 1, t + 2, "x", &format!("{k},")));
        t += 3;
    }
    // c2 then reads an old value: its reads go backwards.
    ops.push(get(2, t, t + 1, "x", "7,"));
    let r = check(&ops);
    assert_eq!(r.verdict, Verdict::Inconsistent);
    let f = r.failure.expect("explained");
    assert_eq!(
        f.culprit,
        ops.len() - 1,
        "the backwards read ends the shortest failing prefix"
    );
    assert!(!f.minimal);
    assert!(f.ops.len() <= 25 && f.ops.contains(&f.culprit), "{:?}", f.ops);
    assert!(
        f.timeline
            .contains("get(x) -> \"7,\"   <-- no order gets past this"),
        "{}",
        f.timeline
    );
}
