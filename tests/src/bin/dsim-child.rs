//! `dsim` as a child process for the tests that need one (signals): the same entry point.

use std::io::Write;

fn main() -> std::process::ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = scenarios::cli::run(std::env::args_os(), &mut stdout.lock(), &mut stderr.lock());
    let _ = std::io::stdout().flush();
    std::process::ExitCode::from(code)
}
