//! The local admin API: JSON over HTTP/1.1 on the Unix socket `DATA_DIR/hakube.sock` (mode 0600,
//! root only). The CLI and the daemon share these types. Every error is answered with a non-2xx
//! status and an [`ErrorBody`] whose `error` is one line saying what is wrong and what to do.
//!
//! Routes:
//! - `GET  /status`                      -> [`StatusReport`]
//! - `POST /add-node`   [`AddNodeRequest`]  -> [`AddNodeResponse`]
//! - `POST /join`       [`JoinRequest`]     -> [`JoinResponse`]
//! - `POST /leave`                        -> [`Done`]
//! - `POST /remove-node` [`RemoveNodeRequest`] -> [`Done`]
//! - `POST /shutdown`                     -> [`Done`] (graceful: hands roles over, then exits)
//! - `GET  /kv/get?key=K[&revision=R][&local=true]`   -> [`KvGetResponse`]
//! - `POST /kv/put`     [`KvPutRequest`]    -> [`KvWriteResponse`]
//! - `POST /kv/delete`  [`KvDeleteRequest`] -> [`KvWriteResponse`]
//! - `GET  /kv/list?prefix=P[&limit=N][&revision=R][&local=true]` -> [`KvListResponse`]
//! - `GET  /kv/watch?prefix=P[&revision=R]` -> newline-delimited [`KvEvent`] JSON, until closed
//! - `GET  /members`                      -> [`MembersResponse`]
//! - `POST /backup`     [`BackupRequest`]   -> [`Done`]
//! - `GET  /kubeconfig`                   -> [`KubeconfigResponse`]
//! - `GET  /metrics`                      -> Prometheus text
//! - `GET  /etcd-config`                  -> [`EtcdConfigResponse`]

use serde::{Deserialize, Serialize};

pub const SOCKET_NAME: &str = "hakube.sock";
pub const PID_FILE_NAME: &str = "hakube.pid";
pub const LOG_FILE_NAME: &str = "hakube.log";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Done {
    pub message: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DatastoreRole {
    Voter,
    Standby,
    Spare,
    None,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub name: String,
    /// The node's IP address.
    pub address: String,
    pub datastore_role: DatastoreRole,
    pub control_plane: bool,
    pub reachable: bool,
    pub failure_domain: u64,
}

/// `hakube status --format json` prints exactly this object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub running: bool,
    pub node: String,
    pub high_availability: bool,
    pub quorum: bool,
    /// Leader node name.
    pub leader: Option<String>,
    /// Sorted by name.
    pub nodes: Vec<NodeStatus>,
    /// `IP:19001` of each voter, sorted.
    pub datastore_voters: Vec<String>,
    /// `IP:19001` of each standby, sorted.
    pub datastore_standbys: Vec<String>,
    pub version: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AddNodeRequest {
    /// Reusable until it expires (seconds) when set; single-use otherwise.
    pub token_ttl_seconds: Option<u64>,
    /// A caller-chosen token (at least 32 characters).
    pub token: Option<String>,
    pub worker: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AddNodeResponse {
    pub token: String,
    pub fingerprint: String,
    /// This node's addresses, main address first.
    pub addresses: Vec<String>,
    pub port: u16,
    pub worker: bool,
    pub expires_unix_ms: Option<u64>,
    /// `ADDRESS:PORT/TOKEN/FINGERPRINT`, one per address, main address first.
    pub join_strings: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub join_string: String,
    pub worker: bool,
    pub skip_verify: bool,
    pub allow_clock_skew: bool,
    pub allow_version_skew: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    /// Progress lines, in order, ending with "Successfully joined the cluster."
    pub progress: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RemoveNodeRequest {
    /// Node name or IP address.
    pub node: String,
    pub force: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KeyValueJson {
    pub key: String,
    pub value: String,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KvGetResponse {
    pub kv: Option<KeyValueJson>,
    pub revision: u64,
    /// The read could not be confirmed with a quorum and may be stale.
    pub stale: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KvListResponse {
    pub items: Vec<KeyValueJson>,
    pub more: bool,
    pub revision: u64,
    pub stale: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KvPutRequest {
    pub key: String,
    pub value: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KvDeleteRequest {
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KvWriteResponse {
    pub revision: u64,
    /// For a delete: whether the key existed.
    pub succeeded: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KvEvent {
    /// "PUT" or "DELETE".
    #[serde(rename = "type")]
    pub kind: String,
    pub kv: KeyValueJson,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MemberJson {
    pub id: u64,
    pub name: String,
    pub peer_address: String,
    pub role: DatastoreRole,
    pub leader: bool,
    pub reachable: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MembersResponse {
    pub members: Vec<MemberJson>,
    pub term: u64,
    pub revision: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackupRequest {
    pub path: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigResponse {
    pub kubeconfig: String,
}

/// Where etcd clients reach this node's etcd v3 API, and the credentials to use (absolute paths).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EtcdConfigResponse {
    /// `https://ADDRESS:12379`.
    pub endpoint: String,
    pub cacert: String,
    pub cert: String,
    pub key: String,
}
