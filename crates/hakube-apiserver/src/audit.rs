//! The audit log: one JSON line per write request (who, what, the answer's code), appended to
//! `DATA_DIR/audit.log` by one writer task through a bounded queue (a full queue makes
//! requests wait rather than lose records), rotated to `audit.log.1` at 64 MiB.

use std::io::Write as _;
use std::path::PathBuf;

use serde_json::Value;
use tokio::sync::mpsc;

const QUEUE_RECORDS: usize = 4096;
const ROTATE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Debug)]
pub struct AuditLog {
    sender: mpsc::Sender<Value>,
}

impl AuditLog {
    /// Starts the writer task for `path`.
    pub fn start(path: PathBuf) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_RECORDS);
        tokio::spawn(write_records(path, receiver));
        AuditLog { sender }
    }

    pub async fn record(&self, record: Value) {
        // Closed only when the writer failed for good; the failure was logged.
        let _ = self.sender.send(record).await;
    }
}

fn open(path: &PathBuf) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

async fn write_records(path: PathBuf, mut receiver: mpsc::Receiver<Value>) {
    let mut file = match open(&path) {
        Ok(file) => file,
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot open the audit log; writes are not audited");
            return;
        }
    };
    while let Some(record) = receiver.recv().await {
        let mut line = serde_json::to_vec(&record).unwrap_or_default();
        line.push(b'\n');
        if let Err(error) = file.write_all(&line) {
            tracing::warn!(%error, "cannot write the audit log");
            continue;
        }
        if file.metadata().map(|m| m.len()).unwrap_or(0) >= ROTATE_BYTES {
            let _ = std::fs::rename(&path, path.with_extension("log.1"));
            match open(&path) {
                Ok(next) => file = next,
                Err(error) => {
                    tracing::warn!(%error, "cannot reopen the audit log after rotation");
                    return;
                }
            }
        }
    }
}
