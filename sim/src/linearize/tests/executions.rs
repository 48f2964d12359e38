//! Histories from real (sequential, then widened) executions, linearizable by
//! construction.

use super::*;

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
