//! Node groups and client faults: groups number nodes in order and carry their own parameters
//! and boot times; faults, the nemesis and `crash_on_role` can be kept to a group; clients
//! address their entry group; clients can be crashed and paused like nodes.

mod common;
use common::{dsim, jsonl, temp_dir, without_event_index};
use std::path::Path;

fn run_file(name: &str, text: &str, extra: &[&str]) -> (u8, std::path::PathBuf, String) {
    let dir = temp_dir(&format!("groups-{name}"));
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("write");
    let out = dir.join("out");
    let f = file.to_string_lossy().into_owned();
    let o = out.to_string_lossy().into_owned();
    let mut args = vec!["run", f.as_str(), "--out", o.as_str()];
    args.extend_from_slice(extra);
    let (code, stdout, err) = dsim(&args);
    assert!(code <= 1, "{name}: exit {code}: {err}");
    (code, out, stdout)
}

#[test]
fn groups_number_nodes_boot_late_and_keep_the_nemesis_inside() {
    let text = r#"
protocol = "single"
duration = "20s"
quiet_from = "15s"

[[groups]]
name = "primary"
nodes = 1

[[groups]]
name = "standbys"
nodes = 3
boot_at = "2s"

[workload]
clients = 2
rate = "100/s"
group = "primary"

[nemesis]
group = "standbys"
crash = "1/1s"
pause = "1/1s"
fault_duration = ["100ms", "500ms"]
"#;
    let (code, out, _) = run_file("late", text, &["--seed", "3"]);
    assert_eq!(code, 0);
    let trace = jsonl(&out.join("trace.jsonl"));
    let starts: Vec<(String, u64)> = trace
        .iter()
        .filter(|l| l["ev"] == "starts")
        .map(|l| {
            (
                l["node"].as_str().unwrap_or("").to_string(),
                l["t"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(starts.len(), 4, "{starts:?}");
    for (node, t) in &starts {
        let want = if node == "n1" { 0 } else { 2_000_000_000 };
        assert_eq!(*t, want, "{node} starts at its group's boot_at");
    }
    let struck: Vec<&str> = trace
        .iter()
        .filter(|l| l["ev"] == "fault" && (l["kind"] == "crash" || l["kind"] == "pause"))
        .filter_map(|l| l["node"].as_str())
        .collect();
    assert!(!struck.is_empty(), "the nemesis struck");
    assert!(
        !struck.contains(&"n1"),
        "the nemesis stays in `standbys`: {struck:?}"
    );
    // No fault lands on a standby before it joins.
    for l in trace
        .iter()
        .filter(|l| l["ev"] == "fault" && l["kind"].is_string())
    {
        assert!(l["t"].as_u64().unwrap_or(0) >= 2_000_000_000 || l["node"] == "n1");
    }
    // Clients address the primary: every request goes to n1.
    let to: std::collections::BTreeSet<&str> = trace
        .iter()
        .filter(|l| l["ev"] == "send" && l["from"].as_str().is_some_and(|f| f.starts_with('c')))
        .filter_map(|l| l["to"].as_str())
        .collect();
    assert_eq!(to.into_iter().collect::<Vec<_>>(), ["n1"]);
}

#[test]
fn group_parameters_merge_and_the_cluster_is_validated_whole() {
    let base = r#"
protocol = "raft"
duration = "5s"
[params]
heartbeat = "20ms"
read_mode = "lease"
[[groups]]
name = "voters"
nodes = 3
[[groups]]
name = "slow"
nodes = 2
params = { election_timeout = ["400ms", "800ms"] }
"#;
    let dir = temp_dir("groups-lease");
    let f = dir.join("lease.toml");
    std::fs::write(&f, base).expect("write");
    let (code, _, err) = dsim(&["run", &f.to_string_lossy()]);
    assert_eq!(
        code, 2,
        "lease reads with two minimum timeouts are refused: {err}"
    );
    assert!(err.contains("same minimum election timeout"), "{err}");
    // With ReadIndex reads the same groups run, and the slow group's nodes do time out later.
    let ok = base.replace("read_mode = \"lease\"", "read_mode = \"read-index\"");
    let (code, out, _) = run_file("read-index", &ok, &[]);
    assert_eq!(code, 0);
    let leaders: Vec<String> = jsonl(&out.join("trace.jsonl"))
        .iter()
        .filter(|l| l["ev"] == "becomes" && l["role"] == "leader")
        .filter_map(|l| l["node"].as_str().map(str::to_string))
        .collect();
    assert!(!leaders.is_empty());
    assert!(
        ["n1", "n2", "n3"].contains(&leaders[0].as_str()),
        "a fast voter wins first: {leaders:?}"
    );
}

#[test]
fn a_crashed_client_gives_up_its_operation_and_a_paused_one_waits() {
    let text = r#"
protocol = "single"
duration = "5s"
[workload]
clients = 2
rate = "200/s"
[[network.links]]            # c1's operations take over 200 ms: at 1 s it is busy
from = "c1"
to = "n1"
both_ways = true
latency = "100ms"
[[faults]]
at = "1s"
crash = "c1"
restart_after = "1s"
[[faults]]
at = "1s"
pause = "c2"
resume_after = "1s"
"#;
    let (_, out, _) = run_file("client-faults", text, &[]);
    let history = jsonl(&out.join("history.jsonl"));
    let of = |c: &str| -> Vec<&serde_json::Value> { history.iter().filter(|h| h["client"] == c).collect() };
    let t = |h: &serde_json::Value| h["time_ns"].as_u64().unwrap_or(0);
    let (c1, c2) = (of("c1"), of("c2"));
    // Nothing is invoked while down or paused.
    for h in c1.iter().chain(&c2) {
        if h["type"] == "invoke" {
            assert!(
                !(1_000_000_000..2_000_000_000).contains(&t(h)),
                "invoked at {}",
                t(h)
            );
        }
    }
    // c1 was crashed with its operation in flight (a 200/s workload is rarely idle): that
    // operation is `info`, and after the restart c1 is a new process.
    let before: Vec<u64> = c1
        .iter()
        .filter(|h| t(h) <= 1_000_000_000)
        .filter_map(|h| h["process"].as_u64())
        .collect();
    let after: Vec<u64> = c1
        .iter()
        .filter(|h| t(h) >= 2_000_000_000)
        .filter_map(|h| h["process"].as_u64())
        .collect();
    assert!(!after.is_empty(), "c1 works again after its restart");
    assert!(
        after.iter().all(|p| !before.contains(p)),
        "a restarted client is a fresh process"
    );
    let at = c1
        .iter()
        .rposition(|h| t(h) < 1_000_000_000)
        .expect("c1 worked before");
    assert_eq!(c1[at]["type"], "invoke", "c1 is busy when it crashes");
    let done = c1[at + 1..]
        .iter()
        .find(|h| h["process"] == c1[at]["process"])
        .expect("completed");
    assert_eq!(
        done["type"], "info",
        "the crashed client's operation is indeterminate"
    );
    assert_eq!(t(done), 1_000_000_000);
    // c2 was paused: it resumes at 2 s as the same process, and what it was waiting for
    // completes after the resume, not during the pause.
    let completions_in_pause = c2
        .iter()
        .filter(|h| h["type"] != "invoke" && (1_000_000_001..2_000_000_000).contains(&t(h)))
        .count();
    assert_eq!(completions_in_pause, 0);
    assert!(
        c2.iter().any(|h| t(h) >= 2_000_000_000),
        "c2 continues after its resume"
    );
}

#[test]
fn bad_groups_and_targets_are_clear_errors() {
    let cases = [
        (
            "[[groups]]\nname = \"leader\"\nnodes = 1\n",
            "cannot name a group",
        ),
        (
            "[[groups]]\nname = \"a\"\nnodes = 1\n[[groups]]\nname = \"a\"\nnodes = 2\n",
            "two groups are called",
        ),
        (
            "nodes = 4\n[[groups]]\nname = \"a\"\nnodes = 3\n",
            "but the groups have 3 nodes",
        ),
        (
            "[[groups]]\nname = \"a\"\nnodes = 3\n[[faults]]\nat = \"1s\"\ncrash = \"random@b\"\n",
            "no node group `b`",
        ),
        (
            "[[faults]]\nat = \"1s\"\nclock_jump = \"c1\"\nby = \"1s\"\n",
            "no node `c1`",
        ),
        (
            "[[faults]]\nat = \"1s\"\nrestart = \"leader@x\"\n",
            "no node group `x`",
        ),
    ];
    for (i, (body, needle)) in cases.iter().enumerate() {
        let dir = temp_dir(&format!("groups-bad-{i}"));
        let f = dir.join("bad.toml");
        std::fs::write(
            &f,
            format!("protocol = \"raft\"\n{body}\n[workload]\nclients = 1\n"),
        )
        .expect("write");
        let (code, _, err) = dsim(&["run", &f.to_string_lossy()]);
        assert_eq!(code, 2, "case {i}: {err}");
        assert!(
            err.contains(needle) && err.contains("bad.toml:"),
            "case {i}: want `{needle}`, got {err}"
        );
    }
}

#[test]
fn a_run_with_groups_and_client_faults_replays_from_its_schedule() {
    let text = r#"
protocol = "single"
duration = "8s"
quiet_from = "6s"
[[groups]]
name = "primary"
nodes = 1
[[groups]]
name = "standbys"
nodes = 2
boot_at = "1s"
[workload]
clients = 3
rate = "150/s"
[nemesis]
crash = "1/2s"
client_crash = "1/1s"
client_pause = "1/1s"
fault_duration = ["100ms", "400ms"]
"#;
    let (_, out, _) = run_file("replay-groups", text, &["--seed", "7"]);
    let schedule = out.join("schedule.toml");
    let s = std::fs::read_to_string(&schedule).expect("schedule.toml");
    assert!(s.contains("[[groups]]") && s.contains("crash = \"c"), "{s}");
    let replay = out.join("replay");
    let (code, _, err) = dsim(&[
        "run",
        &schedule.to_string_lossy(),
        "--out",
        &replay.to_string_lossy(),
    ]);
    assert!(code <= 1, "{err}");
    let strip = |p: &Path| without_event_index(jsonl(p));
    let (a, b) = (
        strip(&out.join("history.jsonl")),
        strip(&replay.join("history.jsonl")),
    );
    assert!(a.len() > 100);
    assert!(a == b, "the replay's history differs");
}
