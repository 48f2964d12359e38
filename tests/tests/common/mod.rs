//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The repository root (this crate lives in `tests/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `dsim` in-process; returns (exit code, stdout, stderr). Panics propagate to the test.
pub fn dsim(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["dsim"];
    argv.extend_from_slice(args);
    let code = scenarios::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).expect("utf-8 stdout"),
        String::from_utf8(err).expect("utf-8 stderr"),
    )
}

/// The shared test data: `$DSIM_SHARED_DATA`, else `shared/data` beside the repository root.
pub fn shared_data() -> PathBuf {
    let p = std::env::var_os("DSIM_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let listing = p.join("histories/porcupine/expected.jsonl");
    assert!(
        listing.is_file(),
        "shared test data missing: expected {} (set DSIM_SHARED_DATA to the data folder)",
        listing.display()
    );
    p
}

/// A fresh temporary directory under the target directory (no machine-specific path).
pub fn temp_dir(name: &str) -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).expect("create temp dir");
    base
}

/// A JSON-lines file (`history.jsonl`, `trace.jsonl`), one value per line.
pub fn jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// A history without its event indexes (`i`): a replay numbers its events differently.
pub fn without_event_index(history: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    history
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().expect("a JSON object").remove("i");
            v
        })
        .collect()
}

/// Cuts a bundled scenario to at most 20 simulated seconds (the quiet period to 15 s), so the
/// tests that run every bundled scenario stay quick in the debug build.
pub fn cut_to_20s(s: &mut dyn scenarios::runner::Scenario) {
    const S: u64 = sim::time::NANOS_PER_SEC;
    let cfg = s.config_mut();
    if cfg.duration > 20 * S {
        cfg.duration = 20 * S;
        cfg.quiet_from = cfg.quiet_from.map(|q| q.min(15 * S));
        if let Some(w) = cfg.workload.as_mut() {
            w.stop = w.stop.min(cfg.duration);
        }
    }
}

/// `dsim run SCENARIO --out DIR EXTRA…` (a path, or one relative to the repository root) into
/// a fresh temporary directory; the run may pass or fail, not error.
pub fn run_out(name: &str, scenario: &str, extra: &[&str]) -> PathBuf {
    let dir = temp_dir(name);
    let d = dir.to_string_lossy().into_owned();
    let path = if std::path::Path::new(scenario).exists() {
        scenario.to_string()
    } else {
        repo_root().join(scenario).to_string_lossy().into_owned()
    };
    let mut args = vec!["run", path.as_str(), "--out", d.as_str()];
    args.extend_from_slice(extra);
    let (code, _, err) = dsim(&args);
    assert!(code == 0 || code == 1, "{err}");
    dir
}

/// The status of check `name` in a run's report (panics if the run has no such check).
pub fn check_status(r: &sim::RunReport, name: &str) -> sim::CheckStatus {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
        .status
}
