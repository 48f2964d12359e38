//! Determinism is the product: the same scenario and seed give the same trace hash, run after
//! run, with or without output files, in debug and in release (`.ci/run` runs this file in both
//! profiles against the same snapshots).

mod common;
use common::{dsim, temp_dir};
use scenarios::runner::Scenario;

/// Bundled scenarios, cut to at most 20 simulated seconds so the debug build stays quick.
fn bundled() -> Vec<Box<dyn Scenario>> {
    scenarios::bundled::BUNDLED
        .iter()
        .map(|(path, text)| {
            let mut s = scenarios::load::load_str(path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
            common::cut_to_20s(s.as_mut());
            s
        })
        .collect()
}

fn hash(s: &dyn Scenario, seed: u64) -> String {
    run_with(s, seed).trace_hash
}

/// Runs a copy of `s` with another seed.
fn run_with(s: &dyn Scenario, seed: u64) -> sim::RunReport {
    let mut boxed = scenarios::load::load_str(s.path(), &source_of(s.path())).expect("loads");
    *boxed.config_mut() = s.config().clone();
    boxed.config_mut().seed = seed;
    boxed.run(sim::Outputs::default()).expect("runs")
}

fn source_of(path: &str) -> String {
    scenarios::bundled::find(path).expect("bundled").1.to_string()
}

#[test]
fn same_seed_same_hash_three_times_different_seed_different_hash() {
    for s in bundled() {
        let a = hash(s.as_ref(), 1);
        assert_eq!(a, hash(s.as_ref(), 1), "{}: run 2 differs", s.path());
        assert_eq!(a, hash(s.as_ref(), 1), "{}: run 3 differs", s.path());
        // Fully scripted scenarios (constant latencies, fixed timeouts, exact clocks) are the
        // same run for every seed, on purpose.
        if s.path() != "scenarios/raft/figure8.toml" {
            assert_ne!(
                a,
                hash(s.as_ref(), 2),
                "{}: seeds 1 and 2 give the same trace",
                s.path()
            );
        }
    }
}

#[test]
fn bundled_scenario_hashes_are_stable() {
    // Snapshotted: a change here means every recorded seed now replays differently. If the
    // change is intended, review with `cargo insta review` and say so in the commit.
    let mut all = serde_json::Map::new();
    for s in bundled() {
        let r = run_with(s.as_ref(), s.config().seed);
        all.insert(
            s.path().to_string(),
            serde_json::json!({
                "seed": r.seed,
                "trace_hash": r.trace_hash,
                "events": r.events,
                "messages": r.messages,
                "ops": r.ops,
                "violations": r.violations,
            }),
        );
    }
    insta::assert_json_snapshot!("bundled_hashes", all);
}

#[test]
fn output_files_do_not_change_the_hash() {
    let dir = temp_dir("determinism-out");
    let d = dir.to_string_lossy().into_owned();
    let (c1, plain, _) = dsim(&["run", "single/fuzz", "--seed", "5", "--json"]);
    let (c2, with_out, _) = dsim(&["run", "single/fuzz", "--seed", "5", "--json", "--out", &d]);
    assert_eq!(c1, c2);
    let a: serde_json::Value = serde_json::from_str(&plain).expect("json");
    let b: serde_json::Value = serde_json::from_str(&with_out).expect("json");
    assert_eq!(a["trace_hash"], b["trace_hash"]);
    assert_eq!(a["events"], b["events"]);
    for f in ["trace.jsonl", "trace.txt", "history.jsonl", "result.json"] {
        let p = dir.join(f);
        assert!(
            p.metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{f} missing or empty"
        );
    }
    // result.json is the same object `--json` printed (but for wall time).
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).expect("read")).expect("json");
    let mut printed = b.clone();
    saved["wall_ms"] = 0.into();
    printed["wall_ms"] = 0.into();
    assert_eq!(saved, printed);
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn run_json_has_the_contract_keys() {
    let (code, out, _) = dsim(&["run", "single/basic", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("exactly one JSON object on stdout");
    for k in [
        "scenario",
        "protocol",
        "seed",
        "nodes",
        "sim_time_ns",
        "events",
        "messages",
        "ops",
        "checks",
        "violations",
        "trace_hash",
        "wall_ms",
    ] {
        assert!(v.get(k).is_some(), "missing key {k}");
    }
    for k in ["sent", "delivered", "dropped", "duplicated"] {
        assert!(v["messages"].get(k).is_some(), "messages.{k}");
    }
    for k in ["invoked", "ok", "fail", "info"] {
        assert!(v["ops"].get(k).is_some(), "ops.{k}");
    }
    for c in v["checks"].as_array().expect("array") {
        for k in ["name", "kind", "status", "detail"] {
            assert!(c.get(k).is_some(), "checks[].{k}");
        }
        let kind = c["kind"].as_str().expect("str");
        assert!(["always", "sometimes", "eventually", "history"].contains(&kind));
        let status = c["status"].as_str().expect("str");
        assert!(["pass", "fail", "unknown", "skipped"].contains(&status));
    }
}

#[test]
fn check_determinism_runs_twice_and_agrees_with_a_plain_run() {
    for (scenario, bug) in [
        ("single/fuzz", None),
        ("raft/fuzz", Some("accept-stale-term-append")),
        ("paxos/fuzz", Some("accept-below-promise")),
        ("zab/fuzz", Some("no-truncate")),
    ] {
        let mut args = vec!["run", scenario, "--seed", "11", "--json"];
        if let Some(b) = bug {
            args.extend_from_slice(&["--bug", b]);
        }
        let (plain_code, plain, _) = dsim(&args);
        args.push("--check-determinism");
        let (code, out, err) = dsim(&args);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        let plain: serde_json::Value = serde_json::from_str(&plain).expect("json");
        assert_eq!(v["determinism"]["deterministic"], true, "{scenario}: {err}");
        assert_eq!(v["determinism"]["trace_hashes"][0], plain["trace_hash"]);
        assert_eq!(v["determinism"]["trace_hashes"][1], plain["trace_hash"]);
        assert_eq!(code, plain_code, "{scenario}: the run's own verdict stands");
        assert!(err.contains("the same trace twice"), "{err}");
    }
    // It writes nothing, so --out makes no sense with it.
    let (code, _, _) = dsim(&["run", "single/basic", "--check-determinism", "--out", "x"]);
    assert_eq!(code, 2);
}
