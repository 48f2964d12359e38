//! The bug zoo. Every planted bug of every registered protocol is *found* by `dsim fuzz`: over
//! the protocol's `fuzz.toml` and seeds 1..1001 some seed fails, and a check the bug declares it
//! breaks is among its failures; `dsim shrink` then makes that seed's run smaller, and the file it
//! writes replays to the same failing check. Nothing here knows which seed; the correct protocols
//! fuzz clean over the first seeds with every fault kind their scenario enables.

mod common;
use common::{dsim, temp_dir};

/// Seeds each bug is hunted over.
const SEEDS: &str = "1..1001";
/// Seeds the correct protocols must pass.
const CLEAN_SEEDS: &str = "1..61";

/// `dsim fuzz PROTOCOL/fuzz --seeds SEEDS [--bug BUG] --json`: (exit code, report).
fn fuzz(protocol: &str, seeds: &str, bug: Option<&str>) -> (u8, serde_json::Value) {
    let scenario = format!("{protocol}/fuzz");
    let mut args = vec![
        "fuzz",
        scenario.as_str(),
        "--seeds",
        seeds,
        "--jobs",
        "2",
        "--json",
    ];
    if let Some(b) = bug {
        args.extend_from_slice(&["--bug", b]);
    }
    let (code, out, err) = dsim(&args);
    assert!(code == 0 || code == 1, "{protocol} {bug:?}: exit {code}: {err}");
    (code, serde_json::from_str(&out).expect("one JSON object"))
}

/// Fuzzes for the bug; returns (seed, failed check names) of the lowest failing seed.
fn hunt(protocol: &str, bug: &str) -> Option<(u64, Vec<String>)> {
    let (code, v) = fuzz(protocol, SEEDS, Some(bug));
    if code == 0 {
        return None;
    }
    let f = &v["failures"][0];
    let checks = f["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    Some((f["seed"].as_u64().expect("seed"), checks))
}

fn every_bug_of(protocol: &str) {
    let info = protocols::catalog()
        .into_iter()
        .find(|p| p.name == protocol)
        .expect("registered");
    assert!(info.bugs.len() >= 3, "{protocol} has fewer than 3 planted bugs");
    for bug in &info.bugs {
        let (seed, checks) = hunt(protocol, bug.name)
            .unwrap_or_else(|| panic!("{protocol} --bug {}: not found in seeds {SEEDS}", bug.name));
        assert!(
            checks.iter().any(|c| bug.breaks.contains(&c.as_str())),
            "{protocol} --bug {} (seed {seed}) failed {checks:?}, expected one of {:?}",
            bug.name,
            bug.breaks
        );
        shrinks_and_replays(protocol, bug.name, seed);
        // The checks it names exist.
        for c in bug.breaks {
            let known = info
                .checks
                .iter()
                .chain(&info.workload.checks)
                .any(|d| d.name == *c);
            assert!(
                known,
                "{protocol} --bug {}: `{c}` is not a check of {protocol}",
                bug.name
            );
        }
    }
}

/// Every planted bug of `protocol` is also found over seeds 1..1001 of `scenario`, a fuzz
/// scenario of another shape that was not adjusted per bug.
fn found_in_another_shape(protocol: &str, scenario: &str) {
    let info = protocols::catalog()
        .into_iter()
        .find(|p| p.name == protocol)
        .expect("registered");
    for bug in &info.bugs {
        let (code, out, err) = dsim(&[
            "fuzz", scenario, "--seeds", SEEDS, "--jobs", "2", "--bug", bug.name, "--json",
        ]);
        assert_eq!(
            code, 1,
            "{scenario} --bug {}: not found in seeds {SEEDS}: {err}",
            bug.name
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        let checks = v["failures"][0]["checks"].as_array().expect("checks").clone();
        assert!(
            checks
                .iter()
                .any(|c| bug.breaks.contains(&c.as_str().unwrap_or(""))),
            "{scenario} --bug {} failed {checks:?}",
            bug.name
        );
    }
}

/// Shrinks the failing seed (a bounded search) and replays the file it writes.
fn shrinks_and_replays(protocol: &str, bug: &str, seed: u64) {
    let dir = temp_dir(&format!("zoo-{protocol}-{bug}"));
    let out = dir.join("min.toml");
    let out_s = out.to_str().expect("utf-8");
    let scenario = format!("{protocol}/fuzz");
    let seed_s = seed.to_string();
    let (code, json, err) = dsim(&[
        "shrink",
        &scenario,
        "--seed",
        &seed_s,
        "--bug",
        bug,
        "--out",
        out_s,
        "--max-steps",
        "1500",
        "--jobs",
        "2",
        "--json",
    ]);
    assert_eq!(
        code, 0,
        "{protocol} --bug {bug} seed {seed}: shrink failed: {err}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("one JSON object");
    let check = v["check"].as_str().expect("check");
    let (code, run, err) = dsim(&["run", out_s, "--json"]);
    assert_eq!(
        code, 1,
        "{protocol} --bug {bug}: the shrunk file does not fail: {err}"
    );
    let run: serde_json::Value = serde_json::from_str(&run).expect("one JSON object");
    let failed = run["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .any(|c| c["name"] == check && c["status"] == "fail");
    assert!(
        failed,
        "{protocol} --bug {bug}: the shrunk file does not fail `{check}`"
    );
    let before = v["faults_before"].as_u64().unwrap() + v["ops_before"].as_u64().unwrap();
    let after = v["faults_after"].as_u64().unwrap() + v["ops_after"].as_u64().unwrap();
    assert!(after <= before, "{v}");
}

#[test]
fn single_bugs_are_found() {
    every_bug_of("single");
}

#[test]
fn raft_bugs_are_found() {
    every_bug_of("raft");
}

#[test]
fn paxos_bugs_are_found() {
    every_bug_of("paxos");
    found_in_another_shape("paxos", "paxos/fuzz-5");
}

#[test]
fn zab_bugs_are_found() {
    every_bug_of("zab");
    found_in_another_shape("zab", "zab/fuzz-5");
}

#[test]
fn primary_backup_bugs_are_found() {
    every_bug_of("primary-backup");
    found_in_another_shape("primary-backup", "primary-backup/fuzz-5");
}

#[test]
fn broadcast_bugs_are_found() {
    every_bug_of("broadcast");
}

#[test]
fn every_registered_protocol_is_hunted_here() {
    // A new protocol needs its own `..._bugs_are_found` test above (one per protocol, so they
    // run in parallel); this fails until it has one.
    let source = include_str!("planted_bugs.rs");
    for name in protocols::NAMES {
        assert!(
            source.contains(&format!("every_bug_of(\"{name}\")")),
            "add a test calling every_bug_of(\"{name}\")"
        );
    }
}

#[test]
fn the_correct_protocols_fuzz_clean() {
    for protocol in protocols::NAMES {
        let (code, v) = fuzz(protocol, CLEAN_SEEDS, None);
        assert_eq!(code, 0, "{protocol}: {}", v["failures"]);
        assert_eq!(v["seeds_run"], 60);
    }
}
