//! The admin API on the local Unix socket (see [`crate::admin_api`] for the routes and types):
//! what `hakube status`, `add-node`, `join`, `leave`, `remove-node`, `stop` and `dbctl` call.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use hakube_store::{Condition, Consistency, EventKind, KeyValue, Operation, StoreError};

use crate::admin_api::*;
use crate::daemon::Daemon;
use crate::join_server::now_unix_ms;
use crate::node::Node;
use crate::token::{TokenRecord, generate_token, hash_token, validate_token_format};
use crate::{membership, registry};

type Shared = Arc<Daemon>;

pub fn router(daemon: Shared) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/add-node", post(add_node))
        .route("/join", post(join))
        .route("/leave", post(leave))
        .route("/remove-node", post(remove_node))
        .route("/shutdown", post(shutdown))
        .route("/kv/get", get(kv_get))
        .route("/kv/put", post(kv_put))
        .route("/kv/delete", post(kv_delete))
        .route("/kv/list", get(kv_list))
        .route("/kv/watch", get(kv_watch))
        .route("/members", get(members))
        .route("/backup", post(backup))
        .route("/kubeconfig", get(kubeconfig))
        .route("/metrics", get(metrics))
        .route("/etcd-config", get(etcd_config))
        .route("/images/import", post(images_import))
        .with_state(daemon)
}

/// One-line error answers.
struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<anyhow::Error> for AdminError {
    fn from(error: anyhow::Error) -> Self {
        AdminError(StatusCode::BAD_REQUEST, format!("{error:#}"))
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> Self {
        let code = match error {
            StoreError::QuorumLost { .. }
            | StoreError::LeaderUnreachable(_)
            | StoreError::DiskFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            StoreError::OutcomeUnknown(_) | StoreError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            StoreError::InvalidRequest(_) | StoreError::TooLarge { .. } | StoreError::Read(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AdminError(code, error.to_string())
    }
}

type AdminResult<T> = Result<Json<T>, AdminError>;

/// The status as this node answers it: its own view on a control-plane node, a control-plane
/// node's view on a worker.
pub async fn node_status(node: &Node) -> StatusReport {
    if node.control_plane {
        return status_report(node).await;
    }
    match crate::endpoints::status_from_control_plane(node).await {
        Some(report) => report,
        None => StatusReport {
            running: true,
            node: node.config.node_name.clone(),
            high_availability: false,
            quorum: false,
            leader: None,
            nodes: Vec::new(),
            datastore_voters: Vec::new(),
            datastore_standbys: Vec::new(),
            version: crate::node::VERSION.to_string(),
        },
    }
}

pub async fn status_report(node: &Node) -> StatusReport {
    let status = node.store.status();
    let records = registry::list_nodes(&node.store).await.unwrap_or_default();
    let mut nodes: BTreeMap<String, NodeStatus> = BTreeMap::new();
    let role = |id| {
        if status.voters.contains(&id) {
            DatastoreRole::Voter
        } else if status.learners.contains(&id) {
            DatastoreRole::Standby
        } else {
            DatastoreRole::Spare
        }
    };
    let reachable = |id| id == node.node_id() || node.health.is_reachable(id);
    for record in &records {
        nodes.insert(
            record.name.clone(),
            NodeStatus {
                name: record.name.clone(),
                address: record.address.clone(),
                datastore_role: if record.control_plane {
                    role(record.node_id)
                } else {
                    DatastoreRole::None
                },
                control_plane: record.control_plane,
                reachable: reachable(record.node_id),
                failure_domain: record.failure_domain,
            },
        );
    }
    // Members whose record is not written yet still show.
    for (id, member) in &status.members {
        nodes
            .entry(member.name.clone())
            .or_insert_with(|| NodeStatus {
                name: member.name.clone(),
                address: member
                    .peer_address
                    .rsplit_once(':')
                    .map(|(ip, _)| ip.to_string())
                    .unwrap_or_default(),
                datastore_role: role(*id),
                control_plane: true,
                reachable: reachable(*id),
                failure_domain: 0,
            });
    }
    let address_of = |ids: &Vec<u64>| {
        let mut list: Vec<String> = status
            .members
            .iter()
            .filter(|(id, _)| ids.contains(id))
            .map(|(_, m)| m.peer_address.clone())
            .collect();
        list.sort();
        list
    };
    let leader = status
        .leader
        .and_then(|id| status.members.iter().find(|(m, _)| *m == id))
        .map(|(_, m)| m.name.clone());
    StatusReport {
        running: true,
        node: node.config.node_name.clone(),
        high_availability: status.voters.len() >= 3 && status.quorum,
        quorum: status.quorum,
        leader,
        nodes: nodes.into_values().collect(),
        datastore_voters: address_of(&status.voters),
        datastore_standbys: address_of(&status.learners),
        version: crate::node::VERSION.to_string(),
    }
}

async fn status(State(daemon): State<Shared>) -> Json<StatusReport> {
    let node = daemon.node().await;
    Json(node_status(&node).await)
}

async fn add_node(
    State(daemon): State<Shared>,
    Json(request): Json<AddNodeRequest>,
) -> AdminResult<AddNodeResponse> {
    let node = daemon.node().await;
    if node.identity.ca_key_pem.is_none() {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            "this is a worker node: run add-node on a control-plane node".into(),
        ));
    }
    let token = match request.token {
        Some(token) => {
            validate_token_format(&token)
                .map_err(|e| AdminError(StatusCode::BAD_REQUEST, e.to_string()))?;
            token
        }
        None => generate_token(),
    };
    let now = now_unix_ms();
    let expires_unix_ms = request.token_ttl_seconds.map(|ttl| now + ttl * 1000);
    let record = TokenRecord {
        hash: hash_token(&token),
        worker: request.worker,
        single_use: request.token_ttl_seconds.is_none(),
        expires_unix_ms,
        created_unix_ms: now,
    };
    registry::put_token(&node.store, &record).await?;
    let fingerprint = node.identity.fingerprint();
    // The node's one configured address; every port binds to it.
    let addresses = vec![node.config.address.to_string()];
    let join_strings = vec![format!(
        "{}/{token}/{fingerprint}",
        crate::config::socket(node.config.address, crate::config::JOIN_PORT)
    )];
    Ok(Json(AddNodeResponse {
        token,
        fingerprint,
        addresses,
        port: crate::config::JOIN_PORT,
        worker: request.worker,
        expires_unix_ms,
        join_strings,
    }))
}

async fn join(
    State(daemon): State<Shared>,
    Json(request): Json<JoinRequest>,
) -> AdminResult<JoinResponse> {
    Ok(Json(daemon.join(request).await?))
}

async fn leave(State(daemon): State<Shared>) -> AdminResult<Done> {
    Ok(Json(Done {
        message: daemon.leave().await?,
    }))
}

async fn remove_node(
    State(daemon): State<Shared>,
    Json(request): Json<RemoveNodeRequest>,
) -> AdminResult<Done> {
    let node = daemon.node().await;
    if request.node == node.config.node_name || request.node == node.config.address.to_string() {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            "to remove this node itself, run: hakube leave".into(),
        ));
    }
    Ok(Json(Done {
        message: membership::remove(&node, &request.node, request.force).await?,
    }))
}

async fn shutdown(State(daemon): State<Shared>) -> Json<Done> {
    tokio::spawn(async move { daemon.shutdown().await });
    Json(Done {
        message: "stopping".into(),
    })
}

#[derive(Deserialize)]
struct ReadQuery {
    key: Option<String>,
    prefix: Option<String>,
    revision: Option<u64>,
    limit: Option<usize>,
    #[serde(default)]
    local: bool,
}

fn consistency(query: &ReadQuery) -> Consistency {
    if query.local {
        Consistency::Local
    } else {
        Consistency::Linearizable
    }
}

fn to_json(kv: &KeyValue) -> KeyValueJson {
    KeyValueJson {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
    }
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, AdminError> {
    value.as_deref().ok_or_else(|| {
        AdminError(
            StatusCode::BAD_REQUEST,
            format!("missing query parameter {name}"),
        )
    })
}

async fn kv_get(
    State(daemon): State<Shared>,
    Query(query): Query<ReadQuery>,
) -> AdminResult<KvGetResponse> {
    let key = required(&query.key, "key")?;
    let node = daemon.node().await;
    let (kv, info) = node
        .store
        .get(key.as_bytes(), query.revision, consistency(&query))
        .await?;
    Ok(Json(KvGetResponse {
        kv: kv.as_ref().map(to_json),
        revision: info.revision,
        stale: info.stale,
    }))
}

async fn kv_list(
    State(daemon): State<Shared>,
    Query(query): Query<ReadQuery>,
) -> AdminResult<KvListResponse> {
    let prefix = required(&query.prefix, "prefix")?;
    let node = daemon.node().await;
    let end = hakube_store::mvcc::prefix_end(prefix.as_bytes());
    let limit = query
        .limit
        .unwrap_or(0)
        .min(hakube_store::limits::MAX_LIST_ITEMS);
    let (result, info) = node
        .store
        .range(
            prefix.as_bytes(),
            end.as_deref(),
            query.revision,
            limit,
            consistency(&query),
        )
        .await?;
    Ok(Json(KvListResponse {
        items: result.items.iter().map(to_json).collect(),
        more: result.more,
        revision: info.revision,
        stale: info.stale,
    }))
}

async fn kv_put(
    State(daemon): State<Shared>,
    Json(request): Json<KvPutRequest>,
) -> AdminResult<KvWriteResponse> {
    let node = daemon.node().await;
    let operation = Operation::Put {
        key: request.key.into_bytes(),
        value: request.value.into_bytes(),
        condition: Condition::Always,
    };
    let response = node.store.write(operation).await?;
    Ok(Json(KvWriteResponse {
        revision: response.revision,
        succeeded: response.succeeded,
    }))
}

async fn kv_delete(
    State(daemon): State<Shared>,
    Json(request): Json<KvDeleteRequest>,
) -> AdminResult<KvWriteResponse> {
    let node = daemon.node().await;
    let response = node
        .store
        .write(Operation::Delete {
            key: request.key.into_bytes(),
            condition: Condition::Always,
        })
        .await?;
    Ok(Json(KvWriteResponse {
        revision: response.revision,
        succeeded: response.succeeded,
    }))
}

async fn kv_watch(
    State(daemon): State<Shared>,
    Query(query): Query<ReadQuery>,
) -> Result<Response, AdminError> {
    let prefix = required(&query.prefix, "prefix")?.to_string();
    let node = daemon.node().await;
    let end = hakube_store::mvcc::prefix_end(prefix.as_bytes());
    let watch = node.store.watch(
        prefix.as_bytes(),
        end.as_deref(),
        query.revision.unwrap_or(0),
    )?;
    let stream = futures::stream::unfold(watch, |mut watch| async move {
        let event = watch.next().await.ok()?;
        let line = KvEvent {
            kind: match event.kind {
                EventKind::Put => "PUT".into(),
                EventKind::Delete => "DELETE".into(),
            },
            kv: to_json(&event.kv),
        };
        let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
        bytes.push(b'\n');
        Some((Ok::<_, std::io::Error>(bytes), watch))
    });
    Ok(Response::new(Body::from_stream(stream)))
}

async fn members(State(daemon): State<Shared>) -> Json<MembersResponse> {
    let node = daemon.node().await;
    let status = node.store.status();
    let members = status
        .members
        .iter()
        .map(|(id, member)| MemberJson {
            id: *id,
            name: member.name.clone(),
            peer_address: member.peer_address.clone(),
            role: if status.voters.contains(id) {
                DatastoreRole::Voter
            } else {
                DatastoreRole::Standby
            },
            leader: status.leader == Some(*id),
            reachable: *id == node.node_id() || node.health.is_reachable(*id),
        })
        .collect();
    Json(MembersResponse {
        members,
        term: status.term,
        revision: status.revision,
    })
}

async fn backup(
    State(daemon): State<Shared>,
    Json(request): Json<BackupRequest>,
) -> AdminResult<Done> {
    let node = daemon.node().await;
    if !node.store.read_barrier().await {
        return Err(AdminError(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot confirm the latest state with a quorum (read-only: quorum lost?): a backup now could miss acknowledged writes".into(),
        ));
    }
    let kv = node.store.machine().read().kv.clone();
    let path = std::path::PathBuf::from(&request.path);
    let summary =
        tokio::task::spawn_blocking(move || hakube_store::backup::write(&path, &kv, now_unix_ms()))
            .await
            .map_err(|e| AdminError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| AdminError(StatusCode::BAD_REQUEST, e.to_string()))?;
    Ok(Json(Done {
        message: format!(
            "Backup of revision {} ({} keys, {} bytes) written to {}",
            summary.revision, summary.keys, summary.bytes, request.path
        ),
    }))
}

async fn images_import(
    State(daemon): State<Shared>,
    Json(request): Json<crate::images::ImportRequest>,
) -> AdminResult<crate::images::ImportReport> {
    let node = daemon.node().await;
    crate::images::import_everywhere(&node, std::path::Path::new(&request.path))
        .await
        .map(Json)
        .map_err(|why| AdminError(StatusCode::BAD_REQUEST, why))
}

async fn kubeconfig(State(daemon): State<Shared>) -> AdminResult<KubeconfigResponse> {
    let node = daemon.node().await;
    Ok(Json(KubeconfigResponse {
        kubeconfig: crate::kubeconfig::admin_kubeconfig(&node)?,
    }))
}

async fn metrics(State(daemon): State<Shared>) -> String {
    let node = daemon.node().await;
    crate::metrics::render(&node)
}

async fn etcd_config(State(daemon): State<Shared>) -> AdminResult<EtcdConfigResponse> {
    let node = daemon.node().await;
    if !node.control_plane {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            "this is a worker node: the etcd API is served by control-plane nodes; run `hakube config --etcd` on one of them".into(),
        ));
    }
    let data_dir =
        std::path::absolute(&node.config.data_dir).unwrap_or_else(|_| node.config.data_dir.clone());
    let (cacert, cert, key) = crate::etcd::client_files(&data_dir);
    if !cert.exists() {
        return Err(AdminError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} is missing (this node has no CA key to issue it): check the daemon log",
                cert.display()
            ),
        ));
    }
    Ok(Json(EtcdConfigResponse {
        endpoint: format!(
            "https://{}",
            std::net::SocketAddr::new(node.config.address, crate::config::ETCD_PORT)
        ),
        cacert: cacert.display().to_string(),
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    }))
}
