//! `dsim fuzz`: the answer does not depend on `--jobs` or on sharding, failures replay from the
//! files it writes, and Ctrl-C keeps what was found.

mod common;
use common::{dsim, temp_dir};
use std::collections::BTreeSet;

fn fuzz_json(args: &[&str]) -> (u8, serde_json::Value) {
    let mut all = vec!["fuzz"];
    all.extend_from_slice(args);
    all.push("--json");
    let (code, out, err) = dsim(&all);
    assert!(code != 2, "bad input? {err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    (code, v)
}

/// (seed, check, trace hash) of each failure.
fn failures(v: &serde_json::Value) -> Vec<(u64, String, String)> {
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["seed"].as_u64().expect("seed"),
                f["check"].as_str().expect("check").to_string(),
                f["trace_hash"].as_str().expect("hash").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_failures_do_not_depend_on_jobs() {
    let base = ["single/fuzz", "--seeds", "1..41", "--bug", "read-unsynced"];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        fuzz_json(&a)
    };
    let (c1, one) = run(&["--jobs", "1", "--keep-going"]);
    let (c2, two) = run(&["--jobs", "2", "--keep-going"]);
    assert_eq!(c1, 1, "read-unsynced fails some seed of 1..41");
    assert_eq!(c2, 1);
    assert_eq!(failures(&one), failures(&two));
    assert_eq!(one["seeds_run"], 40);
    // Without --keep-going: the lowest failing seed, whatever the jobs.
    let (_, first1) = run(&["--jobs", "1"]);
    let (_, first2) = run(&["--jobs", "2"]);
    assert_eq!(failures(&first1), failures(&one)[..1].to_vec());
    assert_eq!(failures(&first2), failures(&one)[..1].to_vec());
    assert_eq!(first1["seeds_run"], failures(&one)[0].0);
    assert_eq!(first1["seeds_run"], first2["seeds_run"]);
}

#[test]
fn shards_together_are_the_whole_range() {
    let args = [
        "broadcast/fuzz",
        "--seeds",
        "3..33",
        "--bug",
        "ack-before-store",
        "--keep-going",
    ];
    let (_, whole) = fuzz_json(&args);
    let mut union: BTreeSet<(u64, String, String)> = BTreeSet::new();
    let mut ran = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut a = args.to_vec();
        a.extend_from_slice(&["--shard", &shard, "--jobs", "1"]);
        let (_, part) = fuzz_json(&a);
        for f in failures(&part) {
            assert_eq!(f.0 % 3, i, "seed {} is not in shard {shard}", f.0);
            assert!(union.insert(f), "a seed in two shards");
        }
        ran += part["seeds_run"].as_u64().expect("seeds_run");
    }
    assert_eq!(ran, 30);
    assert_eq!(union.into_iter().collect::<Vec<_>>(), failures(&whole));
    assert!(!failures(&whole).is_empty());
}

#[test]
fn a_written_failure_replays_to_the_same_check_and_trace() {
    let dir = temp_dir("fuzz-out");
    let out = dir.to_string_lossy().into_owned();
    let (code, v) = fuzz_json(&[
        "raft/fuzz",
        "--seeds",
        "1..40",
        "--bug",
        "accept-stale-term-append",
        "--out",
        &out,
    ]);
    assert_eq!(code, 1);
    let f = &v["failures"][0];
    let file = f["file"].as_str().expect("a file per failure");
    let text = std::fs::read_to_string(file).expect("written");
    assert!(text.starts_with("# Found by dsim fuzz"), "{text}");
    let (rc, run, err) = dsim(&["run", file, "--json"]);
    assert_eq!(rc, 1, "{err}");
    let r: serde_json::Value = serde_json::from_str(&run).expect("json");
    assert_eq!(r["trace_hash"], f["trace_hash"], "the file replays the same run");
    let failed: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(failed.contains(&f["check"].as_str().expect("check")));
    // The campaign's JSON is beside it.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("fuzz.json")).expect("fuzz.json"))
            .expect("json");
    assert_eq!(failures(&saved), failures(&v));
}

#[test]
fn bad_ranges_shards_and_bugs_are_exit_2() {
    for args in [
        vec!["fuzz", "single/fuzz", "--seeds", "5..5"],
        vec!["fuzz", "single/fuzz", "--seeds", "x"],
        vec!["fuzz", "single/fuzz", "--seeds", "1..9", "--shard", "3/3"],
        vec!["fuzz", "single/fuzz", "--seeds", "1..9", "--bug", "no-such-bug"],
        vec!["fuzz", "single/fuzz", "--seeds", "1..9", "--jobs", "0"],
    ] {
        let (code, out, err) = dsim(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_keeps_the_failures_found_so_far() {
    use std::process::{Command, Stdio};
    let dir = temp_dir("fuzz-sigint");
    let out = dir.join("found");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsim-child"))
        .args([
            "fuzz",
            "single/fuzz",
            "--seeds",
            "1..100000",
            "--bug",
            "no-dedup",
            "--keep-going",
            "--json",
        ])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dsim");
    // Wait for the first failure on disk (no-dedup fails nearly every seed), then interrupt.
    let found = (0..600).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::fs::read_dir(&out).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("seed-"))
        })
    });
    if !found {
        let _ = child.kill();
        let _ = child.wait();
        panic!("no failure written within a minute");
    }
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-INT", &pid]).status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no `kill` to send SIGINT with");
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let output = child.wait_with_output().expect("dsim ends");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(v["interrupted"], true);
    let n = v["failures"].as_array().expect("failures").len();
    assert!(n > 0 && (n as u64) < 99_999);
    for f in v["failures"].as_array().expect("failures") {
        let file = f["file"].as_str().expect("file");
        assert!(
            std::path::Path::new(file).exists(),
            "{file} was reported but not written"
        );
    }
}

/// Every failure of a campaign replays from its file: the same check, the same trace.
fn replays_each(v: &serde_json::Value) -> usize {
    let mut n = 0;
    for f in v["failures"].as_array().expect("failures") {
        let file = f["file"].as_str().expect("a file per failure");
        let (rc, run, err) = dsim(&["run", file, "--json"]);
        assert_eq!(rc, 1, "{file}: {err}");
        let r: serde_json::Value = serde_json::from_str(&run).expect("json");
        assert_eq!(r["trace_hash"], f["trace_hash"], "{file} replays another run");
        n += 1;
    }
    n
}

#[test]
fn swarm_draws_per_seed_ignores_jobs_and_its_files_pin_the_draws() {
    let dir = temp_dir("fuzz-swarm");
    let out = dir.to_string_lossy().into_owned();
    let args = [
        "single/fuzz",
        "--seeds",
        "1..31",
        "--bug",
        "ack-before-sync",
        "--swarm",
        "--keep-going",
    ];
    let run = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        fuzz_json(&a)
    };
    let (code, one) = run(&["--jobs", "1", "--out", &out]);
    let (_, two) = run(&["--jobs", "2"]);
    assert_eq!(code, 1);
    assert_eq!(one["search"], "swarm");
    assert_eq!(failures(&one), failures(&two));
    // Swarm runs differ from plain ones: each seed ran a variant.
    let (_, plain) = fuzz_json(&[
        "single/fuzz",
        "--seeds",
        "1..31",
        "--bug",
        "ack-before-sync",
        "--keep-going",
    ]);
    assert_ne!(failures(&one), failures(&plain));
    for f in one["failures"].as_array().expect("failures") {
        let drawn = f["swarm"].as_array().expect("the draws are listed");
        assert!(!drawn.is_empty());
        let text = std::fs::read_to_string(f["file"].as_str().expect("file")).expect("written");
        assert!(text.contains("Drawn by --swarm"), "{text}");
    }
    assert!(replays_each(&one) > 0);
}

#[test]
fn guided_search_ignores_jobs_and_its_mutants_replay() {
    let dir = temp_dir("fuzz-guided");
    let out = dir.to_string_lossy().into_owned();
    let args = [
        "raft/fuzz",
        "--seeds",
        "1..81",
        "--bug",
        "apply-before-commit",
        "--guided",
        "--keep-going",
    ];
    let run = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        fuzz_json(&a)
    };
    let (code, two) = run(&["--jobs", "2", "--out", &out]);
    let (_, one) = run(&["--jobs", "1"]);
    assert_eq!(code, 1);
    assert_eq!(two["search"], "guided");
    assert_eq!(
        failures(&one),
        failures(&two),
        "--jobs changed the guided campaign"
    );
    assert_eq!(one["corpus"], two["corpus"]);
    assert!(
        two["corpus"]["schedules"].as_u64().expect("corpus") > 1,
        "{}",
        two["corpus"]
    );
    let mutants: Vec<&serde_json::Value> = two["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .filter(|f| f["mutated"].is_string())
        .collect();
    assert!(
        !mutants.is_empty(),
        "no mutant failed in 1..81: {}",
        two["failures"]
    );
    assert!(replays_each(&two) >= mutants.len());
    // A mutant's file shrinks as it is (its seed and bugs are pinned; no --seed needed).
    let file = mutants[0]["file"].as_str().expect("file");
    let min = dir.join("min.toml");
    let min = min.to_str().expect("utf-8");
    let (code, _, err) = dsim(&["shrink", file, "--out", min, "--max-steps", "100"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = dsim(&["run", min]);
    assert_eq!(code, 1, "the shrunk mutant fails: {err}");
}

#[test]
fn guided_swarm_ignores_jobs_and_its_files_replay() {
    let dir = temp_dir("fuzz-guided-swarm");
    let out = dir.to_string_lossy().into_owned();
    let args = [
        "raft/fuzz-5",
        "--seeds",
        "1..65",
        "--bug",
        "apply-before-commit",
        "--guided",
        "--swarm",
        "--keep-going",
    ];
    let run = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(extra);
        fuzz_json(&a)
    };
    let (code, two) = run(&["--jobs", "2", "--out", &out]);
    let (_, one) = run(&["--jobs", "1"]);
    assert_eq!(code, 1);
    assert_eq!(two["search"], "guided+swarm");
    assert_eq!(failures(&one), failures(&two), "--jobs changed the campaign");
    assert_eq!(one["corpus"], two["corpus"]);
    let list = two["failures"].as_array().expect("failures");
    // Fresh cases are swarm variants (their draws listed); mutants name their parent.
    assert!(list.iter().any(|f| f["swarm"].is_array()), "{}", two["failures"]);
    assert!(replays_each(&two) >= list.len());
}

#[test]
fn a_bad_swarm_table_is_exit_2_at_its_line() {
    let dir = temp_dir("fuzz-bad-swarm");
    let base = std::fs::read_to_string(common::repo_root().join("scenarios/single/fuzz.toml")).expect("read");
    // `keep` sits on the file's last line but one.
    let keep_line = format!(":{}:", base.lines().count() + 3);
    for (table, needle) in [
        ("[swarm]\nkeep = 1.5\n", keep_line.as_str()),
        (
            "[swarm]\nchoose = { \"workload.clients\" = [] }\n",
            "list at least one value",
        ),
        (
            "[swarm]\nchoose = { \"workload.clients\" = [2, -1] }\n",
            "choose `workload.clients` = -1",
        ),
        ("[swarm]\nrate = 2\n", "rate"),
    ] {
        let file = dir.join("bad.toml");
        std::fs::write(&file, format!("{base}\n{table}")).expect("write");
        let (code, out, err) = dsim(&[
            "fuzz",
            file.to_str().expect("utf-8"),
            "--seeds",
            "1..3",
            "--swarm",
        ]);
        assert_eq!(code, 2, "{table}: {out}{err}");
        assert!(err.contains(needle), "{table}: {err}");
    }
}

/// Figure 8 needs one-entry appends and leaders deposed at the wrong moment; `fuzz-no-crash`
/// was not written for it (batching is on, nothing crashes), yet swarm's draws (one-entry
/// appends or `short-append`, faults aimed at the leader) reach it, and the failure shrinks to
/// a smaller file that fails the same check.
#[test]
fn swarm_finds_figure_8_in_a_scenario_without_crashes_and_it_shrinks() {
    let dir = temp_dir("fuzz-figure8-swarm");
    let out = dir.to_string_lossy().into_owned();
    let (code, v) = fuzz_json(&[
        "raft/fuzz-no-crash",
        "--seeds",
        "1..1001",
        "--bug",
        "commit-previous-term",
        "--swarm",
        "--jobs",
        "2",
        "--out",
        &out,
    ]);
    assert_eq!(code, 1, "not found in 1,000 swarm seeds: {v}");
    let f = &v["failures"][0];
    let check = f["check"].as_str().expect("check");
    assert!(
        [
            "leader-completeness",
            "committed-entry-kept",
            "state-machine-safety",
            "linearizable"
        ]
        .contains(&check),
        "{check}"
    );
    let file = f["file"].as_str().expect("file");
    let min = dir.join("min.toml");
    let min = min.to_str().expect("utf-8");
    let (code, json, err) = dsim(&["shrink", file, "--out", min, "--max-steps", "300", "--json"]);
    assert_eq!(code, 0, "{err}");
    let s: serde_json::Value = serde_json::from_str(&json).expect("json");
    let size = |w: &str| {
        s[format!("faults_{w}")].as_u64().expect("faults") + s[format!("ops_{w}")].as_u64().expect("ops")
    };
    assert!(size("after") < size("before"), "nothing removed: {s}");
    let (code, run, _) = dsim(&["run", min, "--json"]);
    assert_eq!(code, 1);
    let r: serde_json::Value = serde_json::from_str(&run).expect("json");
    let failed: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        failed.contains(&check),
        "the shrunk file fails {failed:?}, not {check}"
    );
}
