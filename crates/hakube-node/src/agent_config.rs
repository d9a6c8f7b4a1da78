//! The node-wide settings of an agent: who the node is, where its directory is, its addresses,
//! pod CIDR and bridge, its cgroup root and cluster DNS.

use crate::cni::bridge_name_for;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// The node directory containerd runs in (see `ContainerdOptions::node_dir`).
    pub node_dir: PathBuf,
    /// The node's address, reported as hostIP.
    pub host_ip: String,
    pub pod_cidr: String,
    /// The CNI bridge, at most 15 bytes; unique per node on a host.
    pub bridge_name: String,
    /// Every pod's cgroup is `/<cgroup_root>/pod<uid>` in each hierarchy.
    pub cgroup_root: String,
    /// (server, cluster domain) for pods with `dnsPolicy: ClusterFirst`.
    pub cluster_dns: Option<(String, String)>,
    /// For Burstable pods' OOM score (the kubelet's formula).
    pub memory_capacity_bytes: i64,
    /// A container's log file is rotated past this size...
    pub container_log_max_bytes: u64,
    /// ...and this many files are kept per container, the current one included.
    pub container_log_max_files: usize,
}

impl AgentConfig {
    pub fn new(
        node_name: &str,
        node_dir: impl Into<PathBuf>,
        host_ip: &str,
        pod_cidr: &str,
    ) -> Self {
        Self {
            node_name: node_name.to_owned(),
            node_dir: node_dir.into(),
            host_ip: host_ip.to_owned(),
            pod_cidr: pod_cidr.to_owned(),
            bridge_name: bridge_name_for(node_name),
            cgroup_root: format!("hakube-{node_name}"),
            cluster_dns: None,
            memory_capacity_bytes: host_memory_bytes().unwrap_or(1 << 30),
            container_log_max_bytes: crate::log_rotation::DEFAULT_MAX_LOG_FILE_BYTES,
            container_log_max_files: crate::log_rotation::DEFAULT_MAX_LOG_FILES,
        }
    }
}

/// MemTotal from /proc/meminfo.
fn host_memory_bytes() -> Option<i64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kibibytes: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kibibytes * 1024)
}
