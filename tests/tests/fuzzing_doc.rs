//! docs/fuzzing.md's CI recipes, run as written: the GitHub Actions matrix's and the Kubernetes
//! Indexed Job's `dsim fuzz` commands, once per shard index, together find exactly the failures
//! of the unsharded run. (To stay quick the test narrows the seed range and plants a bug; the
//! rest of each command is the document's.)

mod common;
use common::{dsim, repo_root, temp_dir};
use std::collections::BTreeSet;

/// The `dsim fuzz …` lines of the document's YAML blocks, with the text before `dsim`.
fn commands() -> Vec<String> {
    let doc = std::fs::read_to_string(repo_root().join("docs/fuzzing.md")).expect("docs/fuzzing.md");
    let mut out = Vec::new();
    let mut in_yaml = false;
    for line in doc.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_yaml = t == "```yaml";
            continue;
        }
        if let (true, Some(i)) = (in_yaml, line.find("dsim fuzz ")) {
            out.push(line[i..].to_string());
        }
    }
    out
}

fn run(cmd: &str, shard: u64, out: &std::path::Path) -> BTreeSet<(u64, String)> {
    let cmd = cmd
        .replace("${{ matrix.shard }}", &shard.to_string())
        .replace("$JOB_COMPLETION_INDEX", &shard.to_string());
    let mut args: Vec<String> = cmd.split_whitespace().skip(1).map(String::from).collect();
    for a in args.iter_mut() {
        if a == "1..1001" {
            *a = "1..61".into();
        }
    }
    if let Some(p) = args.iter().position(|a| a == "--out") {
        args[p + 1] = out.to_string_lossy().into_owned();
    }
    args.extend(["--bug".into(), "accept-stale-term-append".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, err) = dsim(&argv);
    assert!(code == 0 || code == 1, "{cmd}: exit {code}: {err}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints one object");
    v["failures"]
        .as_array()
        .expect("failures")
        .iter()
        .map(|f| {
            (
                f["seed"].as_u64().expect("seed"),
                f["trace_hash"].as_str().expect("hash").to_string(),
            )
        })
        .collect()
}

#[test]
fn the_ci_recipes_cover_the_range_exactly_once() {
    let cmds = commands();
    assert_eq!(
        cmds.len(),
        2,
        "expected the GitHub and the Kubernetes command: {cmds:?}"
    );
    let dir = temp_dir("fuzzing-doc");
    // The unsharded run: the first command without its --shard.
    let whole_cmd: String = {
        let first = cmds[0].replace("${{ matrix.shard }}", "0");
        let mut words: Vec<&str> = first.split_whitespace().collect();
        let p = words.iter().position(|w| *w == "--shard").expect("--shard");
        words.drain(p..p + 2);
        words.join(" ")
    };
    let whole = run(&whole_cmd, 0, &dir.join("whole"));
    assert!(!whole.is_empty(), "the planted bug fails some seed of 1..61");
    for cmd in &cmds {
        let shards: u64 = cmd
            .replace("${{ matrix.shard }}", "0")
            .replace("$JOB_COMPLETION_INDEX", "0")
            .split("--shard ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.rsplit('/').next())
            .and_then(|n| n.parse().ok())
            .expect("--shard I/N");
        let mut union = BTreeSet::new();
        for i in 0..shards {
            for f in run(cmd, i, &dir.join(format!("shard-{i}"))) {
                assert_eq!(f.0 % shards, i, "{cmd}: seed {} in shard {i}", f.0);
                assert!(union.insert(f), "{cmd}: a seed in two shards");
            }
        }
        assert_eq!(union, whole, "{cmd}: the shards differ from the whole range");
    }
}
