//! metrics.k8s.io/v1beta1, what `kubectl top` reads, served by the API server itself rather
//! than an aggregated metrics-server: each request reads the Nodes or Pods it is about from
//! the store (so only existing objects are reported, with their labels for selectors), asks
//! the agents of the nodes involved for their latest usage (`GET :10250/metrics/usage`, all
//! at once, a bounded time each) and shapes the answers ([`super::metrics_objects`]). A node
//! whose agent does not answer is left out, as metrics-server leaves out nodes it could not
//! scrape. Only GET: the objects are computed, never stored.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;

use super::Call;
use super::list::Selection;
use super::metrics_objects::{self as shape, AgentReport};
use crate::error::{ApiError, ApiResult, Subject};
use crate::negotiation::{Representation, representation};
use crate::node_agents::NodeAgentClient;
use crate::storage::{Freshness, Stored};
use crate::{objects, respond};

pub const GROUP: &str = "metrics.k8s.io";

/// How long one agent may take to answer, connection included.
const AGENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How many agents are asked at once.
const CONCURRENT_AGENTS: usize = 32;
/// Bound on one agent's answer (a node running a thousand pods answers ~200 KiB).
const MAX_REPORT_BYTES: usize = 8 << 20;
/// Simulated nodes (hakube-cluster's `simulated_nodes`) have no agent to ask.
const SIMULATED_LABEL: &str = "node.hakube.io/simulated";

const NODES_PREFIX: &str = "/registry/core/nodes/";
const PODS_PREFIX: &str = "/registry/core/pods/";

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("the node has no agent address: {0}")]
    NoAddress(String),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("did not answer within {0:?}")]
    Timeout(Duration),
    #[error("answered {status}: {text}")]
    Refused { status: u16, text: String },
    #[error("reading the answer: {0}")]
    Body(std::io::Error),
    #[error("the answer is over {MAX_REPORT_BYTES} bytes")]
    TooLarge,
    #[error("the answer is not a usage report: {0}")]
    Invalid(serde_json::Error),
}

/// Every request under `/apis/metrics.k8s.io/v1beta1`.
pub async fn serve(call: Call, method: Method) -> ApiResult<Response> {
    if call.target.subresource.is_some() {
        return Err(ApiError::UnknownPath);
    }
    if method != Method::GET {
        return Err(super::not_allowed(&call, &method, None));
    }
    if call.query.flag("watch") {
        // Upstream's MethodNotSupported words.
        return Err(ApiError::MethodNotAllowed(format!(
            "watch is not supported on resources of kind \"{}.{GROUP}\"",
            call.target.resource.kind.to_lowercase()
        )));
    }
    let Some(client) = call.server.options.node_agents.clone() else {
        return Err(ApiError::ServiceUnavailable(
            "this API server cannot reach node agents".into(),
        ));
    };
    match call.target.resource.plural.as_str() {
        "nodes" => nodes(call, client).await,
        "pods" => pods(call, client).await,
        _ => Err(ApiError::UnknownPath),
    }
}

/// The NotFound of a metrics object (`nodemetrics.metrics.k8s.io "x" not found`).
fn not_found(kind: &str, name: &str) -> ApiError {
    ApiError::NotFound(Subject {
        group: GROUP.into(),
        plural: kind.to_lowercase(),
        kind: kind.into(),
        name: name.into(),
    })
}

/// The stored objects the request is about: the named one, or those under `prefix` the
/// selectors match.
async fn selected(call: &Call, prefix: String, kind: &str) -> ApiResult<Vec<Value>> {
    let storage = &call.server.storage;
    if let Some(name) = &call.target.name {
        let key = format!("{prefix}{name}");
        let (object, _) = storage.get(key.as_bytes(), Freshness::Any).await?;
        return object
            .map(|object| vec![object])
            .ok_or_else(|| not_found(kind, name));
    }
    let selection = Selection::from_call(call)?;
    Ok(storage
        .objects_under(prefix.as_bytes(), Freshness::Any)
        .await?
        .into_iter()
        .map(|stored: Stored| stored.object)
        .filter(|object| selection.matches(object))
        .collect())
}

/// Whether `node` is one of hakube-cluster's simulated nodes (no agent to ask).
fn is_simulated(node: &Value) -> bool {
    let labels = objects::labels(node);
    labels.get(SIMULATED_LABEL).and_then(Value::as_str) == Some("true")
        || labels.contains_key("node-role.kubernetes.io/simulated")
}

/// The usage reports of `nodes` (names), from those whose agents answered.
async fn reports(
    call: &Call,
    client: Arc<dyn NodeAgentClient>,
    nodes: BTreeSet<String>,
) -> HashMap<String, AgentReport> {
    futures::stream::iter(nodes)
        .map(|node| {
            let client = client.clone();
            async move {
                let answer = match super::logs::agent_endpoint(call, &node).await {
                    Ok(endpoint) => {
                        let url = format!("{endpoint}/metrics/usage");
                        tokio::time::timeout(AGENT_TIMEOUT, fetch(client.as_ref(), url))
                            .await
                            .unwrap_or(Err(FetchError::Timeout(AGENT_TIMEOUT)))
                    }
                    Err(error) => Err(FetchError::NoAddress(error.to_string())),
                };
                match answer {
                    Ok(report) => Some((node, report)),
                    Err(error) => {
                        tracing::debug!(%node, %error, "no usage from the node's agent");
                        None
                    }
                }
            }
        })
        .buffer_unordered(CONCURRENT_AGENTS)
        .filter_map(|answer| async move { answer })
        .collect()
        .await
}

async fn fetch(client: &dyn NodeAgentClient, url: String) -> Result<AgentReport, FetchError> {
    let mut answer = client.get(url).await.map_err(FetchError::Unreachable)?;
    if answer.status != 200 {
        return Err(FetchError::Refused {
            status: answer.status,
            text: answer.error_text.unwrap_or_default().trim().to_string(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer.body.next().await {
        let chunk = chunk.map_err(FetchError::Body)?;
        if body.len() + chunk.len() > MAX_REPORT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(FetchError::Invalid)
}

/// The answer: the one object of a named GET, or a List, or a Table when asked for one.
fn respond(call: &Call, kind: &str, items: Vec<Value>) -> Response {
    if representation(&call.headers) == Representation::Table {
        let include = call.query.get("includeObject").unwrap_or("Metadata");
        return respond::table(StatusCode::OK, &shape::table(&items, include), &[]);
    }
    let mut items = items;
    let body = if call.target.name.is_some() && items.len() == 1 {
        shape::single(kind, items.swap_remove(0))
    } else {
        shape::list(kind, items)
    };
    respond::json(StatusCode::OK, &body, &[])
}

async fn nodes(call: Call, client: Arc<dyn NodeAgentClient>) -> ApiResult<Response> {
    let nodes: Vec<Value> = selected(&call, NODES_PREFIX.into(), "NodeMetrics")
        .await?
        .into_iter()
        .filter(|node| !is_simulated(node))
        .collect();
    let names = nodes
        .iter()
        .filter_map(|node| objects::name(node).map(str::to_string))
        .collect();
    let reports = reports(&call, client, names).await;
    let now = objects::now_rfc3339();
    let items: Vec<Value> = nodes
        .iter()
        .filter_map(|node| {
            let report = reports.get(objects::name(node)?)?;
            Some(shape::node_metrics(node, report, &now))
        })
        .collect();
    if let (Some(name), true) = (&call.target.name, items.is_empty()) {
        return Err(not_found("NodeMetrics", name));
    }
    Ok(respond(&call, "NodeMetrics", items))
}

fn node_of(pod: &Value) -> Option<&str> {
    objects::text(pod, &["spec", "nodeName"]).filter(|name| !name.is_empty())
}

async fn pods(call: Call, client: Arc<dyn NodeAgentClient>) -> ApiResult<Response> {
    let prefix = match &call.target.namespace {
        Some(namespace) => format!("{PODS_PREFIX}{namespace}/"),
        None => PODS_PREFIX.into(),
    };
    // Running pods only, as metrics-server: others have no usage worth showing.
    let pods: Vec<Value> = selected(&call, prefix, "PodMetrics")
        .await?
        .into_iter()
        .filter(|pod| objects::text(pod, &["status", "phase"]) == Some("Running"))
        .collect();
    let names = pods
        .iter()
        .filter_map(|pod| node_of(pod).map(str::to_string))
        .collect();
    let reports = reports(&call, client, names).await;
    let now = objects::now_rfc3339();
    let items: Vec<Value> = pods
        .iter()
        .filter_map(|pod| {
            let report = reports.get(node_of(pod)?)?;
            let (namespace, name) = (objects::namespace(pod)?, objects::name(pod)?);
            let uid = objects::text(pod, &["metadata", "uid"]).unwrap_or_default();
            // The same name under another uid is an earlier pod the node still runs.
            let entry = report.pods.iter().find(|entry| {
                entry.namespace == namespace
                    && entry.name == name
                    && (entry.uid.is_empty() || entry.uid == uid)
            })?;
            Some(shape::pod_metrics(pod, report, entry, &now))
        })
        .collect();
    if let (Some(name), true) = (&call.target.name, items.is_empty()) {
        return Err(not_found("PodMetrics", name));
    }
    Ok(respond(&call, "PodMetrics", items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_object_reads_like_metrics_servers() {
        assert_eq!(
            not_found("PodMetrics", "x").to_string(),
            "podmetrics.metrics.k8s.io \"x\" not found"
        );
        assert_eq!(
            not_found("NodeMetrics", "n").to_string(),
            "nodemetrics.metrics.k8s.io \"n\" not found"
        );
    }

    #[test]
    fn discovery_offers_the_metrics_group_read_only() {
        let registry = crate::Registry::with_builtin();
        let groups = crate::discovery::aggregated_groups(&registry);
        let metrics = groups["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == GROUP)
            .unwrap();
        let version = &metrics["versions"][0];
        assert_eq!(version["version"], "v1beta1");
        let resources = version["resources"].as_array().unwrap();
        let summary: Vec<(String, String, String, Value)> = resources
            .iter()
            .map(|r| {
                (
                    r["resource"].as_str().unwrap().to_string(),
                    r["responseKind"]["kind"].as_str().unwrap().to_string(),
                    r["scope"].as_str().unwrap().to_string(),
                    r["verbs"].clone(),
                )
            })
            .collect();
        let read = serde_json::json!(["get", "list"]);
        assert_eq!(
            summary,
            [
                (
                    "nodes".into(),
                    "NodeMetrics".into(),
                    "Cluster".into(),
                    read.clone()
                ),
                (
                    "pods".into(),
                    "PodMetrics".into(),
                    "Namespaced".into(),
                    read
                ),
            ]
        );
        let legacy = crate::discovery::api_resource_list(&registry, GROUP, "v1beta1");
        assert_eq!(legacy["groupVersion"], "metrics.k8s.io/v1beta1");
        assert_eq!(legacy["resources"].as_array().unwrap().len(), 2);
        // Core nodes and pods are still the core group's, found first.
        assert_eq!(registry.by_kind("", "Pod").unwrap().group, "");
        assert!(!registry.by_plural(GROUP, "v1beta1", "pods").unwrap().stored);
    }

    #[test]
    fn simulated_nodes_are_recognised_by_label_or_role() {
        let node = |labels: Value| serde_json::json!({"metadata": {"name": "n", "labels": labels}});
        assert!(is_simulated(&node(
            serde_json::json!({"node.hakube.io/simulated": "true"})
        )));
        assert!(is_simulated(&node(
            serde_json::json!({"node-role.kubernetes.io/simulated": ""})
        )));
        assert!(!is_simulated(&node(
            serde_json::json!({"kubernetes.io/hostname": "n"})
        )));
    }
}
