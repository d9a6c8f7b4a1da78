//! The store's own measurements, as Prometheus metrics the node registers and serves: how long
//! writes take end to end, how long the leader waits for a commit, how long each log fsync takes,
//! how many writes were refused and why, and the size of the last snapshot. No global registry:
//! several nodes may live in one process (simulation).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// 100 µs … ~6.5 s in 17 doubling buckets.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

#[derive(Clone)]
pub struct StoreMetrics {
    pub proposal_seconds: Histogram,
    pub commit_seconds: Histogram,
    pub fsync_seconds: Histogram,
    pub refused_writes: Family<Vec<(String, String)>, Counter>,
    pub snapshot_bytes: Gauge,
    /// Bytes of log entries appended (encoded), for the snapshot schedule.
    pub log_appended_bytes: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            proposal_seconds: latency_histogram(),
            commit_seconds: latency_histogram(),
            fsync_seconds: latency_histogram(),
            refused_writes: Family::default(),
            snapshot_bytes: Gauge::default(),
            log_appended_bytes: Counter::default(),
        }
    }
}

impl StoreMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "hakube_datastore_proposal_seconds",
            "Time from a write's arrival at this node to its answer (forwarding included)",
            self.proposal_seconds.clone(),
        );
        registry.register(
            "hakube_datastore_commit_seconds",
            "Time the leader waits for a proposed write to commit and apply",
            self.commit_seconds.clone(),
        );
        registry.register(
            "hakube_datastore_fsync_seconds",
            "Duration of each Raft log commit (fsync)",
            self.fsync_seconds.clone(),
        );
        registry.register(
            "hakube_datastore_refused_writes",
            "Writes refused, by reason",
            self.refused_writes.clone(),
        );
        registry.register(
            "hakube_datastore_snapshot_bytes",
            "Size of the last snapshot built or installed",
            self.snapshot_bytes.clone(),
        );
        registry.register(
            "hakube_datastore_log_appended_bytes",
            "Bytes of Raft log entries appended by this process",
            self.log_appended_bytes.clone(),
        );
    }

    pub fn refused(&self, reason: &str) {
        self.refused_writes
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .inc();
    }
}
