//! The layout of one node's directory: everything this node's containerd, CNI and pods write
//! lives under it, so two nodes on one host never share state (reference §3, §8). Paths are kept
//! short because the containerd socket (plus `.ttrpc`) must fit in a 108-byte Unix socket path.

use std::path::{Path, PathBuf};

/// Longest socket path a Unix socket accepts, less the `.ttrpc` suffix containerd appends.
const MAX_SOCKET_PATH_BYTES: usize = 107 - ".ttrpc".len();

/// All paths derived from a node directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    pub node_dir: PathBuf,
}

impl NodePaths {
    pub fn new(node_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_dir: node_dir.into(),
        }
    }

    pub fn containerd_config(&self) -> PathBuf {
        self.node_dir.join("containerd.toml")
    }
    pub fn containerd_socket(&self) -> PathBuf {
        self.node_dir.join("containerd.sock")
    }
    pub fn containerd_pid_file(&self) -> PathBuf {
        self.node_dir.join("containerd.pid")
    }
    pub fn containerd_log(&self) -> PathBuf {
        self.node_dir.join("containerd.log")
    }
    pub fn containerd_root(&self) -> PathBuf {
        self.node_dir.join("root")
    }
    pub fn containerd_state(&self) -> PathBuf {
        self.node_dir.join("state")
    }
    pub fn containerd_opt(&self) -> PathBuf {
        self.node_dir.join("opt")
    }
    pub fn runc_root(&self) -> PathBuf {
        self.node_dir.join("runc")
    }
    pub fn cni_config_dir(&self) -> PathBuf {
        self.node_dir.join("cni/net.d")
    }
    pub fn cni_ipam_dir(&self) -> PathBuf {
        self.node_dir.join("cni/ipam")
    }
    pub fn images_dir(&self) -> PathBuf {
        self.node_dir.join("images")
    }
    /// Where every pod's directory (logs, volumes) lives.
    pub fn pods_dir(&self) -> PathBuf {
        self.node_dir.join("pods")
    }
    /// A pod's directory, named like the kubelet's log directory: `<ns>_<name>_<uid>`.
    pub fn pod_dir(&self, namespace: &str, name: &str, uid: &str) -> PathBuf {
        self.pods_dir().join(format!("{namespace}_{name}_{uid}"))
    }

    /// Whether the socket path fits the kernel's limit, checked before starting containerd.
    pub fn socket_path_fits(&self) -> bool {
        self.containerd_socket().as_os_str().len() <= MAX_SOCKET_PATH_BYTES
    }
}

/// A pod's volumes directory inside its pod directory; the leading dot keeps it apart from the
/// container log directories, whose names are DNS labels and cannot start with one.
pub fn pod_volumes_dir(pod_dir: &Path) -> PathBuf {
    pod_dir.join(".volumes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_node_directories_fit_the_socket_limit() {
        assert!(NodePaths::new("/tmp/hkn-abc123").socket_path_fits());
        assert!(!NodePaths::new(format!("/tmp/{}", "x".repeat(100))).socket_path_fits());
    }

    #[test]
    fn pod_directories_are_named_like_the_kubelets() {
        let paths = NodePaths::new("/n");
        assert_eq!(
            paths.pod_dir("default", "web", "u1"),
            PathBuf::from("/n/pods/default_web_u1")
        );
    }
}
