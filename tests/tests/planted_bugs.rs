//! Every planted bug of every registered protocol is *found*: running the protocol's
//! `fuzz.toml` over seeds from 1, some seed fails, and a check the bug declares it breaks is
//! among the failures. Nothing here knows which seed; the correct protocols pass the same seeds.
//! (Once `dsim fuzz` exists this is its job; until then, a seed scan.)

use scenarios::runner::Scenario;
use sim::RunReport;

/// Seeds scanned per bug before giving up.
const MAX_SEEDS: u64 = 1000;
/// Seeds the correct protocols must pass.
const CLEAN_SEEDS: u64 = 60;

fn fuzz(protocol: &str) -> Box<dyn Scenario> {
    let path = format!("{protocol}/fuzz");
    let (p, text) = scenarios::bundled::find(&path).expect("bundled fuzz scenario");
    scenarios::load::load_str(p, text).expect("loads")
}

fn run(protocol: &str, seed: u64, bug: Option<&str>) -> RunReport {
    let mut s = fuzz(protocol);
    s.config_mut().seed = seed;
    if let Some(b) = bug {
        s.enable_bug(b).expect("known bug");
    }
    s.run(sim::Outputs::default()).expect("runs")
}

/// Scans seeds for a failing run; returns (seed, failed check names).
fn hunt(protocol: &str, bug: &str) -> Option<(u64, Vec<String>)> {
    (1..=MAX_SEEDS).find_map(|seed| {
        let r = run(protocol, seed, Some(bug));
        (r.violations > 0).then(|| (seed, r.failed_checks().map(|c| c.name.clone()).collect()))
    })
}

fn every_bug_of(protocol: &str) {
    let info = protocols::catalog()
        .into_iter()
        .find(|p| p.name == protocol)
        .expect("registered");
    assert!(info.bugs.len() >= 3, "{protocol} has fewer than 3 planted bugs");
    for bug in &info.bugs {
        let (seed, checks) = hunt(protocol, bug.name).unwrap_or_else(|| {
            panic!(
                "{protocol} --bug {}: not found in seeds 1..={MAX_SEEDS}",
                bug.name
            )
        });
        assert!(
            checks.iter().any(|c| bug.breaks.contains(&c.as_str())),
            "{protocol} --bug {} (seed {seed}) failed {checks:?}, expected one of {:?}",
            bug.name,
            bug.breaks
        );
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

#[test]
fn single_bugs_are_found() {
    every_bug_of("single");
}

#[test]
fn raft_bugs_are_found() {
    every_bug_of("raft");
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
fn the_correct_protocols_pass_the_same_seeds() {
    for protocol in protocols::NAMES {
        for seed in 1..=CLEAN_SEEDS {
            let r = run(protocol, seed, None);
            let bad: Vec<String> = r
                .failed_checks()
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            assert!(bad.is_empty(), "{protocol} seed {seed}: {bad:?}");
        }
    }
}
