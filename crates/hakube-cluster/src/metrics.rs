//! Prometheus text exposition of the node's datastore state. Gauges are read from the Raft
//! metrics at scrape time, so nothing is kept twice.

use std::fmt::Write;

use crate::node::Node;

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
    out
}
