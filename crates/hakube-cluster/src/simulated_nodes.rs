//! Simulated nodes, for scale measurements only (kwok's idea): `--simulated-nodes N` makes
//! this node register N extra Nodes (`<node>-sim-<i>`, role `simulated` in `kubectl get
//! nodes`, label `node.hakube.io/simulated=true`), renew their Leases, report the pods bound
//! to them Running and Ready without running anything, and finish their deletions. They let
//! the scheduler and the controllers be measured at 100+ nodes on one machine; they never
//! stand in for the real runtime in tests of behaviour.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use crate::kube_client::{self, KubeError};
use crate::node::Node;

const ROUND_INTERVAL: Duration = Duration::from_secs(1);
pub const SIMULATED_LABEL: &str = "node.hakube.io/simulated";

fn name(node: &Node, index: usize) -> String {
    format!("{}-sim-{index}", node.config.node_name)
}

fn node_object(name: &str, now: &str) -> Value {
    let capacity =
        json!({"cpu": "32", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "110"});
    let condition = |kind: &str, status: &str, reason: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": "simulated",
            "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/simulated": "", SIMULATED_LABEL: "true"}},
        "spec": {},
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "nodeInfo": {"kubeletVersion": crate::node_agent::kubelet_version(),
                "containerRuntimeVersion": "simulated://", "operatingSystem": "linux",
                "architecture": "amd64", "osImage": "simulated", "kernelVersion": "",
                "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": ""},
        },
    })
}

fn lease_object(name: &str) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": name, "namespace": "kube-node-lease"},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
            "renewTime": crate::node_agent::now_micro()}})
}

async fn ensure(
    node: &Node,
    path: &str,
    collection: &str,
    object: &Value,
) -> Result<(), KubeError> {
    match kube_client::get(node, path).await {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some(404) => kube_client::create(node, collection, object)
            .await
            .map(|_| ()),
        Err(error) => Err(error),
    }
}

async fn renew(node: &Node, name: &str) -> Result<(), KubeError> {
    let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}");
    let patch = json!({"spec": {"renewTime": crate::node_agent::now_micro()}});
    match kube_client::merge_patch(node, &path, &patch).await {
        Err(error) if error.code() == Some(404) => kube_client::create(
            node,
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            &lease_object(name),
        )
        .await
        .map(|_| ()),
        other => other.map(|_| ()),
    }
}

/// The status a simulated node reports for a running pod.
fn running_status(pod: &Value, index: usize, now: &str) -> Value {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true,
            "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}})
        })
        .collect();
    let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now});
    // Addresses from a range no real pod uses; nothing is reachable at them.
    let address = format!("198.18.{}.{}", (index / 250) % 256, index % 250 + 1);
    json!({"phase": "Running", "podIP": address, "podIPs": [{"ip": address}], "startTime": now,
        "conditions": [condition("PodScheduled"), condition("Initialized"),
            condition("ContainersReady"), condition("Ready")],
        "containerStatuses": statuses})
}

/// Status reports and deletions in flight at once (each is one API write).
const CONCURRENT_WRITES: usize = 32;

/// What a simulated node does for one of its pods this round.
async fn sync_pod(node: &Node, pod: &Value, index: usize, now: &str) {
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod_name}");
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0});
        kube_client::request(
            node,
            hyper::Method::DELETE,
            &path,
            "application/json",
            Some(&options),
        )
        .await
        .ok();
        return;
    }
    let patch = json!({"status": running_status(pod, index, now)});
    kube_client::merge_patch(node, &format!("{path}/status"), &patch)
        .await
        .ok();
}

/// The pods bound to this node's simulated nodes that need a status report or a deletion
/// finished, read from the local replica. The bytes are checked before anything is decoded
/// (the store's compact JSON: `"nodeName":"<node>-sim-…"`, `"phase":"Running"`), so a round
/// over thousands of running pods copies and decodes almost nothing.
fn pods_to_sync(node: &Node) -> Vec<Value> {
    let bound = format!("\"nodeName\":\"{}-sim-", node.config.node_name).into_bytes();
    let keep = |bytes: &[u8]| {
        let contains = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
        contains(&bound)
            && (!contains(b"\"phase\":\"Running\"") || contains(b"\"deletionTimestamp\""))
    };
    let prefix = b"/registry/core/pods/";
    let end = hakube_apiserver::storage::prefix_end(prefix);
    let applied = node.store.machine().read();
    let Ok(found) = applied.kv.range_matching(prefix, Some(&end), None, &keep) else {
        return Vec::new();
    };
    drop(applied);
    found
        .items
        .iter()
        .filter_map(|kv| serde_json::from_slice(&kv.value).ok())
        .collect()
}

/// A stable fake address per pod name (nothing is reachable at it).
fn address_index(pod: &Value) -> usize {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    pod.pointer("/metadata/name")
        .and_then(Value::as_str)
        .hash(&mut hasher);
    (hasher.finish() % 62_500) as usize
}

async fn sync_pods(node: &Node, names: &[String]) -> Result<(), KubeError> {
    let pods = pods_to_sync(node);
    let now = hakube_apiserver::objects::now_rfc3339();
    let mine = pods.iter().filter(|pod| {
        let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str);
        bound.is_some_and(|b| names.iter().any(|n| n == b))
    });
    let writes: Vec<futures::future::BoxFuture<'_, ()>> = mine
        .map(|pod| Box::pin(sync_pod(node, pod, address_index(pod), &now)) as _)
        .collect();
    futures::stream::iter(writes)
        .buffer_unordered(CONCURRENT_WRITES)
        .collect::<Vec<()>>()
        .await;
    Ok(())
}

/// Registers `count` simulated nodes and keeps them and their pods going until the node stops.
pub async fn run(node: Arc<Node>, count: usize) {
    let names: Vec<String> = (0..count).map(|i| name(&node, i)).collect();
    let mut registered = false;
    let mut rounds: u64 = 0;
    loop {
        let round = async {
            if !registered {
                let now = hakube_apiserver::objects::now_rfc3339();
                for name in &names {
                    ensure(
                        &node,
                        &format!("/api/v1/nodes/{name}"),
                        "/api/v1/nodes",
                        &node_object(name, &now),
                    )
                    .await?;
                }
                registered = true;
            }
            // Leases every 10 s, as a real agent with the default 40 s lease.
            if rounds.is_multiple_of(10) {
                for name in &names {
                    renew(&node, name).await?;
                }
            }
            sync_pods(&node, &names).await
        };
        if let Err(error) = round.await {
            tracing::debug!(%error, "simulated nodes: round failed; retrying");
        }
        rounds += 1;
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
        }
    }
}
