//! Basic cases: register and kv semantics, partitions, budgets, determinism
//! and failure explanations.

use super::*;

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
