//! The Raft log and vote on disk, in one redb file (`raft.redb`).
//!
//! Why redb: pure Rust, a small build, ACID commits with fsync (`Durability::Immediate`, the
//! default) and crash safety from its copy-on-write pages, so a torn write at the tail is rolled
//! back to the last commit on open. On top of that every record carries its own CRC32
//! ([`crate::record`]): any other corruption is reported with the file's name and stops the node,
//! never skipped. openraft hands `append` whole batches, so one commit (one fsync) covers every
//! entry that arrived while the previous one was being written: group commit for free.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::metrics::StoreMetrics;
use crate::record;
use crate::types::{Entry, LogId, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE_KEY: &str = "vote";
const COMMITTED_KEY: &str = "committed";
const PURGED_KEY: &str = "last_purged";

/// Raft log storage on redb. Cloning shares the database.
#[derive(Clone)]
pub struct LogStore {
    database: Arc<Database>,
    path: Arc<PathBuf>,
    metrics: Arc<StoreMetrics>,
}

fn storage_error(path: &Path, error: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("raft log {}: {error}", path.display()))
}

/// redb's page cache (read cache and write buffer together). redb's default is 1 GiB, which a
/// long-running node fills with log pages it read once to replicate; the log is written and
/// read near its tail, so a small cache serves it as well. 4 MiB: at 16 MiB every node held
/// ~15 MB of it after a 1,000-pod burst (heaptrack), a third of its growth; a page missing from
/// it is read from the OS's page cache.
const CACHE_BYTES: usize = 4 << 20;

impl LogStore {
    /// Opens (or creates) `DIR/raft.redb`. redb's recovery rolls an interrupted (torn) commit
    /// back to the last complete one; that is logged, since it means the node died mid-write.
    pub fn open(directory: &Path) -> io::Result<Self> {
        let path = directory.join("raft.redb");
        let shown = path.display().to_string();
        let database = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_repair_callback(move |session| {
                tracing::warn!(
                    file = %shown,
                    progress = session.progress(),
                    "the raft log was not closed cleanly: cutting the torn tail back to the last complete commit"
                );
            })
            .create(&path)
            .map_err(|e| storage_error(&path, e))?;
        Self::with_database(database, path)
    }

    /// Opens (or creates) the log on a caller-supplied redb storage backend instead of a file;
    /// `name` stands for the file name in error messages. Used by the deterministic simulation,
    /// whose in-memory disk loses unsynced writes on a simulated crash.
    pub fn open_with_backend(backend: impl redb::StorageBackend, name: &str) -> io::Result<Self> {
        let path = PathBuf::from(name);
        let database = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create_with_backend(backend)
            .map_err(|e| storage_error(&path, e))?;
        Self::with_database(database, path)
    }

    fn with_database(database: Database, path: PathBuf) -> io::Result<Self> {
        let transaction = database
            .begin_write()
            .map_err(|e| storage_error(&path, e))?;
        transaction
            .open_table(LOG)
            .map_err(|e| storage_error(&path, e))?;
        transaction
            .open_table(META)
            .map_err(|e| storage_error(&path, e))?;
        transaction.commit().map_err(|e| storage_error(&path, e))?;
        Ok(Self {
            database: Arc::new(database),
            path: Arc::new(path),
            metrics: Arc::default(),
        })
    }

    /// Reports fsync timings into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<StoreMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    fn error(&self, error: impl std::fmt::Display) -> io::Error {
        storage_error(&self.path, error)
    }

    fn read_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let transaction = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = transaction.open_table(META).map_err(|e| self.error(e))?;
        let Some(bytes) = table.get(key).map_err(|e| self.error(e))? else {
            return Ok(None);
        };
        let path = self.path.clone();
        record::decode(bytes.value(), &|| {
            format!("{key} record in {}", path.display())
        })
        .map(Some)
    }

    /// Runs one write transaction with `durability` on a blocking thread; a durable commit
    /// (an fsync) is timed into `hakube_datastore_fsync_seconds`.
    async fn write<F>(&self, durability: redb::Durability, change: F) -> io::Result<()>
    where
        F: FnOnce(&mut redb::WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    {
        let database = self.database.clone();
        let path = self.path.clone();
        let metrics = self.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let durable = matches!(durability, redb::Durability::Immediate);
            let mut transaction = database
                .begin_write()
                .map_err(|e| storage_error(&path, e))?;
            transaction
                .set_durability(durability)
                .map_err(|e| storage_error(&path, e))?;
            change(&mut transaction).map_err(|e| storage_error(&path, e))?;
            let started = std::time::Instant::now();
            transaction.commit().map_err(|e| storage_error(&path, e))?;
            if durable {
                metrics
                    .fsync_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            Ok(())
        })
        .await
        .map_err(|e| io::Error::other(format!("log writer task failed: {e}")))?
    }

    async fn put_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
        durability: redb::Durability,
    ) -> io::Result<()> {
        let bytes = record::encode(value)?;
        self.write(durability, move |transaction| {
            let mut table = transaction.open_table(META)?;
            table.insert(key, bytes.as_slice())?;
            Ok(())
        })
        .await
    }

    fn last_entry_log_id(&self) -> io::Result<Option<LogId>> {
        let transaction = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = transaction.open_table(LOG).map_err(|e| self.error(e))?;
        let Some((index, bytes)) = table.last().map_err(|e| self.error(e))? else {
            return Ok(None);
        };
        let entry: Entry = self.decode_entry(index.value(), bytes.value())?;
        Ok(Some(entry.log_id))
    }

    fn decode_entry(&self, index: u64, bytes: &[u8]) -> io::Result<Entry> {
        let path = self.path.clone();
        record::decode(bytes, &|| {
            format!("log record {index} in {}", path.display())
        })
    }
}

fn bounds(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => Some(e.saturating_add(1)),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = bounds(&range);
        let transaction = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = transaction.open_table(LOG).map_err(|e| self.error(e))?;
        let iter = match end {
            Some(end) => table.range(start..end),
            None => table.range(start..),
        }
        .map_err(|e| self.error(e))?;
        let mut entries = Vec::new();
        for item in iter {
            let (index, bytes) = item.map_err(|e| self.error(e))?;
            entries.push(self.decode_entry(index.value(), bytes.value())?);
        }
        Ok(entries)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.read_meta(VOTE_KEY)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_purged: Option<LogId> = self.read_meta(PURGED_KEY)?;
        let last = self.last_entry_log_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        // Raft's safety rests on the vote: on disk before the answer.
        self.put_meta(VOTE_KEY, vote, redb::Durability::Immediate)
            .await
    }

    /// The committed index reaches the disk with the next log append's fsync (redb makes a
    /// durable commit carry every non-durable one before it), as etcd writes its commit index
    /// in the HardState of the next WAL batch. openraft awaits this before applying every
    /// write, so a durable commit here cost each write a second fsync on its critical path.
    /// After a crash the recovered index may be one batch older: a follower applies its log
    /// up to it at once (so a node removed while it was away still knows its peers and learns
    /// of the removal), and the rest once the leader's commit covers it. A restarted leader
    /// does not resume with it (ARCHITECTURE.md, restarted leaders).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.put_meta(COMMITTED_KEY, &committed, redb::Durability::None)
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED_KEY)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            encoded.push((entry.log_id.index(), record::encode(&entry)?));
        }
        let result = self
            .write(redb::Durability::Immediate, move |transaction| {
                let mut table = transaction.open_table(LOG)?;
                for (index, bytes) in &encoded {
                    table.insert(*index, bytes.as_slice())?;
                }
                Ok(())
            })
            .await;
        let outcome = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(outcome);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        self.write(redb::Durability::Immediate, move |transaction| {
            let mut table = transaction.open_table(LOG)?;
            table.retain_in(from.., |_, _| false)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let upto = log_id.index();
        let bytes = record::encode(&log_id)?;
        self.write(redb::Durability::Immediate, move |transaction| {
            let mut meta = transaction.open_table(META)?;
            meta.insert(PURGED_KEY, bytes.as_slice())?;
            let mut table = transaction.open_table(LOG)?;
            table.retain_in(..=upto, |_, _| false)?;
            Ok(())
        })
        .await
    }
}
