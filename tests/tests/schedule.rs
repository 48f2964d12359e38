//! `--out` writes `schedule.toml`, the run with its nemesis and random workload replaced by
//! what happened; replaying it must give the same history and the same check verdicts, for
//! every bundled scenario, with and without a planted bug. The schedule of a replay is the
//! schedule itself (a fixpoint).

mod common;
use common::temp_dir;
use scenarios::runner::{run_to, Scenario};
use sim::RunReport;
use std::path::Path;

fn load(path: &str, text: &str) -> Box<dyn Scenario> {
    scenarios::load::load_str(path, text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The bundled scenario, cut to 20 simulated seconds (as the determinism tests do).
fn bundled(path: &str, text: &str) -> Box<dyn Scenario> {
    let mut s = load(path, text);
    common::cut_to_20s(s.as_mut());
    s
}

/// The history without event indexes (a replay's events are numbered differently).
fn history(dir: &Path) -> Vec<serde_json::Value> {
    common::without_event_index(common::jsonl(&dir.join("history.jsonl")))
}

/// Check name → (status, time of a failure).
fn verdicts(r: &RunReport) -> Vec<(String, String, Option<u64>)> {
    r.checks
        .iter()
        .map(|c| (c.name.clone(), format!("{:?}", c.status), c.time_ns))
        .collect()
}

/// Runs `s` into a fresh directory, replays its schedule, and compares.
fn replays_exactly(s: &dyn Scenario, tag: &str) -> RunReport {
    let dir = temp_dir(&format!("schedule-{tag}"));
    let first = run_to(s, Some(&dir.join("run"))).expect("runs");
    let schedule = std::fs::read_to_string(dir.join("run/schedule.toml")).expect("schedule.toml");
    let replay = load("schedule.toml", &schedule);
    let second = run_to(replay.as_ref(), Some(&dir.join("replay"))).expect("the schedule replays");
    assert_eq!(
        verdicts(&first.report),
        verdicts(&second.report),
        "{tag}: the replay's verdicts differ"
    );
    assert_eq!(first.report.ops, second.report.ops, "{tag}: operations");
    assert_eq!(
        first.report.sim_time_ns, second.report.sim_time_ns,
        "{tag}: end time"
    );
    assert!(
        history(&dir.join("run")) == history(&dir.join("replay")),
        "{tag}: the replay's history differs"
    );
    let again = std::fs::read_to_string(dir.join("replay/schedule.toml")).expect("schedule.toml");
    let body = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("name"))
            .map(|l| l.split("  # ").next().unwrap_or(l).to_string())
            .collect()
    };
    assert_eq!(
        body(&schedule),
        body(&again),
        "{tag}: the schedule of the replay is not the schedule"
    );
    first.report
}

#[test]
fn every_bundled_scenario_replays_from_its_schedule_with_and_without_a_planted_bug() {
    for (path, text) in scenarios::bundled::BUNDLED {
        let s = bundled(path, text);
        let tag = path.trim_start_matches("scenarios/").replace(['/', '.'], "-");
        replays_exactly(s.as_ref(), &tag);
        let mut buggy = bundled(path, text);
        let bug = protocols::catalog()
            .into_iter()
            .find(|p| p.name == buggy.protocol())
            .and_then(|p| p.bugs.first().map(|b| b.name))
            .expect("every protocol has planted bugs");
        buggy.enable_bug(bug).expect("known bug");
        replays_exactly(buggy.as_ref(), &format!("{tag}-{bug}"));
    }
}

#[test]
fn a_failing_run_replays_to_the_same_failure() {
    // Each protocol's fuzz scenario with each planted bug, up to the first failing seed of a
    // short scan: the replay must fail the same checks at the same time.
    for p in protocols::catalog() {
        let (path, text) = scenarios::bundled::find(&format!("{}/fuzz", p.name)).expect("fuzz.toml");
        let mut replayed = 0;
        for bug in &p.bugs {
            let failing = (1..=40).find_map(|seed| {
                let mut s = bundled(path, text);
                s.config_mut().seed = seed;
                s.enable_bug(bug.name).expect("known bug");
                let r = s.run(sim::Outputs::default()).expect("runs");
                (r.violations > 0).then_some(s)
            });
            let Some(s) = failing else { continue };
            let r = replays_exactly(s.as_ref(), &format!("{}-{}-failing", p.name, bug.name));
            assert!(r.violations > 0);
            replayed += 1;
        }
        assert!(
            replayed > 0,
            "{}: no planted bug failed in 40 seeds to replay",
            p.name
        );
    }
}

#[test]
fn client_faults_replay_in_both_loops() {
    // Paused clients (arrivals keep coming in the open loop), crashed clients, and crashes
    // during a pause, at random.
    let text = r#"
protocol = "single"
duration = "10s"
[storage]
sync_latency = "20ms"
[workload]
clients = 3
rate = "200/s"
[nemesis]
client_pause = "1/500ms"
client_crash = "1/1s"
fault_duration = ["10ms", "400ms"]
"#;
    for (name, mode) in [("closed", ""), ("open", "mode = \"open\"\nin_flight = 3\n")] {
        let t = text.replace("[workload]\n", &format!("[workload]\n{mode}"));
        for seed in 1..=3 {
            let mut s = load("client-faults.toml", &t);
            s.config_mut().seed = seed;
            replays_exactly(s.as_ref(), &format!("client-faults-{name}-{seed}"));
        }
    }
}

#[test]
fn retired_keys_retire_in_the_replay_too() {
    // With `key_ops`, keys retire and the linearizable check judges them during the run, so a
    // violation stops it early; the replay must retire the same keys to stop at the same point.
    let (path, text) = scenarios::bundled::find("single/fuzz").expect("fuzz.toml");
    let text =
        text.replace("retries = 5\n", "retries = 5\nkeys = 4\nkey_ops = 20\n") + "stale-read = false\n"; // into [checks]: leave the failure to `linearizable`
    assert!(text.contains("key_ops = 20") && text.trim_end().ends_with("stale-read = false"));
    let failing = (1..=20).find_map(|seed| {
        let mut s = load(path, &text);
        s.config_mut().seed = seed;
        s.enable_bug("ack-before-sync").expect("known bug");
        let r = s.run(sim::Outputs::default()).expect("runs");
        let lin = r.failed_checks().any(|c| c.name == "linearizable");
        (lin && r.sim_time_ns < 15_000_000_000).then_some(s)
    });
    let s = failing.expect("ack-before-sync failed linearizable early in 20 seeds");
    let dir = temp_dir("schedule-retire");
    run_to(s.as_ref(), Some(&dir)).expect("runs");
    let schedule = std::fs::read_to_string(dir.join("schedule.toml")).expect("schedule");
    assert!(schedule.contains("retire = true"), "no key retired");
    replays_exactly(s.as_ref(), "retire");
}
