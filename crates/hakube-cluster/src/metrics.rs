//! Prometheus text exposition of the node's datastore state. Gauges are read from the Raft
//! metrics at scrape time, so nothing is kept twice; latencies and counters come from the
//! store's [`StoreMetrics`] and the leader-change watcher.

use std::fmt::Write;
use std::sync::Arc;

use openraft::type_config::async_runtime::WatchReceiver;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use hakube_store::metrics::StoreMetrics;

use crate::node::Node;

/// The node's registry: the store's histograms plus the leader-change counter.
pub struct NodeMetrics {
    pub store: Arc<StoreMetrics>,
    pub leader_changes: Counter,
    registry: Registry,
}

impl NodeMetrics {
    pub fn new() -> Self {
        let store = Arc::new(StoreMetrics::default());
        let leader_changes = Counter::default();
        let mut registry = Registry::default();
        store.register(&mut registry);
        registry.register(
            "hakube_datastore_leader_changes",
            "Times this node saw the datastore leader change",
            leader_changes.clone(),
        );
        Self {
            store,
            leader_changes,
            registry,
        }
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts leader changes as this node observes them.
pub async fn watch_leader_changes(node: Arc<Node>) {
    let mut metrics = node.store.raft().metrics();
    let mut last = metrics.borrow_watched().current_leader;
    loop {
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
        let leader = metrics.borrow_watched().current_leader;
        if leader != last {
            if leader.is_some() {
                node.metrics.leader_changes.inc();
            }
            last = leader;
        }
    }
}

pub fn render(node: &Node) -> String {
    let status = node.store.status();
    let role = if status.voters.contains(&status.node_id) {
        "voter"
    } else if status.learners.contains(&status.node_id) {
        "standby"
    } else {
        "spare"
    };
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, labels: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}"
        );
    };
    gauge(
        "hakube_datastore_is_leader",
        "1 when this node leads the datastore.",
        "",
        u64::from(status.leader == Some(status.node_id)),
    );
    gauge(
        "hakube_datastore_has_leader",
        "1 when this node knows a leader.",
        "",
        u64::from(status.leader.is_some()),
    );
    gauge(
        "hakube_datastore_quorum",
        "1 when the datastore can commit writes.",
        "",
        u64::from(status.quorum),
    );
    gauge(
        "hakube_datastore_role",
        "This node's datastore role.",
        &format!("{{role=\"{role}\"}}"),
        1,
    );
    gauge(
        "hakube_datastore_term",
        "Current Raft term (grows with every election).",
        "",
        status.term,
    );
    gauge(
        "hakube_datastore_voters",
        "Datastore voters in the membership.",
        "",
        status.voters.len() as u64,
    );
    gauge(
        "hakube_datastore_standbys",
        "Datastore standbys in the membership.",
        "",
        status.learners.len() as u64,
    );
    gauge(
        "hakube_datastore_reachable_voters",
        "Voters that answered recently, this node included.",
        "",
        status.reachable_voters as u64,
    );
    gauge(
        "hakube_datastore_last_log_index",
        "Index of the last entry in this node's log.",
        "",
        status.last_log_index,
    );
    gauge(
        "hakube_datastore_commit_index",
        "Highest log index known committed.",
        "",
        status.committed_index,
    );
    gauge(
        "hakube_datastore_apply_index",
        "Highest log index applied to the state machine.",
        "",
        status.applied_index,
    );
    gauge(
        "hakube_datastore_revision",
        "Store revision (one per committed change).",
        "",
        status.revision,
    );
    let mut encoded = String::new();
    if prometheus_client::encoding::text::encode_registry(&mut encoded, &node.metrics.registry)
        .is_ok()
    {
        out.push_str(&encoded);
    }
    out.push_str("# EOF\n");
    out
}
