//! The join port (:25000): TLS with the node's certificate and the CA in the chain, no client
//! certificate (the joiner has none yet). A valid token buys a certificate for the joiner's own
//! key (it sends a CSR) and, for a control-plane node, the CA key so it can sign joins too.
//! Every refusal is one line saying why; failed attempts are logged and rate-limited.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::post;

use crate::identity::{new_node_id, node_profile};
use crate::node::Node;
use crate::registry;
use crate::rpc::{self, CertifyRequest, CertifyResponse};
use crate::token::{hash_token, validate_token_format};

pub const CERTIFY_PATH: &str = "/join/certify";
/// Clocks further apart than this break certificate validity and leases.
pub const MAX_CLOCK_SKEW_MS: u64 = 1_000;
/// Failed attempts allowed per minute before the port answers "too many attempts".
const FAILURES_PER_MINUTE: usize = 10;

#[derive(Clone)]
struct JoinState {
    node: Arc<Node>,
    failures: Arc<Mutex<Vec<Instant>>>,
}

pub fn router(node: Arc<Node>) -> Router {
    let state = JoinState {
        node,
        failures: Arc::new(Mutex::new(Vec::new())),
    };
    Router::new()
        .route(CERTIFY_PATH, post(certify))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl JoinState {
    fn recent_failures(&self) -> usize {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.retain(|t| t.elapsed() < Duration::from_secs(60));
        failures.len()
    }

    fn record_failure(&self) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
    }
}

async fn certify(State(state): State<JoinState>, body: Bytes) -> Response {
    let request: CertifyRequest = match rpc::decode(&body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    if state.recent_failures() >= FAILURES_PER_MINUTE {
        tracing::warn!(joiner = %request.node_name, "join refused: too many failed attempts");
        return rpc::reply(&Err::<CertifyResponse, String>(
            "too many failed join attempts in the last minute; wait and try again".into(),
        ));
    }
    // Not a failed attempt: the cluster is busy, the joiner did nothing wrong.
    if crate::restore::seal_pending(&state.node) {
        return rpc::reply(&Err::<CertifyResponse, String>(
            "this cluster was just restored from a backup and is still sealing it into a snapshot: retry in a few seconds"
                .into(),
        ));
    }
    let result = handle(&state.node, &request).await;
    if let Err(error) = &result {
        state.record_failure();
        tracing::warn!(joiner = %request.node_name, address = %request.address, %error, "join refused");
    }
    rpc::reply(&result.map_err(|e| format!("{e:#}")))
}

fn minor_version(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

async fn handle(node: &Node, request: &CertifyRequest) -> anyhow::Result<CertifyResponse> {
    validate_token_format(&request.token).map_err(|e| anyhow!("{e}"))?;

    let ca = node
        .identity
        .certificate_authority()
        .ok_or_else(|| anyhow!("this node cannot sign joins"))?;
    let skew = now_unix_ms().abs_diff(request.unix_ms);
    if skew > MAX_CLOCK_SKEW_MS && !request.allow_clock_skew {
        bail!(
            "the joining node's clock is {skew} ms apart from this cluster's (limit {MAX_CLOCK_SKEW_MS} ms): sync the clocks (NTP), or pass --allow-clock-skew"
        );
    }
    let ours = minor_version(crate::node::VERSION);
    let theirs = minor_version(&request.version);
    let compatible =
        matches!((ours, theirs), (Some((a, b)), Some((c, d))) if a == c && b.abs_diff(d) <= 1);
    if !compatible && !request.allow_version_skew {
        bail!(
            "hakube {} cannot join a cluster running {}: versions may differ by one minor at most (or pass --allow-version-skew)",
            request.version,
            crate::node::VERSION
        );
    }
    let hash = hash_token(&request.token);
    let (token, revision) = registry::get_token(&node.store, &hash)
        .await?
        .ok_or_else(|| {
            anyhow!(
                "invalid token: unknown, already used or removed (create one with: hakube add-node)"
            )
        })?;
    if token.is_expired(now_unix_ms()) {
        bail!("the token has expired (create a new one with: hakube add-node)");
    }
    if token.worker != request.worker {
        if token.worker {
            bail!("this token is for worker nodes: add --worker to the join command");
        }
        bail!(
            "this token is for control-plane nodes: remove --worker, or create a worker token with: hakube add-node --worker"
        );
    }
    if let Some((existing, _)) = registry::get_node(
        &node.store,
        &request.node_name,
        hakube_store::Consistency::Linearizable,
    )
    .await?
    {
        bail!(
            "a node named {} is already in the cluster (at {}): give the joining node another name (--node-name) or remove the old one (hakube remove-node {})",
            existing.name,
            existing.address,
            existing.name
        );
    }
    let address: std::net::IpAddr = request
        .address
        .parse()
        .map_err(|_| anyhow!("invalid node address {:?}", request.address))?;
    let peer = SocketAddr::new(address, crate::config::PEER_PORT);
    if tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(peer))
        .await
        .map(|r| r.is_ok())
        != Ok(true)
    {
        bail!(
            "the cluster cannot reach the joining node at {peer}: check its address and firewall"
        );
    }
    if token.single_use && !registry::consume_token(&node.store, &hash, revision).await? {
        bail!("invalid token: it was just used by another join");
    }
    let cert_pem = ca.sign_csr(&request.csr_pem, &node_profile(&request.node_name, address))?;
    let status = node.store.status();
    let leader = status
        .leader
        .and_then(|id| status.members.iter().find(|(m, _)| *m == id))
        .map(|(_, m)| m.peer_address.clone());
    Ok(CertifyResponse {
        node_id: new_node_id(),
        cert_pem,
        ca_cert_pem: ca.cert_pem().to_string(),
        ca_key_pem: if request.worker {
            None
        } else {
            Some(ca.key_pem().to_string())
        },
        admit_to: leader.unwrap_or_else(|| node.config.peer_address()),
        cluster_members: status.members.into_iter().map(|(_, m)| m).collect(),
    })
}
