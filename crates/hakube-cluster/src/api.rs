//! Serving the Kubernetes API (`hakube-apiserver`) on a control-plane node: `ADDRESS:16443`,
//! TLS with the node certificate; clients authenticate with a certificate from the cluster CA
//! (`hakube config` writes one for `admin` in `system:masters`).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;

use hakube_apiserver::{ApiOptions, ApiServer};

use crate::config::{API_PORT, socket};
use crate::node::Node;

/// Binds `ADDRESS:16443` and serves the API until the node stops.
pub async fn start(node: &Arc<Node>) -> anyhow::Result<Arc<ApiServer>> {
    let address = SocketAddr::new(node.config.address, API_PORT);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!("cannot listen on {address} for the Kubernetes API: is another API server (or hakube) using it?")
        })?;
    let tls = crate::tls::api_server_config(&node.identity.tls_material())?;
    let server = ApiServer::with_node_removal(
        node.store.clone(),
        ApiOptions {
            advertise_address: socket(node.config.address, API_PORT),
            // Every control-plane node holds the CA key, so all derive the same token key.
            token_key: node
                .identity
                .ca_key_pem
                .as_deref()
                .map(|key| hakube_apiserver::tokens::TokenKey::derive(key.as_bytes())),
            rbac: node.config.authorization_mode == crate::config::AuthorizationMode::Rbac,
            audit: Some(hakube_apiserver::audit::AuditLog::start(
                node.config.data_dir.join("audit.log"),
            )),
            node_metrics: Some({
                let node = Arc::downgrade(node);
                Arc::new(move || {
                    node.upgrade()
                        .map(|node| crate::metrics::render(&node))
                        .unwrap_or_default()
                })
            }),
            node_agents: Some(Arc::new(crate::agent_server::AgentClient::new(
                node.client.clone(),
                &*crate::tls::peer_client_config(&node.identity.tls_material())?,
            ))),
            node_name: node.config.node_name.clone(),
            control: control_options(&node.config),
        },
        Arc::new(RemoveOnDelete {
            node: Arc::downgrade(node),
        }),
    );
    tokio::spawn(crate::serve::serve_tls(
        listener,
        tls,
        hakube_apiserver::router(server.clone()),
        node.shutdown.clone(),
    ));
    tokio::spawn(hakube_apiserver::bootstrap::ensure_system_objects(
        server.clone(),
    ));
    tokio::spawn(hakube_apiserver::crds::sync(
        server.clone(),
        node.shutdown.clone(),
    ));
    tokio::spawn(hakube_apiserver::controllers::run(
        server.clone(),
        node.shutdown.clone(),
    ));
    tokio::spawn(hakube_apiserver::scheduling::run(
        server.clone(),
        node.shutdown.clone(),
    ));
    tracing::info!(%address, "serving the Kubernetes API");
    Ok(server)
}

fn control_options(
    config: &crate::config::DaemonConfig,
) -> hakube_apiserver::controllers::ControlOptions {
    use std::time::Duration;
    hakube_apiserver::controllers::ControlOptions {
        leader_lease_duration: Duration::from_secs(config.leader_elect_lease_duration_seconds),
        node_monitor_grace_period: Duration::from_secs(config.node_monitor_grace_period_seconds),
        pod_eviction_timeout_seconds: i64::try_from(config.pod_eviction_timeout_seconds)
            .unwrap_or(i64::MAX),
        // Validated at start (DaemonConfig::validate).
        cluster_cidr: config.cluster_cidr.parse().ok(),
        node_cidr_mask_size: 24,
    }
}

/// `kubectl delete node`: the node leaves the cluster (datastore membership and record), as
/// `hakube remove-node` does; refused while it is reachable (run `hakube leave` on it) or when
/// its removal would lose quorum.
struct RemoveOnDelete {
    node: std::sync::Weak<Node>,
}

impl hakube_apiserver::nodes::NodeRemoval for RemoveOnDelete {
    fn remove(&self, name: String) -> futures::future::BoxFuture<'static, Result<(), String>> {
        let node = self.node.clone();
        Box::pin(async move {
            let node = node.upgrade().ok_or("the node is stopping")?;
            let records = crate::registry::list_nodes(&node.store)
                .await
                .map_err(|e| e.to_string())?;
            let Some(record) = records.iter().find(|r| r.name == name) else {
                // Not a cluster node (an object created by hand): just its objects.
                return hakube_apiserver::nodes::forget(&node.store, &name)
                    .await
                    .map_err(|e| e.to_string());
            };
            crate::membership::removal_keeps_quorum(&node, record.node_id)?;
            crate::membership::remove(&node, &name, false)
                .await
                .map(|_| ())
                .map_err(|e| format!("{e:#}"))
        })
    }
}
