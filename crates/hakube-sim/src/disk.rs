//! The simulated disk under each node's `raft.redb`: a crash-consistent in-memory redb
//! [`StorageBackend`].
//!
//! A [`SimDisk`] outlives the node's software (it is kept outside the turmoil host closure) and
//! holds two things: the durable image (what survived the last `sync_data`) and the writes issued
//! since, in order. Readers see both. A power cut ([`SimDisk::power_cut`]) drops the unsynced
//! writes, or, for a torn write, keeps a random prefix of them (the last one possibly cut at a
//! 512-byte sector boundary), and detaches every handle of the dead incarnation so that its
//! late writes (redb's own shutdown on drop) are refused instead of landing on the disk.
//!
//! A crash can also be armed to happen *inside* the next `sync_data` ([`SimDisk::arm_crash`]):
//! that is the only way to tear a redb commit, since a commit's writes and its sync happen in
//! one blocking call that a crash between simulation steps never interrupts.

use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

use crate::rng::SimRng;

const SECTOR: usize = 512;

#[derive(Clone, Debug)]
enum PendingOp {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Default)]
struct DiskState {
    /// What a power cut leaves.
    durable: Vec<u8>,
    /// Durable image plus pending writes: what reads see.
    current: Vec<u8>,
    /// Writes since the last sync, in order.
    pending: Vec<PendingOp>,
    /// Incarnation allowed to use the disk; handles of older ones are refused.
    generation: u64,
    /// Crash inside the next sync, keeping a torn prefix of the pending writes (seeded).
    armed: Option<u64>,
    /// Set when an armed crash fired: the node is dead and must be crashed by the driver.
    tripped: bool,
    syncs: u64,
    torn_cuts: u64,
}

/// One node's disk. Cloning shares it.
#[derive(Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
}

/// What a power cut did, for the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CutReport {
    pub pending_ops: usize,
    pub kept_ops: usize,
    pub partial_bytes: usize,
}

fn apply(image: &mut Vec<u8>, op: &PendingOp) {
    match op {
        PendingOp::Write { offset, data } => {
            let start = *offset as usize;
            let end = start + data.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[start..end].copy_from_slice(data);
        }
        PendingOp::SetLen(len) => image.resize(*len as usize, 0),
    }
}

impl SimDisk {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A backend handle for a new incarnation of the node (after boot or restart).
    pub fn attach(&self) -> SimBackend {
        let mut state = self.lock();
        state.generation += 1;
        state.tripped = false;
        SimBackend {
            disk: self.clone(),
            generation: state.generation,
        }
    }

    /// Arms a crash in the middle of the next `sync_data`, tearing the pending writes.
    pub fn arm_crash(&self, seed: u64) {
        self.lock().armed = Some(seed);
    }

    pub fn disarm(&self) {
        self.lock().armed = None;
    }

    /// Whether an armed crash fired (the node's incarnation is dead).
    pub fn tripped(&self) -> bool {
        self.lock().tripped
    }

    pub fn stats(&self) -> (u64, u64) {
        let state = self.lock();
        (state.syncs, state.torn_cuts)
    }

    /// Power cut: unsynced writes are lost, except a random prefix when `torn` carries a seed.
    /// Every handle of the current incarnation is detached.
    pub fn power_cut(&self, torn: Option<u64>) -> CutReport {
        let mut state = self.lock();
        cut(&mut state, torn)
    }
}

fn cut(state: &mut DiskState, torn: Option<u64>) -> CutReport {
    let pending = std::mem::take(&mut state.pending);
    let mut report = CutReport {
        pending_ops: pending.len(),
        kept_ops: 0,
        partial_bytes: 0,
    };
    if let Some(seed) = torn
        && !pending.is_empty()
    {
        let mut rng = SimRng::new(seed);
        let keep = rng.below(pending.len() as u64 + 1) as usize;
        let mut durable = std::mem::take(&mut state.durable);
        for op in &pending[..keep] {
            apply(&mut durable, op);
        }
        report.kept_ops = keep;
        // The next write may be torn at a sector boundary.
        if let Some(PendingOp::Write { offset, data }) = pending.get(keep) {
            let sectors = data.len().div_ceil(SECTOR);
            let partial = (rng.below(sectors as u64) as usize) * SECTOR;
            if partial > 0 {
                apply(
                    &mut durable,
                    &PendingOp::Write {
                        offset: *offset,
                        data: data[..partial.min(data.len())].to_vec(),
                    },
                );
                report.partial_bytes = partial.min(data.len());
            }
        }
        state.durable = durable;
        state.torn_cuts += 1;
    }
    state.current = state.durable.clone();
    state.generation += 1;
    state.armed = None;
    report
}

/// One incarnation's handle on a [`SimDisk`], given to redb.
pub struct SimBackend {
    disk: SimDisk,
    generation: u64,
}

impl fmt::Debug for SimBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBackend")
            .field("generation", &self.generation)
            .finish()
    }
}

fn detached() -> io::Error {
    io::Error::other("simulated disk: this node crashed (power cut); the handle is detached")
}

impl SimBackend {
    fn state(&self) -> io::Result<MutexGuard<'_, DiskState>> {
        let state = self.disk.lock();
        // After a power cut inside a sync the incarnation is dead: nothing it does afterwards
        // (another thread's commit, say) may reach the disk, as no write can without power.
        if state.generation != self.generation || state.tripped {
            return Err(detached());
        }
        Ok(state)
    }
}

impl StorageBackend for SimBackend {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.state()?.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let state = self.state()?;
        let start = offset as usize;
        let source = state
            .current
            .get(start..start + out.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read past the end"))?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut state = self.state()?;
        let op = PendingOp::SetLen(len);
        apply(&mut state.current, &op);
        state.pending.push(op);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut state = self.state()?;
        // Taken, not read: a crash fires once, and the next incarnation's syncs (opening the
        // log after the restart) must succeed.
        if let Some(seed) = state.armed.take() {
            cut(&mut state, Some(seed));
            state.tripped = true;
            return Err(io::Error::other(
                "simulated disk: power cut during sync (torn write)",
            ));
        }
        let pending = std::mem::take(&mut state.pending);
        let mut durable = std::mem::take(&mut state.durable);
        for op in &pending {
            apply(&mut durable, op);
        }
        state.durable = durable;
        state.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut state = self.state()?;
        let op = PendingOp::Write {
            offset,
            data: data.to_vec(),
        };
        apply(&mut state.current, &op);
        state.pending.push(op);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn unsynced_writes_are_lost_synced_kept() {
        let disk = SimDisk::new();
        let backend = disk.attach();
        backend.set_len(8).unwrap();
        backend.write(0, b"abcd").unwrap();
        backend.sync_data().unwrap();
        backend.write(4, b"efgh").unwrap();
        let mut out = [0u8; 8];
        backend.read(0, &mut out).unwrap();
        assert_eq!(&out, b"abcdefgh");
        disk.power_cut(None);
        assert!(backend.read(0, &mut out).is_err(), "old handle detached");
        let backend = disk.attach();
        backend.read(0, &mut out).unwrap();
        assert_eq!(&out, b"abcd\0\0\0\0");
    }

    #[test]
    fn armed_crash_tears_inside_sync() {
        let disk = SimDisk::new();
        let backend = disk.attach();
        backend.write(0, &[1u8; 2048]).unwrap();
        backend.sync_data().unwrap();
        disk.arm_crash(7);
        backend.write(0, &[2u8; 2048]).unwrap();
        backend.write(2048, &[3u8; 2048]).unwrap();
        assert!(backend.sync_data().is_err());
        assert!(disk.tripped());
        let backend = disk.attach();
        let mut out = vec![0u8; 2048];
        backend.read(0, &mut out).unwrap();
        // Each sector holds either the old or the new content.
        for sector in out.chunks(SECTOR) {
            assert!(sector.iter().all(|&b| b == sector[0]));
        }
    }

    #[test]
    fn redb_survives_power_cuts() {
        let disk = SimDisk::new();
        for round in 0..20u64 {
            let database = redb::Database::builder()
                .create_with_backend(disk.attach())
                .unwrap();
            let table: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("t");
            {
                let txn = database.begin_write().unwrap();
                txn.open_table(table).unwrap().insert(round, round).unwrap();
                txn.commit().unwrap();
            }
            disk.arm_crash(round * 31 + 1);
            let txn = database.begin_write().unwrap();
            txn.open_table(table)
                .unwrap()
                .insert(round + 1000, round)
                .unwrap();
            assert!(txn.commit().is_err());
            drop(database);
            let database = redb::Database::builder()
                .create_with_backend(disk.attach())
                .unwrap();
            let read = redb::ReadableDatabase::begin_read(&database).unwrap();
            let t = read.open_table(table).unwrap();
            for r in 0..=round {
                assert_eq!(t.get(r).unwrap().unwrap().value(), r, "round {round}");
            }
        }
    }
}
