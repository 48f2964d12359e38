//! Parsers of the history formats, their errors and format detection;
//! explaining a dsim history from the environment.

use super::*;

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
