//! `hakube images import`: an image archive (OCI or docker) goes into every node's containerd,
//! like `microk8s images import`. The local daemon imports it, then sends the bytes to every
//! other node over the peer port (mutual TLS), which imports them into its own containerd;
//! each node's outcome is reported on its own line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::node::Node;

pub const IMPORT_PATH: &str = "/images/import";
/// Archives larger than this are refused (the whole archive travels in one request).
pub const MAX_ARCHIVE_BYTES: usize = 2 * 1024 * 1024 * 1024;
const PEER_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize, Debug)]
pub struct ImportRequest {
    /// The archive, as a path the daemon can read.
    pub path: String,
}

#[derive(Serialize, Deserialize, Debug)]
pub struct ImportReport {
    /// One line per node: "node2: imported" or "node2: <why not>".
    pub nodes: Vec<String>,
}

/// This node's containerd socket (its own, or `--container-runtime-endpoint`).
fn runtime_socket(node: &Node) -> PathBuf {
    match &node.config.container_runtime_endpoint {
        Some(endpoint) => PathBuf::from(endpoint.trim_start_matches("unix://")),
        None => crate::pod_agent::runtime_directory(&node.config.data_dir).join("containerd.sock"),
    }
}

/// Imports the archive at `path` into this node's containerd.
pub async fn import_local(node: &Node, path: &Path) -> Result<(), String> {
    let socket = runtime_socket(node);
    if !socket.exists() {
        return Err("the container runtime is not running yet (the node has no pod CIDR yet, or containerd failed to start: see the daemon's log)".into());
    }
    hakube_node::containerd::import_image(&socket, path)
        .await
        .map_err(|e| e.to_string())
}

/// Imports bytes received from a peer (written to a file beside the runtime first).
pub async fn import_bytes(node: &Node, bytes: &[u8]) -> Result<(), String> {
    let directory = crate::pod_agent::runtime_directory(&node.config.data_dir);
    std::fs::create_dir_all(&directory).map_err(|e| e.to_string())?;
    let file = tempfile::NamedTempFile::new_in(&directory).map_err(|e| e.to_string())?;
    std::fs::write(file.path(), bytes).map_err(|e| e.to_string())?;
    import_local(node, file.path()).await
}

/// Imports the archive here and on every other node; one line per node.
pub async fn import_everywhere(node: &Node, path: &Path) -> Result<ImportReport, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if size > MAX_ARCHIVE_BYTES as u64 {
        return Err(format!(
            "{} is {size} bytes; archives up to {MAX_ARCHIVE_BYTES} bytes can be imported",
            path.display()
        ));
    }
    let mut lines = vec![match import_local(node, path).await {
        Ok(()) => format!("{}: imported", node.config.node_name),
        Err(why) => format!("{}: {why}", node.config.node_name),
    }];
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let records = crate::registry::list_nodes(&node.store)
        .await
        .map_err(|e| e.to_string())?;
    for record in records.iter().filter(|r| r.name != node.config.node_name) {
        let url = format!("https://{}{IMPORT_PATH}", record.peer_address);
        let outcome = node
            .client
            .request(
                hyper::Method::POST,
                &url,
                "application/octet-stream",
                bytes.clone(),
                PEER_TIMEOUT,
            )
            .await;
        let line = match outcome {
            Ok((200, _)) => format!("{}: imported", record.name),
            Ok((_, body)) => format!("{}: {}", record.name, String::from_utf8_lossy(&body).trim()),
            Err(error) => format!("{}: unreachable: {error}", record.name),
        };
        lines.push(line);
    }
    Ok(ImportReport { nodes: lines })
}
