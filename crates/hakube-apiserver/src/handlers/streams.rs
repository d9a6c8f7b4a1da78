//! `pods/<name>/exec`, `attach` and `portforward` (`kubectl exec -it`, `attach`,
//! `port-forward`): like upstream's API server, it checks the pod and container, then relays
//! the upgrade request to the agent of the pod's node
//! (`https://<node InternalIP>:10250/exec/<namespace>/<pod>/<container>?…`), which relays it
//! to containerd's stream server. The client and containerd negotiate the streaming protocol
//! (SPDY/3.1 or WebSocket) between them.

use axum::response::Response;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::handlers::logs::{agent_endpoint, container};
use crate::objects::At as _;
use crate::storage::Freshness;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamKind {
    Exec,
    Attach,
    PortForward,
}

impl StreamKind {
    /// The agent's path segment (the kubelet's).
    fn agent_path(self) -> &'static str {
        match self {
            StreamKind::Exec => "exec",
            StreamKind::Attach => "attach",
            StreamKind::PortForward => "portForward",
        }
    }
}

/// Refuses what upstream refuses before reaching a node: a request that is not an upgrade,
/// a pod that is not on a node or has finished.
fn check(call: &Call, pod: &Value, kind: StreamKind) -> ApiResult<String> {
    let name = call.target.name.as_deref().unwrap_or_default();
    let node = pod
        .at("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("pod {name} does not have a host assigned")))?;
    let phase = pod
        .at("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("Pending");
    if kind != StreamKind::PortForward && matches!(phase, "Succeeded" | "Failed") {
        return Err(ApiError::BadRequest(format!(
            "cannot exec into or attach to a container in a completed pod; current phase is {phase}"
        )));
    }
    if kind == StreamKind::Exec && !call.query.pairs_named("command").any(|c| !c.is_empty()) {
        return Err(ApiError::BadRequest(
            "you must specify at least one command for the container".into(),
        ));
    }
    if kind != StreamKind::PortForward
        && !["stdin", "stdout", "stderr"]
            .iter()
            .any(|stream| call.query.flag(stream))
    {
        return Err(ApiError::BadRequest(
            "you must specify at least 1 of stdin, stdout, stderr".into(),
        ));
    }
    Ok(node.to_string())
}

pub async fn stream(mut call: Call, kind: StreamKind) -> ApiResult<Response> {
    let Some(client) = call.server.options.node_agents.clone() else {
        return Err(ApiError::ServiceUnavailable(
            "this API server cannot reach node agents".into(),
        ));
    };
    let Some(near) = call.upgrade.take() else {
        return Err(ApiError::BadRequest(
            "Upgrade request required: exec, attach and port-forward need an SPDY or WebSocket \
             connection"
                .into(),
        ));
    };
    let key = object_key(&call);
    let (pod, _) = call.server.storage.get(&key, Freshness::Any).await?;
    let pod = pod.ok_or_else(|| not_found(&call))?;
    let name = call.target.name.clone().unwrap_or_default();
    let namespace = call.target.namespace.clone().unwrap_or_default();
    let node = check(&call, &pod, kind)?;
    let mut path = format!("{}/{namespace}/{name}", kind.agent_path());
    if kind != StreamKind::PortForward {
        path = format!("{path}/{}", container(&call, &pod, &name)?);
    }
    let url = format!(
        "{}/{path}?{}",
        agent_endpoint(&call, &node).await?,
        call.query.encoded()
    );
    // A WebSocket handshake is a GET; SPDY clients POST.
    let method = if call.headers.contains_key("sec-websocket-key") {
        axum::http::Method::GET
    } else {
        axum::http::Method::POST
    };
    client
        .upgrade(url, method, call.headers.clone(), near)
        .await
        .map_err(|why| ApiError::ServiceUnavailable(format!("node {node}: {why}")))
}
