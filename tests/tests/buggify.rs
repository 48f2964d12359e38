//! `[buggify]` (FoundationDB's BUGGIFY: a protocol's rare-but-legal behaviours, forced at random)
//! and `[nemesis] aim` (random faults at a role's holder, Jepsen's `:primaries`).

mod common;
use common::{dsim, jsonl, temp_dir};

/// Runs `text` with `--out` and returns (exit code, result JSON, trace.txt, trace.jsonl lines).
fn run(name: &str, text: &str) -> (u8, serde_json::Value, String, Vec<serde_json::Value>) {
    let dir = temp_dir(&format!("buggify-{name}"));
    let file = dir.join("s.toml");
    std::fs::write(&file, text).expect("write");
    let out = dir.join("out");
    let (code, stdout, err) = dsim(&[
        "run",
        &file.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
        "--json",
    ]);
    assert!(code <= 1, "{name}: exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let txt = std::fs::read_to_string(out.join("trace.txt")).expect("trace.txt");
    (code, v, txt, jsonl(&out.join("trace.jsonl")))
}

/// The largest number of entries one AppendEntries carried, from the readable trace.
fn widest_append(trace: &str) -> u64 {
    trace
        .lines()
        .filter(|l| l.contains("AppendEntries{"))
        .filter_map(|l| {
            l.split("entries: ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

const RAFT: &str = r#"
protocol = "raft"
nodes = 3
duration = "3s"
seed = 4
[network]
latency = { dist = "uniform", min = "2ms", max = "8ms" }
[workload]
clients = 8
rate = "800/s"
keys = 4
"#;

#[test]
fn short_append_makes_every_append_one_entry_and_is_off_without_buggify() {
    let base = RAFT.to_string();
    let (_, plain, trace, _) = run("plain", &base);
    assert!(widest_append(&trace) > 1, "batching is on without [buggify]");
    assert!(plain.get("buggify").is_none(), "no buggify key without [buggify]");
    let on = format!("{base}\n[buggify]\nsites = [\"short-append\"]\nchance = 1.0\n");
    let (_, a, trace, _) = run("short", &on);
    assert_eq!(widest_append(&trace), 1, "short-append at chance 1");
    assert!(a["buggify"]["short-append"].as_u64().expect("count") >= 1);
    // Deterministic, and a different run from the plain one.
    let (_, b, _, _) = run("short-again", &on);
    assert_eq!(a["trace_hash"], b["trace_hash"]);
    assert_ne!(a["trace_hash"], plain["trace_hash"]);
    // The correct protocol stays correct.
    assert_eq!(a["violations"], 0, "{}", a["checks"]);
}

#[test]
fn early_election_draws_the_minimum_timeout_until_the_quiet_period() {
    let text = r#"
protocol = "raft"
nodes = 3
duration = "2s"
[params]
election_timeout = ["150ms", "300ms"]
[clocks]
max_drift_ppm = 0
[buggify]
sites = ["early-election"]
chance = 1.0
"#;
    let (_, v, _, trace) = run("early", text);
    let first = trace
        .iter()
        .find(|l| l["ev"] == "becomes" && l["role"] == "candidate")
        .expect("an election");
    // Every server's first timeout is the minimum: the first candidate stands at 150 ms sharp.
    assert_eq!(first["t"].as_u64(), Some(150_000_000), "{first}");
    assert!(v["buggify"]["early-election"].as_u64().expect("count") >= 3);
    // From the quiet period on, the site is off: the draws are random again.
    let quiet = text.replace("duration = \"2s\"", "duration = \"2s\"\nquiet_from = \"0s\"");
    let (_, q, _, trace) = run("early-quiet", &quiet);
    assert_eq!(q["buggify"]["early-election"], 0);
    let first = trace
        .iter()
        .find(|l| l["ev"] == "becomes" && l["role"] == "candidate")
        .expect("an election");
    assert_ne!(first["t"].as_u64(), Some(150_000_000), "{first}");
}

#[test]
fn aimed_faults_strike_the_leader() {
    let text = r#"
protocol = "raft"
nodes = 5
duration = "20s"
seed = 9
[workload]
clients = 2
rate = "50/s"
[nemesis]
crash = "1/1s"
pause = "1/1s"
fault_duration = ["100ms", "400ms"]
aim = { role = "leader", chance = 1.0 }
quiet_from = "15s"
"#;
    let (_, v, _, trace) = run("aim", text);
    assert_eq!(v["violations"], 0, "{}", v["checks"]);
    let mut role: std::collections::BTreeMap<String, String> = Default::default();
    let (mut struck, mut at_leader) = (0, 0);
    for l in &trace {
        let node = l["node"].as_str().unwrap_or("").to_string();
        if l["ev"] == "becomes" {
            role.insert(node, l["role"].as_str().unwrap_or("").to_string());
        } else if l["ev"] == "fault" && l["kind"] == "crash" {
            // (Pauses are aimed too, but not at a leader that is paused already.)
            let leader_exists = role.values().any(|r| r == "leader");
            if leader_exists {
                struck += 1;
                at_leader += usize::from(role.get(&node).map(String::as_str) == Some("leader"));
            }
        }
    }
    assert!(struck >= 5, "only {struck} aimed faults");
    assert_eq!(
        at_leader, struck,
        "every fault struck while a leader existed hit a leader"
    );
    // Without aim, random faults hit followers too.
    let (_, _, _, trace) = run("no-aim", &text.replace("aim = ", "# aim = "));
    let mut role: std::collections::BTreeMap<String, String> = Default::default();
    let mut followers = 0;
    for l in &trace {
        let node = l["node"].as_str().unwrap_or("").to_string();
        if l["ev"] == "becomes" {
            role.insert(node, l["role"].as_str().unwrap_or("").to_string());
        } else if l["ev"] == "fault" && l["kind"] == "crash" {
            followers += usize::from(role.get(&node).map(String::as_str) == Some("follower"));
        }
    }
    assert!(followers > 0);
}
