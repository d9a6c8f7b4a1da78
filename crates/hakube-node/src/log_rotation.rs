//! Rotating container log files, which containerd 1.6 never does on its own: like the kubelet,
//! a file over the size limit is renamed with a timestamp suffix, containerd is told to reopen
//! it (ReopenContainerLog), and only the newest rotated files are kept, so a chatty container
//! cannot fill the disk.

use jiff::Timestamp;
use std::path::{Path, PathBuf};

/// The kubelet's defaults: 10 MiB per file, 5 files per container including the current one.
pub const DEFAULT_MAX_LOG_FILE_BYTES: u64 = 10 * 1024 * 1024;
pub const DEFAULT_MAX_LOG_FILES: usize = 5;

/// Whether the file has outgrown `max_bytes`.
pub fn rotation_due(path: &Path, max_bytes: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.len() > max_bytes)
}

/// Renames the file to `<file>.<UTC timestamp>`; containerd must then reopen its log.
pub fn rotate(path: &Path, now: Timestamp) -> std::io::Result<PathBuf> {
    let suffix = now.strftime("%Y%m%d-%H%M%S%.6f").to_string();
    let rotated = PathBuf::from(format!("{}.{suffix}", path.display()));
    std::fs::rename(path, &rotated)?;
    Ok(rotated)
}

/// Deletes all but the newest `keep` rotated files of `path`.
pub fn prune_rotated(path: &Path, keep: usize) {
    let (Some(directory), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .map(|entry| entry.path())
        .collect();
    // The timestamp suffix sorts chronologically.
    rotated.sort();
    let excess = rotated.len().saturating_sub(keep);
    for old in &rotated[..excess] {
        let _ = std::fs::remove_file(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_rotate_and_only_the_newest_rotations_stay()
    -> Result<(), Box<dyn std::error::Error>> {
        let directory = tempfile::tempdir()?;
        let path = directory.path().join("0.log");
        for second in 0..4 {
            std::fs::write(&path, "x".repeat(20))?;
            assert!(rotation_due(&path, 10));
            rotate(&path, Timestamp::from_second(1_700_000_000 + second)?)?;
        }
        std::fs::write(&path, "")?;
        assert!(!rotation_due(&path, 10));
        prune_rotated(&path, 2);
        let mut names: Vec<String> = std::fs::read_dir(directory.path())?
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "0.log",
                "0.log.20231114-221322.000000",
                "0.log.20231114-221323.000000"
            ]
        );
        Ok(())
    }
}
