//! Bad input gets a clear message naming file:line:col and exit code 2 — never a panic.

mod common;
use common::{dsim, temp_dir};

/// Writes `text` to a scenario file and runs it; asserts exit 2, no panic, and that the message
/// names the file with a line and column and contains `needle`.
fn rejects(name: &str, text: &[u8], needle: &str, line: usize) {
    let dir = temp_dir(&format!("bad-input-{name}"));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).expect("write scenario");
    let p = path.to_string_lossy().into_owned();
    let result = std::panic::catch_unwind(|| dsim(&["run", &p]));
    let (code, out, err) = result.unwrap_or_else(|_| panic!("{name}: dsim panicked"));
    assert_eq!(code, 2, "{name}: exit code; stderr: {err}");
    assert!(out.is_empty(), "{name}: nothing on stdout, got {out}");
    let at = format!("{p}:{line}:");
    assert!(
        err.contains(&at),
        "{name}: message should point at {at}; got:\n{err}"
    );
    assert!(
        err.contains(needle),
        "{name}: message should mention `{needle}`; got:\n{err}"
    );
}

#[test]
fn missing_file() {
    let (code, _, err) = dsim(&["run", "no/such/scenario.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/scenario.toml: no such file"), "{err}");
}

#[test]
fn malformed_toml() {
    rejects(
        "malformed",
        b"protocol = \"single\"\nnodes = = 3\n",
        "expected",
        2,
    );
}

#[test]
fn unknown_key() {
    rejects(
        "unknown-key",
        b"protocol = \"single\"\n\n[network]\ndorp = 0.5\n",
        "unknown field `dorp`",
        4,
    );
}

#[test]
fn unknown_param() {
    rejects(
        "unknown-param",
        b"protocol = \"single\"\n[params]\nspeed = 3\n",
        "unknown field `speed`",
        3,
    );
}

#[test]
fn wrong_type() {
    rejects(
        "wrong-type",
        b"protocol = \"single\"\nnodes = \"three\"\n",
        "invalid type",
        2,
    );
}

#[test]
fn duration_without_unit() {
    rejects(
        "no-unit",
        b"protocol = \"single\"\nduration = 10\n",
        "need a unit",
        2,
    );
}

#[test]
fn zero_nodes() {
    rejects(
        "zero-nodes",
        b"protocol = \"single\"\nnodes = 0\n",
        "at least 1",
        2,
    );
}

#[test]
fn absurd_nodes() {
    rejects(
        "huge-nodes",
        b"protocol = \"single\"\nnodes = 1000000000\n",
        "at most",
        2,
    );
}

#[test]
fn probability_above_one() {
    rejects(
        "drop",
        b"protocol = \"single\"\n[network]\ndrop = 1.5\n",
        "not a probability",
        3,
    );
}

#[test]
fn fault_after_the_end() {
    rejects(
        "late-fault",
        b"protocol = \"single\"\nduration = \"10s\"\n\n[[faults]]\nat = \"50s\"\ncrash = \"n1\"\n",
        "after the end of the run",
        5,
    );
}

#[test]
fn partition_naming_a_missing_node() {
    rejects(
        "bad-partition",
        b"protocol = \"single\"\nnodes = 3\n[[faults]]\nat = \"1s\"\npartition = [[\"n1\"], [\"n2\", \"n7\"]]\n",
        "no node or client `n7`",
        5,
    );
}

#[test]
fn unknown_protocol() {
    rejects(
        "unknown-protocol",
        b"protocol = \"paxos-9000\"\n",
        "unknown protocol",
        1,
    );
}

#[test]
fn unknown_bug_in_file_and_flag() {
    rejects(
        "unknown-bug",
        b"protocol = \"single\"\nbugs = [\"typo\"]\n",
        "unknown bug `typo`",
        2,
    );
    let (code, _, err) = dsim(&["run", "single/basic", "--bug", "typo"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown bug `typo`") && err.contains("ack-before-sync"),
        "{err}"
    );
}

#[test]
fn empty_file() {
    rejects("empty", b"", "empty", 1);
    rejects("blank", b"\n\n   \n", "empty", 1);
}

#[test]
fn binary_file() {
    rejects(
        "binary",
        b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe",
        "not UTF-8",
        1,
    );
    rejects(
        "latin1",
        b"protocol = \"single\"\nname = \"caf\xe9\"\n",
        "not UTF-8",
        2,
    );
}

#[test]
fn two_actions_in_one_fault() {
    rejects(
        "two-actions",
        b"protocol = \"single\"\n[[faults]]\nat = \"1s\"\ncrash = \"n1\"\npause = \"n1\"\n",
        "exactly one action",
        2,
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let (code, _, err) = dsim(&["run", "single/basic", "--seed", "minus-one"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = dsim(&["frobnicate"]);
    assert_eq!(code, 2);
    let (code, _, err) = dsim(&["bench", "phold", "--until", "soon"]);
    assert_eq!(code, 2);
    assert!(err.contains("--until"), "{err}");
    let (code, out, _) = dsim(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage"));
}

#[test]
fn an_op_after_its_key_retired() {
    let ops = "protocol = \"single\"\n[[ops]]\nat = \"1s\"\nclient = \"c1\"\nop = \"write\"\nkey = \"k1\"\nretire = true\n\n[[ops]]\nat = \"2s\"\nclient = \"c2\"\nop = \"read\"\nkey = \"k1\"\n";
    rejects("after-retire", ops.as_bytes(), "which an earlier op retired", 9);
    let repeated = "protocol = \"single\"\n[[ops]]\nat = \"1s\"\nclient = \"c1\"\nop = \"read\"\nkey = \"k1\"\nrepeat = 3\nevery = \"1s\"\nretire = true\n";
    rejects("repeat-retire", repeated.as_bytes(), "cannot retire", 9);
}

#[test]
fn a_clock_jump_beyond_the_bound() {
    let text = "protocol = \"raft\"\n[nemesis]\nclock_jump = \"1/1s\"\nmax_clock_jump = \"3000000h\"\n";
    rejects("clock-jump", text.as_bytes(), "at most 10000h", 4);
}

#[test]
fn too_many_lanes() {
    let text = "protocol = \"single\"\n[workload]\nclients = 1000\nmode = \"open\"\nin_flight = 10000\n";
    rejects("lanes", text.as_bytes(), "operations in flight", 5);
}

#[test]
fn a_value_too_large() {
    let text = "protocol = \"single\"\n[[ops]]\nat = \"1s\"\nclient = \"c1\"\nop = \"write\"\nkey = \"k1\"\nvalue = 9223372036854775806\n";
    rejects("big-value", text.as_bytes(), "too large", 2);
}

#[test]
fn buggify_sites_and_chance_are_checked() {
    let text = "protocol = \"raft\"\n[buggify]\nsites = [\"short-append\", \"no-such-site\"]\n";
    rejects(
        "buggify-site",
        text.as_bytes(),
        "unknown buggify site `no-such-site`",
        3,
    );
    let text = "protocol = \"raft\"\n[buggify]\nsites = [\"short-append\"]\nchance = 1.5\n";
    rejects("buggify-chance", text.as_bytes(), "a probability in (0, 1]", 4);
    let text = "protocol = \"single\"\n[buggify]\nsites = [\"short-append\"]\n";
    rejects("buggify-none", text.as_bytes(), "has no buggify sites", 3);
}

#[test]
fn aim_names_a_role_of_the_protocol() {
    let text =
        "protocol = \"raft\"\n[nemesis]\ncrash = \"1/1s\"\naim = { role = \"primary\", chance = 0.5 }\n";
    rejects("aim-role", text.as_bytes(), "`primary` is not a role of raft", 4);
}

#[test]
fn metrics_name_a_fault_and_a_condition_that_exist() {
    let crash =
        "protocol = \"raft\"\nnodes = 3\n[[faults]]\nname = \"boom\"\nat = \"1s\"\ncrash = \"leader\"\n";
    let text = format!("{crash}[[metrics]]\nname = \"x\"\nfrom = \"nope\"\nuntil = \"leader-known\"\n");
    rejects("metric-from", text.as_bytes(), "no fault is named `nope`", 9);
    let text = format!("{crash}[[metrics]]\nname = \"x\"\nfrom = \"boom\"\nuntil = \"sunrise\"\n");
    rejects(
        "metric-until",
        text.as_bytes(),
        "`sunrise` is not a condition of `raft`",
        10,
    );
    let text = format!("{crash}[[metrics]]\nname = \"latency\"\nuntil = \"leader-known\"\n");
    rejects("metric-name", text.as_bytes(), "already a metric", 8);
    let text = "protocol = \"raft\"\n[limits]\nstop_when_measured = true\n";
    rejects(
        "stop-measured",
        text.as_bytes(),
        "needs at least one [[metrics]]",
        3,
    );
}

#[test]
fn drawn_fault_times_are_uniform_ranges_or_name_an_earlier_fault() {
    let head = "protocol = \"raft\"\nnodes = 3\n[[faults]]\n";
    let text =
        format!("{head}at = {{ dist = \"normal\", min = \"1s\", max = \"2s\" }}\ncrash = \"leader\"\n");
    rejects("at-normal", text.as_bytes(), "must be a uniform range", 4);
    let text =
        format!("{head}at = {{ dist = \"uniform\", min = \"2s\", max = \"1s\" }}\ncrash = \"leader\"\n");
    rejects("at-backwards", text.as_bytes(), "min is after max", 4);
    let text = format!("{head}at = {{ with = \"later\" }}\ncrash = \"leader\"\n");
    rejects("at-with", text.as_bytes(), "no earlier fault is named `later`", 4);
    let text =
        format!("{head}at = {{ dist = \"uniform\", min = \"1s\", max = \"20s\" }}\ncrash = \"leader\"\n");
    rejects("at-late", text.as_bytes(), "after the end of the run", 4);
}

#[test]
fn a_sweep_table_names_metrics_that_exist_and_labels_each_plotted_value() {
    let text = "protocol = \"raft\"\n[sweep]\nmetrics = [\"latency.p99\", \"nonsense\"]\n";
    rejects("sweep-metric", text.as_bytes(), "`nonsense` is neither", 3);
    let text = "protocol = \"raft\"\n[sweep]\nmetrics = [\"latency\"]\n[[sweep.plot]]\nname = \"p\"\nvalues = [1, 2]\nlabels = [\"one\"]\n";
    rejects("sweep-labels", text.as_bytes(), "1 label(s) for 2 value(s)", 7);
    let text = "protocol = \"raft\"\n[sweep]\ntrials = 0\nmetrics = [\"latency\"]\n";
    rejects("sweep-trials", text.as_bytes(), "trials = 0 is too small", 3);
}

#[test]
fn raft_timing_parameters_say_what_they_accept() {
    let text = "protocol = \"raft\"\n[params]\nheartbeat = \"soon\"\n";
    rejects("heartbeat-word", text.as_bytes(), "\"auto\"", 3);
    let text = "protocol = \"raft\"\n[params]\nelection_timeout = [\"150ms\", \"150ms\"]\ntimeout_granularity = \"7ms\"\n";
    rejects("granularity", text.as_bytes(), "no whole multiple", 2);
}
