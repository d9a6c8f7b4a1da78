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
    let server = ApiServer::new(
        node.store.clone(),
        ApiOptions {
            advertise_address: socket(node.config.address, API_PORT),
        },
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
    tokio::spawn(hakube_apiserver::controllers::run(
        server.clone(),
        node.shutdown.clone(),
    ));
    tracing::info!(%address, "serving the Kubernetes API");
    Ok(server)
}
