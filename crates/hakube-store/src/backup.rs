//! Backups: a consistent copy of the whole key-value state at one revision, checksummed, in a
//! file of its own format (versioned, so a later hakube can still read it). A backup is taken
//! from the applied state after a linearizable read barrier, so it contains every write
//! acknowledged before it started. Restoring is offline: the file becomes the initial state of
//! a new one-node cluster (see `StateMachine::open`), as `etcdctl snapshot restore` does.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::mvcc::KeyValueState;
use crate::record;
use crate::state_machine::write_atomically;

/// File name, inside the store directory, of a backup waiting to become the initial state.
pub const RESTORE_FILE_NAME: &str = "restore.bin";
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize, Debug)]
pub struct BackupFile {
    pub format_version: u32,
    pub revision: u64,
    pub created_unix_ms: u64,
    pub kv: KeyValueState,
}

/// What a verified backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    pub revision: u64,
    pub keys: usize,
    pub bytes: usize,
}

pub fn write(path: &Path, kv: &KeyValueState, created_unix_ms: u64) -> io::Result<BackupSummary> {
    let file = BackupFile {
        format_version: FORMAT_VERSION,
        revision: kv.revision(),
        created_unix_ms,
        kv: kv.clone(),
    };
    let bytes = record::encode(&file)?;
    write_atomically(path, &bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("writing backup {}: {e}", path.display())))?;
    Ok(BackupSummary {
        revision: file.revision,
        keys: kv.key_count(),
        bytes: bytes.len(),
    })
}

/// Reads and verifies a backup (checksum, format, revision), naming the file in any error.
pub fn read(path: &Path) -> io::Result<(BackupFile, BackupSummary)> {
    let bytes = std::fs::read(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading backup {}: {e}", path.display())))?;
    let file: BackupFile = record::decode(&bytes, &|| format!("backup {}", path.display()))?;
    if file.format_version != FORMAT_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "backup {} has format {} (this hakube reads {FORMAT_VERSION})",
                path.display(),
                file.format_version
            ),
        ));
    }
    if file.kv.revision() != file.revision {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "backup {} is inconsistent (revision mismatch)",
                path.display()
            ),
        ));
    }
    let summary = BackupSummary {
        revision: file.revision,
        keys: file.kv.key_count(),
        bytes: bytes.len(),
    };
    Ok((file, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Condition, Operation};

    #[test]
    fn backup_roundtrip_and_damage_is_detected() {
        let mut kv = KeyValueState::new();
        for i in 0..10u8 {
            kv.apply(&Operation::Put {
                key: vec![b'k', i],
                value: vec![i; 100],
                condition: Condition::Always,
            });
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.hakube");
        let written = write(&path, &kv, 1).unwrap();
        assert_eq!(written.keys, 10);
        let (file, summary) = read(&path).unwrap();
        assert_eq!(summary, written);
        assert_eq!(file.kv, kv);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("is corrupt"), "{error}");
        assert!(error.contains("b.hakube"), "{error}");
    }
}
