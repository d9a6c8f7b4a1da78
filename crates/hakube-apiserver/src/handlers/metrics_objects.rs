//! The objects of metrics.k8s.io/v1beta1, shaped like metrics-server's from the node agents'
//! usage reports: NodeMetrics and PodMetrics, their Lists and Tables, and usage quantities in
//! upstream's canonical form. Pure: [`super::metrics_api`] does the reading and fetching.

use serde::Deserialize;
use serde_json::{Map, Value, json};

pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// A node agent's `GET /metrics/usage` answer (hakube-cluster's `agent_metrics`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentReport {
    /// RFC 3339: when the node was last sampled.
    pub timestamp: String,
    pub window_seconds: u64,
    pub node: AgentUsage,
    #[serde(default)]
    pub pods: Vec<AgentPod>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AgentUsage {
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentPod {
    pub namespace: String,
    pub name: String,
    /// Empty from an agent that does not say.
    #[serde(default)]
    pub uid: String,
    pub containers: Vec<AgentContainer>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AgentContainer {
    pub name: String,
    #[serde(flatten)]
    pub usage: AgentUsage,
}

/// A decimal quantity of `nanos` billionths, as `resource.Quantity` writes it: the largest
/// suffix that keeps the number whole (`250m`, `2`, `123456n`).
pub fn cpu_quantity(nanos: u64) -> String {
    if nanos == 0 {
        return "0".into();
    }
    const SUFFIXES: [(u64, &str); 7] = [
        (1_000_000_000_000_000_000, "G"),
        (1_000_000_000_000_000, "M"),
        (1_000_000_000_000, "k"),
        (1_000_000_000, ""),
        (1_000_000, "m"),
        (1_000, "u"),
        (1, "n"),
    ];
    SUFFIXES
        .iter()
        .find(|(unit, _)| nanos.is_multiple_of(*unit))
        .map(|(unit, suffix)| format!("{}{suffix}", nanos / unit))
        .unwrap_or_else(|| format!("{nanos}n"))
}

/// A binary quantity of bytes (`1234Ki`, `2Gi`), or plain bytes when not a multiple of 1024.
pub fn memory_quantity(bytes: u64) -> String {
    if bytes == 0 {
        return "0".into();
    }
    const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut value = bytes;
    let mut suffix = "";
    for next in SUFFIXES {
        if !value.is_multiple_of(1024) {
            break;
        }
        value /= 1024;
        suffix = next;
    }
    format!("{value}{suffix}")
}

/// Whole seconds as Go's `time.Duration` prints them (`10s`, `1m30s`), which is how
/// `metav1.Duration` is written.
pub fn duration(seconds: u64) -> String {
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

fn usage(usage: AgentUsage) -> Value {
    json!({"cpu": cpu_quantity(usage.cpu_nanocores), "memory": memory_quantity(usage.memory_bytes)})
}

/// The metadata metrics-server gives: the object's name (and namespace and labels), created
/// now (metrics are computed per request).
fn metadata(object: &Value, now: &str) -> Value {
    let mut metadata = Map::new();
    for field in ["name", "namespace", "labels"] {
        if let Some(value) = object.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), value.clone());
        }
    }
    metadata.insert("creationTimestamp".into(), json!(now));
    Value::Object(metadata)
}

/// The NodeMetrics of stored Node `node` from its agent's report.
pub fn node_metrics(node: &Value, report: &AgentReport, now: &str) -> Value {
    json!({
        "metadata": metadata(node, now),
        "timestamp": report.timestamp,
        "window": duration(report.window_seconds),
        "usage": usage(report.node),
    })
}

/// The PodMetrics of stored Pod `pod` from the agent's entry for it, containers in the
/// pod's order.
pub fn pod_metrics(pod: &Value, report: &AgentReport, entry: &AgentPod, now: &str) -> Value {
    let order: Vec<&str> = ["containers", "initContainers"]
        .iter()
        .filter_map(|field| pod.pointer(&format!("/spec/{field}"))?.as_array())
        .flatten()
        .filter_map(|c| c.get("name")?.as_str())
        .collect();
    let mut containers: Vec<&AgentContainer> = entry.containers.iter().collect();
    containers.sort_by_key(|c| order.iter().position(|name| *name == c.name));
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c.name, "usage": usage(c.usage)}))
        .collect();
    json!({
        "metadata": metadata(pod, now),
        "timestamp": report.timestamp,
        "window": duration(report.window_seconds),
        "containers": containers,
    })
}

/// One object as a GET answers it.
pub fn single(kind: &str, mut item: Value) -> Value {
    if let Some(object) = item.as_object_mut() {
        object.insert("kind".into(), json!(kind));
        object.insert("apiVersion".into(), json!(API_VERSION));
    }
    item
}

pub fn list(kind: &str, items: Vec<Value>) -> Value {
    json!({"kind": format!("{kind}List"), "apiVersion": API_VERSION, "metadata": {}, "items": items})
}

/// What an item uses: its own usage, or its containers' summed (a pod).
fn total_usage(item: &Value) -> AgentUsage {
    let read = |usage: &Value| AgentUsage {
        cpu_nanocores: usage["cpu"].as_str().and_then(nanos_of).unwrap_or_default(),
        memory_bytes: usage["memory"]
            .as_str()
            .and_then(bytes_of)
            .unwrap_or_default(),
    };
    match item.get("containers").and_then(Value::as_array) {
        Some(containers) => {
            containers
                .iter()
                .map(|c| read(&c["usage"]))
                .fold(AgentUsage::default(), |sum, u| AgentUsage {
                    cpu_nanocores: sum.cpu_nanocores.saturating_add(u.cpu_nanocores),
                    memory_bytes: sum.memory_bytes.saturating_add(u.memory_bytes),
                })
        }
        None => read(&item["usage"]),
    }
}

/// The inverse of [`cpu_quantity`].
fn nanos_of(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let unit: u64 = match suffix {
        "n" => 1,
        "u" => 1_000,
        "m" => 1_000_000,
        "" => 1_000_000_000,
        "k" => 1_000_000_000_000,
        "M" => 1_000_000_000_000_000,
        "G" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(unit)
}

/// The inverse of [`memory_quantity`].
fn bytes_of(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let power = match suffix {
        "" => 0,
        "Ki" => 1,
        "Mi" => 2,
        "Gi" => 3,
        "Ti" => 4,
        "Pi" => 5,
        "Ei" => 6,
        _ => return None,
    };
    number
        .parse::<u64>()
        .ok()?
        .checked_mul(1024u64.checked_pow(power)?)
}

/// metrics-server's Table: name, cpu, memory, window (a pod's usage summed over its
/// containers); each row carries the object as `includeObject` asks (metadata by default).
pub fn table(items: &[Value], include: &str) -> Value {
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let total = total_usage(item);
            let object = match include {
                "Object" => item.clone(),
                "None" => Value::Null,
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": item.get("metadata").cloned().unwrap_or_else(|| json!({}))}),
            };
            json!({"cells": [item.pointer("/metadata/name").cloned().unwrap_or_default(),
                    cpu_quantity(total.cpu_nanocores), memory_quantity(total.memory_bytes),
                    item.get("window").cloned().unwrap_or_default()],
                "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name of the resource", "priority": 0},
            {"name": "cpu", "type": "string", "format": "quantity", "description": "", "priority": 0},
            {"name": "memory", "type": "string", "format": "quantity", "description": "", "priority": 0},
            {"name": "Window", "type": "string", "format": "duration", "description": "", "priority": 0},
        ],
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What hakube-cluster's agent_metrics writes (its test pins the same shape).
    const REPORT: &str = r#"{"timestamp":"2023-11-14T22:13:20Z","windowSeconds":10,
        "node":{"cpuNanocores":250000000,"memoryBytes":1073741824},
        "pods":[{"namespace":"default","name":"busy","uid":"u1",
            "containers":[{"name":"burn","cpuNanocores":990000000,"memoryBytes":4096},
                          {"name":"aside","cpuNanocores":1500,"memoryBytes":1000}]}]}"#;

    fn report() -> AgentReport {
        serde_json::from_str(REPORT).unwrap()
    }

    #[test]
    fn quantities_read_like_upstreams() {
        assert_eq!(cpu_quantity(0), "0");
        assert_eq!(cpu_quantity(123_456_789), "123456789n");
        assert_eq!(cpu_quantity(250_000_000), "250m");
        assert_eq!(cpu_quantity(2_000_000_000), "2");
        assert_eq!(cpu_quantity(1_500), "1500n");
        assert_eq!(cpu_quantity(3_000), "3u");
        assert_eq!(memory_quantity(0), "0");
        assert_eq!(memory_quantity(1_263_616), "1234Ki");
        assert_eq!(memory_quantity(1 << 30), "1Gi");
        assert_eq!(memory_quantity(1000), "1000");
        for nanos in [0, 7, 3_000, 250_000_000, 2_000_000_000, 5_000_000_000_000] {
            assert_eq!(nanos_of(&cpu_quantity(nanos)), Some(nanos));
        }
        for bytes in [0, 1000, 4096, 1 << 30, (1 << 30) + 1024] {
            assert_eq!(bytes_of(&memory_quantity(bytes)), Some(bytes));
        }
    }

    #[test]
    fn durations_read_like_gos() {
        assert_eq!(duration(10), "10s");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(3600), "1h0m0s");
    }

    #[test]
    fn a_node_metrics_carries_the_nodes_name_and_labels() {
        let node = json!({"metadata": {"name": "node1", "uid": "x", "labels": {"zone": "a"}}});
        let item = node_metrics(&node, &report(), "2024-01-01T00:00:00Z");
        assert_eq!(
            item,
            json!({"metadata": {"name": "node1", "labels": {"zone": "a"},
                    "creationTimestamp": "2024-01-01T00:00:00Z"},
                "timestamp": "2023-11-14T22:13:20Z", "window": "10s",
                "usage": {"cpu": "250m", "memory": "1Gi"}})
        );
        let got = single("NodeMetrics", item.clone());
        assert_eq!(got["kind"], "NodeMetrics");
        assert_eq!(got["apiVersion"], "metrics.k8s.io/v1beta1");
        let listed = list("NodeMetrics", vec![item]);
        assert_eq!(listed["kind"], "NodeMetricsList");
        assert_eq!(listed["metadata"], json!({}));
    }

    #[test]
    fn a_pod_metrics_lists_containers_in_the_pods_order() {
        let pod = json!({"metadata": {"name": "busy", "namespace": "default"},
            "spec": {"containers": [{"name": "aside"}, {"name": "burn"}]}});
        let report = report();
        let item = pod_metrics(&pod, &report, &report.pods[0], "now");
        assert_eq!(item["metadata"]["namespace"], "default");
        assert_eq!(
            item["containers"],
            json!([{"name": "aside", "usage": {"cpu": "1500n", "memory": "1000"}},
                {"name": "burn", "usage": {"cpu": "990m", "memory": "4Ki"}}])
        );
        let table = table(&[item], "Metadata");
        assert_eq!(
            table["rows"][0]["cells"],
            json!(["busy", "990001500n", "5096", "10s"])
        );
        assert_eq!(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    }

    #[test]
    fn an_agent_without_pods_or_uids_still_parses() {
        let report: AgentReport = serde_json::from_str(
            r#"{"timestamp":"t","windowSeconds":1,"node":{"cpuNanocores":1,"memoryBytes":2}}"#,
        )
        .unwrap();
        assert!(report.pods.is_empty());
        let pod: AgentPod =
            serde_json::from_str(r#"{"namespace":"a","name":"b","containers":[]}"#).unwrap();
        assert_eq!(pod.uid, "");
    }
}
