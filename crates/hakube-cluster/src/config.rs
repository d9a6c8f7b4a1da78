//! The daemon's settings: what `hakube daemon` flags set. `hakube start` saves them in
//! `DATA_DIR/flags.json` on first start and reuses them, so a restart needs only `--data-dir`.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Well-known ports; every node uses the same ones on its own address.
pub const API_PORT: u16 = 16443;
pub const JOIN_PORT: u16 = 25000;
pub const PEER_PORT: u16 = 19001;
pub const ETCD_PORT: u16 = 12379;
pub const AGENT_PORT: u16 = 10250;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct DaemonConfig {
    pub data_dir: PathBuf,
    /// The node's address; every port binds to it.
    pub address: IpAddr,
    pub node_name: String,
    pub failure_domain: u64,
    /// Datastore voters to keep (3, 5 or 7).
    pub voters: usize,
    /// Datastore standbys to keep.
    pub standbys: usize,
    pub voter_replacement_delay_seconds: u64,
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub cluster_cidr: String,
    pub container_runtime_endpoint: Option<String>,
    pub insecure_registries: Vec<String>,
    pub node_monitor_grace_period_seconds: u64,
    pub pod_eviction_timeout_seconds: u64,
    /// How long an exec, attach or port-forward stream may stay idle (containerd's
    /// `stream_idle_timeout`).
    pub streaming_connection_idle_timeout_seconds: u64,
    pub node_lease_duration_seconds: u64,
    /// The Leases of kube-scheduler and kube-controller-manager.
    pub leader_elect_lease_duration_seconds: u64,
    /// Simulated nodes this node registers and runs (scale measurements only).
    pub simulated_nodes: usize,
    /// How often the leader's role manager reconciles datastore roles.
    pub role_reconcile_interval_ms: u64,
    /// Who may do what in the Kubernetes API.
    pub authorization_mode: AuthorizationMode,
}

/// `--authorization-mode`: off by default, as in MicroK8s (`microk8s enable rbac`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuthorizationMode {
    /// Every authenticated user may do everything.
    #[default]
    AlwaysAllow,
    /// Kubernetes RBAC (Roles, ClusterRoles and their bindings).
    #[serde(rename = "RBAC")]
    Rbac,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("/var/lib/hakube"),
            address: IpAddr::from([127, 0, 0, 1]),
            node_name: String::new(),
            failure_domain: 1,
            voters: 3,
            standbys: 2,
            voter_replacement_delay_seconds: 30,
            // Fast enough for sub-second failover on a LAN; raise both on slow or distant links.
            election_timeout_ms: 200,
            heartbeat_interval_ms: 50,
            cluster_cidr: "10.1.0.0/16".into(),
            container_runtime_endpoint: None,
            insecure_registries: Vec::new(),
            node_monitor_grace_period_seconds: 50,
            pod_eviction_timeout_seconds: 300,
            streaming_connection_idle_timeout_seconds: 4 * 60 * 60,
            node_lease_duration_seconds: 40,
            leader_elect_lease_duration_seconds: 15,
            simulated_nodes: 0,
            role_reconcile_interval_ms: 1000,
            authorization_mode: AuthorizationMode::AlwaysAllow,
        }
    }
}

impl DaemonConfig {
    /// One-line reasons for settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        if ![3, 5, 7].contains(&self.voters) {
            return Err(format!("--voters must be 3, 5 or 7 (got {})", self.voters));
        }
        if self.heartbeat_interval_ms == 0
            || self.election_timeout_ms < self.heartbeat_interval_ms * 3
        {
            return Err(format!(
                "--election-timeout-ms ({}) must be at least three times --heartbeat-interval-ms ({})",
                self.election_timeout_ms, self.heartbeat_interval_ms
            ));
        }
        if let Err(error) = self
            .cluster_cidr
            .parse::<hakube_apiserver::controllers::node_ipam::Ipv4Block>()
        {
            return Err(format!("--cluster-cidr: {error}"));
        }
        if self.leader_elect_lease_duration_seconds == 0 {
            return Err("--leader-elect-lease-duration must be at least 1 second".into());
        }
        if self.node_name.is_empty() || !is_dns_label(&self.node_name) {
            return Err(format!(
                "node name {:?} is not valid: use lowercase letters, digits and '-', at most 63 characters",
                self.node_name
            ));
        }
        Ok(())
    }

    pub fn peer_address(&self) -> String {
        socket(self.address, PEER_PORT)
    }

    pub fn join_address(&self) -> String {
        socket(self.address, JOIN_PORT)
    }
}

/// `IP:PORT`, with brackets for IPv6.
pub fn socket(address: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(address, port).to_string()
}

fn is_dns_label(name: &str) -> bool {
    name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && !name.starts_with('-')
        && !name.ends_with('-')
}
