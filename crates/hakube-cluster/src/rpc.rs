//! Messages between nodes, and how they travel: postcard bodies over HTTPS. A handler answers
//! 200 with the postcard encoding of its result type (usually a `Result<_, String>` so the
//! remote error arrives as a message), or 400 with a UTF-8 reason when the body is undecodable.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use hakube_store::{Member, NodeId};

/// Decodes a request body or answers 400 with the reason.
#[allow(
    clippy::result_large_err,
    reason = "the error is the ready-made response, built once per bad request"
)]
pub fn decode<T: DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    postcard::from_bytes(body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("undecodable request: {e}")).into_response())
}

/// Encodes a handler's answer.
pub fn reply<T: Serialize>(value: &T) -> Response {
    match postcard::to_stdvec(value) {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unencodable reply: {e}"),
        )
            .into_response(),
    }
}

/// Liveness and a glimpse of the peer's view, used for reachability and status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PingResponse {
    pub node_id: NodeId,
    pub name: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// The nodes in the peer's registry: a node missing from its leader's has been removed
    /// (`kubectl delete node`, `hakube remove-node`) while it was away.
    pub registered: Vec<NodeId>,
}

/// Phase 1 of a join, on the join port: the token buys a certificate.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CertifyRequest {
    pub token: String,
    pub node_name: String,
    /// The joining node's IP address.
    pub address: String,
    pub csr_pem: String,
    pub worker: bool,
    pub version: String,
    pub unix_ms: u64,
    pub allow_clock_skew: bool,
    pub allow_version_skew: bool,
    pub failure_domain: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct CertifyResponse {
    pub node_id: NodeId,
    pub cert_pem: String,
    pub ca_cert_pem: String,
    /// Only for control-plane nodes: they must be able to serve joins themselves.
    pub ca_key_pem: Option<String>,
    /// Where to send phase 2.
    pub admit_to: String,
    pub cluster_members: Vec<Member>,
}

/// Phase 2, on the peer port with the new certificate: become a member.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AdmitRequest {
    pub node_id: NodeId,
    pub member: Member,
    pub worker: bool,
    pub failure_domain: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AdmitResponse {
    /// "voter", "standby", "spare" or "none".
    pub role: String,
}

/// Ask the leader to take a member out of the datastore (leave, remove-node).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct RemoveMemberRequest {
    pub name: String,
    pub force: bool,
}

/// A gracefully stopping voter asks the leader to give its vote to a standby.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct HandoverRequest {
    pub node_id: NodeId,
}
