//! Refusing writes before the disk is full. A Raft log append that fails for lack of space is
//! a storage error, which stops the node; checking free space before proposing turns a full
//! disk into a clean refusal ("nothing changed") that ends by itself once space returns.

use std::path::PathBuf;

use crate::error::StoreError;

/// Free space below which this node refuses to propose writes.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct DiskGuard {
    pub path: PathBuf,
    pub min_free_bytes: u64,
}

impl DiskGuard {
    pub fn check(&self) -> Result<(), StoreError> {
        let Ok(stats) = rustix::fs::statvfs(&self.path) else {
            // Unknown free space is no reason to refuse: the write itself will tell.
            return Ok(());
        };
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free < self.min_free_bytes {
            return Err(StoreError::DiskFull {
                path: self.path.display().to_string(),
                free_bytes: free,
                needed_bytes: self.min_free_bytes,
            });
        }
        Ok(())
    }
}
