//! Embeds the bundled scenario files (`scenarios/<protocol>/*.toml`) so `dsim list` can show them
//! and `dsim run raft/figure8` works from any directory.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&root);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root)
        .expect("read scenarios/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter(|e| !matches!(e.file_name().to_str(), Some("src") | Some("target")))
        .collect();
    dirs.sort_by_key(|e| e.file_name());
    for dir in dirs {
        println!("cargo:rerun-if-changed={}", dir.path().display());
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read a scenario folder")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            println!("cargo:rerun-if-changed={}", f.display());
            let rel = format!(
                "scenarios/{}/{}",
                dir.file_name().to_string_lossy(),
                f.file_name().expect("file name").to_string_lossy()
            );
            entries.push((rel, f));
        }
    }
    let mut out = String::from(
        "/// (path relative to the repository root, file text)\npub const BUNDLED: &[(&str, &str)] = &[\n",
    );
    for (rel, path) in entries {
        writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("write to String");
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bundled.rs");
    std::fs::write(dest, out).expect("write bundled.rs");
}
