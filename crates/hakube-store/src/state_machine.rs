//! The state machine openraft applies committed entries to: the in-memory MVCC key-value state
//! ([`KeyValueState`]), the last applied log id and membership, snapshots on disk, and the fan-out
//! of change events to watchers.
//!
//! Apply is deterministic: it only reads the command and the current state. A command this
//! binary cannot decode stops the node (returned as an I/O error, which openraft treats as
//! fatal) rather than being skipped, since skipping would make replicas diverge.

use std::io::{self, Cursor};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::command::{Command, CommandResponse};
use crate::mvcc::{Event, KeyValueState};
use crate::record;
use crate::types::{LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};

/// How many change events the live channel holds. The channel keeps its last events (each with
/// its value and the previous one) in memory for as long as anyone subscribes, so it is kept
/// small: a watcher that falls behind it replays from the MVCC history instead (watch.rs).
pub const WATCH_CHANNEL_CAPACITY: usize = 1_024;

/// The replicated state, shared between openraft's apply task and readers.
pub struct Applied {
    pub kv: KeyValueState,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    kv: KeyValueState,
}

/// openraft's view of the state machine. Cloning shares everything.
#[derive(Clone)]
pub struct StateMachine {
    applied: Arc<RwLock<Applied>>,
    events: broadcast::Sender<Arc<Event>>,
    /// Counts snapshots installed from the leader. Such an install replaces the state without
    /// applying (or publishing) the entries in between, so watchers wait on this to catch up
    /// from the new state's history instead of skipping those events.
    restores: Arc<tokio::sync::watch::Sender<u64>>,
    snapshot_path: Arc<PathBuf>,
    metrics: Arc<crate::metrics::StoreMetrics>,
}

impl StateMachine {
    /// Opens the state machine of `directory`, restoring the last snapshot if there is one
    /// (openraft then re-applies the log after it).
    pub fn open(directory: &Path) -> io::Result<Self> {
        let snapshot_path = directory.join("snapshot.bin");
        let mut applied = Applied {
            kv: KeyValueState::new(),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some(file) = read_snapshot_file(&snapshot_path)? {
            applied.kv = file.kv;
            applied.last_applied = file.meta.last_log_id;
            applied.membership = file.meta.last_membership.clone();
        } else {
            // A restored backup is the initial state of a new cluster, until the first
            // snapshot (built right after initialisation) takes over.
            let restore = directory.join(crate::backup::RESTORE_FILE_NAME);
            if restore.exists() {
                applied.kv = crate::backup::read(&restore)?.0.kv;
            }
        }
        let (events, _) = broadcast::channel(WATCH_CHANNEL_CAPACITY);
        let (restores, _) = tokio::sync::watch::channel(0);
        Ok(Self {
            applied: Arc::new(RwLock::new(applied)),
            events,
            restores: Arc::new(restores),
            snapshot_path: Arc::new(snapshot_path),
            metrics: Arc::default(),
        })
    }

    /// Applies `operation` as a committed entry would be, publishing its events (for tests of
    /// readers such as watches, without a Raft group).
    #[cfg(test)]
    pub(crate) fn apply_for_test(&self, operation: &crate::Operation) {
        let (_, events) = self.write().kv.apply(operation);
        for event in events {
            let _ = self.events.send(Arc::new(event));
        }
    }

    /// Reports snapshot sizes into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::StoreMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// A read view of the applied state. Hold it briefly: apply waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied> {
        // A poisoned lock means apply panicked half-way: the state can no longer be trusted.
        self.applied
            .read()
            .unwrap_or_else(|_| panic!("state machine lock poisoned"))
    }

    fn write(&self) -> RwLockWriteGuard<'_, Applied> {
        self.applied
            .write()
            .unwrap_or_else(|_| panic!("state machine lock poisoned"))
    }

    /// Subscribes to change events. Subscribe before reading history so nothing falls between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    /// Subscribes to snapshot installs (the ones so far count as seen).
    pub(crate) fn subscribe_restores(&self) -> tokio::sync::watch::Receiver<u64> {
        self.restores.subscribe()
    }

    /// Replaces the whole state with a leader's snapshot, then wakes the watchers.
    fn restore(&self, kv: KeyValueState, meta: &SnapshotMeta) {
        {
            let mut applied = self.write();
            applied.kv = kv;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        self.restores.send_modify(|count| *count += 1);
    }

    /// Installs `kv` as a snapshot from the leader would be installed (for tests of watches).
    #[cfg(test)]
    pub(crate) fn restore_for_test(&self, kv: KeyValueState) {
        let meta = SnapshotMeta {
            last_log_id: self.read().last_applied,
            last_membership: StoredMembership::default(),
        };
        self.restore(kv, &meta);
    }

    pub fn applied_index(&self) -> u64 {
        self.read()
            .last_applied
            .as_ref()
            .map(|id| id.index())
            .unwrap_or(0)
    }

    fn build(&self) -> io::Result<Snapshot> {
        // Only the copy is made under the lock: apply waits for it, and encoding a large state
        // took seconds (a write stalled that long, and on a busy 2-vCPU machine so did the
        // heartbeats, into an election).
        let file = {
            let applied = self.read();
            SnapshotFile {
                meta: SnapshotMeta {
                    last_log_id: applied.last_applied,
                    last_membership: applied.membership.clone(),
                },
                kv: applied.kv.clone(),
            }
        };
        let bytes = record::encode(&file)?;
        let meta = file.meta;
        write_atomically(&self.snapshot_path, &bytes)?;
        self.metrics.snapshot_bytes.set(bytes.len() as i64);
        if let Some(directory) = self.snapshot_path.parent() {
            // The snapshot now holds the restored state; the backup copy is no longer needed.
            let _ = std::fs::remove_file(directory.join(crate::backup::RESTORE_FILE_NAME));
        }
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(bytes),
        })
    }
}

fn read_snapshot_file(path: &Path) -> io::Result<Option<SnapshotFile>> {
    match std::fs::read(path) {
        Ok(bytes) => record::decode(&bytes, &|| format!("snapshot {}", path.display())).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("reading snapshot {}: {e}", path.display()),
        )),
    }
}

/// Nice 10 for the calling thread (Linux keeps a nice value per thread, so `setpriority` on the
/// thread's id lowers this thread only). Best effort: a thread that cannot be lowered runs at
/// normal priority, as before.
fn lower_this_threads_priority() {
    let thread_id = rustix::thread::gettid();
    // Never raised: a daemon started with `nice 15` keeps its snapshots at 15.
    let current = rustix::process::getpriority_process(Some(thread_id)).unwrap_or(0);
    let _ = rustix::process::setpriority_process(Some(thread_id), current.max(10));
}

/// Writes a file so that a crash leaves either the old or the new content: temp file, fsync,
/// rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let machine = self.clone();
        // The build runs on a thread of its own at a lower priority: encoding and writing a
        // large state takes a core for seconds, and on a busy 2-vCPU machine a follower doing
        // that at normal priority answered heartbeats late enough for the leader's lease to
        // lapse. A fresh thread, so no pooled thread keeps the lower priority; joined from a
        // blocking task, so a runtime that shuts down (a node stopping, or crashing in the
        // simulation) still waits for it and no build outlives its node.
        tokio::task::spawn_blocking(move || {
            std::thread::Builder::new()
                .name("snapshot".into())
                .spawn(move || {
                    lower_this_threads_priority();
                    machine.build()
                })?
                .join()
                .map_err(|_| io::Error::other("the snapshot thread panicked"))?
        })
        .await
        .map_err(|e| io::Error::other(format!("snapshot task failed: {e}")))?
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = self.read();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let (response, events) = {
                let mut applied = self.write();
                applied.last_applied = Some(entry.log_id);
                match &entry.payload {
                    EntryPayload::Blank => (
                        CommandResponse {
                            revision: applied.kv.revision(),
                            ..Default::default()
                        },
                        Vec::new(),
                    ),
                    EntryPayload::Normal(Command::V1(operation)) => applied.kv.apply(operation),
                    EntryPayload::Membership(membership) => {
                        applied.membership =
                            StoredMembership::new(Some(entry.log_id), membership.clone());
                        (
                            CommandResponse {
                                revision: applied.kv.revision(),
                                ..Default::default()
                            },
                            Vec::new(),
                        )
                    }
                }
            };
            for event in events {
                // No receivers is normal; lagging receivers are cut off by the channel bound.
                let _ = self.events.send(Arc::new(event));
            }
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let bytes = snapshot.into_inner();
        let file: SnapshotFile = record::decode(&bytes, &|| "received snapshot".to_string())?;
        write_atomically(&self.snapshot_path, &bytes)?;
        self.metrics.snapshot_bytes.set(bytes.len() as i64);
        self.restore(file.kv, meta);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let Some(file) = read_snapshot_file(&self.snapshot_path)? else {
            return Ok(None);
        };
        let bytes = record::encode(&file)?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Cursor::new(bytes),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of the calling thread (field 19 of its stat line, after the command name).
    fn this_threads_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn the_snapshot_thread_runs_at_a_lower_priority_and_only_it() {
        let before = this_threads_nice();
        let lowered = std::thread::spawn(|| {
            lower_this_threads_priority();
            this_threads_nice()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, before.max(10));
        assert_eq!(
            this_threads_nice(),
            before,
            "the caller's priority is unchanged"
        );
    }
}
