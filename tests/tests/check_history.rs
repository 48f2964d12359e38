//! `dsim check-history` end to end: verdicts and exit codes on the shared test data, on a history
//! dsim itself wrote, and clear errors (file:line, exit 2) on bad input.

mod common;
use common::{dsim, temp_dir};
use std::path::PathBuf;

/// Porcupine's histories in the shared test data.
fn data() -> PathBuf {
    common::shared_data().join("histories/porcupine")
}

fn check(file: &str, model: &str) -> (u8, serde_json::Value) {
    let (code, out, err) = dsim(&["check-history", file, "--model", model, "--json"]);
    assert!(code != 2, "{file}: {err}");
    (
        code,
        serde_json::from_str(&out).expect("one JSON object on stdout"),
    )
}

#[test]
fn verdicts_and_exit_codes_on_porcupine_files() {
    let d = data();
    let s = |f: &str| d.join(f).to_string_lossy().into_owned();
    let (code, v) = check(&s("etcd/etcd_002.log"), "register");
    assert_eq!((code, v["verdict"].as_str()), (0, Some("linearizable")));
    let (code, v) = check(&s("etcd/etcd_000.log"), "register");
    assert_eq!((code, v["verdict"].as_str()), (1, Some("not-linearizable")));
    assert!(
        v["failure"]["ops"].as_array().is_some_and(|a| !a.is_empty()),
        "a minimal sub-history"
    );
    let (code, v) = check(&s("kv/c10-bad.txt"), "kv");
    assert_eq!((code, v["verdict"].as_str()), (1, Some("not-linearizable")));
    for key in ["verdict", "ops", "check_ms", "wall_ms"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let (code, _) = check(&s("etcd/etcd_095.log"), "register");
    assert_eq!(code, 0, "an empty history is linearizable");
}

#[test]
fn a_budget_that_runs_out_is_inconclusive() {
    let f = data().join("kv/c50-bad.txt");
    let (code, out, _) = dsim(&[
        "check-history",
        &f.to_string_lossy(),
        "--model",
        "kv",
        "--budget",
        "10",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!((code, v["verdict"].as_str()), (3, Some("unknown")));
}

#[test]
fn dsim_checks_its_own_history_files() {
    let dir = temp_dir("check-own-history");
    let d = dir.to_string_lossy().into_owned();
    let (code, _, _) = dsim(&["run", "single/fuzz", "--seed", "3", "--out", &d]);
    assert_eq!(code, 0);
    let h = dir.join("history.jsonl").to_string_lossy().into_owned();
    let (code, v) = check(&h, "kv");
    assert_eq!((code, v["verdict"].as_str()), (0, Some("linearizable")));
    // With the planted bug the same command finds the violation in the file.
    let (code, _, _) = dsim(&[
        "run",
        "single/fuzz",
        "--seed",
        "1",
        "--bug",
        "ack-before-sync",
        "--out",
        &d,
    ]);
    assert_eq!(code, 1);
    let (code, v) = check(&h, "kv");
    assert_eq!((code, v["verdict"].as_str()), (1, Some("not-linearizable")));
}

#[test]
fn malformed_histories_name_the_line() {
    let dir = temp_dir("bad-history");
    let f = dir.join("h.log");
    std::fs::write(
        &f,
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:frobnicate\t3\n",
    )
    .expect("write");
    let p = f.to_string_lossy().into_owned();
    let (code, _, err) = dsim(&["check-history", &p, "--model", "register"]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{p}:2")), "{err}");
    let (code, _, err) = dsim(&["check-history", "no/such/file.log", "--model", "kv"]);
    assert_eq!(code, 2);
    assert!(err.contains("no such file"), "{err}");
    let (code, _, err) = dsim(&["check-history", &p, "--model", "kv"]);
    assert_eq!(code, 2, "a register log does not fit the kv model: {err}");
}

/// `--consistency sequential` on histories dsim wrote: ZooKeeper-style local reads pass; with
/// the zxid check left out a client reads back in time, and the failure shows it per client.
#[test]
fn sequential_consistency_of_follower_reads() {
    let check_seq = |bug: Option<&str>, name: &str| {
        let dir = temp_dir(name);
        let out = dir.to_string_lossy().into_owned();
        let mut args = vec!["run", "zab/follower-reads", "--seed", "3", "--out", out.as_str()];
        if let Some(b) = bug {
            args.extend_from_slice(&["--bug", b]);
        }
        let (code, _, err) = dsim(&args);
        assert!(code == 0 || code == 1, "{err}");
        let file = dir.join("history.jsonl").to_string_lossy().into_owned();
        let (code, out, err) = dsim(&[
            "check-history",
            &file,
            "--model",
            "kv",
            "--consistency",
            "sequential",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
        (code, v)
    };
    let (code, v) = check_seq(None, "seq-ok");
    assert_eq!(
        (code, v["verdict"].as_str()),
        (0, Some("sequentially-consistent")),
        "{v}"
    );
    assert_eq!(v["consistency"], "sequential");
    let (code, v) = check_seq(Some("follower-read-without-zxid-check"), "seq-bug");
    assert_eq!(
        (code, v["verdict"].as_str()),
        (1, Some("not-sequentially-consistent")),
        "{v}"
    );
    assert!(
        v["failure"]["clients"]
            .as_str()
            .is_some_and(|c| c.starts_with('c')),
        "{v}"
    );
}
