//! Automatic compaction: the leader keeps the store's MVCC history to the most recent
//! [`RETAINED_REVISIONS`], so memory, snapshots and watch replay stay bounded (the Kubernetes API
//! server compacts etcd every five minutes for the same reason). Compaction is a replicated
//! operation, so every replica drops the same history.

use std::sync::Arc;
use std::time::Duration;

use hakube_store::Operation;

use crate::node::Node;

/// Revisions of history kept behind the current one.
pub const RETAINED_REVISIONS: u64 = 10_000;
const INTERVAL: Duration = Duration::from_secs(10);

/// The compaction to propose, if any: only when a whole retention window has accumulated, so
/// compactions stay rare.
pub fn next_compaction(revision: u64, compact_revision: u64) -> Option<u64> {
    let target = revision.saturating_sub(RETAINED_REVISIONS);
    (target >= compact_revision + RETAINED_REVISIONS).then_some(target)
}

pub async fn run(node: Arc<Node>) {
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
        if !node.is_leader() {
            continue;
        }
        let (revision, compacted) = {
            let applied = node.store.machine().read();
            (applied.kv.revision(), applied.kv.compact_revision())
        };
        if let Some(target) = next_compaction(revision, compacted) {
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
}
