//! The node's CNI network: one bridge (named for the node, at most 15 bytes as Linux requires)
//! with host-local addresses from the node's pod CIDR and portmap for hostPorts. No masquerade,
//! so pods see each other's real addresses across nodes (reference §1.2).

use crate::node_paths::NodePaths;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Linux interface names are at most 15 bytes.
const MAX_INTERFACE_NAME_BYTES: usize = 15;
const CONFLIST_FILE: &str = "10-hakube.conflist";

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("writing the CNI config {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// This node's network as CNI sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CniNetwork {
    pub bridge_name: String,
    pub pod_cidr: String,
}

impl CniNetwork {
    /// The network of node `node_name` with its pod CIDR; the bridge is named for the node.
    pub fn for_node(node_name: &str, pod_cidr: &str) -> Self {
        Self {
            bridge_name: bridge_name_for(node_name),
            pod_cidr: pod_cidr.to_owned(),
        }
    }

    /// The conflist JSON.
    pub fn render(&self, paths: &NodePaths) -> serde_json::Value {
        json!({
            "cniVersion": "1.0.0",
            "name": self.bridge_name,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.bridge_name,
                    "isGateway": true,
                    "ipMasq": false,
                    "hairpinMode": true,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{ "subnet": self.pod_cidr }]],
                        "routes": [{ "dst": "0.0.0.0/0" }],
                        "dataDir": paths.cni_ipam_dir(),
                    },
                },
                { "type": "portmap", "capabilities": { "portMappings": true } },
            ],
        })
    }

    /// Writes the conflist; containerd reloads it for the next pod without a restart.
    pub fn write(&self, paths: &NodePaths) -> Result<(), CniError> {
        let path = paths.cni_config_dir().join(CONFLIST_FILE);
        let text = serde_json::to_string_pretty(&self.render(paths)).unwrap_or_default();
        if std::fs::read_to_string(&path).is_ok_and(|existing| existing == text) {
            return Ok(());
        }
        let write_error = |source| CniError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(paths.cni_config_dir()).map_err(write_error)?;
        std::fs::write(&path, text).map_err(write_error)
    }
}

/// `hk-<node>` when that fits and is plain, else `hk-` and 12 hex digits of the name's hash.
pub fn bridge_name_for(node_name: &str) -> String {
    let plain = format!("hk-{node_name}");
    let is_plain = node_name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    if is_plain && plain.len() <= MAX_INTERFACE_NAME_BYTES {
        return plain;
    }
    let digest = hex::encode(Sha256::digest(node_name.as_bytes()));
    format!("hk-{}", &digest[..MAX_INTERFACE_NAME_BYTES - 3])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_names_fit_and_stay_unique() {
        assert_eq!(bridge_name_for("node-a"), "hk-node-a");
        let long_a = bridge_name_for("a-very-long-node-name-1");
        let long_b = bridge_name_for("a-very-long-node-name-2");
        assert_eq!(long_a.len(), 15);
        assert_ne!(long_a, long_b);
        assert!(bridge_name_for("node.example").len() <= 15);
    }

    #[test]
    fn conflist_uses_the_pod_cidr_without_masquerade() {
        let paths = NodePaths::new("/n");
        let config = CniNetwork::for_node("a", "10.1.250.0/24").render(&paths);
        let bridge = &config["plugins"][0];
        assert_eq!(bridge["ipMasq"], false);
        assert_eq!(bridge["hairpinMode"], true);
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.1.250.0/24");
        assert_eq!(bridge["ipam"]["dataDir"], "/n/cni/ipam");
        assert_eq!(config["plugins"][1]["type"], "portmap");
    }
}
