//! Writing a run's output files.

use std::path::Path;

/// Writes `bytes` to `path` via a temporary file (synced) and a rename, so readers never see
/// half a file. Every whole-file output of dsim goes through this
/// (streamed outputs are written under a temporary name and renamed the same way).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
