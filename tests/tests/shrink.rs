//! `dsim shrink`: the output is smaller, replays to the same failing check, and does not depend
//! on `--jobs`; a seed that fails nothing is a usage error.

mod common;
use common::{dsim, temp_dir};

/// `dsim shrink ... --json`: (exit code, report, stderr).
fn shrink(args: &[&str]) -> (u8, serde_json::Value, String) {
    let mut all = vec!["shrink"];
    all.extend_from_slice(args);
    all.push("--json");
    let (code, out, err) = dsim(&all);
    let v = if code == 0 {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    } else {
        serde_json::Value::Null
    };
    (code, v, err)
}

/// The lowest failing seed of `scenario` with `bug`, found by `dsim fuzz`.
fn lowest_failing(scenario: &str, bug: &str) -> u64 {
    let (code, out, err) = dsim(&["fuzz", scenario, "--seeds", "1..201", "--bug", bug, "--json"]);
    assert_eq!(code, 1, "{bug} found in 1..201: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    v["failures"][0]["seed"].as_u64().expect("seed")
}

/// Runs `file` and returns (exit code, names of the failed checks).
fn replay(file: &std::path::Path) -> (u8, Vec<String>) {
    let (code, out, err) = dsim(&["run", file.to_str().expect("utf-8"), "--json"]);
    assert!(code != 2, "{}: {err}", file.display());
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let failed = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    (code, failed)
}

#[test]
fn a_shrunk_file_is_smaller_replays_the_same_check_and_ignores_jobs() {
    let dir = temp_dir("shrink-jobs");
    let seed = lowest_failing("single/fuzz", "read-unsynced").to_string();
    let mut files = Vec::new();
    let mut reports = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.join(format!("min-{jobs}.toml"));
        let (code, mut v, err) = shrink(&[
            "single/fuzz",
            "--seed",
            &seed,
            "--bug",
            "read-unsynced",
            "--jobs",
            jobs,
            "--out",
            out.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, 0, "{err}");
        let total_before = v["faults_before"].as_u64().unwrap() + v["ops_before"].as_u64().unwrap();
        let total_after = v["faults_after"].as_u64().unwrap() + v["ops_after"].as_u64().unwrap();
        assert!(total_after < total_before, "nothing removed: {v}");
        assert!(v["events_after"].as_u64() < v["events_before"].as_u64(), "{v}");
        let check = v["check"].as_str().expect("check").to_string();
        let (rc, failed) = replay(&out);
        assert_eq!(rc, 1, "the shrunk file fails");
        assert!(failed.contains(&check), "{failed:?} lacks {check}");
        let text = std::fs::read_to_string(&out).expect("written");
        assert!(text.starts_with("# Shrunk by dsim shrink"), "a commented header");
        assert_eq!(
            text.matches("at = ").count() as u64,
            total_after,
            "the file holds what the JSON says"
        );
        for k in ["wall_ms", "output"] {
            v.as_object_mut().expect("object").remove(k);
        }
        files.push(text.replace(out.to_str().unwrap(), "OUT"));
        reports.push(v);
    }
    assert_eq!(reports[0], reports[1], "--jobs changed the search");
    assert_eq!(files[0], files[1], "--jobs changed the file");
}

#[test]
fn a_step_budget_stops_the_search_with_a_file_that_still_fails() {
    let dir = temp_dir("shrink-budget");
    let seed = lowest_failing("raft/fuzz", "no-up-to-date-check").to_string();
    let out = dir.join("min.toml");
    let (code, v, err) = shrink(&[
        "raft/fuzz",
        "--seed",
        &seed,
        "--bug",
        "no-up-to-date-check",
        "--max-steps",
        "5",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["stopped_by"], "steps");
    assert!(v["steps"].as_u64().expect("steps") <= 5, "{v}");
    let (rc, failed) = replay(&out);
    assert_eq!(rc, 1);
    assert!(failed.iter().any(|c| c == v["check"].as_str().unwrap()));
}

#[test]
fn shrinking_a_seed_that_passes_is_a_usage_error() {
    let dir = temp_dir("shrink-pass");
    let out = dir.join("min.toml");
    let (code, _, err) = shrink(&[
        "single/fuzz",
        "--seed",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("fails no check"), "{err}");
    assert!(!out.exists(), "nothing written");
    let (code, _, err) = shrink(&[
        "single/fuzz",
        "--seed",
        "1",
        "--bug",
        "no-such-bug",
        "--out",
        "x.toml",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-bug"), "{err}");
}
