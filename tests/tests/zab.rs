//! Zab stories the bundled scenarios tell: a follower that missed seconds of writes is brought
//! up to date by a DIFF before it takes new proposals, and across fuzz seeds followers are
//! truncated (TRUNC) and the leader's checks still hold; ZooKeeper-style reads are checked with
//! the consistency model each read mode promises.

mod common;
use common::{check_status as status, run_out};
use sim::CheckStatus;

#[test]
fn a_lagging_follower_is_synchronised_by_a_diff() {
    let dir = run_out("zab-lagging", "scenarios/zab/lagging-follower.toml", &[]);
    let trace = std::fs::read_to_string(dir.join("trace.txt")).expect("trace.txt");
    // After n1's restart at 5 s, one DIFF carries the hundreds of transactions it missed.
    let big = trace
        .lines()
        .filter(|l| l.contains("-> n1  DIFF +"))
        .filter_map(|l| l.split("DIFF +").nth(1)?.split(' ').next()?.parse::<u64>().ok())
        .max()
        .expect("n1 is synchronised");
    assert!(big > 500, "the largest DIFF to n1 carries {big} transactions");
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).expect("result.json"))
            .expect("json");
    assert_eq!(result["violations"], 0, "{result}");
}

#[test]
fn followers_are_truncated_somewhere_and_nothing_delivered_is_lost() {
    let (p, text) = scenarios::bundled::find("zab/fuzz").expect("bundled");
    let mut truncated = 0;
    for seed in 1..=40 {
        let mut s = scenarios::load::load_str(p, text).expect("loads");
        s.config_mut().seed = seed;
        let r = s.run(sim::Outputs::default()).expect("runs");
        assert!(r.failed_checks().next().is_none(), "seed {seed}");
        let c = r
            .checks
            .iter()
            .find(|c| c.name == "history-truncated")
            .expect("declared");
        if c.status == CheckStatus::Pass {
            truncated += 1;
        }
    }
    assert!(
        truncated > 0,
        "no follower was truncated in 40 seeds: TRUNC is never exercised"
    );
}

#[test]
fn a_single_server_elects_itself_and_serves() {
    let (p, text) = scenarios::bundled::find("zab/basic").expect("bundled");
    let s = scenarios::load::load_str(p, &text.replace("nodes = 3", "nodes = 1")).expect("loads");
    let r = s.run(sim::Outputs::default()).expect("runs");
    assert!(r.failed_checks().next().is_none());
    assert!(r.ops.ok > 100, "{} operations succeeded", r.ops.ok);
}

/// Runs `zab/follower-reads` with `edit` applied to its text, over seeds 1..=5.
fn follower_reads(edit: &dyn Fn(&str) -> String) -> Vec<sim::RunReport> {
    let (p, text) = scenarios::bundled::find("zab/follower-reads").expect("bundled");
    let text = edit(text);
    (1..=5)
        .map(|seed| {
            let mut s = scenarios::load::load_str(p, &text).expect("loads");
            s.config_mut().seed = seed;
            s.run(sim::Outputs::default()).expect("runs")
        })
        .collect()
}

/// ZooKeeper's local reads: every run is sequentially consistent; a lagging follower answers
/// reads, so some run is not linearizable — each mode needs the right checker.
#[test]
fn local_reads_are_sequentially_consistent_but_not_linearizable() {
    let runs = follower_reads(&|t| t.replace("linearizable = false", "linearizable = true"));
    for r in &runs {
        assert_eq!(status(r, "sequential"), CheckStatus::Pass, "{:?}", r.checks);
    }
    assert!(
        runs.iter()
            .any(|r| status(r, "linearizable") == CheckStatus::Fail),
        "local reads at a lagging follower looked linearizable in every run"
    );
}

/// `read_mode = "sync"` (ZooKeeper's sync + read) is checked for sequential consistency, `quorum`
/// (the leader confirms it leads before answering the sync) for linearizability; both serve
/// reads after a SYNC.
#[test]
fn sync_reads_are_sequential_and_quorum_reads_linearizable() {
    for r in follower_reads(&|t| t.replace("read_mode = \"local\"", "read_mode = \"sync\"")) {
        assert_eq!(status(&r, "sequential"), CheckStatus::Pass);
        assert_eq!(status(&r, "synced-read"), CheckStatus::Pass);
    }
    let quorum = |t: &str| {
        t.replace("read_mode = \"local\"", "read_mode = \"quorum\"")
            .replace("linearizable = false", "linearizable = true")
    };
    for r in follower_reads(&quorum) {
        assert_eq!(status(&r, "sequential"), CheckStatus::Pass);
        assert_eq!(status(&r, "linearizable"), CheckStatus::Pass, "{:?}", r.checks);
        assert_eq!(status(&r, "synced-read"), CheckStatus::Pass);
    }
}
