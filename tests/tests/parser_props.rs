//! Property tests of the parsers: every bundled scenario and a sample of the external history
//! files, truncated, with random bytes, and mutated line by line and token by token. The
//! property: never a panic; a scenario the loader rejects is an error naming `file:line:col`
//! (or the file alone for whole-file problems such as bad UTF-8); a history that does not parse
//! is exit 2 with `file:line`. Mutations come from a fixed seed, so a failure reproduces.

mod common;
use common::{dsim, temp_dir};
use sim::rng::{Draw, Rng};

/// Mutations per file.
const PER_FILE: u64 = 400;

/// Tokens worth splicing in: the characters TOML and EDN care about, and values at the edges.
const TOKENS: [&str; 24] = [
    "\"",
    "=",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\n",
    "#",
    ".",
    "-",
    "0",
    "-1",
    "1e400",
    "nan",
    "\"1/0s\"",
    "\"999999h\"",
    "18446744073709551616",
    "\"n0\"",
    "\"n99\"",
    "\u{0}",
    "é",
    ":invoke",
    "true",
];

/// One mutant of `text`.
fn mutate(text: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut t = text.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let len = t.len().max(1) as u64;
        let at = rng.below(len) as usize;
        match rng.below(7) {
            0 => t.truncate(at),
            1 => {
                // Random bytes (often not UTF-8).
                for _ in 0..1 + rng.below(8) {
                    t.insert(at.min(t.len()), rng.below(256) as u8);
                }
            }
            2 => {
                let tok = TOKENS[rng.below(TOKENS.len() as u64) as usize];
                let at = at.min(t.len());
                t.splice(at..at, tok.bytes());
            }
            3 => {
                // Delete a span.
                let end = (at + 1 + rng.below(40) as usize).min(t.len());
                t.drain(at.min(end)..end);
            }
            4 => {
                // Duplicate a line.
                let lines: Vec<&[u8]> = t.split(|b| *b == b'\n').collect();
                let i = rng.below(lines.len() as u64) as usize;
                let mut out: Vec<u8> = Vec::new();
                for (j, l) in lines.iter().enumerate() {
                    out.extend_from_slice(l);
                    out.push(b'\n');
                    if j == i {
                        out.extend_from_slice(l);
                        out.push(b'\n');
                    }
                }
                t = out;
            }
            5 => {
                // Replace a digit run with a large or negative number.
                if let Some(p) = t.iter().skip(at).position(|b| b.is_ascii_digit()) {
                    let p = at + p;
                    let end = p + t[p..].iter().take_while(|b| b.is_ascii_digit()).count();
                    let n = ["0", "-7", "99999999999", "4294967296", "1_0"][rng.below(5) as usize];
                    t.splice(p..end, n.bytes());
                }
            }
            _ => {
                // Swap two bytes.
                let b = rng.below(len) as usize;
                if at < t.len() && b < t.len() {
                    t.swap(at, b);
                }
            }
        }
    }
    t
}

/// Whether `msg` (an error for `path`) points at a place in the file.
fn located(msg: &str, path: &str) -> bool {
    let Some(rest) = msg.split(path).nth(1) else {
        return false;
    };
    let mut parts = rest.trim_start_matches(':').split(':');
    let line = parts
        .next()
        .is_some_and(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    line || msg.contains("UTF-8") || msg.contains("empty")
}

#[test]
fn mutated_scenarios_never_panic_and_errors_point_into_the_file() {
    let mut rejected = 0;
    let mut unlocated = Vec::new();
    for (n, (path, text)) in scenarios::bundled::BUNDLED.iter().enumerate() {
        let mut rng = Rng::stream(n as u64, "parser-props");
        for k in 0..PER_FILE {
            let bytes = mutate(text.as_bytes(), &mut rng);
            let name = format!("mutant-{n}-{k}.toml");
            let result = std::panic::catch_unwind(|| match std::str::from_utf8(&bytes) {
                Ok(s) => scenarios::load::load_str(&name, s).err().map(|e| e.to_string()),
                Err(_) => Some(format!("{name}: not UTF-8")),
            });
            let Ok(err) = result else {
                panic!(
                    "the loader panicked on a mutant of {path} (mutation {k}):\n{}",
                    String::from_utf8_lossy(&bytes)
                );
            };
            if let Some(msg) = err {
                rejected += 1;
                if !located(&msg, &name) {
                    unlocated.push(format!("{path} mutation {k}: {msg}"));
                }
            }
        }
    }
    assert!(
        rejected > 100,
        "only {rejected} mutants were rejected: the mutations are too mild"
    );
    assert!(
        unlocated.is_empty(),
        "errors without file:line:col:\n{}",
        unlocated.join("\n")
    );
}

#[test]
fn mutated_scenario_files_are_exit_2_through_the_cli() {
    // The command line too: a sample of mutants, written to disk, run with `--seed 1`.
    let dir = temp_dir("parser-props-cli");
    let mut rng = Rng::stream(0, "parser-props-cli");
    let mut exit2 = 0;
    for (n, (_, text)) in scenarios::bundled::BUNDLED.iter().enumerate() {
        for k in 0..8 {
            let bytes = mutate(text.as_bytes(), &mut rng);
            let file = dir.join(format!("m-{n}-{k}.toml"));
            std::fs::write(&file, &bytes).expect("write");
            let f = file.to_str().expect("utf-8");
            // Only a mutant the loader rejects is run: a valid one may simulate for long.
            if scenarios::load::load_file(f).is_ok() {
                continue;
            }
            let (code, out, err) = dsim(&["run", f]);
            assert_eq!(code, 2, "{f}: {out}{err}");
            assert!(err.starts_with("error: "), "{f}: {err}");
            assert!(err.contains(f), "{f}: the error does not name the file: {err}");
            exit2 += 1;
        }
    }
    assert!(exit2 > 20, "only {exit2} mutants rejected");
}

#[test]
fn mutated_histories_never_panic_and_bad_ones_are_exit_2() {
    let data = common::shared_data().join("histories/porcupine");
    let mut files: Vec<std::path::PathBuf> = ["etcd", "kv"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(data.join(d))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
        })
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < 20_000))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no history files under {}", data.display());
    let dir = temp_dir("parser-props-history");
    // And dsim's own format: a history.jsonl a short run wrote.
    let run_dir = dir.join("run");
    let (code, _, err) = dsim(&["run", "single/basic", "--out", run_dir.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{err}");
    files.insert(0, run_dir.join("history.jsonl"));
    let mut rng = Rng::stream(0, "history-props");
    let (mut bad, mut ran) = (0, 0);
    for (n, src) in files.iter().step_by(7).enumerate() {
        let text = std::fs::read(src).expect("read");
        let model = if src.to_string_lossy().contains("etcd") {
            "register"
        } else {
            "kv"
        };
        let reps = if n == 0 { 40 } else { 10 };
        for k in 0..reps {
            let bytes = mutate(&text, &mut rng);
            let file = dir.join(format!("h-{n}-{k}.log"));
            std::fs::write(&file, &bytes).expect("write");
            let f = file.to_str().expect("utf-8");
            let (code, out, err) = dsim(&["check-history", f, "--model", model, "--budget", "200000"]);
            ran += 1;
            match code {
                0 | 1 | 3 => {}
                2 => {
                    bad += 1;
                    assert!(err.contains(f), "{f}: {err}");
                    assert!(located(&err, f), "{f}: no line in {err}");
                }
                c => panic!("{f}: exit {c}: {out}{err}"),
            }
        }
    }
    assert!(bad > 10, "only {bad} of {ran} mutated histories were rejected");
}
