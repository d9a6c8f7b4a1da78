//! The node agent's registration: every node (control plane and worker) keeps its Kubernetes
//! Node current (addresses, capacity, nodeInfo, the Ready condition's heartbeat) and renews
//! its Lease in `kube-node-lease`, every lease duration / 4 (10 s by default), as the kubelet
//! does. The node lifecycle controller reads the lease to decide when a node is NotReady.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::host_facts::HostFacts;
use crate::kube_client::{self, KubeError};
use crate::node::{Node, VERSION};

/// The kubelet version a node reports (`kubectl get nodes` VERSION): the Kubernetes version
/// served, with hakube's version as build metadata.
pub fn kubelet_version() -> String {
    format!(
        "{}+hakube.{VERSION}",
        hakube_apiserver::version::KUBERNETES_GIT_VERSION
    )
}

fn now_rfc3339() -> String {
    hakube_apiserver::objects::now_rfc3339()
}

/// Lease times are MicroTime: RFC 3339 with microseconds.
pub fn now_micro() -> String {
    let now = jiff::Timestamp::now();
    now.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{name}")
}

fn lease_path(name: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
}

fn conditions(now: &str, ready_since: &str) -> Value {
    let condition = |kind: &str, status: &str, reason: &str, message: &str, since: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    json!([
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "hakube has sufficient memory available",
            ready_since
        ),
        condition(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "hakube has no disk pressure",
            ready_since
        ),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "hakube has sufficient PID available",
            ready_since
        ),
        condition(
            "Ready",
            "True",
            "KubeletReady",
            "hakube is posting ready status",
            ready_since
        ),
    ])
}

/// The Node's status as this agent reports it.
fn status(node: &Node, facts: &HostFacts, ready_since: &str) -> Value {
    let capacity = json!({
        "cpu": facts.cpus.to_string(),
        "memory": format!("{}Ki", facts.memory_kib),
        "ephemeral-storage": format!("{}Ki", facts.ephemeral_storage_kib),
        "pods": "110",
    });
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": conditions(&now_rfc3339(), ready_since),
        "addresses": [
            {"type": "InternalIP", "address": node.config.address.to_string()},
            {"type": "Hostname", "address": node.config.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": crate::config::AGENT_PORT}},
        "nodeInfo": {
            "machineID": facts.machine_id,
            "systemUUID": facts.machine_id,
            "bootID": facts.boot_id,
            "kernelVersion": facts.kernel_version,
            "osImage": facts.os_image,
            "containerRuntimeVersion": "containerd://",
            "kubeletVersion": kubelet_version(),
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH },
        },
    })
}

fn new_node(node: &Node, facts: &HostFacts, now: &str) -> Value {
    let mut labels = json!({
        "kubernetes.io/hostname": node.config.node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH },
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH },
        "node.hakube.io/failure-domain": node.config.failure_domain.to_string(),
    });
    if node.control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.config.node_name, "labels": labels},
        "spec": {},
        "status": status(node, facts, now),
    })
}

/// Creates the Node, or refreshes its status; returns its uid.
async fn register(node: &Node, facts: &HostFacts, ready_since: &str) -> Result<String, KubeError> {
    let name = &node.config.node_name;
    let current = match kube_client::get(node, &node_path(name)).await {
        Ok(current) => current,
        Err(error) if error.code() == Some(404) => {
            kube_client::create(node, "/api/v1/nodes", &new_node(node, facts, ready_since)).await?
        }
        Err(error) => return Err(error),
    };
    let patch = json!({"status": status(node, facts, ready_since)});
    let updated =
        kube_client::merge_patch(node, &format!("{}/status", node_path(name)), &patch).await?;
    let uid = updated
        .pointer("/metadata/uid")
        .or_else(|| current.pointer("/metadata/uid"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(uid)
}

/// Creates or renews this node's Lease.
async fn renew_lease(node: &Node, node_uid: &str) -> Result<(), KubeError> {
    let name = &node.config.node_name;
    let path = lease_path(name);
    let spec = json!({
        "holderIdentity": name,
        "leaseDurationSeconds": node.config.node_lease_duration_seconds,
        "renewTime": now_micro(),
    });
    match kube_client::get(node, &path).await {
        Ok(mut lease) => {
            lease["spec"] = spec;
            kube_client::replace(node, &path, &lease).await.map(|_| ())
        }
        Err(error) if error.code() == Some(404) => {
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease",
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}]},
                "spec": spec,
            });
            kube_client::create(
                node,
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                &lease,
            )
            .await
            .map(|_| ())
        }
        Err(error) => Err(error),
    }
}

/// Registers the Node and keeps it and its Lease fresh until the node stops.
pub async fn run(node: Arc<Node>) {
    let facts = HostFacts::read(&node.config.data_dir);
    let ready_since = now_rfc3339();
    let renew_every = Duration::from_secs((node.config.node_lease_duration_seconds / 4).max(1));
    let mut node_uid = String::new();
    loop {
        let round = async {
            // The status carries heartbeats too; the lease is the cheap signal.
            node_uid = register(&node, &facts, &ready_since).await?;
            renew_lease(&node, &node_uid).await
        };
        let wait = match round.await {
            Ok(()) => renew_every,
            Err(error) => {
                tracing::debug!(%error, "node registration or lease renewal failed; retrying");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Deletes this node's Node and Lease (on leave and remove-node).
pub async fn deregister(node: &Node, name: &str) {
    for path in [lease_path(name), node_path(name)] {
        if let Err(error) = kube_client::delete(node, &path).await
            && error.code() != Some(404)
        {
            tracing::warn!(%error, path, "cannot delete the node's API object");
        }
    }
}
