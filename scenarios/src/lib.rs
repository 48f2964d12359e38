//! Scenario files, the runner and the `dsim` command line.
//!
//! - [`load`]: scenario text → validated [`runner::Scenario`] (errors with file:line:col).
//! - [`runner`]: running a scenario, writing outputs atomically.
//! - [`bench`]: the PHOLD benchmark.
//! - [`bundled`]: the scenario files shipped in `scenarios/<protocol>/`.
#![deny(clippy::disallowed_types, clippy::disallowed_methods)]

pub mod bench;
pub mod cli;
pub mod determinism;
pub mod error;
pub mod fuzz;
pub mod history_cmd;
pub mod keypath;
pub mod list;
pub mod load;
pub mod runner;
pub mod schedule;
pub mod shrink;
pub mod spec;
pub mod summary;
pub mod sweep;
pub mod wall;

/// The scenario files shipped with dsim, embedded at build time.
pub mod bundled {
    include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

    /// Finds a bundled scenario by path (`scenarios/raft/figure8.toml`) or short name
    /// (`raft/figure8`).
    pub fn find(name: &str) -> Option<(&'static str, &'static str)> {
        let name = name.trim_start_matches("./");
        BUNDLED.iter().copied().find(|(path, _)| {
            *path == name
                || path.strip_prefix("scenarios/") == Some(name)
                || path
                    .strip_prefix("scenarios/")
                    .and_then(|p| p.strip_suffix(".toml"))
                    == Some(name)
        })
    }
}
