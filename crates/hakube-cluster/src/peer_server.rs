//! The peer endpoints on :19001 (mutual TLS with the cluster CA): Raft RPCs, forwarded writes
//! and read-index requests for the store, reachability pings, and the membership requests that
//! must run on the leader (admit, remove, hand-over).

use std::io::Cursor;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};
use openraft::errors::RaftError;
use openraft::raft::{SnapshotResponse, TransferLeaderRequest};

use hakube_store::types::{SnapshotMeta, Vote};
use hakube_store::{Command, TypeConfig};

use crate::append_stream::STREAM_APPEND_PATH;
use crate::forwarder::{READ_INDEX_PATH, WRITE_PATH};
use crate::membership;
use crate::node::{Node, PING_PATH};
use crate::raft_network::{
    APPEND_PATH, PRE_VOTE_PATH, SNAPSHOT_PATH, TRANSFER_LEADER_PATH, VOTE_PATH,
};
use crate::rpc::{self, AdmitRequest, HandoverRequest, RemoveMemberRequest};

pub const ADMIT_PATH: &str = "/cluster/admit";
pub const REMOVE_PATH: &str = "/cluster/remove";
pub const HANDOVER_PATH: &str = "/cluster/handover";

/// Snapshots carry the whole state; everything else is small.
const MAX_SNAPSHOT_BYTES: usize = 1024 * 1024 * 1024;
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub fn router(node: Arc<Node>) -> Router {
    let snapshot = Router::new()
        .route(SNAPSHOT_PATH, post(install_snapshot))
        .layer(DefaultBodyLimit::max(MAX_SNAPSHOT_BYTES));
    let images = Router::new()
        .route(crate::images::IMPORT_PATH, post(import_image))
        .layer(DefaultBodyLimit::max(crate::images::MAX_ARCHIVE_BYTES));
    Router::new()
        .route(APPEND_PATH, post(append))
        .route(STREAM_APPEND_PATH, post(stream_append))
        .route(VOTE_PATH, post(vote))
        .route(PRE_VOTE_PATH, post(pre_vote))
        .route(TRANSFER_LEADER_PATH, post(transfer_leader))
        .route(WRITE_PATH, post(write))
        .route(READ_INDEX_PATH, post(read_index))
        .route(PING_PATH, post(ping))
        .route(ADMIT_PATH, post(admit))
        .route(REMOVE_PATH, post(remove))
        .route(HANDOVER_PATH, post(handover))
        .route(crate::endpoints::CLUSTER_STATUS_PATH, post(cluster_status))
        .route(
            crate::etcd::LEASE_KEEP_ALIVE_PATH,
            post(etcd_lease_keep_alive),
        )
        .route(crate::etcd::LEASE_TTL_PATH, post(etcd_lease_time_to_live))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .merge(snapshot)
        .merge(images)
        .with_state(node)
}

/// `hakube images import` on another node: the archive's bytes, imported here.
async fn import_image(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    use axum::response::IntoResponse;
    match crate::images::import_bytes(&node, &body).await {
        Ok(()) => "imported".into_response(),
        Err(why) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, why).into_response(),
    }
}

macro_rules! decode_or_reply {
    ($body:expr) => {
        match rpc::decode(&$body) {
            Ok(value) => value,
            Err(response) => return response,
        }
    };
}

async fn append(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    rpc::reply(
        &node
            .store
            .raft()
            .append_entries(decode_or_reply!(body))
            .await,
    )
}

/// A leader's replication stream (`append_stream`). The body is taken raw: it lasts as long as
/// the leader's term, so only each frame is bounded, not the whole.
async fn stream_append(State(node): State<Arc<Node>>, body: axum::body::Body) -> Response {
    crate::append_stream::serve(node.store.raft(), body)
}

async fn vote(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    rpc::reply(&node.store.vote(decode_or_reply!(body)).await)
}

async fn pre_vote(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    rpc::reply(&node.store.pre_vote(decode_or_reply!(body)).await)
}

async fn install_snapshot(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let (vote, meta, data): (Vote, SnapshotMeta, Vec<u8>) = decode_or_reply!(body);
    let snapshot = openraft::alias::SnapshotOf::<TypeConfig, Cursor<Vec<u8>>> {
        meta,
        snapshot: Cursor::new(data),
    };
    let result: Result<SnapshotResponse<TypeConfig>, RaftError<TypeConfig>> = node
        .store
        .raft()
        .install_full_snapshot(vote, snapshot)
        .await
        .map_err(RaftError::Fatal);
    rpc::reply(&result)
}

async fn transfer_leader(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request: TransferLeaderRequest<TypeConfig> = decode_or_reply!(body);
    let result = node.store.raft().handle_transfer_leader(request).await;
    rpc::reply(&result.map_err(RaftError::<TypeConfig>::Fatal))
}

async fn write(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let command: Command = decode_or_reply!(body);
    rpc::reply(&node.store.propose_as_leader(command).await)
}

async fn read_index(State(node): State<Arc<Node>>) -> Response {
    rpc::reply(&node.store.read_index_as_leader().await)
}

async fn ping(State(node): State<Arc<Node>>) -> Response {
    rpc::reply(&node.ping_response().await)
}

async fn admit(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request: AdmitRequest = decode_or_reply!(body);
    rpc::reply(
        &membership::admit(&node, request)
            .await
            .map_err(|e| format!("{e:#}")),
    )
}

async fn remove(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request: RemoveMemberRequest = decode_or_reply!(body);
    rpc::reply(
        &membership::remove(&node, &request.name, request.force)
            .await
            .map_err(|e| format!("{e:#}")),
    )
}

async fn handover(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let request: HandoverRequest = decode_or_reply!(body);
    rpc::reply(
        &membership::handover(&node, request.node_id)
            .await
            .map_err(|e| format!("{e:#}")),
    )
}

async fn cluster_status(State(node): State<Arc<Node>>) -> Response {
    rpc::reply(&crate::admin::status_report(&node).await)
}

/// A follower's etcd API forwards lease keep-alives here (the leader holds the deadlines).
async fn etcd_lease_keep_alive(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let id: i64 = decode_or_reply!(body);
    rpc::reply(&crate::etcd::local_keep_alive(&node, id).await)
}

async fn etcd_lease_time_to_live(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let id: i64 = decode_or_reply!(body);
    rpc::reply(&crate::etcd::local_time_to_live(&node, id).await)
}

async fn metrics(State(node): State<Arc<Node>>) -> String {
    crate::metrics::render(&node)
}
