//! The control-plane endpoints a worker knows (`DATA_DIR/identity/control-plane.json`): where it
//! asks for the cluster's status, failing over from one to the next. Learnt at join time and
//! refreshed from every status answer, so it follows nodes joining and leaving.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::admin_api::StatusReport;
use crate::config::{PEER_PORT, socket};
use crate::node::Node;

pub const CLUSTER_STATUS_PATH: &str = "/cluster/status";

fn file(data_dir: &Path) -> PathBuf {
    data_dir.join("identity").join("control-plane.json")
}

pub fn load(data_dir: &Path) -> Vec<String> {
    std::fs::read(file(data_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

pub fn save(data_dir: &Path, endpoints: &[String]) {
    if let Ok(bytes) = serde_json::to_vec(endpoints)
        && let Err(error) = hakube_store::state_machine::write_atomically(&file(data_dir), &bytes)
    {
        tracing::warn!(%error, "saving the control-plane endpoints");
    }
}

/// A worker's view: the status of the first control-plane node that answers, seen from this
/// node. `None` when none answers.
pub async fn status_from_control_plane(node: &Node) -> Option<StatusReport> {
    let endpoints = load(&node.config.data_dir);
    for endpoint in &endpoints {
        let reply: Result<StatusReport, _> = node
            .client
            .call(endpoint, CLUSTER_STATUS_PATH, &(), Duration::from_secs(2))
            .await;
        if let Ok(mut report) = reply {
            let fresh: Vec<String> = report
                .nodes
                .iter()
                .filter(|n| n.control_plane)
                .filter_map(|n| n.address.parse().ok().map(|ip| socket(ip, PEER_PORT)))
                .collect();
            if !fresh.is_empty() && fresh != endpoints {
                save(&node.config.data_dir, &fresh);
            }
            report.node = node.config.node_name.clone();
            return Some(report);
        }
    }
    None
}
