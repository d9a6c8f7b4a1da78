//! `pods/<name>/log` (`kubectl logs`, `-f`, `--previous`, `--tail`, `--timestamps`,
//! `--since`): like upstream's API server, it finds the pod's node and streams the answer of
//! that node's agent (`https://<node InternalIP>:10250/containerLogs/…`), so a follow keeps
//! flowing as the container writes.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::storage::Freshness;

/// The query parameters the agent understands, passed through unchanged.
const PASSED: [&str; 7] = [
    "follow",
    "previous",
    "tailLines",
    "timestamps",
    "sinceSeconds",
    "sinceTime",
    "limitBytes",
];

/// The names of the pod's containers in `field` (`containers` or `initContainers`).
fn container_names(pod: &Value, field: &str) -> Vec<String> {
    pod.at(&format!("/spec/{field}"))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The container the request names, or the pod's only one (upstream's words otherwise).
pub(super) fn container(call: &Call, pod: &Value, name: &str) -> ApiResult<String> {
    let containers = container_names(pod, "containers");
    let init = container_names(pod, "initContainers");
    match call.query.get("container") {
        Some(wanted) if containers.iter().chain(&init).any(|c| c == wanted) => {
            Ok(wanted.to_string())
        }
        Some(wanted) => Err(ApiError::BadRequest(format!(
            "container {wanted} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {name}, choose one of: [{}]",
            containers.join(" ")
        ))),
    }
}

/// `https://<address>:<port>` of the node's agent, from its Node object.
pub(super) async fn agent_endpoint(call: &Call, node: &str) -> ApiResult<String> {
    let key = format!("/registry/core/nodes/{node}");
    let (object, _) = call
        .server
        .storage
        .get(key.as_bytes(), Freshness::Any)
        .await?;
    let object = object.ok_or_else(|| {
        ApiError::BadRequest(format!("node \"{node}\" of the pod does not exist"))
    })?;
    let address = object
        .at("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some("InternalIP"))
        })
        .and_then(|a| a.get("address"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::BadRequest(format!("node \"{node}\" has no InternalIP")))?;
    let port = object
        .at("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .unwrap_or(10250);
    Ok(format!("https://{address}:{port}"))
}

pub async fn logs(call: Call) -> ApiResult<Response> {
    let Some(client) = call.server.options.node_agents.clone() else {
        return Err(ApiError::ServiceUnavailable(
            "this API server cannot reach node agents".into(),
        ));
    };
    let key = object_key(&call);
    let (pod, _) = call.server.storage.get(&key, Freshness::Any).await?;
    let pod = pod.ok_or_else(|| not_found(&call))?;
    let name = call.target.name.clone().unwrap_or_default();
    let namespace = call.target.namespace.clone().unwrap_or_default();
    let container = container(&call, &pod, &name)?;
    let node = pod
        .at("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("pod {name} does not have a host assigned")))?;
    let mut url = format!(
        "{}/containerLogs/{namespace}/{name}/{container}",
        agent_endpoint(&call, node).await?
    );
    let query: Vec<String> = PASSED
        .iter()
        .filter_map(|p| {
            call.query
                .get(p)
                .map(|v| format!("{p}={}", crate::request::percent_encode(v)))
        })
        .collect();
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let answer = client
        .get(url)
        .await
        .map_err(|why| ApiError::ServiceUnavailable(format!("node {node}: {why}")))?;
    if answer.status != 200 {
        let message = answer.error_text.unwrap_or_default();
        return Err(ApiError::BadRequest(message.trim().to_string()));
    }
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain")
        .body(Body::from_stream(answer.body))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(response)
}
