//! When this node builds a snapshot of its datastore (openraft's own policy is off). A snapshot
//! copies and encodes the whole state, so a fixed count of entries is wrong both ways: with
//! large values (etcd's `check perf --load=l`, 1 KiB each, hundreds of MB of live keys) every
//! node built a snapshot of hundreds of MB every few seconds, and those builds starved the
//! heartbeats into elections. Here a snapshot is due once at least [`interval`] entries were
//! applied since the last one *and* the log written since is at least as large as that last
//! snapshot, so snapshot work stays within the log's own write volume; a hard cap of ten
//! intervals bounds the log on disk whatever the sizes.

use std::sync::Arc;
use std::time::Duration;

use openraft::type_config::async_runtime::WatchReceiver;

use crate::node::Node;

/// How often the schedule looks.
const TICK: Duration = Duration::from_millis(500);

/// Entries between snapshots at least: about 50,000, offset per node by up to 7,000 so the
/// members do not all build theirs at the same moment.
pub fn interval(node_id: u64) -> u64 {
    50_000 + (node_id % 8) * 1_000
}

/// What the schedule sees on each tick.
#[derive(Debug, Clone, Copy)]
pub struct Observed {
    pub applied_index: u64,
    /// Last entry in the current snapshot, if there is one.
    pub snapshot_index: Option<u64>,
    /// Bytes of log entries appended by this process so far.
    pub appended_bytes: u64,
    /// Size of the current snapshot (0 before the first).
    pub snapshot_bytes: u64,
}

/// The decision logic, free of I/O.
#[derive(Debug)]
pub struct SnapshotSchedule {
    interval: u64,
    /// The snapshot last seen, and the appended-bytes count when it was first seen.
    seen: Option<(Option<u64>, u64)>,
    /// The applied index when a snapshot was last asked for and has not shown up yet.
    requested_at: Option<u64>,
}

impl SnapshotSchedule {
    pub fn new(interval: u64) -> Self {
        Self {
            interval,
            seen: None,
            requested_at: None,
        }
    }

    /// Whether to ask for a snapshot now.
    pub fn on_tick(&mut self, observed: Observed) -> bool {
        let baseline = match self.seen {
            Some((snapshot, baseline)) if snapshot == observed.snapshot_index => baseline,
            _ => {
                // A new snapshot (built here or installed from the leader), or the first look.
                self.seen = Some((observed.snapshot_index, observed.appended_bytes));
                self.requested_at = None;
                observed.appended_bytes
            }
        };
        let entries = observed
            .applied_index
            .saturating_sub(observed.snapshot_index.unwrap_or(0));
        if let Some(asked) = self.requested_at {
            // Still building; ask again only if it seems lost (another interval went by).
            if observed.applied_index < asked + self.interval {
                return false;
            }
        }
        let written = observed.appended_bytes.saturating_sub(baseline);
        let due = entries >= self.interval
            && (written >= observed.snapshot_bytes || entries >= 10 * self.interval);
        if due {
            self.requested_at = Some(observed.applied_index);
        }
        due
    }
}

/// Asks openraft for a snapshot whenever the schedule says so, until the node stops.
pub async fn run(node: Arc<Node>) {
    let raft = node.store.raft().clone();
    let mut schedule = SnapshotSchedule::new(interval(node.identity.node_id));
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
        }
        let metrics = raft.metrics().borrow_watched().clone();
        let store_metrics = &node.metrics.store;
        let observed = Observed {
            applied_index: metrics.last_applied.map_or(0, |id| id.index()),
            snapshot_index: metrics.snapshot.map(|id| id.index()),
            appended_bytes: store_metrics.log_appended_bytes.get(),
            snapshot_bytes: u64::try_from(store_metrics.snapshot_bytes.get()).unwrap_or(0),
        };
        if schedule.on_tick(observed)
            && let Err(error) = raft.trigger().snapshot().await
        {
            tracing::warn!(%error, "could not ask the datastore for a snapshot");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(applied_index: u64, snapshot_index: Option<u64>, appended: u64, size: u64) -> Observed {
        Observed {
            applied_index,
            snapshot_index,
            appended_bytes: appended,
            snapshot_bytes: size,
        }
    }

    #[test]
    fn small_states_snapshot_every_interval() {
        let mut schedule = SnapshotSchedule::new(100);
        assert!(!schedule.on_tick(seen(99, None, 10_000, 0)));
        assert!(schedule.on_tick(seen(100, None, 10_000, 0)));
        // Asked once; not again while it is being built.
        assert!(!schedule.on_tick(seen(150, None, 15_000, 0)));
        // Built at 120 (1 KB): the next is due 100 entries later, the log having outgrown it.
        assert!(!schedule.on_tick(seen(160, Some(120), 16_000, 1_000)));
        assert!(!schedule.on_tick(seen(219, Some(120), 30_000, 1_000)));
        assert!(schedule.on_tick(seen(220, Some(120), 30_000, 1_000)));
    }

    #[test]
    fn a_large_state_waits_until_the_log_written_since_matches_it() {
        let mut schedule = SnapshotSchedule::new(100);
        assert!(!schedule.on_tick(seen(100, Some(100), 0, 1_000_000)));
        // 300 entries later, but only 300 KB of log: not yet.
        assert!(!schedule.on_tick(seen(400, Some(100), 300_000, 1_000_000)));
        assert!(schedule.on_tick(seen(1_100, Some(100), 1_000_000, 1_000_000)));
    }

    #[test]
    fn ten_intervals_bound_the_log_whatever_the_sizes() {
        let mut schedule = SnapshotSchedule::new(100);
        assert!(!schedule.on_tick(seen(0, Some(0), 0, u64::MAX)));
        assert!(!schedule.on_tick(seen(999, Some(0), 10, u64::MAX)));
        assert!(schedule.on_tick(seen(1_000, Some(0), 10, u64::MAX)));
    }

    #[test]
    fn a_request_that_never_shows_up_is_repeated_an_interval_later() {
        let mut schedule = SnapshotSchedule::new(100);
        assert!(schedule.on_tick(seen(100, None, 0, 0)));
        assert!(!schedule.on_tick(seen(199, None, 0, 0)));
        assert!(schedule.on_tick(seen(200, None, 0, 0)));
    }
}
