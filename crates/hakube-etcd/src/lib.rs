//! The store's etcd v3 API: etcd's gRPC services (KV, Watch, Lease, Cluster, Maintenance, and
//! Auth answering "not enabled") over the replicated store, so `etcdctl` and etcd clients work
//! against hakube. hakube-cluster serves [`router`] on every control-plane node at
//! `ADDRESS:12379`, behind its TLS accept loop with client certificates from the cluster CA.
//!
//! Mapping onto the store:
//! - Put, DeleteRange and Txn become one `Operation::Txn` each (a Put is a one-op
//!   transaction), so each write is one Raft entry and one revision.
//! - Range reads the local applied state: after `Store::read_barrier` (linearizable, the
//!   default) or directly (`serializable`). A linearizable read that cannot be confirmed with a
//!   quorum fails instead of answering stale data.
//! - Watches are served from the local replica (`Store::watch`): history first, then live
//!   events, bounded; a leader change does not affect them.
//! - Leases are granted and revoked through the log; keep-alives and time-to-live need the
//!   leader's in-memory deadlines, reached through a [`LeaseForwarder`] the cluster implements
//!   over its peer transport.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use hakube_store::{Store, StoreError};

pub mod convert;
pub mod error;
mod kv;
mod lease;
mod maintenance;
pub mod store_api;
mod watch;

/// The port every control-plane node serves the etcd API on.
pub const ETCD_PORT: u16 = 12379;
/// The etcd version reported by Status and Snapshot (clients check it).
pub const ETCD_VERSION: &str = "3.5.0";
/// etcd's default `--max-request-bytes` (1.5 MiB) plus gRPC overhead, as etcd's server allows.
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;
const MAX_GRPC_MESSAGE_BYTES: usize = MAX_REQUEST_BYTES + 512 * 1024;

/// A lease's remaining time as the leader knows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LeaseTtl {
    pub id: i64,
    /// Seconds left.
    pub ttl: i64,
    /// The TTL it was granted with.
    pub granted_ttl: i64,
    /// Keys attached to it.
    pub keys: Vec<Vec<u8>>,
}

/// Lease operations that need the leader's in-memory deadlines: on the leader they are local,
/// on a follower the implementation forwards them over the peer transport.
pub trait LeaseForwarder: Send + Sync + 'static {
    /// Renews the lease; its TTL in seconds, or `None` when no such lease exists.
    fn keep_alive(&self, id: i64) -> BoxFuture<'static, Result<Option<i64>, StoreError>>;
    /// The lease's remaining time, or `None` when no such lease exists.
    fn time_to_live(&self, id: i64) -> BoxFuture<'static, Result<Option<LeaseTtl>, StoreError>>;
}

/// What the etcd API needs from the node that serves it.
#[derive(Clone)]
pub struct EtcdContext {
    pub store: Store,
    /// Reported in every response header (derived from the cluster CA: the same on every node).
    pub cluster_id: u64,
    pub leases: Arc<dyn LeaseForwarder>,
    /// The port clients reach members on (client URLs in MemberList).
    pub client_port: u16,
    /// How often a watch created with `progress_notify` reports progress when idle.
    pub progress_interval: Duration,
}

impl EtcdContext {
    pub fn new(store: Store, cluster_id: u64, leases: Arc<dyn LeaseForwarder>) -> Self {
        Self {
            store,
            cluster_id,
            leases,
            client_port: ETCD_PORT,
            progress_interval: Duration::from_secs(600),
        }
    }
}

/// The etcd v3 gRPC services as an axum router (HTTP/2; serve it over TLS with ALPN h2).
pub fn router(ctx: EtcdContext) -> axum::Router {
    use etcd_client::proto::{
        PbClusterServer, PbKvServer, PbLeaseServer, PbMaintenanceServer, PbWatchServer,
    };
    let api = Arc::new(Api { ctx });
    let routes = tonic::service::Routes::default()
        .add_service(
            PbKvServer::from_arc(api.clone()).max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        )
        .add_service(
            PbWatchServer::from_arc(api.clone()).max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        )
        .add_service(
            PbLeaseServer::from_arc(api.clone()).max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        )
        .add_service(
            PbClusterServer::from_arc(api.clone())
                .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        )
        .add_service(
            PbMaintenanceServer::from_arc(api).max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES),
        );
    routes
        .into_axum_router()
        .route("/etcdserverpb.Auth/{*method}", axum::routing::post(auth))
}

/// Auth is never enabled: every Auth RPC answers as etcd does then.
async fn auth() -> axum::response::Response {
    tonic::Status::failed_precondition("etcdserver: authentication is not enabled")
        .into_http::<axum::body::Body>()
}

/// The services' shared state.
pub(crate) struct Api {
    pub(crate) ctx: EtcdContext,
}

impl Api {
    pub(crate) fn store(&self) -> &Store {
        &self.ctx.store
    }

    /// A response header at `revision`.
    pub(crate) fn header(&self, revision: u64) -> etcd_client::proto::PbResponseHeader {
        etcd_client::proto::PbResponseHeader {
            cluster_id: self.ctx.cluster_id,
            member_id: self.ctx.store.node_id(),
            revision: revision as i64,
            raft_term: store_api::current_term(&self.ctx.store),
        }
    }

    /// A header at the current applied revision.
    pub(crate) fn current_header(&self) -> etcd_client::proto::PbResponseHeader {
        let revision = self.ctx.store.machine().read().kv.revision();
        self.header(revision)
    }
}
