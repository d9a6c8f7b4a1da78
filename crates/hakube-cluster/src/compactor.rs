//! Automatic compaction: the leader keeps the store's MVCC history to what Kubernetes keeps in
//! etcd, so memory, snapshots and watch replay stay bounded. Two rules, whichever reaches
//! further: every [`RETENTION`] the history is compacted to the revision seen one period
//! earlier (the Kubernetes API server compacts etcd every five minutes the same way, so 5–10
//! minutes of history stay), and it never holds more than two windows of
//! [`RETAINED_REVISIONS`] (a burst of writes is compacted without waiting). The history lives
//! in memory here, so on a quiet cluster the time rule is what keeps a long-running node's
//! memory from growing with hours of lease renewals and status reports. Compaction is a
//! replicated operation, so every replica drops the same history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hakube_store::Operation;

use crate::node::Node;

/// Revisions of history kept behind the current one, at least, when the count rule compacts.
pub const RETAINED_REVISIONS: u64 = 10_000;
/// How often the time rule compacts, and so the shortest history it keeps.
pub const RETENTION: Duration = Duration::from_secs(300);
const INTERVAL: Duration = Duration::from_secs(10);

/// The compaction the count rule asks for, if any: only when a whole retention window has
/// accumulated, so compactions stay rare.
pub fn next_compaction(revision: u64, compact_revision: u64) -> Option<u64> {
    let target = revision.saturating_sub(RETAINED_REVISIONS);
    (target >= compact_revision + RETAINED_REVISIONS).then_some(target)
}

/// When to compact, from the ticks it is shown (the I/O, and whether this node leads, stay
/// with the caller). Every node keeps its marks, so a new leader can compact at once.
#[derive(Debug, Default)]
pub struct CompactionPolicy {
    /// When the current period began, and the store's revision then.
    mark: Option<(Instant, u64)>,
}

impl CompactionPolicy {
    /// The revision to compact to at `now`, if any, for a store at `revision` whose history
    /// begins at `compact_revision`.
    pub fn on_tick(&mut self, now: Instant, revision: u64, compact_revision: u64) -> Option<u64> {
        let by_time = match self.mark {
            Some((began, marked)) if now.duration_since(began) >= RETENTION => {
                self.mark = Some((now, revision));
                (marked > compact_revision).then_some(marked)
            }
            Some(_) => None,
            None => {
                self.mark = Some((now, revision));
                None
            }
        };
        by_time.max(next_compaction(revision, compact_revision))
    }
}

pub async fn run(node: Arc<Node>) {
    let mut policy = CompactionPolicy::default();
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        let (revision, compacted) = {
            let applied = node.store.machine().read();
            (applied.kv.revision(), applied.kv.compact_revision())
        };
        let target = policy.on_tick(Instant::now(), revision, compacted);
        let Some(target) = target.filter(|_| node.is_leader()) else {
            continue;
        };
        match node
            .store
            .write(Operation::Compact { revision: target })
            .await
        {
            Ok(_) => tracing::debug!(revision = target, "compacted the store's history"),
            Err(error) => tracing::debug!(%error, "compaction deferred"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_only_after_a_full_window() {
        assert_eq!(next_compaction(5_000, 0), None);
        assert_eq!(next_compaction(19_999, 0), None);
        assert_eq!(next_compaction(20_000, 0), Some(10_000));
        assert_eq!(next_compaction(25_000, 10_000), None);
        assert_eq!(next_compaction(30_000, 10_000), Some(20_000));
    }

    #[test]
    fn every_period_compacts_to_the_revision_seen_a_period_earlier() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut policy = CompactionPolicy::default();
        assert_eq!(
            policy.on_tick(at(0), 100, 0),
            None,
            "the first tick only marks"
        );
        assert_eq!(policy.on_tick(at(290), 400, 0), None, "within the period");
        assert_eq!(policy.on_tick(at(300), 500, 0), Some(100));
        // The next period compacts to where this one began, not further.
        assert_eq!(policy.on_tick(at(450), 650, 100), None);
        assert_eq!(policy.on_tick(at(600), 700, 100), Some(500));
        assert_eq!(policy.on_tick(at(900), 700, 500), Some(700));
        // A quiet period (nothing written since its mark) has nothing more to compact.
        assert_eq!(policy.on_tick(at(1200), 700, 700), None);
    }

    #[test]
    fn a_burst_is_compacted_by_count_without_waiting_for_the_period() {
        let start = Instant::now();
        let mut policy = CompactionPolicy::default();
        assert_eq!(policy.on_tick(start, 0, 0), None);
        let soon = start + Duration::from_secs(10);
        assert_eq!(policy.on_tick(soon, 25_000, 0), Some(15_000));
    }
}
