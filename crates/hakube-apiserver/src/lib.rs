//! hakube's Kubernetes API server: the REST API kubectl and controllers use, served from the
//! replicated store. Any node answers; writes go through Raft (the store forwards them to the
//! leader). The crate owns request routing, discovery, the generic object verbs (get, list,
//! watch, create, update, patch, delete) with Kubernetes semantics, and their Status errors.

pub mod admission;
pub mod audit;
pub mod auth;
mod body;
pub mod bootstrap;
mod builtin;
pub mod controllers;
mod crd_schema;
pub mod crds;
pub mod decoded_cache;
pub mod discovery;
pub mod error;
pub mod event_spam;
pub mod events;
mod handlers;
pub mod impersonation;
pub mod internal;
mod json_path;
pub mod leader_election;
pub mod managed_fields;
pub mod metrics;
mod negotiation;
pub mod node_agents;
pub mod nodes;
pub mod objects;
mod openapi;
mod openapi_v2;
mod patch;
mod printers;
mod protobuf;
pub mod quantity;
pub mod raw_json;
pub mod rbac;
mod request;
pub mod resources;
mod respond;
pub mod scheduling;
mod selectors;
pub mod services;
pub mod storage;
mod strategic_merge;
mod table;
pub mod tokens;
pub mod tree;
pub mod version;
mod version_priority;
mod write;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use auth::{ClientCertificate, User};
pub use error::{ApiError, ApiResult};
pub use request::Query;
pub use resources::Registry;
pub use storage::Storage;

/// Settings of one API server.
#[derive(Clone)]
pub struct ApiOptions {
    /// `host:port` clients reach this server at (legacy discovery reports it).
    pub advertise_address: String,
    /// Signs and verifies service account tokens (none: bearer tokens are refused).
    pub token_key: Option<tokens::TokenKey>,
    /// RBAC authorization (off: every authenticated user may do everything).
    pub rbac: bool,
    /// Where write requests are audited (none: not audited).
    pub audit: Option<audit::AuditLog>,
    /// The node's own metrics, shown on `/metrics` before the API's.
    pub node_metrics: Option<metrics::NodeMetricsRenderer>,
    /// Reaches node agents (container logs); none: such requests answer 503.
    pub node_agents: Option<std::sync::Arc<dyn node_agents::NodeAgentClient>>,
    /// This node's name (leader election identities).
    pub node_name: String,
    /// The controller manager's and scheduler's settings.
    pub control: controllers::ControlOptions,
}

pub struct ApiServer {
    pub storage: Storage,
    pub registry: Registry,
    pub options: ApiOptions,
    pub watches: Arc<handlers::watch::WatchBudget>,
    pub metrics: metrics::ApiMetrics,
    /// Deleting a Node removes its node from the cluster (when set).
    pub node_removal: Option<Arc<dyn nodes::NodeRemoval>>,
    /// Bounds the events each component records about one object (upstream's spam filter).
    pub event_spam: std::sync::Mutex<event_spam::SpamFilter>,
}

impl ApiServer {
    pub fn new(store: hakube_store::Store, options: ApiOptions) -> Arc<Self> {
        Self::build(store, options, None)
    }

    /// The same server, with a hook that removes a node when its Node is deleted.
    pub fn with_node_removal(
        store: hakube_store::Store,
        options: ApiOptions,
        removal: Arc<dyn nodes::NodeRemoval>,
    ) -> Arc<Self> {
        Self::build(store, options, Some(removal))
    }

    fn build(
        store: hakube_store::Store,
        options: ApiOptions,
        node_removal: Option<Arc<dyn nodes::NodeRemoval>>,
    ) -> Arc<Self> {
        Arc::new(ApiServer {
            storage: Storage::new(store),
            registry: Registry::with_builtin(),
            options,
            watches: Arc::default(),
            metrics: metrics::ApiMetrics::default(),
            node_removal,
            event_spam: std::sync::Mutex::default(),
        })
    }
}

/// The HTTP routes of the API. Requests need a user (see [`auth`]), placed in the request's
/// extensions by the TLS layer as a [`ClientCertificate`].
pub fn router(server: Arc<ApiServer>) -> Router {
    Router::new()
        .route("/version", get(version_info))
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(handlers::discovery::metrics))
        .route("/api", get(handlers::discovery::core))
        .route("/apis", get(handlers::discovery::groups))
        .route("/openapi/v2", get(handlers::discovery::openapi_v2))
        .route("/openapi/v3", get(handlers::discovery::openapi_root))
        .route(
            "/openapi/v3/{*path}",
            get(handlers::discovery::openapi_group_version),
        )
        .fallback(handlers::dispatch)
        .with_state(server)
}

async fn version_info() -> Response {
    axum::Json(version::info()).into_response()
}

async fn health() -> Response {
    (StatusCode::OK, "ok").into_response()
}

/// Ready while this node can serve consistent reads (it has a leader it can reach).
async fn ready(State(server): State<Arc<ApiServer>>, _request: Request) -> Response {
    if server.storage.store().has_quorum() {
        (StatusCode::OK, "ok").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the datastore has lost quorum: the API is read-only",
        )
            .into_response()
    }
}
