//! The scheduler's view of the cluster during one `schedule` call: per-node accounting
//! (requested resources, pod count, used host ports, the pods on it) and the indexes the
//! filters and scores read (pods with inter-pod affinity, pods per spreading group per node
//! and per zone). Built once from the nodes and the assigned pods, then updated by
//! [`Cluster::place`] after each decision, so every placement counts for the next one without
//! rescanning all pods.

use std::collections::HashMap;

use hakube_kinds::k8s_openapi::api::core::v1::{Node, Pod, Taint};

use super::pod_affinity::AffinityTerms;
use super::resources::{Allocatable, PodRequests, Resources};
use super::selectors::{Labels, node_labels};

pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// A host port a pod binds: conflicts are judged on (protocol, port) and the host IP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    pub ip: String,
    pub protocol: String,
    pub port: i32,
}

impl HostPort {
    /// Two bindings collide on the same protocol and port when either listens on every
    /// address or both on the same one.
    pub fn conflicts_with(&self, other: &Self) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The facts about a pod the scheduler reads again and again, computed once.
#[derive(Debug)]
pub struct PodFacts<'a> {
    pub pod: &'a Pod,
    pub namespace: &'a str,
    pub labels: &'a Labels,
    pub requests: PodRequests,
    pub host_ports: Vec<HostPort>,
    /// The group the default spreading keeps apart: the controller, else same labels.
    pub spread_group: Option<String>,
    pub terminating: bool,
    /// Compiled inter-pod terms; `None` for the common pod without any.
    pub affinity_terms: Option<Box<AffinityTerms>>,
}

impl<'a> PodFacts<'a> {
    pub fn of(pod: &'a Pod) -> Self {
        static EMPTY: Labels = Labels::new();
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let labels = pod.metadata.labels.as_ref().unwrap_or(&EMPTY);
        Self {
            pod,
            namespace,
            labels,
            requests: PodRequests::of(pod),
            host_ports: host_ports(pod),
            spread_group: spread_group(pod, namespace, labels),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            affinity_terms: AffinityTerms::of(pod, namespace, labels),
        }
    }

    pub fn has_pod_affinity(&self) -> bool {
        self.affinity_terms.is_some()
    }

    pub fn has_required_anti_affinity(&self) -> bool {
        self.affinity_terms
            .as_ref()
            .is_some_and(|terms| !terms.required_anti_affinity.is_empty())
    }
}

/// Host ports of the containers that run for the pod's life (regular ones and sidecars).
fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|container| container.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|container| container.ports.iter().flatten())
        .filter_map(|port| {
            let host_port = port.host_port.filter(|host_port| *host_port > 0)?;
            let ip = port
                .host_ip
                .as_deref()
                .filter(|ip| !ip.is_empty())
                .unwrap_or("0.0.0.0");
            let protocol = port
                .protocol
                .as_deref()
                .filter(|protocol| !protocol.is_empty())
                .unwrap_or("TCP");
            Some(HostPort {
                ip: ip.to_owned(),
                protocol: protocol.to_owned(),
                port: host_port,
            })
        })
        .collect()
}

/// Upstream spreads a pod away from the pods its Service/ReplicaSet/StatefulSet selects; the
/// controller's uid stands for that selector here, and a pod without a controller spreads
/// from the pods carrying exactly its labels.
fn spread_group(pod: &Pod, namespace: &str, labels: &Labels) -> Option<String> {
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|owner| owner.controller == Some(true));
    if let Some(controller) = controller {
        return Some(format!("controller/{}", controller.uid));
    }
    if labels.is_empty() {
        return None;
    }
    let rendered: Vec<String> = labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    Some(format!("labels/{namespace}/{}", rendered.join(",")))
}

/// One node and what is already on it.
#[derive(Debug)]
pub struct NodeState<'a> {
    pub node: &'a Node,
    pub name: &'a str,
    pub labels: &'a Labels,
    /// Taints including the one a node that is not Ready would carry (see [`effective_taints`]).
    pub taints: Vec<Taint>,
    pub unschedulable: bool,
    pub allocatable: Allocatable,
    pub requested: Resources,
    pub non_zero_milli_cpu: i64,
    pub non_zero_memory: i64,
    pub pod_count: i64,
    pub used_ports: Vec<HostPort>,
    /// Indexes into [`Cluster::pods`].
    pub pods: Vec<usize>,
}

impl<'a> NodeState<'a> {
    fn new(node: &'a Node) -> Self {
        Self {
            node,
            name: node.metadata.name.as_deref().unwrap_or_default(),
            labels: node_labels(node),
            taints: effective_taints(node),
            unschedulable: node
                .spec
                .as_ref()
                .and_then(|spec| spec.unschedulable)
                .unwrap_or(false),
            allocatable: Allocatable::of(node),
            requested: Resources::default(),
            non_zero_milli_cpu: 0,
            non_zero_memory: 0,
            pod_count: 0,
            used_ports: Vec::new(),
            pods: Vec::new(),
        }
    }

    /// The node's value for a topology key; the hostname key falls back to the node's name so
    /// that per-node spreading works on nodes registered without that label.
    pub fn topology_value(&self, key: &str) -> Option<&str> {
        match self.labels.get(key) {
            Some(value) => Some(value.as_str()),
            None if key == HOSTNAME_LABEL => Some(self.name),
            None => None,
        }
    }

    fn account(&mut self, facts: &PodFacts<'_>, pod_index: usize) {
        self.requested.add(&facts.requests.requested);
        self.non_zero_milli_cpu = self
            .non_zero_milli_cpu
            .saturating_add(facts.requests.non_zero_milli_cpu);
        self.non_zero_memory = self
            .non_zero_memory
            .saturating_add(facts.requests.non_zero_memory);
        self.pod_count += 1;
        self.used_ports.extend(facts.host_ports.iter().cloned());
        self.pods.push(pod_index);
    }
}

/// Upstream keeps pods off a node that is not Ready through the taints the node lifecycle
/// controller adds (not-ready when Ready is False, unreachable when Unknown). When a node is
/// not Ready and carries neither taint yet, the scheduler acts as if it carried the NoSchedule
/// one: same message, and pods tolerating it (DaemonSets) still land.
pub fn effective_taints(node: &Node) -> Vec<Taint> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|spec| spec.taints.clone())
        .unwrap_or_default();
    let ready_status = node
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| {
            conditions
                .iter()
                .find(|condition| condition.type_ == "Ready")
        })
        .map(|condition| condition.status.as_str());
    let already_tainted = taints
        .iter()
        .any(|taint| taint.key == NOT_READY_TAINT || taint.key == UNREACHABLE_TAINT);
    if ready_status != Some("True") && !already_tainted {
        let key = if ready_status == Some("Unknown") {
            UNREACHABLE_TAINT
        } else {
            NOT_READY_TAINT
        };
        taints.push(Taint {
            key: key.to_owned(),
            value: None,
            effect: "NoSchedule".to_owned(),
            time_added: None,
        });
    }
    taints
}

/// A pod on a node, assigned before the call or placed during it.
#[derive(Debug)]
pub struct PlacedPod<'a> {
    pub facts: PodFacts<'a>,
    pub node: usize,
}

/// How many pods of one spreading group sit on each node and in each zone.
#[derive(Debug, Default)]
pub struct GroupCounts {
    pub per_node: Vec<u32>,
    pub per_zone: HashMap<String, u32>,
}

#[derive(Debug)]
pub struct Cluster<'a> {
    pub nodes: Vec<NodeState<'a>>,
    pub pods: Vec<PlacedPod<'a>>,
    /// Pods with any inter-pod (anti-)affinity, for the scores' existing-pod terms.
    pub pods_with_affinity: Vec<usize>,
    /// Pods with required anti-affinity, which can forbid nodes to the incoming pod.
    pub pods_with_required_anti_affinity: Vec<usize>,
    pub groups: HashMap<String, GroupCounts>,
    node_index: HashMap<&'a str, usize>,
}

impl<'a> Cluster<'a> {
    /// The nodes, and the assigned pods on them; pods bound to unknown nodes, finished
    /// (Succeeded/Failed) or not bound are left out.
    pub fn new(nodes: &'a [Node], assigned: &'a [Pod]) -> Self {
        let nodes: Vec<NodeState<'a>> = nodes.iter().map(NodeState::new).collect();
        let node_index = nodes
            .iter()
            .enumerate()
            .map(|(index, state)| (state.name, index))
            .collect();
        let mut cluster = Self {
            nodes,
            pods: Vec::new(),
            pods_with_affinity: Vec::new(),
            pods_with_required_anti_affinity: Vec::new(),
            groups: HashMap::new(),
            node_index,
        };
        for pod in assigned {
            let phase = pod
                .status
                .as_ref()
                .and_then(|status| status.phase.as_deref());
            if matches!(phase, Some("Succeeded" | "Failed")) {
                continue;
            }
            let node_name = pod
                .spec
                .as_ref()
                .and_then(|spec| spec.node_name.as_deref())
                .unwrap_or_default();
            if let Some(&node) = cluster.node_index.get(node_name) {
                cluster.place(PodFacts::of(pod), node);
            }
        }
        cluster
    }

    /// Records a pod on a node: resources, ports, indexes.
    pub fn place(&mut self, facts: PodFacts<'a>, node: usize) {
        let pod_index = self.pods.len();
        let node_count = self.nodes.len();
        let Some(state) = self.nodes.get_mut(node) else {
            return;
        };
        state.account(&facts, pod_index);
        if let Some(group) = &facts.spread_group {
            let counts = self.groups.entry(group.clone()).or_default();
            counts.per_node.resize(node_count, 0);
            counts.per_node[node] += 1;
            if let Some(zone) = state.labels.get(ZONE_LABEL) {
                *counts.per_zone.entry(zone.clone()).or_insert(0) += 1;
            }
        }
        if facts.has_pod_affinity() {
            self.pods_with_affinity.push(pod_index);
        }
        if facts.has_required_anti_affinity() {
            self.pods_with_required_anti_affinity.push(pod_index);
        }
        self.pods.push(PlacedPod { facts, node });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{node, pod, with_requests};

    #[test]
    fn placement_accounts_resources_ports_and_groups() {
        let nodes = vec![node("a", "4", "8Gi", 10), node("b", "4", "8Gi", 10)];
        let mut assigned = with_requests(pod("existing", "rs-1"), "1", "1Gi");
        if let Some(spec) = assigned.spec.as_mut() {
            spec.node_name = Some("a".to_owned());
            spec.containers[0].ports = Some(vec![
                hakube_kinds::k8s_openapi::api::core::v1::ContainerPort {
                    container_port: 80,
                    host_port: Some(8080),
                    ..Default::default()
                },
            ]);
        }
        let assigned = vec![assigned];
        let mut cluster = Cluster::new(&nodes, &assigned);
        assert_eq!(cluster.nodes[0].requested.milli_cpu, 1000);
        assert_eq!(cluster.nodes[0].pod_count, 1);
        assert_eq!(cluster.nodes[0].used_ports[0].port, 8080);
        assert_eq!(cluster.nodes[1].pod_count, 0);

        let incoming = with_requests(pod("new", "rs-1"), "500m", "1Gi");
        cluster.place(PodFacts::of(&incoming), 0);
        assert_eq!(cluster.nodes[0].requested.milli_cpu, 1500);
        assert_eq!(cluster.nodes[0].requested.memory, 2 * 1024 * 1024 * 1024);
        assert_eq!(cluster.nodes[0].pod_count, 2);
        assert_eq!(cluster.groups["controller/rs-1"].per_node, vec![2, 0]);
    }

    #[test]
    fn finished_and_foreign_pods_do_not_count() {
        let nodes = vec![node("a", "4", "8Gi", 10)];
        let mut finished = pod("done", "rs-1");
        let mut elsewhere = pod("elsewhere", "rs-1");
        if let Some(spec) = finished.spec.as_mut() {
            spec.node_name = Some("a".to_owned());
        }
        finished.status = Some(hakube_kinds::k8s_openapi::api::core::v1::PodStatus {
            phase: Some("Succeeded".to_owned()),
            ..Default::default()
        });
        if let Some(spec) = elsewhere.spec.as_mut() {
            spec.node_name = Some("gone".to_owned());
        }
        let assigned = vec![finished, elsewhere];
        let cluster = Cluster::new(&nodes, &assigned);
        assert_eq!(cluster.nodes[0].pod_count, 0);
    }

    #[test]
    fn not_ready_nodes_carry_a_not_ready_taint() {
        let mut not_ready = node("a", "1", "1Gi", 10);
        if let Some(status) = not_ready.status.as_mut() {
            status.conditions = None;
        }
        let taints = effective_taints(&not_ready);
        assert_eq!(taints.len(), 1);
        assert_eq!(taints[0].key, NOT_READY_TAINT);
        assert!(effective_taints(&node("b", "1", "1Gi", 10)).is_empty());
    }

    #[test]
    fn host_ports_conflict_on_wildcard_or_same_ip() {
        let port = |ip: &str, protocol: &str| HostPort {
            ip: ip.to_owned(),
            protocol: protocol.to_owned(),
            port: 80,
        };
        assert!(port("0.0.0.0", "TCP").conflicts_with(&port("10.0.0.1", "TCP")));
        assert!(port("10.0.0.1", "TCP").conflicts_with(&port("10.0.0.1", "TCP")));
        assert!(!port("10.0.0.1", "TCP").conflicts_with(&port("10.0.0.2", "TCP")));
        assert!(!port("0.0.0.0", "TCP").conflicts_with(&port("0.0.0.0", "UDP")));
    }
}
