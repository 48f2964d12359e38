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
