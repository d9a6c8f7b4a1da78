//! The node agent's pod side (upstream's kubelet, in process): once the node has a pod CIDR
//! (node IPAM), it starts this node's own containerd (or connects to
//! `--container-runtime-endpoint`), then every second lists the pods bound to this node,
//! resolves what they reference (ConfigMaps, Secrets, a service account token), lets
//! [`hakube_node::agent::Agent`] bring the runtime in line, and writes back each pod's status
//! when it changed. A pod being deleted is removed from the API once nothing of it runs.
//! While the API is unreachable nothing is torn down: the agent keeps its pods as they are.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_node::agent::Agent;
use hakube_node::agent_config::AgentConfig;
use hakube_node::containerd::{Containerd, ContainerdOptions};
use hakube_node::containerd_supervisor::ContainerdSupervisor;
use hakube_node::cri::CriClient;
use hakube_node::resolved_pod::{PodReport, ResolvedPod};

use crate::kube_client::{self, KubeError};
use crate::node::Node;
use crate::pod_references::PodReferences;

const ROUND_INTERVAL: Duration = Duration::from_secs(1);

/// Where this node's containerd and pods live: short, because the socket path is limited.
pub fn runtime_directory(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("cri")
}

/// The node's bridge and cgroup names: unique per node on a host (test clusters and `hakube
/// up` run many nodes named node1… side by side), derived from the node's address.
fn host_unique_name(node: &Node) -> String {
    match node.config.address {
        std::net::IpAddr::V4(address) => format!("{:08x}", u32::from(address)),
        std::net::IpAddr::V6(address) => format!("{:08x}", u128::from(address) as u32),
    }
}

async fn pod_cidr(node: &Node) -> Option<String> {
    let path = format!("/api/v1/nodes/{}", node.config.node_name);
    let object = kube_client::get(node, &path).await.ok()?;
    object
        .pointer("/spec/podCIDR")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Connects to the runtime: the given endpoint, or this node's own supervised containerd.
async fn connect(node: &Node) -> anyhow::Result<(CriClient, Option<ContainerdSupervisor>)> {
    if let Some(endpoint) = &node.config.container_runtime_endpoint {
        let socket = endpoint.trim_start_matches("unix://");
        let client = CriClient::connect(std::path::Path::new(socket)).await?;
        return Ok((client, None));
    }
    let mut options = ContainerdOptions::new(runtime_directory(&node.config.data_dir));
    options.insecure_registries = node.config.insecure_registries.clone();
    options.stream_idle_timeout =
        Duration::from_secs(node.config.streaming_connection_idle_timeout_seconds);
    let containerd = Containerd::start(options).await?;
    let client = containerd.client().clone();
    Ok((client, Some(ContainerdSupervisor::spawn(containerd))))
}

/// Runs the pod side of the agent until the node stops (pods keep running after it).
pub async fn run(node: Arc<Node>) {
    let cidr = loop {
        if let Some(cidr) = pod_cidr(&node).await {
            break cidr;
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
    };
    let (client, supervisor) = loop {
        match connect(&node).await {
            Ok(connected) => break connected,
            Err(error) => tracing::warn!("cannot start the container runtime: {error:#}; retrying"),
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    };
    let unique = host_unique_name(&node);
    let mut config = AgentConfig::new(
        &node.config.node_name,
        runtime_directory(&node.config.data_dir),
        &node.config.address.to_string(),
        &cidr,
    );
    config.bridge_name = format!("hk{unique}");
    config.cgroup_root = format!("hakube-{unique}");
    write_record(&node.config.data_dir, &config, &node.config.cluster_cidr);
    let mut agent = match Agent::new(config, client) {
        Ok(agent) => agent,
        Err(error) => {
            tracing::error!(%error, "cannot start the node agent");
            return;
        }
    };
    tracing::info!(pod_cidr = %cidr, "running pods");
    tokio::spawn(crate::pod_routes::run(node.clone()));
    let changed = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(watch_bound_pods(node.clone(), changed.clone()));
    let mut references = PodReferences::default();
    let background_done = agent.wake_handle();
    loop {
        if let Err(error) = round(&node, &mut agent, &mut references).await {
            tracing::debug!(%error, "pod sync round failed; retrying");
        }
        // A change to one of this node's pods, or the end of a stop or teardown the agent ran
        // in the background, starts the next round at once; containers changing on their own
        // are seen within the interval.
        tokio::select! {
            _ = node.shutdown.cancelled() => break,
            _ = changed.notified() => {}
            _ = background_done.notified() => {}
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
    }
    // containerd keeps running (and with it the pods) across a hakube restart.
    if let Some(supervisor) = supervisor {
        supervisor.detach();
    }
}

/// Watches the pods bound to this node and wakes the agent on every event (the events
/// themselves are not used: each round lists the node's pods afresh).
async fn watch_bound_pods(node: Arc<Node>, changed: Arc<tokio::sync::Notify>) {
    use futures::StreamExt;
    use http_body_util::BodyExt;
    let query = format!(
        "/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3D{}",
        node.config.node_name
    );
    while !node.shutdown.is_cancelled() {
        for endpoint in kube_client::endpoints(&node) {
            let url = format!("https://{endpoint}{query}");
            let Ok(response) = node
                .client
                .get_streaming(&url, Duration::from_secs(5))
                .await
            else {
                continue;
            };
            if response.status() != 200 {
                continue;
            }
            let mut body = response.into_body().into_data_stream();
            loop {
                tokio::select! {
                    _ = node.shutdown.cancelled() => return,
                    chunk = body.next() => match chunk {
                        Some(Ok(_)) => changed.notify_one(),
                        _ => break,
                    },
                }
            }
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
    }
}

async fn round(
    node: &Node,
    agent: &mut Agent,
    references: &mut PodReferences,
) -> anyhow::Result<()> {
    let path = format!(
        "/api/v1/pods?fieldSelector=spec.nodeName%3D{}",
        node.config.node_name
    );
    let started = std::time::Instant::now();
    let list = kube_client::get(node, &path).await?;
    let pods: Vec<Pod> = list["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect();
    let listed_ms = started.elapsed().as_millis();
    let desired = references.resolve_all(node, pods).await;
    let resolved_ms = started.elapsed().as_millis();
    let reports = agent.sync(&desired).await?;
    let synced_ms = started.elapsed().as_millis();
    // Statuses first: a pod's Running is what its users wait for; its events can follow.
    for report in &reports {
        let Some(resolved) = desired.iter().find(|d| d.uid() == report.uid) else {
            continue;
        };
        if let Err(error) = publish(node, resolved, report).await {
            tracing::debug!(%error, pod = %report.name, "cannot write the pod's status");
        }
    }
    let published_ms = started.elapsed().as_millis();
    for report in &reports {
        if let Some(resolved) = desired.iter().find(|d| d.uid() == report.uid) {
            publish_events(node, resolved, &report.events).await;
        }
    }
    // Where a pod's start-up time goes (RUST_LOG=hakube_cluster::pod_agent=debug): the times
    // since the round began at which each step ended.
    tracing::debug!(
        pods = desired.len(),
        listed_ms,
        resolved_ms,
        synced_ms,
        published_ms,
        events_ms = started.elapsed().as_millis(),
        "pod round"
    );
    Ok(())
}

/// Records the agent's events about a pod (Pulled, Started, BackOff, …), aggregated by
/// reason and message like the API server's own.
async fn publish_events(
    node: &Node,
    resolved: &ResolvedPod,
    events: &[hakube_node::pod_events::PodEvent],
) {
    use hakube_apiserver::events::{Event, EventType, Involved};
    let involved = serde_json::to_value(&resolved.pod).unwrap_or(Value::Null);
    for event in events {
        let event_type = match event.event_type {
            hakube_node::pod_events::EventType::Warning => EventType::Warning,
            _ => EventType::Normal,
        };
        let event = Event {
            involved: Involved::of(&involved),
            event_type,
            reason: &event.reason,
            message: &event.message,
            component: "kubelet",
        };
        let collection = format!("/api/v1/namespaces/{}/events", event.namespace());
        let path = format!("{collection}/{}", event.name());
        let now = hakube_apiserver::objects::now_rfc3339();
        let recorded = match kube_client::get(node, &path).await {
            Ok(mut current) => {
                let count = current.get("count").and_then(Value::as_i64).unwrap_or(1);
                current["count"] = json!(count + 1);
                current["lastTimestamp"] = json!(now);
                kube_client::replace(node, &path, &current)
                    .await
                    .map(|_| ())
            }
            Err(_) => {
                let mut object = event.new_object(&now);
                object["source"]["host"] = json!(node.config.node_name);
                kube_client::create(node, &collection, &object)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(error) = recorded {
            tracing::debug!(%error, "cannot record a pod event");
        }
    }
}

fn pod_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods/{name}")
}

/// Writes the report's status if it differs from the stored one; removes a pod whose
/// deletion finished.
async fn publish(node: &Node, resolved: &ResolvedPod, report: &PodReport) -> Result<(), KubeError> {
    let path = pod_path(&report.namespace, &report.name);
    if report.fully_terminated {
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
            "preconditions": {"uid": report.uid}});
        return match kube_client::request(
            node,
            hyper::Method::DELETE,
            &path,
            "application/json",
            Some(&options),
        )
        .await
        {
            Err(error) if error.code() == Some(404) || error.code() == Some(409) => Ok(()),
            other => other.map(|_| ()),
        };
    }
    let status = serde_json::to_value(&report.status).unwrap_or(Value::Null);
    let current = serde_json::to_value(&resolved.pod.status).unwrap_or(Value::Null);
    // Compared with what the API holds (not with what was last written): another writer
    // (node lifecycle marking pods not ready) must be corrected on the next round.
    if status == current {
        return Ok(());
    }
    let mut object = serde_json::to_value(&resolved.pod).unwrap_or(Value::Null);
    object["status"] = status.clone();
    kube_client::replace(node, &format!("{path}/status"), &object).await?;
    Ok(())
}

/// What teardown needs to find again: written when the agent starts.
#[derive(serde::Serialize, serde::Deserialize)]
struct RuntimeRecord {
    bridge_name: String,
    cgroup_root: String,
    /// Whose routes to other nodes' pods this node installed (records of older versions
    /// lack it: nothing is removed then).
    #[serde(default)]
    cluster_cidr: String,
}

fn record_path(data_dir: &std::path::Path) -> PathBuf {
    runtime_directory(data_dir).join("agent.json")
}

fn write_record(data_dir: &std::path::Path, config: &AgentConfig, cluster_cidr: &str) {
    let record = RuntimeRecord {
        bridge_name: config.bridge_name.clone(),
        cgroup_root: config.cgroup_root.clone(),
        cluster_cidr: cluster_cidr.to_string(),
    };
    if let Ok(text) = serde_json::to_vec(&record)
        && let Err(error) = std::fs::write(record_path(data_dir), text)
    {
        tracing::warn!(%error, "cannot record the node's runtime names");
    }
}

/// Removes everything the node runs (`hakube down`, after the daemon stopped): every pod
/// sandbox, then this node's containerd (by its PID), its bridge, its cgroups and its routes
/// to other nodes' pods. A node
/// that never ran pods has nothing to remove.
pub async fn tear_down(data_dir: &std::path::Path) -> anyhow::Result<()> {
    let directory = runtime_directory(data_dir);
    let paths = hakube_node::node_paths::NodePaths::new(&directory);
    let socket = paths.containerd_socket();
    if socket.exists()
        && let Ok(Ok(client)) =
            tokio::time::timeout(Duration::from_secs(5), CriClient::connect(&socket)).await
    {
        for sandbox in client.list_pod_sandboxes().await.unwrap_or_default() {
            let _ = client.stop_pod_sandbox(&sandbox.id).await;
            let _ = client.remove_pod_sandbox(&sandbox.id).await;
        }
    }
    let pid = std::fs::read_to_string(paths.containerd_pid_file())
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .and_then(|pid| {
            hakube_node::containerd_process::adoptable_pid(
                &paths.containerd_pid_file(),
                &paths.containerd_config(),
            )
            .filter(|alive| *alive == pid)
        });
    if let Some(pid) = pid {
        let _ = hakube_node::containerd_process::send_signal(pid, "TERM");
        for _ in 0..50 {
            if !hakube_node::containerd_process::process_is_alive(pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if hakube_node::containerd_process::process_is_alive(pid) {
            let _ = hakube_node::containerd_process::send_signal(pid, "KILL");
        }
    }
    if let Ok(text) = std::fs::read(record_path(data_dir))
        && let Ok(record) = serde_json::from_slice::<RuntimeRecord>(&text)
    {
        let _ = tokio::process::Command::new("ip")
            .args(["link", "del", &record.bridge_name])
            .output()
            .await;
        hakube_node::pod_cleanup::remove_node_cgroups(&record.cgroup_root);
        if !record.cluster_cidr.is_empty() {
            // With no nodes left to reach, every route this node added to others' pods goes.
            crate::pod_routes::sync(&[], "", &record.cluster_cidr).await;
        }
    }
    Ok(())
}
