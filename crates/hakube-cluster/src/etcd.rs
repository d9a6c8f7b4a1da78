//! Serving the etcd v3 API (`hakube-etcd`) on a control-plane node: `ADDRESS:12379`, mutual
//! TLS with the cluster CA (the node certificate serves; clients need a CA-issued certificate,
//! such as the admin client certificate in `DATA_DIR/identity/etcd-client.{crt,key}`), and
//! lease keep-alives and time-to-live requests forwarded to the leader over the peer transport.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use futures::future::BoxFuture;

use hakube_etcd::{EtcdContext, LeaseForwarder, LeaseTtl};
use hakube_store::{Store, StoreError};

use crate::config::ETCD_PORT;
use crate::node::Node;
use crate::peer_client::{PeerClient, PeerError};

pub const LEASE_KEEP_ALIVE_PATH: &str = "/etcd/lease/keep-alive";
pub const LEASE_TTL_PATH: &str = "/etcd/lease/time-to-live";
/// File names, in `DATA_DIR/identity/`, of the admin client certificate for etcd clients.
pub const CLIENT_CERT_FILE: &str = "etcd-client.crt";
pub const CLIENT_KEY_FILE: &str = "etcd-client.key";
/// Common name of that certificate.
pub const CLIENT_COMMON_NAME: &str = "hakube-etcd-admin";

const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// A cluster id every member derives alike: the first 8 bytes of the CA's fingerprint.
pub fn cluster_id(node: &Node) -> u64 {
    let fingerprint = node.identity.fingerprint();
    u64::from_str_radix(fingerprint.get(..16).unwrap_or("0"), 16).unwrap_or(0) >> 1
}

/// Binds `ADDRESS:12379` and serves the etcd API until the node stops.
pub async fn start(node: &Arc<Node>) -> anyhow::Result<()> {
    let address = SocketAddr::new(node.config.address, ETCD_PORT);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!("cannot listen on {address} for the etcd API: is an etcd (or another hakube) using it?")
        })?;
    let tls = crate::tls::peer_server_config(&node.identity.tls_material())?;
    let leases = Arc::new(PeerLeases {
        node: Arc::downgrade(node),
    });
    let ctx = EtcdContext::new(node.store.clone(), cluster_id(node), leases);
    tokio::spawn(crate::serve::serve_tls(
        listener,
        tls,
        hakube_etcd::router(ctx),
        node.shutdown.clone(),
    ));
    tracing::info!(%address, "serving the etcd v3 API");
    Ok(())
}

/// Keep-alive and time-to-live: answered by the leader's lease keeper, forwarded when this
/// node follows.
struct PeerLeases {
    node: std::sync::Weak<Node>,
}

fn stopped() -> StoreError {
    StoreError::ShuttingDown
}

fn transport_error(error: PeerError) -> StoreError {
    match error {
        PeerError::Unreachable { .. } => StoreError::LeaderUnreachable(error.to_string()),
        other => StoreError::Internal(other.to_string()),
    }
}

/// Where lease requests go: `None` for this node (the leader), else the leader's peer address.
fn route(store: &Store) -> Result<Option<String>, StoreError> {
    let status = store.status();
    match status.leader {
        None => Err(StoreError::LeaderUnreachable("no leader elected".into())),
        Some(leader) if leader == status.node_id => Ok(None),
        Some(leader) => status
            .members
            .into_iter()
            .find(|(id, _)| *id == leader)
            .map(|(_, member)| Some(member.peer_address))
            .ok_or_else(|| StoreError::LeaderUnreachable("the leader is not a member".into())),
    }
}

async fn forward<Resp: serde::de::DeserializeOwned>(
    client: &PeerClient,
    leader: &str,
    path: &str,
    id: i64,
) -> Result<Resp, StoreError> {
    let reply: Result<Resp, StoreError> = client
        .call(leader, path, &id, FORWARD_TIMEOUT)
        .await
        .map_err(transport_error)?;
    reply
}

impl LeaseForwarder for PeerLeases {
    fn keep_alive(&self, id: i64) -> BoxFuture<'static, Result<Option<i64>, StoreError>> {
        let node = self.node.clone();
        async move {
            let node = node.upgrade().ok_or_else(stopped)?;
            match route(&node.store)? {
                None => local_keep_alive(&node, id).await,
                Some(leader) => forward(&node.client, &leader, LEASE_KEEP_ALIVE_PATH, id).await,
            }
        }
        .boxed()
    }

    fn time_to_live(&self, id: i64) -> BoxFuture<'static, Result<Option<LeaseTtl>, StoreError>> {
        let node = self.node.clone();
        async move {
            let node = node.upgrade().ok_or_else(stopped)?;
            match route(&node.store)? {
                None => local_time_to_live(&node, id).await,
                Some(leader) => forward(&node.client, &leader, LEASE_TTL_PATH, id).await,
            }
        }
        .boxed()
    }
}

/// The leader's side of a keep-alive (also what the peer endpoint answers): the TTL, or
/// `None` for an unknown lease.
pub async fn local_keep_alive(node: &Node, id: i64) -> Result<Option<i64>, StoreError> {
    match node.leases.keep_alive(id) {
        Ok(ttl) => Ok(Some(ttl)),
        Err(StoreError::LeaseNotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The leader's side of a time-to-live request.
pub async fn local_time_to_live(node: &Node, id: i64) -> Result<Option<LeaseTtl>, StoreError> {
    match node.leases.time_to_live(id) {
        Ok((granted_ttl, ttl, keys)) => Ok(Some(LeaseTtl {
            id,
            ttl,
            granted_ttl,
            keys,
        })),
        Err(StoreError::LeaseNotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Paths of the etcd client credentials for this data directory.
pub fn client_files(data_dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let dir = data_dir.join("identity");
    (
        dir.join("ca.crt"),
        dir.join(CLIENT_CERT_FILE),
        dir.join(CLIENT_KEY_FILE),
    )
}
