//! `dsim sweep` and the `[[metrics]]` spans it measures: files that do not depend on `--jobs`,
//! a span that measures what it says, censored trials reported, faults at drawn times, and bad
//! input as exit 2.

mod common;
use common::{dsim, repo_root, temp_dir};

const LAN: &str = "scenarios/raft/election-timeouts.toml";

fn scenario(name: &str) -> String {
    repo_root().join(name).to_string_lossy().into_owned()
}

fn read(dir: &std::path::Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

#[test]
fn the_files_are_the_same_for_any_jobs_and_the_summary_has_the_contract_columns() {
    let lan = scenario(LAN);
    let mut outs = Vec::new();
    for jobs in ["1", "2"] {
        let dir = temp_dir(&format!("sweep-jobs-{jobs}"));
        let d = dir.to_string_lossy().into_owned();
        let (code, out, err) = dsim(&[
            "sweep",
            &lan,
            "--set",
            "params.election_timeout=[150ms,155ms],[150ms,300ms]",
            "--trials",
            "25",
            "--jobs",
            jobs,
            "--out",
            &d,
            "--json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(v["trials"], 50);
        assert_eq!(
            v["values"],
            serde_json::json!(["[150ms, 155ms]", "[150ms, 300ms]"])
        );
        outs.push((read(&dir, "trials.csv"), read(&dir, "summary.csv"), dir));
    }
    assert_eq!(outs[0].0, outs[1].0, "trials.csv differs between --jobs 1 and 2");
    assert_eq!(outs[0].1, outs[1].1, "summary.csv differs between --jobs 1 and 2");
    let summary = &outs[0].1;
    let mut lines = summary.lines();
    assert_eq!(lines.next(), Some("param,value,metric,n,min,median,mean,p99,max"));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{summary}");
    assert!(
        rows[0].starts_with("params.election_timeout,\"[150ms, 155ms]\",downtime,25,"),
        "{summary}"
    );
    // 25 trials × 1 metric per value, plus the header.
    assert_eq!(outs[0].0.lines().count(), 51);
    let svg = read(&outs[0].2, "cdf-downtime-randomness.svg");
    assert!(
        svg.contains("[150ms, 155ms] (n=25)"),
        "the legend names each value"
    );
    // The trials are seeds 1..=25 of the scenario, the same for both values.
    let seeds: Vec<&str> = outs[0]
        .0
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    assert_eq!(seeds[0], "1");
    assert_eq!(seeds[24], "25");
    assert_eq!(seeds[25], "1");
}

/// The downtime span ends when every live server knows the new leader: one AppendEntries
/// after the election (the protocol's own `leader-recovery` metric), so never before it and
/// at most a network delay later. A span started or ended at the wrong event fails this.
#[test]
fn downtime_runs_from_the_crash_to_every_server_knowing_the_new_leader() {
    for seed in 1..=12u64 {
        let (code, out, err) = dsim(&["run", &scenario(LAN), "--seed", &seed.to_string(), "--json"]);
        assert_eq!(code, 0, "seed {seed}: {err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let downtime = v["metrics"]["downtime"].as_f64().expect("downtime measured");
        let elected = v["metrics"]["leader-recovery"]["max"]
            .as_f64()
            .expect("an election after the crash");
        assert!(
            downtime >= elected,
            "seed {seed}: downtime {downtime} before the election {elected}"
        );
        assert!(
            downtime - elected <= 1e6,
            "seed {seed}: {downtime} is more than a one-way delay after the election at {elected}"
        );
        assert_eq!(v["stopped_by"], "measured", "stop_when_measured ends the trial");
        // The minimum election timeout is 150 ms and the crash comes at most one heartbeat
        // (75 ms) after the last one.
        assert!(downtime > 75e6, "seed {seed}: {downtime}");
    }
}

#[test]
fn a_trial_that_never_measures_is_censored_not_dropped() {
    let dir = temp_dir("sweep-censored");
    // Three of five servers crash at once: no leader can be elected, so `leader-known` never
    // holds again; with two crashes it does.
    let path = dir.join("censored.toml");
    std::fs::write(
        &path,
        r#"
protocol = "raft"
nodes = 5
duration = "3s"
[[faults]]
name = "crash"
at = "1s"
crash = "leader"
[[faults]]
name = "more"
at = { with = "crash" }
crash = "follower"
[[faults]]
name = "even-more"
at = { with = "crash" }
crash = "follower"
[[metrics]]
name = "recovery"
from = "crash"
until = "leader-known"
[sweep]
trials = 4
set = { "faults.even-more.enabled" = [true, false] }
"#,
    )
    .unwrap();
    let p = path.to_string_lossy().into_owned();
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let (code, out, err) = dsim(&["sweep", &p, "--out", &out_dir, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["censored"], 4, "{out}");
    let rows = &v["summary"];
    assert_eq!(rows[0]["value"], "true");
    assert_eq!(rows[0]["n"], 0);
    assert_eq!(rows[0]["censored"], 4);
    assert_eq!(rows[1]["n"], 4);
    let trials = std::fs::read_to_string(dir.join("out/trials.csv")).unwrap();
    // An empty measurement, `censored` true: the four trials of the value `true`.
    let censored: Vec<&str> = trials.lines().filter(|l| l.contains(",,true,")).collect();
    assert_eq!(censored.len(), 4, "{trials}");
    assert!(
        censored
            .iter()
            .all(|l| l.starts_with("faults.even-more.enabled,true,")),
        "{trials}"
    );
    let summary = std::fs::read_to_string(dir.join("out/summary.csv")).unwrap();
    assert!(
        summary.contains("faults.even-more.enabled,true,recovery,0,,,,,\n"),
        "{summary}"
    );
    assert!(err.contains("4 measurement(s) censored"), "{err}");
    // A plain run says so too.
    let (_, text, _) = dsim(&["run", &p]);
    assert!(text.contains("recovery") && text.contains("censored"), "{text}");
}

/// A fault at a drawn time: the same seed strikes at the same instant, other seeds elsewhere
/// in the range; `at = { with = … }` strikes at the same instant as its partner.
#[test]
fn faults_at_drawn_times_follow_the_seed_and_with_shares_the_instant() {
    let dir = temp_dir("sweep-drawn-at");
    let path = dir.join("drawn.toml");
    std::fs::write(
        &path,
        r#"
protocol = "raft"
nodes = 5
duration = "4s"
[[faults]]
name = "first"
at = { dist = "uniform", min = "1s", max = "2s" }
crash = "leader"
[[faults]]
at = { with = "first" }
crash = "follower"
"#,
    )
    .unwrap();
    let p = path.to_string_lossy().into_owned();
    let crash_times = |seed: u64| -> Vec<String> {
        let out = dir.join(format!("s{seed}"));
        let o = out.to_string_lossy().into_owned();
        let (code, _, err) = dsim(&["run", &p, "--seed", &seed.to_string(), "--out", &o]);
        assert_eq!(code, 0, "{err}");
        std::fs::read_to_string(out.join("trace.txt"))
            .unwrap()
            .lines()
            .filter(|l| l.contains("!!  crash"))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect()
    };
    let a = crash_times(3);
    assert_eq!(a.len(), 2, "{a:?}");
    assert_eq!(a[0], a[1], "`with` strikes at the same instant");
    assert_eq!(a, crash_times(3), "the same seed, the same instant");
    let times: std::collections::BTreeSet<String> = (4..10).map(|s| crash_times(s)[0].clone()).collect();
    assert!(times.len() >= 5, "seeds draw different instants: {times:?}");
    for t in &times {
        let ms: f64 = t.trim_end_matches("ms").parse().unwrap();
        assert!((1000.0..=2000.0).contains(&ms), "{t} outside the range");
    }
}

#[test]
fn bad_sweeps_are_exit_2_with_a_reason() {
    let lan = scenario(LAN);
    let out = temp_dir("sweep-bad").to_string_lossy().into_owned();
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "params.no_such_param=1,2"], "no_such_param"),
        (
            &["--set", "params.election_timeout=[1ms]"],
            "with params.election_timeout = [1ms]",
        ),
        (&["--set", "params.heartbeat"], "KEY=V1,V2"),
        (&["--set", "seed=1,2"], "not a key path"),
        (&["--set", "faults.nobody.enabled=true"], "no entry `nobody`"),
        (&["--trials", "0"], "--trials"),
        (&["--metric", "nonsense"], "`nonsense` is neither"),
        (&["--metric", "downtime.max"], "one value per run"),
        (
            &["--trials", "2000000000000000000"],
            "--trials 2000000000000000000: between 1 and",
        ),
        (
            &["--seed", "18446744073709551615", "--trials", "2"],
            "past the largest seed",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["sweep", lan.as_str(), "--out", out.as_str()];
        all.extend_from_slice(args);
        let (code, _, err) = dsim(&all);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected `{needle}` in:\n{err}");
    }
    // Nothing to measure.
    let (code, _, err) = dsim(&[
        "sweep",
        &scenario("scenarios/raft/leader-crash.toml"),
        "--out",
        &out,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to measure"), "{err}");
}

/// docs/experiments/raft-election.md's tables are these files: the sweeps reproduce them byte
/// for byte (in whichever build runs the tests, so debug and release agree with each other).
#[test]
fn the_experiment_tables_in_the_docs_are_what_the_sweeps_produce() {
    for (file, table, plots) in [
        (
            "scenarios/raft/election-timeouts.toml",
            "lan-summary.csv",
            &[
                ("cdf-downtime-randomness.svg", "lan-randomness.svg"),
                ("cdf-downtime-scale.svg", "lan-scale.svg"),
            ][..],
        ),
        (
            "scenarios/raft/election-wan.toml",
            "wan-summary.csv",
            &[("cdf-downtime-failures.svg", "wan-failures.svg")][..],
        ),
    ] {
        let dir = temp_dir(&format!("sweep-doc-{table}"));
        let d = dir.to_string_lossy().into_owned();
        let (code, _, err) = dsim(&["sweep", &scenario(file), "--out", &d]);
        assert_eq!(code, 0, "{file}: {err}");
        let want = std::fs::read_to_string(repo_root().join("docs/experiments/raft-election").join(table))
            .expect("the committed table");
        assert_eq!(
            read(&dir, "summary.csv"),
            want,
            "{file}: the doc's table is out of date (re-run the sweep and copy summary.csv)"
        );
        for (made, committed) in plots {
            let want =
                std::fs::read_to_string(repo_root().join("docs/experiments/raft-election").join(committed))
                    .expect("the committed plot");
            assert!(
                read(&dir, made) == want,
                "{file}: docs/experiments/raft-election/{committed} is out of date"
            );
        }
    }
}

/// The axes run in the file's order (the first key outermost), and a schedule of a run whose
/// named fault never happened still loads, its span still censored.
#[test]
fn axes_keep_the_files_order_and_schedules_keep_unfired_named_faults() {
    let dir = temp_dir("sweep-order");
    let path = dir.join("order.toml");
    std::fs::write(
        &path,
        r#"
protocol = "raft"
duration = "1s"
[workload]
clients = 1
[[faults]]
name = "never"
enabled = false
at = "500ms"
crash = "leader"
[[metrics]]
name = "after-never"
from = "never"
until = "leader-known"
[sweep]
trials = 1
metrics = ["latency.p99"]
[sweep.set]
"params.heartbeat" = ["20ms", "40ms"]
"network.drop" = [0, 0.01]
"#,
    )
    .unwrap();
    let p = path.to_string_lossy().into_owned();
    let out = dir.join("out").to_string_lossy().into_owned();
    let (code, json, err) = dsim(&["sweep", &p, "--out", &out, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["param"], "params.heartbeat;network.drop");
    assert_eq!(
        v["values"],
        serde_json::json!(["20ms;0", "20ms;0.01", "40ms;0", "40ms;0.01"])
    );
    let run = dir.join("run").to_string_lossy().into_owned();
    let (code, _, err) = dsim(&["run", &p, "--out", &run]);
    assert_eq!(code, 0, "{err}");
    let schedule = dir.join("run/schedule.toml").to_string_lossy().into_owned();
    let (code, text, err) = dsim(&["run", &schedule]);
    assert_eq!(code, 0, "the schedule loads and replays: {err}");
    assert!(
        text.contains("after-never") && text.contains("censored"),
        "{text}"
    );
}
