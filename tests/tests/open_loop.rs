//! The open loop: arrivals come at the configured rate whatever the completions, up to
//! `in_flight` operations per client (each in a process of its own), and latency counts from
//! the arrival — so an overloaded system shows it (no coordinated omission), where the closed
//! loop quietly slows its clients down.

mod common;
use common::{dsim, jsonl, temp_dir, without_event_index};
use std::collections::BTreeMap;

const SLOW: &str = r#"
protocol = "single"
duration = "10s"
[storage]
sync_latency = "20ms"       # every operation takes over 20 ms
[workload]
clients = 2
rate = "400/s"              # 5 ms apart per client: more than the server keeps up with
"#;

fn run(name: &str, text: &str) -> (serde_json::Value, Vec<serde_json::Value>, std::path::PathBuf) {
    let dir = temp_dir(&format!("open-loop-{name}"));
    let f = dir.join("s.toml");
    std::fs::write(&f, text).expect("write");
    let out = dir.join("out");
    let (code, stdout, err) = dsim(&[
        "run",
        &f.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--json",
    ]);
    assert_eq!(code, 0, "{name}: {err}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let history = jsonl(&out.join("history.jsonl"));
    (report, history, out)
}

/// The most operations one client had in flight at once, checking on the way that no
/// process ever has two.
fn max_in_flight(history: &[serde_json::Value]) -> usize {
    let mut open: BTreeMap<u64, String> = BTreeMap::new();
    let mut per_client: BTreeMap<String, usize> = BTreeMap::new();
    let mut most = 0;
    for h in history {
        let p = h["process"].as_u64().expect("process");
        let c = h["client"].as_str().expect("client").to_string();
        if h["type"] == "invoke" {
            assert!(
                open.insert(p, c.clone()).is_none(),
                "process {p} invoked twice at once"
            );
            let n = per_client.entry(c).or_default();
            *n += 1;
            most = most.max(*n);
        } else {
            assert!(open.remove(&p).is_some(), "completion without invocation");
            *per_client.get_mut(&c).expect("client") -= 1;
        }
    }
    most
}

#[test]
fn the_open_loop_keeps_the_rate_and_measures_the_wait() {
    let (closed, closed_h, _) = run("closed", SLOW);
    let open_text = SLOW.replace("[workload]", "[workload]\nmode = \"open\"\nin_flight = 4");
    let (open, open_h, _) = run("open", &open_text);
    let invoked = |r: &serde_json::Value| r["ops"]["invoked"].as_u64().expect("ops");
    // Closed: each client waits for its op, so far fewer than rate × duration = 4000.
    assert!(
        invoked(&closed) < 1500,
        "closed loop invoked {}",
        invoked(&closed)
    );
    assert_eq!(max_in_flight(&closed_h), 1);
    // Open: 4 lanes each, so more get in — and several at once per client.
    assert!(
        invoked(&open) > 2 * invoked(&closed),
        "open {} vs closed {}",
        invoked(&open),
        invoked(&closed)
    );
    assert_eq!(max_in_flight(&open_h), 4);
    // The backlog shows as waiting time, and as latency counted from the arrival.
    let m = &open["metrics"];
    assert!(m["queueing"]["n"].as_u64().unwrap_or(0) > 0, "{m}");
    let p99 = |r: &serde_json::Value| r["metrics"]["latency"]["p99"].as_f64().expect("latency");
    assert!(
        p99(&open) > 5.0 * p99(&closed),
        "open p99 {} vs closed {}",
        p99(&open),
        p99(&closed)
    );
    let lin = open["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "linearizable")
        .expect("checked");
    assert_eq!(lin["status"], "pass");
}

#[test]
fn an_open_loop_run_replays_from_its_schedule() {
    let text = SLOW.replace("[workload]", "[workload]\nmode = \"open\"\nin_flight = 3");
    let (_, first, out) = run("replay", &text);
    let schedule = out.join("schedule.toml");
    let replay = out.join("replay");
    let (code, _, err) = dsim(&[
        "run",
        &schedule.to_string_lossy(),
        "--out",
        &replay.to_string_lossy(),
    ]);
    assert_eq!(code, 0, "{err}");
    let second = jsonl(&replay.join("history.jsonl"));
    assert_eq!(first.len(), second.len());
    assert!(
        without_event_index(first) == without_event_index(second),
        "the replay's history differs"
    );
}

/// Invocations by `client` after `t` ns.
fn invoked_after(history: &[serde_json::Value], client: &str, t: u64) -> usize {
    history
        .iter()
        .filter(|h| h["type"] == "invoke" && h["client"] == client)
        .filter(|h| h["time_ns"].as_u64().expect("time") > t)
        .count()
}

#[test]
fn an_open_loop_client_invokes_again_after_its_restart() {
    let text = SLOW.replace("[workload]", "[workload]\nmode = \"open\"\nin_flight = 3")
        + "[[faults]]\nat = \"2s\"\ncrash = \"c1\"\nrestart_after = \"100ms\"\n";
    let (report, history, _) = run("restart", &text);
    assert!(
        report["ops"]["info"].as_u64().expect("info") > 0,
        "the crash ends ops info"
    );
    // Arrivals resume with the restart: c1 keeps invoking for the remaining ~8 s.
    assert!(
        invoked_after(&history, "c1", 2_100_000_000) > 100,
        "c1 invoked {} operations after its restart",
        invoked_after(&history, "c1", 2_100_000_000)
    );
}

#[test]
fn a_scheduled_op_held_by_a_pause_survives_a_crash_and_runs_after_the_restart() {
    // c1 is paused when its op comes, crashes while still paused, and restarts at 3 s.
    let base = r#"
protocol = "single"
duration = "5s"
[workload]
clients = 1
rate = "10/s"
[[ops]]
at = "1.5s"
client = "c1"
op = "write"
key = "k99"
[[faults]]
at = "1s"
pause = "c1"
[[faults]]
at = "2s"
crash = "c1"
restart_after = "1s"
"#;
    for (name, text) in [
        ("closed", base.to_string()),
        ("open", base.replace("[workload]", "[workload]\nmode = \"open\"")),
    ] {
        let (_, history, _) = run(&format!("pause-crash-{name}"), &text);
        let op: Vec<&serde_json::Value> = history
            .iter()
            .filter(|h| h["key"] == "k99" && h["type"] == "invoke")
            .collect();
        assert_eq!(op.len(), 1, "{name}: the scheduled write is invoked once");
        assert!(
            op[0]["time_ns"].as_u64().expect("time") >= 3_000_000_000,
            "{name}: invoked at the restart, not before: {}",
            op[0]
        );
        assert!(
            invoked_after(&history, "c1", 3_000_000_000) > 5,
            "{name}: c1 runs on"
        );
    }
}

#[test]
fn resume_random_client_resumes_a_paused_one() {
    let text = r#"
protocol = "single"
duration = "4s"
[workload]
clients = 10
rate = "200/s"               # 20/s per client
[[faults]]
at = "1s"
pause = "c1"
[[faults]]
at = "2s"
resume = "random-client"     # c1 is the only paused client
"#;
    for mode in ["closed", "open"] {
        let t = text.replace("[workload]", &format!("[workload]\nmode = \"{mode}\""));
        let (_, history, _) = run(&format!("resume-random-{mode}"), &t);
        assert!(
            invoked_after(&history, "c1", 2_000_000_000) > 5,
            "{mode}: c1 was not resumed"
        );
    }
}
