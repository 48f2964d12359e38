//! Every planted bug is *found*: running the protocol's `fuzz.toml` over a range of seeds, some
//! seed fails, and the check that fails is one that bug should break. Nothing here knows which
//! seed — the range is scanned from seed 1 — and the correct protocol passes the same seeds.

use scenarios::runner::Scenario;
use sim::RunReport;

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

/// Scans seeds 1..=max for a failing run; returns (seed, failed check names).
fn hunt(protocol: &str, bug: &str, max: u64) -> Option<(u64, Vec<String>)> {
    (1..=max).find_map(|seed| {
        let r = run(protocol, seed, Some(bug));
        (r.violations > 0).then(|| (seed, r.failed_checks().map(|c| c.name.clone()).collect()))
    })
}

fn expect_found(protocol: &str, bug: &str, max: u64, allowed: &[&str]) {
    let (seed, checks) = hunt(protocol, bug, max)
        .unwrap_or_else(|| panic!("{protocol} --bug {bug}: not found in seeds 1..={max}"));
    assert!(
        checks.iter().any(|c| allowed.contains(&c.as_str())),
        "{protocol} --bug {bug} (seed {seed}) failed {checks:?}, expected one of {allowed:?}"
    );
}

const HISTORY: [&str; 2] = ["linearizable", "stale-read"];

#[test]
fn single_ack_before_sync() {
    expect_found("single", "ack-before-sync", 100, &HISTORY);
}

#[test]
fn single_read_unsynced() {
    expect_found("single", "read-unsynced", 100, &HISTORY);
}

#[test]
fn single_no_dedup() {
    expect_found("single", "no-dedup", 100, &["exactly-once", "linearizable"]);
}

#[test]
fn raft_commit_previous_term() {
    expect_found(
        "raft",
        "commit-previous-term",
        1000,
        &[
            "leader-completeness",
            "committed-entry-kept",
            "state-machine-safety",
            "linearizable",
        ],
    );
}

#[test]
fn raft_forget_vote_on_restart() {
    expect_found(
        "raft",
        "forget-vote-on-restart",
        200,
        &["one-vote-per-term", "election-safety"],
    );
}

#[test]
fn raft_no_up_to_date_check() {
    expect_found(
        "raft",
        "no-up-to-date-check",
        100,
        &[
            "leader-completeness",
            "committed-entry-kept",
            "state-machine-safety",
            "linearizable",
        ],
    );
}

#[test]
fn raft_lease_read_under_skew() {
    expect_found("raft", "lease-read-under-skew", 1000, &HISTORY);
}

#[test]
fn raft_accept_stale_term_append() {
    expect_found(
        "raft",
        "accept-stale-term-append",
        100,
        &[
            "leader-append-only",
            "log-matching",
            "state-machine-safety",
            "committed-entry-kept",
            "linearizable",
        ],
    );
}

#[test]
fn raft_apply_before_commit() {
    expect_found(
        "raft",
        "apply-before-commit",
        100,
        &["state-machine-safety", "linearizable", "stale-read"],
    );
}

#[test]
fn the_correct_protocols_pass_the_same_seeds() {
    for protocol in ["single", "raft"] {
        for seed in 1..=60 {
            let r = run(protocol, seed, None);
            let bad: Vec<String> = r
                .failed_checks()
                .map(|c| format!("{}: {}", c.name, c.detail))
                .collect();
            assert!(bad.is_empty(), "{protocol} seed {seed}: {bad:?}");
        }
    }
}
