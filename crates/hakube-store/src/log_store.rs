//! The Raft log and vote on disk, in one redb file (`raft.redb`).
//!
//! Why redb: pure Rust, a small build, ACID commits with fsync (`Durability::Immediate`, the
//! default) and crash safety from its copy-on-write pages, so a torn write at the tail is rolled
//! back to the last commit on open. On top of that every record carries its own CRC32
//! ([`crate::record`]): any other corruption is reported with the file's name and stops the node,
//! never skipped.
//!
//! Writes go through one ordered writer ([`Writer`], a thread of its own): `append` hands its entries over and
//! returns at once (they stay readable from memory until committed), and openraft hears of them
//! through its callback once they are on disk, as its contract asks. So the leader replicates
//! an entry while its own fsync runs instead of after it, and the writer commits everything
//! queued meanwhile in one transaction (one fsync): group commit.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::StoreMetrics;
use crate::record;
use crate::types::{Entry, LogId, TypeConfig, Vote};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE_KEY: &str = "vote";
const COMMITTED_KEY: &str = "committed";
const PURGED_KEY: &str = "last_purged";

/// How many writes may wait for the writer; appends beyond it wait to be queued.
const WRITER_QUEUE: usize = 1_024;
/// The most writes one transaction takes from the queue.
const WRITER_BATCH: usize = 256;

type Change = Box<dyn FnOnce(&mut redb::WriteTransaction) -> Result<(), redb::Error> + Send>;

/// What the writer does once a write's transaction committed.
enum Done {
    /// Someone awaits the outcome.
    Reply(oneshot::Sender<io::Result<()>>),
    /// An append: openraft's callback, and the entries to drop from memory (index, log id).
    Flushed(IOFlushed<TypeConfig>, Vec<(u64, LogId)>),
    /// Nobody waits (the committed index, which may be lost with the next crash).
    Nothing,
}

/// One write for the writer task.
struct Job {
    change: Change,
    /// Whether the commit must reach the disk before `done` (all but the committed index).
    durable: bool,
    done: Done,
}

/// Raft log storage on redb. Cloning shares the database, the writer and the entries not yet
/// committed.
#[derive(Clone)]
pub struct LogStore {
    database: Arc<Database>,
    path: Arc<PathBuf>,
    metrics: Arc<StoreMetrics>,
    /// Appended entries not yet committed by the writer, readable meanwhile.
    pending: Arc<Mutex<BTreeMap<u64, Entry>>>,
    /// The writer's queue, made on first use.
    writer: Arc<OnceLock<mpsc::Sender<Job>>>,
    /// Run the writer as a task of the current runtime instead of a thread: the simulation's
    /// in-memory disk, where a commit is quick and a real thread would make runs depend on
    /// thread timing.
    inline: bool,
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
        let mut store = Self::with_database(database, path)?;
        store.inline = true;
        Ok(store)
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
            pending: Arc::default(),
            writer: Arc::default(),
            inline: false,
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

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        // A panic while holding it cannot leave the map half-changed (single inserts/removes).
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The writer's queue; the first call starts the writer: a thread of its own on a real
    /// disk (a commit blocks for its fsync; a dedicated thread saves the two hand-offs per
    /// batch of a runtime task plus `spawn_blocking`), a task on the current runtime in the
    /// simulation (whose disk is quick and whose runs must not depend on thread timing).
    fn writer(&self) -> &mpsc::Sender<Job> {
        self.writer.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(WRITER_QUEUE);
            let writer = Writer {
                database: self.database.clone(),
                path: self.path.clone(),
                metrics: self.metrics.clone(),
                pending: self.pending.clone(),
                failed: None,
            };
            if self.inline {
                tokio::spawn(writer.run_as_task(receiver));
            } else {
                let spawned = std::thread::Builder::new()
                    .name("hakube-raft-log".into())
                    .spawn(move || writer.run_on_thread(receiver));
                if let Err(error) = spawned {
                    // The receiver went with the failed closure: every write now fails with
                    // "the log writer stopped", which openraft treats as a storage error.
                    tracing::error!(%error, "cannot start the raft log writer thread");
                }
            }
            sender
        })
    }

    async fn submit(&self, job: Job) -> io::Result<()> {
        self.writer()
            .send(job)
            .await
            .map_err(|_| self.error("the log writer stopped"))
    }

    /// Runs one write through the writer and waits until it committed (and, when `durable`,
    /// reached the disk).
    async fn write<F>(&self, durable: bool, change: F) -> io::Result<()>
    where
        F: FnOnce(&mut redb::WriteTransaction) -> Result<(), redb::Error> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        self.submit(Job {
            change: Box::new(change),
            durable,
            done: Done::Reply(reply),
        })
        .await?;
        outcome
            .await
            .map_err(|_| self.error("the log writer stopped"))?
    }

    async fn put_meta<T: serde::Serialize>(
        &self,
        key: &'static str,
        value: &T,
        durability: bool,
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
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        // Appended but not yet committed, copied before the disk is read: an entry the writer
        // commits in between is then on disk, so none falls between the two.
        let upper = end.map_or(Bound::Unbounded, Bound::Excluded);
        let pending: Vec<(u64, Entry)> = self
            .pending()
            .range((Bound::Included(start), upper))
            .map(|(index, entry)| (*index, entry.clone()))
            .collect();
        let transaction = self.database.begin_read().map_err(|e| self.error(e))?;
        let table = transaction.open_table(LOG).map_err(|e| self.error(e))?;
        let iter = match end {
            Some(end) => table.range(start..end),
            None => table.range(start..),
        }
        .map_err(|e| self.error(e))?;
        let mut entries = BTreeMap::new();
        for item in iter {
            let (index, bytes) = item.map_err(|e| self.error(e))?;
            entries.insert(
                index.value(),
                self.decode_entry(index.value(), bytes.value())?,
            );
        }
        entries.extend(pending);
        Ok(entries.into_values().collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.read_meta(VOTE_KEY)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        // Whatever is queued commits first, so the disk says all.
        self.write(false, |_| Ok(())).await?;
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
        self.put_meta(VOTE_KEY, vote, true).await
    }

    /// The committed index reaches the disk with the next log append's fsync (redb makes a
    /// durable commit carry every non-durable one before it), as etcd writes its commit index
    /// in the HardState of the next WAL batch. openraft awaits this before applying every
    /// write, so a durable commit here cost each write a second fsync on its critical path.
    /// After a crash the recovered index may be one batch older: a follower applies its log
    /// up to it at once (so a node removed while it was away still knows its peers and learns
    /// of the removal), and the rest once the leader's commit covers it. A restarted leader
    /// does not resume with it (ARCHITECTURE.md, restarted leaders).
    ///
    /// Nothing waits for it: the writer commits it in order with the writes around it.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let bytes = record::encode(&committed)?;
        self.submit(Job {
            change: Box::new(move |transaction| {
                let mut table = transaction.open_table(META)?;
                table.insert(COMMITTED_KEY, bytes.as_slice())?;
                Ok(())
            }),
            durable: false,
            done: Done::Nothing,
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.read_meta::<Option<LogId>>(COMMITTED_KEY)?.flatten())
    }

    /// Returns once the entries are queued (and readable); `callback` hears when they are on
    /// disk.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
    {
        // Encoded first: an entry that cannot be encoded never shows as appended.
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut encoded = Vec::with_capacity(entries.len());
        for entry in &entries {
            encoded.push((entry.log_id.index(), record::encode(entry)?));
        }
        let bytes: usize = encoded.iter().map(|(_, bytes)| bytes.len()).sum();
        self.metrics.log_appended_bytes.inc_by(bytes as u64);
        let appended: Vec<(u64, LogId)> = entries
            .iter()
            .map(|entry| (entry.log_id.index(), entry.log_id))
            .collect();
        self.pending().extend(
            entries
                .into_iter()
                .map(|entry| (entry.log_id.index(), entry)),
        );
        let queued = self
            .submit(Job {
                change: Box::new(move |transaction| {
                    let mut table = transaction.open_table(LOG)?;
                    for (index, bytes) in &encoded {
                        table.insert(*index, bytes.as_slice())?;
                    }
                    Ok(())
                }),
                durable: true,
                done: Done::Flushed(callback, appended.clone()),
            })
            .await;
        if queued.is_err() {
            let mut pending = self.pending();
            for (index, _) in &appended {
                pending.remove(index);
            }
        }
        queued
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        self.pending().retain(|index, _| *index < from);
        self.write(true, move |transaction| {
            let mut table = transaction.open_table(LOG)?;
            table.retain_in(from.., |_, _| false)?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let upto = log_id.index();
        let bytes = record::encode(&log_id)?;
        self.pending().retain(|index, _| *index > upto);
        self.write(true, move |transaction| {
            let mut meta = transaction.open_table(META)?;
            meta.insert(PURGED_KEY, bytes.as_slice())?;
            let mut table = transaction.open_table(LOG)?;
            table.retain_in(..=upto, |_, _| false)?;
            Ok(())
        })
        .await
    }
}

/// The writer: takes writes in order, commits whatever is queued in one transaction (durable
/// when any of them must be), then answers each.
struct Writer {
    database: Arc<Database>,
    path: Arc<PathBuf>,
    metrics: Arc<StoreMetrics>,
    pending: Arc<Mutex<BTreeMap<u64, Entry>>>,
    /// After a failed commit every later write fails too, uncommitted: committing a later
    /// append after a lost one would leave a hole in the log.
    failed: Option<String>,
}

impl Writer {
    /// Until every `LogStore` handle is gone.
    fn run_on_thread(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.blocking_recv() {
            let jobs = drain(first, &mut queue);
            self.write_batch(jobs);
        }
    }

    async fn run_as_task(mut self, mut queue: mpsc::Receiver<Job>) {
        while let Some(first) = queue.recv().await {
            let jobs = drain(first, &mut queue);
            self.write_batch(jobs);
        }
    }

    fn write_batch(&mut self, jobs: Vec<Job>) {
        let durable = jobs.iter().any(|job| job.durable);
        let (changes, done): (Vec<Change>, Vec<Done>) =
            jobs.into_iter().map(|job| (job.change, job.done)).unzip();
        let outcome = match &self.failed {
            Some(why) => Err(io::Error::other(format!(
                "an earlier write to the raft log failed: {why}"
            ))),
            None => commit(&self.database, &self.path, durable, changes),
        };
        let outcome = outcome.map(|commit_seconds| {
            if durable {
                self.metrics.fsync_seconds.observe(commit_seconds);
            }
        });
        if let (None, Err(error)) = (&self.failed, &outcome) {
            self.failed = Some(error.to_string());
        }
        for done in done {
            self.finish(done, &outcome);
        }
    }

    fn finish(&self, done: Done, outcome: &io::Result<()>) {
        let copy = || match outcome {
            Ok(()) => Ok(()),
            Err(error) => Err(io::Error::new(error.kind(), error.to_string())),
        };
        match done {
            Done::Reply(reply) => {
                // The asker may have gone (its task ended): nothing to tell.
                let _ = reply.send(copy());
            }
            Done::Flushed(callback, appended) => {
                if outcome.is_ok() {
                    let mut pending = self
                        .pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    for (index, log_id) in appended {
                        // Only if a later append did not replace it meanwhile.
                        if pending
                            .get(&index)
                            .is_some_and(|entry| entry.log_id == log_id)
                        {
                            pending.remove(&index);
                        }
                    }
                }
                callback.io_completed(copy());
            }
            Done::Nothing => {
                if let Err(error) = outcome {
                    tracing::warn!(%error, "saving the committed index failed");
                }
            }
        }
    }
}

/// `first` and whatever else is queued, up to one batch.
fn drain(first: Job, queue: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut jobs = vec![first];
    while jobs.len() < WRITER_BATCH {
        match queue.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    jobs
}

/// One transaction with every change in order; fsynced when `durable`. Returns how long the
/// commit took (the fsync, when durable), in seconds.
fn commit(
    database: &Database,
    path: &Path,
    durable: bool,
    changes: Vec<Change>,
) -> io::Result<f64> {
    let mut transaction = database.begin_write().map_err(|e| storage_error(path, e))?;
    if !durable {
        transaction
            .set_durability(redb::Durability::None)
            .map_err(|e| storage_error(path, e))?;
    }
    for change in changes {
        change(&mut transaction).map_err(|e| storage_error(path, e))?;
    }
    let started = Instant::now();
    transaction.commit().map_err(|e| storage_error(path, e))?;
    Ok(started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::EntryPayload;
    use openraft::type_config::TypeConfigExt;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: openraft::testing::log_id::<TypeConfig>(1, 1, index),
            payload: EntryPayload::Blank,
        }
    }

    async fn indexes(store: &mut LogStore, range: std::ops::Range<u64>) -> Vec<u64> {
        let entries = store.try_get_log_entries(range).await.expect("readable");
        entries.iter().map(|e| e.log_id.index()).collect()
    }

    #[tokio::test]
    async fn appended_entries_are_readable_at_once_and_on_disk_when_flushed() {
        let directory = tempfile::tempdir().expect("tempdir");
        let mut store = LogStore::open(directory.path()).expect("opens");
        let (flushed, on_disk) = <TypeConfig as TypeConfigExt>::oneshot();
        store
            .append([entry(1), entry(2), entry(3)], IOFlushed::signal(flushed))
            .await
            .expect("queued");
        // Readable as soon as append returns, whether or not the writer committed yet.
        assert_eq!(indexes(&mut store, 1..4).await, [1, 2, 3]);
        on_disk.await.expect("answered").expect("flushed");
        assert!(store.pending().is_empty(), "committed entries leave memory");
        store
            .truncate_after(Some(entry(2).log_id))
            .await
            .expect("truncated");
        assert_eq!(indexes(&mut store, 1..4).await, [1, 2]);
        let vote = Vote::new(2, 1);
        store.save_vote(&vote).await.expect("saved");
        store
            .save_committed(Some(entry(2).log_id))
            .await
            .expect("queued");
        // A reopened log has what was flushed and the vote; the committed index rode along
        // with the last durable commit or a later one.
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id, Some(entry(2).log_id));
        drop(store);
        // The writer task lets the file go once it sees the last handle gone.
        let mut reopened = None;
        for _ in 0..100 {
            match LogStore::open(directory.path()) {
                Ok(store) => {
                    reopened = Some(store);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
        let mut reopened = reopened.expect("reopens once the writer let go");
        assert_eq!(indexes(&mut reopened, 1..4).await, [1, 2]);
        assert_eq!(reopened.read_vote().await.expect("read"), Some(vote));
        assert_eq!(
            reopened.read_committed().await.expect("read"),
            Some(entry(2).log_id)
        );
    }
}
