//! Exports of a run (`dsim run --out`, `dsim report`): the history round-trips through
//! `dsim check-history` in the EDN format, Porcupine's JSON keeps a client's order, the Chrome
//! trace is well formed, the OpenMetrics pass promtool, and each export is snapshotted on a
//! small fixed run.

mod common;
use common::{dsim, run_out, temp_dir};
use serde_json::Value;
use std::path::Path;

fn verdict(file: &Path, format: &str) -> (String, u64) {
    let f = file.to_string_lossy().into_owned();
    let (_, out, err) = dsim(&["check-history", &f, "--model", "kv", "--format", format, "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (
        v["verdict"].as_str().unwrap().to_string(),
        v["ops"].as_u64().unwrap(),
    )
}

/// The EDN export is the same history to the checker: the same verdict and operations, for a
/// correct run and for one that is not linearizable.
#[test]
fn the_edn_history_round_trips_through_check_history() {
    let ok = run_out("export-ok", "scenarios/raft/fuzz.toml", &["--seed", "3"]);
    // A stale read after two writes, and a compare-and-set that failed although the value was
    // what it expected: not linearizable (a run stops at its first violation, so its history
    // is rarely this clear).
    let bad = temp_dir("export-bad");
    std::fs::write(
        bad.join("history.jsonl"),
        r#"{"type":"invoke","process":0,"client":"c1","f":"write","key":"k1","value":1,"time_ns":1}
{"type":"ok","process":0,"client":"c1","f":"write","key":"k1","value":1,"time_ns":2}
{"type":"invoke","process":0,"client":"c1","f":"write","key":"k1","value":2,"time_ns":3}
{"type":"ok","process":0,"client":"c1","f":"write","key":"k1","value":2,"time_ns":4}
{"type":"invoke","process":1,"client":"c2","f":"read","key":"k1","value":null,"time_ns":5}
{"type":"ok","process":1,"client":"c2","f":"read","key":"k1","value":[1],"time_ns":6}
{"type":"invoke","process":1,"client":"c2","f":"cas","key":"k2","value":[0,3],"time_ns":7}
{"type":"fail","process":1,"client":"c2","f":"cas","key":"k2","value":[0,3],"time_ns":8}
"#,
    )
    .unwrap();
    let (code, _, err) = dsim(&["report", &bad.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let mut verdicts = Vec::new();
    for dir in [&ok, &bad] {
        let a = verdict(&dir.join("history.jsonl"), "jsonl");
        let b = verdict(&dir.join("history.edn"), "porcupine-kv");
        assert_eq!(a, b, "{}: the EDN export checks differently", dir.display());
        verdicts.push(a.0);
    }
    assert_eq!(verdicts[0], "linearizable");
    assert_eq!(
        verdicts[1], "not-linearizable",
        "the buggy run should fail the check in both formats"
    );
}

/// Porcupine reads equal times as overlapping: the export's times are positions, so one
/// client's operations never overlap, and every operation's call precedes its return.
#[test]
fn porcupine_json_keeps_each_clients_operations_in_order() {
    let dir = run_out("export-porcupine", "scenarios/raft/fuzz.toml", &["--seed", "5"]);
    let text = std::fs::read_to_string(dir.join("history.porcupine.json")).unwrap();
    let ops: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(ops.len() > 100);
    let mut last_return: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut calls = std::collections::BTreeSet::new();
    for o in &ops {
        let (c, call, ret) = (
            o["ClientId"].as_u64().unwrap(),
            o["Call"].as_u64().unwrap(),
            o["Return"].as_u64().unwrap(),
        );
        assert!(call < ret, "{o}");
        assert!(calls.insert(call), "two operations share the time {call}");
        // A client whose previous operation is pending (info) moves on under a new process,
        // so only completed ones must come before.
        if let Some(prev) = last_return.get(&c) {
            if *prev != i64::MAX as u64 {
                assert!(
                    *prev < call,
                    "client {c}: {call} starts before the previous op returned at {prev}"
                );
            }
        }
        last_return.insert(c, ret);
    }
}

#[test]
fn the_chrome_trace_is_well_formed() {
    let dir = run_out("export-chrome", "scenarios/raft/leader-crash.toml", &[]);
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("trace.chrome.json")).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().expect("traceEvents");
    let mut started = std::collections::BTreeSet::new();
    let mut names = std::collections::BTreeSet::new();
    let (mut spans, mut flows, mut faults) = (0, 0, 0);
    for e in events {
        let ph = e["ph"].as_str().expect("every event has a phase");
        assert!(e["pid"].is_u64(), "{e}");
        match ph {
            "M" => {
                if e["name"] == "thread_name" {
                    names.insert(e["args"]["name"].as_str().unwrap().to_string());
                }
            }
            "X" => {
                assert!(e["dur"].as_f64().unwrap() >= 0.0 && e["ts"].is_number(), "{e}");
                spans += 1;
            }
            "s" => {
                started.insert(e["id"].as_u64().unwrap());
            }
            "f" => {
                assert!(
                    started.contains(&e["id"].as_u64().unwrap()),
                    "a flow ends before it starts: {e}"
                );
                flows += 1;
            }
            "i" => {
                if e["cat"] == "fault" {
                    faults += 1;
                }
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    assert!(
        names.contains("faults") && names.contains("n1") && names.contains("c1"),
        "{names:?}"
    );
    assert!(spans > 5 && flows > 1000, "{spans} spans, {flows} flows");
    assert!(faults >= 4, "the leader crashes and restarts twice: {faults}");
}

#[test]
fn the_openmetrics_pass_promtool() {
    let dir = run_out("export-metrics", "scenarios/raft/leader-crash.toml", &[]);
    let Ok(status) = std::process::Command::new("promtool").arg("--version").output() else {
        eprintln!("SKIPPED: promtool is not installed (Debian's `prometheus` package); .ci/run installs it");
        return;
    };
    assert!(status.status.success());
    let metrics = std::fs::File::open(dir.join("metrics.openmetrics")).unwrap();
    let out = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(metrics)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks = dir.join("tsdb");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(dir.join("metrics-series.openmetrics"))
        .arg(&blocks)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8_lossy(&out.stdout);
    // One block of 20 simulated seconds from the fixed epoch.
    assert!(listing.contains("1767225600000"), "{listing}");
}

#[test]
fn dsim_report_regenerates_the_files_and_rejects_what_it_cannot_do() {
    let dir = run_out("export-report", "scenarios/raft/partition-minority.toml", &[]);
    let before = std::fs::read(dir.join("history.edn")).unwrap();
    std::fs::remove_file(dir.join("history.edn")).unwrap();
    std::fs::remove_file(dir.join("timeline.svg")).unwrap();
    let d = dir.to_string_lossy().into_owned();
    let (code, out, err) = dsim(&["report", &d, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "timeline.svg",
        "history.edn",
        "trace.chrome.json",
        "metrics.openmetrics",
    ] {
        assert!(files.contains(&f), "{files:?}");
    }
    assert_eq!(
        std::fs::read(dir.join("history.edn")).unwrap(),
        before,
        "the same file from the same run"
    );
    let (code, _, err) = dsim(&["report", &d, "--format", "jpeg"]);
    assert_eq!(code, 2);
    assert!(err.contains("svg or png"), "{err}");
    let empty = temp_dir("export-report-empty").to_string_lossy().into_owned();
    let (code, _, err) = dsim(&["report", &empty]);
    assert_eq!(code, 2);
    assert!(err.contains("dsim run --out"), "{err}");
}

/// Each export of a small fixed run, as a snapshot: a change to an export's format shows up
/// in review.
#[test]
fn each_export_of_a_small_run_is_snapshotted() {
    let dir = temp_dir("export-snapshots");
    let scenario = dir.join("tiny.toml");
    std::fs::write(
        &scenario,
        r#"# Three servers, one client, a leader crash: every kind of line in each export.
protocol = "raft"
nodes = 3
duration = "1500ms"
seed = 7
[network]
latency = "1ms"
[workload]
clients = 1
count = 6
[[faults]]
at = "700ms"
crash = "leader"
"#,
    )
    .unwrap();
    let out = run_out("export-snapshots-out", &scenario.to_string_lossy(), &[]);
    let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
    insta::assert_snapshot!("tiny_history_edn", read("history.edn"));
    insta::assert_snapshot!("tiny_history_porcupine", read("history.porcupine.json"));
    insta::assert_snapshot!("tiny_metrics", read("metrics.openmetrics"));
    insta::assert_snapshot!(
        "tiny_shiviz_head",
        read("trace.shiviz.log")
            .lines()
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let chrome: Value = serde_json::from_str(&read("trace.chrome.json")).unwrap();
    insta::assert_json_snapshot!(
        "tiny_chrome_head",
        chrome["traceEvents"].as_array().unwrap()[..40].to_vec()
    );
}

/// The ShiViz log: its first line is the regex ShiViz parses it with, then event lines and
/// `host {clock}` lines; a host's own clock entry counts its events, and a receive's clock is
/// at least the send's (happens-before is kept).
#[test]
fn the_shiviz_log_parses_with_its_regex_and_its_clocks_keep_causality() {
    let dir = run_out("export-shiviz", "scenarios/raft/partition-minority.toml", &[]);
    let text = std::fs::read_to_string(dir.join("trace.shiviz.log")).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(reports::export::SHIVIZ_REGEX));
    assert_eq!(lines.next(), Some(""));
    let rest: Vec<&str> = lines.collect();
    assert!(rest.len().is_multiple_of(2) && rest.len() > 200);
    let mut own: std::collections::BTreeMap<String, u64> = Default::default();
    let mut sends: std::collections::BTreeMap<String, serde_json::Map<String, Value>> = Default::default();
    for pair in rest.chunks(2) {
        let (event, host_line) = (pair[0], pair[1]);
        let (host, clock) = host_line.split_once(' ').expect("host {clock}");
        assert!(!host.is_empty() && !host.contains(char::is_whitespace));
        let clock: serde_json::Map<String, Value> = serde_json::from_str(clock).expect("a JSON clock");
        let mine = clock[host].as_u64().unwrap();
        let before = own.insert(host.to_string(), mine).unwrap_or(0);
        assert_eq!(mine, before + 1, "{host}'s own entry counts its events: {event}");
        let id = event
            .split('#')
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string);
        if event.contains(" send ") {
            sends.insert(id.clone().unwrap(), clock.clone());
        } else if event.contains(" receive ") {
            let sent = &sends[&id.unwrap()];
            for (h, c) in sent {
                assert!(
                    clock.get(h).and_then(Value::as_u64).unwrap_or(0) >= c.as_u64().unwrap(),
                    "{event}"
                );
            }
        }
    }
}

/// Figure 8 with the commit bug explains itself in a screenful: `violation.txt` names the
/// first failed check, shows the crashes and elections that led there, and stays short; a
/// run that passes has none.
#[test]
fn a_violation_comes_with_its_causal_slice() {
    let dir = run_out(
        "export-violation",
        "scenarios/raft/figure8.toml",
        &["--bug", "commit-previous-term"],
    );
    let v = std::fs::read_to_string(dir.join("violation.txt")).expect("violation.txt");
    assert!(v.starts_with("Why `leader-completeness` failed"), "{v}");
    assert!(
        v.contains("!!  crash"),
        "the crashes of Figure 8 are in its past:\n{v}"
    );
    assert!(v.contains("becomes leader"), "{v}");
    assert!(v.contains("AppendEntries{"), "{v}");
    let lines = v.lines().count();
    assert!(lines <= 80, "a screenful, not {lines} lines:\n{v}");
    let ok = run_out("export-no-violation", "scenarios/raft/figure8.toml", &[]);
    assert!(!ok.join("violation.txt").exists());
    // A long random run's past is nearly the whole run: the slice still fits a screen, and
    // shows servers, not client traffic.
    let long = run_out(
        "export-violation-long",
        "scenarios/raft/fuzz.toml",
        &["--seed", "11", "--bug", "forget-vote-on-restart"],
    );
    let v = std::fs::read_to_string(long.join("violation.txt")).expect("violation.txt");
    assert!(v.lines().count() <= 80, "{v}");
    assert!(
        !v.contains(" c1 -> ") && !v.contains("-> c"),
        "client traffic belongs to the history:\n{v}"
    );
}
