//! `docs/tutorial.md` works as written: every `dsim` command in its `sh` blocks runs with the
//! exit code it states (`# exit N`, else 0), seed-scan loops find a failing seed, every code
//! excerpt that names its file appears in that file, and the trace excerpt is what the run
//! before it wrote.

mod common;
use common::{dsim, repo_root, temp_dir};

struct Block {
    lang: String,
    lines: Vec<String>,
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut cur: Option<Block> = None;
    for line in md.lines() {
        match (&mut cur, line.strip_prefix("```")) {
            (None, Some(lang)) => {
                cur = Some(Block {
                    lang: lang.trim().to_string(),
                    lines: Vec::new(),
                })
            }
            (Some(_), Some(_)) => out.push(cur.take().expect("open block")),
            (Some(b), None) => b.lines.push(line.to_string()),
            (None, None) => {}
        }
    }
    out
}

/// Runs one `dsim …` line; `out/` becomes `out`. Returns the exit code.
fn run_line(line: &str, out: &str) -> u8 {
    let (cmd, want) = match line.split_once("# exit ") {
        Some((c, code)) => (c.trim(), code.trim().parse::<u8>().expect("exit code")),
        None => (line.trim(), 0),
    };
    let args: Vec<String> = cmd
        .split_whitespace()
        .skip(1)
        .map(|a| a.replace("out/", &format!("{out}/")))
        .collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = dsim(&argv);
    assert_eq!(
        code, want,
        "`{cmd}` exited {code}, the tutorial says {want}: {err}"
    );
    code
}

/// `for s in $(seq 1 N); do dsim … --seed $s … || break; done`: some seed must fail.
fn run_loop(line: &str, out: &str) {
    let n: u64 = line
        .split("seq 1 ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("seq 1 N");
    let body = line
        .split("do ")
        .nth(1)
        .and_then(|r| r.split(" ||").next())
        .expect("do … ||");
    let failed = (1..=n).any(|s| {
        let cmd = body.replace("$s", &s.to_string());
        let args: Vec<String> = cmd
            .split_whitespace()
            .skip(1)
            .map(|a| a.replace("out/", &format!("{out}/")))
            .collect();
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        dsim(&argv).0 == 1
    });
    assert!(failed, "`{line}`: no seed failed");
}

#[test]
fn the_tutorial_runs_as_written() {
    let md = std::fs::read_to_string(repo_root().join("docs/tutorial.md")).expect("docs/tutorial.md");
    let out = temp_dir("tutorial").join("out");
    let out = out.to_string_lossy().into_owned();
    let mut commands = 0;
    for b in blocks(&md) {
        match b.lang.as_str() {
            "sh" => {
                for line in b.lines.iter().filter(|l| !l.trim().is_empty()) {
                    if line.starts_with("dsim ") {
                        run_line(line, &out);
                    } else if line.starts_with("for ") {
                        run_loop(line, &out);
                    } else {
                        panic!("the tutorial's sh blocks hold dsim commands only: {line}");
                    }
                    commands += 1;
                }
            }
            "rust" | "toml" => {
                let first = b.lines.first().map(String::as_str).unwrap_or("");
                let Some(path) = first.strip_prefix("// ").or_else(|| first.strip_prefix("# ")) else {
                    continue;
                };
                if !path.contains('/') || !repo_root().join(path).is_file() {
                    continue;
                }
                let text = std::fs::read_to_string(repo_root().join(path)).expect("excerpt's file");
                let excerpt = b.lines[1..].join("\n");
                assert!(
                    text.contains(&excerpt),
                    "the excerpt of {path} is not in it:\n{excerpt}"
                );
            }
            "text" if b.lines.iter().any(|l| l.contains("ms  ")) => {
                // The trace excerpt: its lines appear, in order, in the last run's trace.txt.
                let trace = std::fs::read_to_string(format!("{out}/trace.txt")).expect("trace.txt");
                let mut rest = trace.lines();
                for want in &b.lines {
                    assert!(rest.any(|l| l == want), "trace line not found (in order): {want}");
                }
            }
            _ => {}
        }
    }
    assert!(commands >= 6, "the tutorial runs its commands");
    assert!(md.contains("broadcast::Node,"), "the registry line is shown");
    let registry = std::fs::read_to_string(repo_root().join("protocols/src/lib.rs")).expect("lib.rs");
    assert!(registry.contains("    broadcast::Node,"));
}
