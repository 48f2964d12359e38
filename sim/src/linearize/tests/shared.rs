//! Checks of the shared reference histories (Porcupine's etcd and kv logs)
//! against their expected verdicts.

use super::*;

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
