//! A small Kubernetes API client for hakube's own agents: JSON requests to the API servers of
//! the control plane over HTTPS with the node's certificate (user = node name, group
//! `system:nodes`), failing over between endpoints. This node's own API server comes first.

use std::time::Duration;

use hyper::Method;
use serde_json::Value;

use crate::config::{API_PORT, socket};
use crate::node::Node;
use crate::peer_client::PeerError;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(thiserror::Error, Debug, Clone)]
pub enum KubeError {
    /// The server answered with a Status: its code and message.
    #[error("{code}: {message}")]
    Status { code: u16, message: String },
    #[error("no API server answered: {0}")]
    Unreachable(String),
}

impl KubeError {
    pub fn code(&self) -> Option<u16> {
        match self {
            KubeError::Status { code, .. } => Some(*code),
            KubeError::Unreachable(_) => None,
        }
    }
}

/// The API endpoints to try, in order: this node's (control plane), then the others known.
pub fn endpoints(node: &Node) -> Vec<String> {
    let mut endpoints = Vec::new();
    if node.control_plane {
        endpoints.push(socket(node.config.address, API_PORT));
    }
    for peer in crate::endpoints::load(&node.config.data_dir) {
        if let Some((host, _)) = peer.rsplit_once(':') {
            let api = format!("{host}:{API_PORT}");
            if !endpoints.contains(&api) {
                endpoints.push(api);
            }
        }
    }
    endpoints
}

/// Sends one request and decodes the JSON answer; 4xx/5xx answers become [`KubeError::Status`].
pub async fn request(
    node: &Node,
    method: Method,
    path: &str,
    content_type: &str,
    body: Option<&Value>,
) -> Result<Value, KubeError> {
    let bytes = body
        .map(|b| serde_json::to_vec(b).unwrap_or_default())
        .unwrap_or_default();
    let mut last_error = String::from("no control-plane endpoint is known");
    for endpoint in endpoints(node) {
        let url = format!("https://{endpoint}{path}");
        match node
            .client
            .request(
                method.clone(),
                &url,
                content_type,
                bytes.clone(),
                REQUEST_TIMEOUT,
            )
            .await
        {
            Ok((code, reply)) => {
                let value: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
                if code >= 400 {
                    let message = value
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    // Unavailable here (quorum lost on this side): another endpoint may do better.
                    if code == 503 {
                        last_error = message;
                        continue;
                    }
                    return Err(KubeError::Status { code, message });
                }
                return Ok(value);
            }
            Err(PeerError::Unreachable { reason, .. }) => last_error = reason,
            Err(error) => last_error = error.to_string(),
        }
    }
    Err(KubeError::Unreachable(last_error))
}

pub async fn get(node: &Node, path: &str) -> Result<Value, KubeError> {
    request(node, Method::GET, path, "application/json", None).await
}

pub async fn create(node: &Node, path: &str, object: &Value) -> Result<Value, KubeError> {
    request(node, Method::POST, path, "application/json", Some(object)).await
}

pub async fn replace(node: &Node, path: &str, object: &Value) -> Result<Value, KubeError> {
    request(node, Method::PUT, path, "application/json", Some(object)).await
}

pub async fn merge_patch(node: &Node, path: &str, patch: &Value) -> Result<Value, KubeError> {
    request(
        node,
        Method::PATCH,
        path,
        "application/merge-patch+json",
        Some(patch),
    )
    .await
}

pub async fn delete(node: &Node, path: &str) -> Result<Value, KubeError> {
    request(node, Method::DELETE, path, "application/json", None).await
}
