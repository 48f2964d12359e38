//! Tidy checks that keep the architecture invariants true (ARCHITECTURE.md). `.ci/run` also runs
//! clippy, whose `disallowed-types`/`disallowed-methods` (clippy.toml) are denied in `sim` and
//! `protocols`; these tests catch what a lint cannot.

mod common;
use common::repo_root;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn sim_depends_on_no_other_workspace_crate() {
    let text = std::fs::read_to_string(repo_root().join("sim/Cargo.toml")).expect("read");
    let manifest: toml::Table = toml::from_str(&text).expect("parse");
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) {
            for name in ["protocols", "scenarios", "reports", "dsim-tests"] {
                assert!(
                    !deps.contains_key(name),
                    "sim must not depend on {name} ({section})"
                );
            }
        }
    }
}

#[test]
fn reports_and_protocols_depend_only_on_sim() {
    for krate in ["protocols", "reports"] {
        let text = std::fs::read_to_string(repo_root().join(krate).join("Cargo.toml")).expect("read");
        let manifest: toml::Table = toml::from_str(&text).expect("parse");
        let deps = manifest
            .get("dependencies")
            .and_then(|d| d.as_table())
            .cloned()
            .unwrap_or_default();
        for name in ["protocols", "scenarios", "reports"] {
            assert!(
                name == krate || !deps.contains_key(name),
                "{krate} must not depend on {name}"
            );
        }
    }
}

#[test]
fn the_engine_names_no_protocol() {
    // Architecture invariant 1: `sim` has no word of any protocol.
    // `single` is also an English word ("single-threaded"); the rest are protocol names only.
    let mut names: Vec<&str> = protocols::NAMES
        .iter()
        .copied()
        .filter(|n| *n != "single")
        .collect();
    names.extend(["raft", "paxos", "zab", "zookeeper", "kafka"]);
    for f in rust_files(&repo_root().join("sim/src")) {
        let text = std::fs::read_to_string(&f).expect("read").to_lowercase();
        for name in &names {
            for word in text.split(|c: char| !c.is_alphanumeric()) {
                assert!(word != *name, "{} mentions protocol `{name}`", f.display());
            }
        }
    }
}

#[test]
fn no_nondeterminism_in_engine_or_protocols() {
    // Clippy enforces these too; a grep catches them in code clippy does not compile (cfg'd out).
    let banned = [
        "HashMap",
        "HashSet",
        "Instant::now",
        "SystemTime",
        "thread_rng",
        "DefaultHasher",
        "std::time",
    ];
    for dir in ["sim/src", "protocols/src"] {
        for f in rust_files(&repo_root().join(dir)) {
            let text = std::fs::read_to_string(&f).expect("read");
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for b in banned {
                    assert!(
                        !code.contains(b),
                        "{}:{}: `{b}` breaks determinism",
                        f.display(),
                        i + 1
                    );
                }
            }
        }
    }
}

#[test]
fn every_protocol_folder_has_the_same_files() {
    let root = repo_root().join("protocols/src");
    let want: BTreeSet<&str> = ["mod.rs", "messages.rs", "node.rs", "invariants.rs", "bugs.rs"].into();
    let mut folders = 0;
    for e in std::fs::read_dir(&root).expect("list protocols/src") {
        let p = e.expect("entry").path();
        if !p.is_dir() || p.file_name().is_some_and(|n| n == "common" || n == "families") {
            continue;
        }
        folders += 1;
        // Named as the protocol is, so that its scenarios, docs page and folder share one name.
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        assert!(
            protocols::NAMES.contains(&name.as_ref()),
            "protocols/src/{name}/ is not named after a registered protocol ({:?})",
            protocols::NAMES
        );
        let have: BTreeSet<String> = std::fs::read_dir(&p)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        for w in &want {
            assert!(have.contains(*w), "{} lacks {w}", p.display());
        }
    }
    assert_eq!(
        folders,
        protocols::NAMES.len(),
        "one folder per registered protocol"
    );
}

#[test]
fn every_protocol_has_bundled_scenarios_and_planted_bugs() {
    for info in protocols::catalog() {
        let dir = repo_root().join("scenarios").join(info.name);
        assert!(dir.is_dir(), "scenarios/{}/ missing", info.name);
        assert!(
            dir.join("fuzz.toml").is_file(),
            "scenarios/{}/fuzz.toml missing",
            info.name
        );
        assert!(
            info.bugs.len() >= 3,
            "{} has fewer than 3 planted bugs",
            info.name
        );
    }
}

#[test]
fn no_machine_specific_paths() {
    // Built from their parts so that this file can be checked like every other one.
    let needles: Vec<String> = ["home", "root", "work", "tmp"]
        .iter()
        .map(|d| format!("/{d}/"))
        .chain([format!("C:{0}{0}Users", '\\')])
        .collect();
    let mut files = Vec::new();
    for dir in ["sim", "protocols", "scenarios", "reports", "tests", "docs"] {
        let d = repo_root().join(dir);
        if d.is_dir() {
            files.extend(rust_files(&d));
        }
    }
    for extra in [
        "README.md",
        "ARCHITECTURE.md",
        "docs/scenario-format.md",
        "docs/fuzzing.md",
        "docs/tutorial.md",
    ] {
        let p = repo_root().join(extra);
        if p.is_file() {
            files.push(p);
        }
    }
    for f in files {
        if f.components().any(|c| c.as_os_str() == "target") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        for n in &needles {
            assert!(
                !text.contains(n),
                "{} contains a machine-specific path ({n})",
                f.display()
            );
        }
    }
}

#[test]
fn every_protocol_has_a_page_that_names_its_bugs() {
    for p in protocols::catalog() {
        let path = repo_root().join(format!("docs/protocols/{}.md", p.name));
        let page = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} has no page {}", p.name, path.display()));
        for b in &p.bugs {
            assert!(
                page.contains(&format!("`{}`", b.name)),
                "{}: the page does not name the bug {}",
                path.display(),
                b.name
            );
        }
    }
}
