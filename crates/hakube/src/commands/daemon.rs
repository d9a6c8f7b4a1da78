//! `hakube daemon`: turns the daemon flags into a [`DaemonConfig`] (with host-derived defaults for
//! the address and node name), sets up logging to stderr, and runs the daemon on a two-worker
//! tokio runtime until it shuts down.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::Path;

use anyhow::{Context, Result};
use hakube_cluster::config::{AuthorizationMode, DaemonConfig};
use tracing_subscriber::EnvFilter;

use crate::cli::DaemonArgs;

pub fn run(data_dir: &Path, args: &DaemonArgs) -> Result<()> {
    let config = build_config(data_dir, args)?;
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(hakube_cluster::daemon::run(config))
}

/// The daemon's settings: the flags given, the config defaults for the rest.
pub fn build_config(data_dir: &Path, args: &DaemonArgs) -> Result<DaemonConfig> {
    let defaults = DaemonConfig::default();
    let data_dir = std::path::absolute(data_dir)
        .with_context(|| format!("data directory {}", data_dir.display()))?;
    let node_name = match &args.node_name {
        Some(name) => name.clone(),
        None => default_node_name()?,
    };
    Ok(DaemonConfig {
        data_dir,
        address: args.address.unwrap_or_else(default_address),
        node_name,
        failure_domain: args.failure_domain.unwrap_or(defaults.failure_domain),
        voters: args.voters.unwrap_or(defaults.voters),
        standbys: args.standbys.unwrap_or(defaults.standbys),
        voter_replacement_delay_seconds: args
            .voter_replacement_delay
            .unwrap_or(defaults.voter_replacement_delay_seconds),
        election_timeout_ms: args
            .election_timeout_ms
            .unwrap_or(defaults.election_timeout_ms),
        heartbeat_interval_ms: args
            .heartbeat_interval_ms
            .unwrap_or(defaults.heartbeat_interval_ms),
        cluster_cidr: args.cluster_cidr.clone().unwrap_or(defaults.cluster_cidr),
        container_runtime_endpoint: args.container_runtime_endpoint.clone(),
        insecure_registries: args.insecure_registries.clone(),
        node_monitor_grace_period_seconds: args
            .node_monitor_grace_period
            .unwrap_or(defaults.node_monitor_grace_period_seconds),
        pod_eviction_timeout_seconds: args
            .pod_eviction_timeout
            .unwrap_or(defaults.pod_eviction_timeout_seconds),
        streaming_connection_idle_timeout_seconds: args
            .streaming_connection_idle_timeout
            .unwrap_or(defaults.streaming_connection_idle_timeout_seconds),
        node_lease_duration_seconds: args
            .node_lease_duration
            .unwrap_or(defaults.node_lease_duration_seconds),
        leader_elect_lease_duration_seconds: args
            .leader_elect_lease_duration
            .unwrap_or(defaults.leader_elect_lease_duration_seconds),
        simulated_nodes: args.simulated_nodes.unwrap_or(defaults.simulated_nodes),
        role_reconcile_interval_ms: defaults.role_reconcile_interval_ms,
        authorization_mode: match args.authorization_mode.as_deref() {
            Some("RBAC") => AuthorizationMode::Rbac,
            _ => defaults.authorization_mode,
        },
    })
}

fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The host's name, lowercased.
fn default_node_name() -> Result<String> {
    let uname = rustix::system::uname();
    let name = uname.nodename().to_string_lossy().trim().to_lowercase();
    anyhow::ensure!(
        !name.is_empty(),
        "the host has no name: pass --node-name NAME"
    );
    Ok(name)
}

/// The address of the interface that routes outward (no packet is sent), if it is a non-loopback
/// IPv4 address; else 127.0.0.1.
fn default_address() -> IpAddr {
    let outward = || -> std::io::Result<IpAddr> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9))?;
        Ok(socket.local_addr()?.ip())
    };
    match outward() {
        Ok(ip @ IpAddr::V4(v4)) if !v4.is_loopback() && !v4.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_defaults() {
        let args = DaemonArgs {
            address: Some("127.0.0.12".parse().unwrap_or_else(|e| panic!("{e}"))),
            node_name: Some("node2".into()),
            voters: Some(5),
            insecure_registries: vec!["r:5000".into()],
            election_timeout_ms: Some(600),
            ..DaemonArgs::default()
        };
        let config = build_config(Path::new("/tmp/n2"), &args).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.address.to_string(), "127.0.0.12");
        assert_eq!(config.node_name, "node2");
        assert_eq!(config.voters, 5);
        assert_eq!(config.election_timeout_ms, 600);
        assert_eq!(
            config.heartbeat_interval_ms,
            DaemonConfig::default().heartbeat_interval_ms
        );
        assert_eq!(config.insecure_registries, ["r:5000"]);
        assert_eq!(config.data_dir, Path::new("/tmp/n2"));
    }

    #[test]
    fn host_defaults_are_usable() {
        let config = build_config(Path::new("rel"), &DaemonArgs::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.data_dir.is_absolute());
        assert!(!config.node_name.is_empty());
        assert_eq!(config.node_name, config.node_name.to_lowercase());
    }
}
