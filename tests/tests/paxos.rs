//! Multi-Paxos stories the bundled scenarios tell: dueling proposers settle only with the
//! random back-off, the loader refuses quorums that do not intersect, and a scripted leader
//! crash makes a new leader adopt what the old one got accepted.

mod common;
use common::{check_status as status, dsim};
use scenarios::runner::Scenario;
use sim::CheckStatus;

fn bundled(path: &str) -> (&'static str, &'static str) {
    scenarios::bundled::find(path).unwrap_or_else(|| panic!("{path} is not bundled"))
}

/// A bundled scenario with one line of its text replaced.
fn variant(path: &str, from: &str, to: &str) -> Result<Box<dyn Scenario>, String> {
    let (p, text) = bundled(path);
    assert!(text.contains(from), "{p} has no `{from}`");
    scenarios::load::load_str(p, &text.replace(from, to)).map_err(|e| e.to_string())
}

#[test]
fn dueling_proposers_settle_with_random_backoff_and_duel_forever_without() {
    for seed in 1..=5 {
        let mut s = variant("paxos/dueling", "backoff = \"random\"", "backoff = \"random\"").expect("loads");
        s.config_mut().seed = seed;
        let r = s.run(sim::Outputs::default()).expect("runs");
        assert_eq!(
            status(&r, "preempted"),
            CheckStatus::Pass,
            "seed {seed}: the duel happens"
        );
        assert_eq!(
            status(&r, "single-leader"),
            CheckStatus::Pass,
            "seed {seed}: and ends"
        );
        assert_eq!(status(&r, "ops-complete"), CheckStatus::Pass, "seed {seed}");

        let mut s = variant("paxos/dueling", "backoff = \"random\"", "backoff = \"none\"").expect("loads");
        s.config_mut().seed = seed;
        let r = s.run(sim::Outputs::default()).expect("runs");
        assert_eq!(
            status(&r, "single-leader"),
            CheckStatus::Fail,
            "seed {seed}: no back-off, no leader"
        );
        assert_eq!(status(&r, "ops-complete"), CheckStatus::Fail, "seed {seed}");
        // Safety holds all the same: a liveness problem only.
        for c in [
            "one-value-per-slot",
            "chosen-value-kept",
            "replicas-agree",
            "linearizable",
        ] {
            assert_eq!(status(&r, c), CheckStatus::Pass, "seed {seed}: {c}");
        }
    }
}

#[test]
fn the_loader_refuses_quorums_that_do_not_intersect() {
    let err = match variant("paxos/flexible-quorums", "q1 = 4", "q1 = 3") {
        Ok(_) => panic!("q1 = 3, q2 = 2 of 5 must be refused"),
        Err(e) => e,
    };
    assert!(err.contains("scenarios/paxos/flexible-quorums.toml:"), "{err}");
    assert!(err.contains("do not intersect"), "{err}");
    // q1 = 4 and q2 = 2 intersect: the scenario loads and runs with a faster phase 2.
    let s = variant("paxos/flexible-quorums", "q1 = 4", "q1 = 4").expect("loads");
    let r = s.run(sim::Outputs::default()).expect("runs");
    assert!(
        r.failed_checks().next().is_none(),
        "{:?}",
        r.failed_checks().map(|c| &c.name).collect::<Vec<_>>()
    );
}

#[test]
fn a_new_leader_adopts_what_the_crashed_one_got_accepted() {
    // Over seeds of the leader-crash scenario, some takeover finds accepted values and
    // re-proposes them (P2c); none ever loses a chosen value.
    let mut adopted = 0;
    for seed in 1..=10 {
        let (p, text) = bundled("paxos/leader-crash");
        let mut s = scenarios::load::load_str(p, text).expect("loads");
        s.config_mut().seed = seed;
        let r = s.run(sim::Outputs::default()).expect("runs");
        assert!(r.failed_checks().next().is_none(), "seed {seed}");
        if status(&r, "value-adopted") == CheckStatus::Pass {
            adopted += 1;
        }
    }
    assert!(adopted > 0, "no takeover adopted a value in 10 seeds");
}

#[test]
fn a_paxos_fuzz_campaign_does_not_depend_on_jobs() {
    let run = |jobs: &str| {
        let args = [
            "fuzz",
            "paxos/fuzz",
            "--seeds",
            "1..41",
            "--bug",
            "promise-not-durable",
            "--keep-going",
            "--jobs",
            jobs,
            "--json",
        ];
        let (code, out, err) = dsim(&args);
        assert_eq!(code, 1, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        v["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .map(|f| (f["seed"].as_u64(), f["trace_hash"].as_str().map(String::from)))
            .collect::<Vec<_>>()
    };
    let one = run("1");
    assert!(!one.is_empty());
    assert_eq!(one, run("2"));
}
