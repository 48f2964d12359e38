//! Every bundled scenario runs with its checks passing (the correct protocols), and the scripted
//! ones tell the story they promise.

mod common;
use common::{dsim, temp_dir};
use scenarios::runner::Scenario;
use sim::time::NANOS_PER_SEC;
use sim::{CheckStatus, RunReport};

fn load(path: &str) -> Box<dyn Scenario> {
    let (p, text) = scenarios::bundled::find(path).unwrap_or_else(|| panic!("{path} is not bundled"));
    scenarios::load::load_str(p, text).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn run(s: &dyn Scenario) -> RunReport {
    s.run(sim::Outputs::default()).expect("runs")
}

fn failed(r: &RunReport) -> Vec<String> {
    r.checks
        .iter()
        .filter(|c| c.status != CheckStatus::Pass && c.status != CheckStatus::Skipped)
        .map(|c| format!("{} ({:?}): {}", c.name, c.status, c.detail))
        .collect()
}

#[test]
fn every_bundled_scenario_passes() {
    for (path, text) in scenarios::bundled::BUNDLED {
        let mut s = load(path);
        // The hour-long soak runs as its own benchmark; here its first five minutes.
        let cfg = s.config_mut();
        if cfg.duration > 300 * NANOS_PER_SEC {
            cfg.duration = 300 * NANOS_PER_SEC;
            cfg.quiet_from = Some(240 * NANOS_PER_SEC);
        }
        let r = run(s.as_ref());
        assert!(failed(&r).is_empty(), "{path}: {:#?}", failed(&r));
        assert!(r.events > 0);
        if s.config().clients.clients > 0 {
            assert!(r.ops.ok > 0, "{path}: no operation succeeded");
            // Every history check the scenario runs (the family's defaults, less those it
            // switches off, plus opt-in ones it switches on) ran and passed.
            let family = protocols::catalog()
                .into_iter()
                .find(|p| p.name == s.protocol())
                .expect("registered")
                .workload;
            let enabled = &s.config().checks.history;
            assert!(!enabled.is_empty(), "{path}: no history check");
            for decl in &family.checks {
                let on = enabled.iter().any(|n| n == decl.name);
                let switched = text.contains(&format!("{} = ", decl.name.replace('-', "_")))
                    || text.contains(&format!("{} = ", decl.name));
                assert!(on || decl.opt_in || switched, "{path}: {} is off", decl.name);
                if on {
                    let c = r.checks.iter().find(|c| c.name == decl.name).expect("checked");
                    assert_eq!(c.status, CheckStatus::Pass, "{path}: {}: {}", c.name, c.detail);
                }
            }
        }
    }
}

#[test]
fn figure8_is_the_same_story_for_every_seed() {
    let mut hashes = std::collections::BTreeSet::new();
    for seed in 1..=100 {
        let mut s = load("raft/figure8");
        s.config_mut().seed = seed;
        let r = run(s.as_ref());
        assert!(failed(&r).is_empty(), "seed {seed}: {:#?}", failed(&r));
        hashes.insert(r.trace_hash);
    }
    assert_eq!(hashes.len(), 1, "the scripted run must not depend on the seed");
}

#[test]
fn figure8_with_commit_previous_term_loses_a_committed_entry_for_every_seed() {
    for seed in 1..=100 {
        let mut s = load("raft/figure8");
        s.config_mut().seed = seed;
        s.enable_bug("commit-previous-term").expect("known bug");
        let r = run(s.as_ref());
        let bad: Vec<&str> = r.failed_checks().map(|c| c.name.as_str()).collect();
        for want in [
            "state-machine-safety",
            "committed-entry-kept",
            "leader-completeness",
        ] {
            assert!(
                bad.contains(&want),
                "seed {seed}: {want} should fail, failed: {bad:?}"
            );
        }
    }
}

#[test]
fn figure8_trace_reads_like_the_caption() {
    let dir = temp_dir("figure8-trace");
    let d = dir.to_string_lossy().into_owned();
    let (code, _, _) = dsim(&["run", "raft/figure8", "--out", &d]);
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(dir.join("trace.txt")).expect("trace.txt");
    // The story, without the heartbeats.
    let story: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("becomes")
                || l.contains("!!")
                || l.contains("commit ")
                || l.contains("truncates")
                || l.contains("votes for")
                || l.contains("starts an election")
        })
        .collect();
    insta::assert_snapshot!("figure8_story", story.join("\n"));
}

#[test]
fn the_clock_skew_scenario_catches_the_lease_bug() {
    // The scripted drift makes the buggy lease outlive the leader's authority for some seeds.
    let mut found = None;
    for seed in 1..=20 {
        let mut s = load("raft/clock-skew");
        s.config_mut().seed = seed;
        s.enable_bug("lease-read-under-skew").expect("known bug");
        let r = run(s.as_ref());
        if r.violations > 0 {
            let names: Vec<&str> = r.failed_checks().map(|c| c.name.as_str()).collect();
            assert!(
                names.iter().all(|n| ["stale-read", "linearizable"].contains(n)),
                "seed {seed}: a lease bug shows in the client history, not {names:?}"
            );
            found = Some(seed);
            break;
        }
    }
    assert!(
        found.is_some(),
        "lease-read-under-skew not caught by clock-skew.toml in 20 seeds"
    );
}

#[test]
fn an_exhausted_history_budget_is_unknown_and_names_a_bounded_number_of_keys() {
    let text = r#"
protocol = "single"
duration = "5s"
[workload]
clients = 3
rate = "200/s"
key_ops = 10
[checks]
history_budget = 1
"#;
    let s = scenarios::load::load_str("budget.toml", text).expect("loads");
    let r = run(s.as_ref());
    let lin = r
        .checks
        .iter()
        .find(|c| c.name == "linearizable")
        .expect("checked");
    assert_eq!(lin.status, CheckStatus::Unknown, "{}", lin.detail);
    let named = lin.detail.matches(", k").count() + 1;
    assert!(named <= 10, "names {named} keys: {}", lin.detail);
    assert!(lin.detail.contains("more keys"), "{}", lin.detail);
}

#[test]
fn a_key_named_by_a_scheduled_op_is_never_a_rotating_key() {
    // With one key slot retiring every 3 ops, fresh keys k1, k2, ... pass k5 early in the run;
    // the read of k5 at 1.5 s must meet a key the workload never touched (or whose history
    // is still being checked), not a retired and forgotten one.
    let text = r#"
protocol = "single"
duration = "2s"
[workload]
clients = 2
keys = 1
key_ops = 3
rate = "100/s"
[[ops]]
at = "1500ms"
client = "c1"
op = "read"
key = "k5"
"#;
    let s = scenarios::load::load_str("pinned.toml", text).expect("loads");
    let r = run(s.as_ref());
    assert!(r.ops.ok > 20, "the workload must rotate past k5");
    assert!(failed(&r).is_empty(), "{:#?}", failed(&r));
}

#[test]
fn max_events_stops_a_run_only_when_it_cuts_it_short() {
    let full = run(load("single/basic").as_ref());
    assert_eq!(full.stopped_by, sim::report::StopReason::Time);
    let with_limit = |max: u64| {
        let mut s = load("single/basic");
        s.config_mut().limits.max_events = max;
        run(s.as_ref())
    };
    // Exactly enough events: the run is complete, no bound was hit.
    let r = with_limit(full.events);
    assert_eq!(
        (r.stopped_by, r.events, r.trace_hash.clone()),
        (
            sim::report::StopReason::Time,
            full.events,
            full.trace_hash.clone()
        )
    );
    assert!(r.bounds_hit.is_empty(), "{:?}", r.bounds_hit);
    // One fewer: the bound cut it short and says so.
    let r = with_limit(full.events - 1);
    assert_eq!(
        (r.stopped_by, r.events),
        (sim::report::StopReason::Events, full.events - 1)
    );
    assert!(
        r.bounds_hit.iter().any(|b| b == "max_events"),
        "{:?}",
        r.bounds_hit
    );
}

#[test]
fn a_restarted_raft_server_keeps_its_promise_not_to_vote() {
    // n1 leads; at 1 s it is cut off and n2 crashes and restarts at once. n3 (150 ms timeouts)
    // asks n2 for its vote from about 1.15 s. Before the crash n2 acknowledged n1's rounds, so
    // n1 may hold a lease (dissertation §6.4.1): n2 must not vote until its minimum election
    // timeout (400 ms) has passed since the restart.
    let dir = temp_dir("restart-vote");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        r#"
protocol = "raft"
nodes = 3
duration = "3s"
[params]
election_timeout = ["400ms", "500ms"]
heartbeat = "50ms"
[node.n1]
election_timeout = ["100ms", "100ms"]
[node.n3]
election_timeout = ["150ms", "150ms"]
[[faults]]
at = "1s"
isolate = "n1"
[[faults]]
at = "1s"
crash = "n2"
restart_after = "1ms"
"#,
    )
    .expect("write");
    let out = dir.join("out");
    let (code, _, err) = dsim(&["run", &file.to_string_lossy(), "--out", &out.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(out.join("trace.txt")).expect("trace.txt");
    let ms = |l: &str| {
        l.split_whitespace()
            .next()
            .and_then(|t| t.strip_suffix("ms")?.parse::<f64>().ok())
    };
    let votes: Vec<f64> = text
        .lines()
        .filter(|l| l.contains("n2     votes for n3"))
        .filter_map(ms)
        .collect();
    assert!(!votes.is_empty(), "n3 must win n2's vote eventually:\n{text}");
    assert!(
        votes[0] >= 1390.0,
        "n2 voted {:.3} ms after restarting",
        votes[0] - 1001.0
    );
}

#[test]
fn the_leader_crash_scenario_measures_recovery_from_the_fault_timeline() {
    // Two scheduled crashes of the leader: Raft's invariants read each from the fault timeline
    // and time it until the next election, which takes at least one (minimum) election timeout.
    let r = run(load("raft/leader-crash").as_ref());
    let Some(sim::metrics::MetricSummary::Series { n, min, max, .. }) = r.metrics.get("leader-recovery")
    else {
        panic!(
            "no leader-recovery metric: {:?}",
            r.metrics.keys().collect::<Vec<_>>()
        );
    };
    assert_eq!(*n, 2, "one sample per leader crash");
    assert!(*min >= 150e6 && *max < 1e9, "recoveries of {min} .. {max} ns");
}
