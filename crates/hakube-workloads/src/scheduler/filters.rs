//! The filters that judge one node from the node alone and the incoming pod: NodeUnschedulable,
//! TaintToleration, NodeAffinity (nodeSelector and required affinity), NodePorts and
//! NodeResourcesFit, with upstream's reasons. Filters needing the other pods' placement
//! (topology spread, inter-pod affinity) live in their own modules.

use hakube_kinds::k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use super::messages;
use super::node_state::{NodeState, PodFacts};
use super::selectors::{any_tolerates, node_matches_any_term};

/// Why a node was rejected; usually one reason, several when resources fall short.
pub type Reasons = Vec<String>;

pub fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.tolerations.as_deref())
        .unwrap_or_default()
}

/// An unschedulable (cordoned) node takes only pods tolerating the unschedulable taint.
pub fn node_unschedulable(pod: &Pod, node: &NodeState<'_>) -> Result<(), Reasons> {
    if !node.unschedulable {
        return Ok(());
    }
    let cordon = Taint {
        key: "node.kubernetes.io/unschedulable".to_owned(),
        value: None,
        effect: "NoSchedule".to_owned(),
        time_added: None,
    };
    if any_tolerates(tolerations(pod), &cordon) {
        return Ok(());
    }
    Err(vec![messages::NODE_UNSCHEDULABLE.to_owned()])
}

/// The first NoSchedule/NoExecute taint the pod does not tolerate rejects the node.
pub fn taint_toleration(pod: &Pod, node: &NodeState<'_>) -> Result<(), Reasons> {
    let tolerations = tolerations(pod);
    let untolerated = node.taints.iter().find(|taint| {
        matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute")
            && !any_tolerates(tolerations, taint)
    });
    match untolerated {
        None => Ok(()),
        Some(taint) => Err(vec![messages::untolerated_taint(
            &taint.key,
            taint.value.as_deref().unwrap_or_default(),
        )]),
    }
}

/// nodeSelector labels must all be present, and one of the required affinity terms must match.
pub fn node_affinity(pod: &Pod, node: &NodeState<'_>) -> Result<(), Reasons> {
    if matches_node_affinity(pod, node) {
        Ok(())
    } else {
        Err(vec![messages::NODE_AFFINITY.to_owned()])
    }
}

pub fn matches_node_affinity(pod: &Pod, node: &NodeState<'_>) -> bool {
    let Some(spec) = &pod.spec else { return true };
    let selector_matches = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(key, value)| node.labels.get(key) == Some(value));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|affinity| affinity.node_affinity.as_ref())
        .and_then(|node_affinity| {
            node_affinity
                .required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selector_matches
        && required
            .is_none_or(|required| node_matches_any_term(node.node, &required.node_selector_terms))
}

pub fn node_ports(facts: &PodFacts<'_>, node: &NodeState<'_>) -> Result<(), Reasons> {
    let conflict = facts.host_ports.iter().any(|wanted| {
        node.used_ports
            .iter()
            .any(|used| used.conflicts_with(wanted))
    });
    if conflict {
        Err(vec![messages::HOST_PORTS.to_owned()])
    } else {
        Ok(())
    }
}

/// Upstream's `fitsRequest`: the pod count first, then each requested resource against what
/// allocatable leaves after the node's pods' requests; every shortfall is a reason.
pub fn node_resources_fit(facts: &PodFacts<'_>, node: &NodeState<'_>) -> Result<(), Reasons> {
    let mut reasons = Vec::new();
    if node.pod_count + 1 > node.allocatable.pods {
        reasons.push(messages::TOO_MANY_PODS.to_owned());
    }
    let wanted = &facts.requests.requested;
    let free = &node.allocatable.resources;
    let used = &node.requested;
    let short = |want: i64, have: i64, taken: i64| want > 0 && want > have.saturating_sub(taken);
    if short(wanted.milli_cpu, free.milli_cpu, used.milli_cpu) {
        reasons.push(messages::insufficient("cpu"));
    }
    if short(wanted.memory, free.memory, used.memory) {
        reasons.push(messages::insufficient("memory"));
    }
    if short(
        wanted.ephemeral_storage,
        free.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        reasons.push(messages::insufficient("ephemeral-storage"));
    }
    for (name, want) in &wanted.scalars {
        let have = free.scalars.get(name).copied().unwrap_or(0);
        let taken = used.scalars.get(name).copied().unwrap_or(0);
        if short(*want, have, taken) {
            reasons.push(messages::insufficient(name));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::node_state::Cluster;
    use crate::scheduler::test_support::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{
        Affinity, ContainerPort, NodeAffinity, NodeSelector, NodeSelectorRequirement,
        NodeSelectorTerm,
    };

    fn verdict(
        pod: &Pod,
        node: hakube_kinds::k8s_openapi::api::core::v1::Node,
        assigned: &[Pod],
    ) -> Result<(), Reasons> {
        let nodes = vec![node];
        let cluster = Cluster::new(&nodes, assigned);
        let facts = PodFacts::of(pod);
        let state = &cluster.nodes[0];
        node_unschedulable(pod, state)
            .and_then(|()| taint_toleration(pod, state))
            .and_then(|()| node_affinity(pod, state))
            .and_then(|()| node_ports(&facts, state))
            .and_then(|()| node_resources_fit(&facts, state))
    }

    fn reasons(texts: &[&str]) -> Result<(), Reasons> {
        Err(texts.iter().map(|text| (*text).to_owned()).collect())
    }

    #[test]
    fn cordoned_nodes_take_only_tolerating_pods() {
        let mut cordoned = node("a", "1", "1Gi", 10);
        cordoned.spec.get_or_insert_default().unschedulable = Some(true);
        assert_eq!(
            verdict(&pod("p", ""), cordoned.clone(), &[]),
            reasons(&["node(s) were unschedulable"])
        );
        let tolerant = with_toleration(
            pod("p", ""),
            "node.kubernetes.io/unschedulable",
            "Exists",
            "NoSchedule",
        );
        assert_eq!(verdict(&tolerant, cordoned, &[]), Ok(()));
    }

    #[test]
    fn taints_reject_unless_tolerated() {
        let tainted = with_taint(
            node("a", "1", "1Gi", 10),
            "node-role.kubernetes.io/control-plane",
            "",
            "NoSchedule",
        );
        assert_eq!(
            verdict(&pod("p", ""), tainted.clone(), &[]),
            reasons(&["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"])
        );
        let tolerant = with_toleration(
            pod("p", ""),
            "node-role.kubernetes.io/control-plane",
            "Exists",
            "",
        );
        assert_eq!(verdict(&tolerant, tainted.clone(), &[]), Ok(()));
        let tolerates_all = with_toleration(pod("p", ""), "", "Exists", "");
        assert_eq!(verdict(&tolerates_all, tainted, &[]), Ok(()));
        let soft = with_taint(node("a", "1", "1Gi", 10), "soft", "x", "PreferNoSchedule");
        assert_eq!(verdict(&pod("p", ""), soft, &[]), Ok(()));
        let evicting = with_taint(node("a", "1", "1Gi", 10), "gone", "yes", "NoExecute");
        assert_eq!(
            verdict(&pod("p", ""), evicting, &[]),
            reasons(&["node(s) had untolerated taint {gone: yes}"])
        );
    }

    #[test]
    fn not_ready_nodes_reject_through_their_taint() {
        let mut not_ready = node("a", "1", "1Gi", 10);
        not_ready.status.get_or_insert_default().conditions = None;
        assert_eq!(
            verdict(&pod("p", ""), not_ready.clone(), &[]),
            reasons(&["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"])
        );
        let daemon = with_toleration(pod("p", ""), "node.kubernetes.io/not-ready", "Exists", "");
        assert_eq!(verdict(&daemon, not_ready, &[]), Ok(()));
    }

    #[test]
    fn node_selector_and_required_affinity_must_match() {
        let labelled = with_node_labels(node("a", "1", "1Gi", 10), &[("disk", "ssd")]);
        let mut selecting = pod("p", "");
        spec_mut(&mut selecting).node_selector = Some(labels(&[("disk", "hdd")]));
        assert_eq!(
            verdict(&selecting, labelled.clone(), &[]),
            reasons(&["node(s) didn't match Pod's node affinity/selector"])
        );
        spec_mut(&mut selecting).node_selector = Some(labels(&[("disk", "ssd")]));
        assert_eq!(verdict(&selecting, labelled.clone(), &[]), Ok(()));
        let term = |operator: &str| NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: "disk".to_owned(),
                operator: operator.to_owned(),
                values: Some(vec!["ssd".to_owned()]),
            }]),
            match_fields: None,
        };
        spec_mut(&mut selecting).affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: vec![term("NotIn")],
                }),
                preferred_during_scheduling_ignored_during_execution: None,
            }),
            ..Default::default()
        });
        assert_eq!(
            verdict(&selecting, labelled, &[]),
            reasons(&["node(s) didn't match Pod's node affinity/selector"])
        );
    }

    #[test]
    fn host_ports_must_be_free() {
        let with_port = |pod: Pod| {
            let mut pod = pod;
            spec_mut(&mut pod).containers[0].ports = Some(vec![ContainerPort {
                container_port: 80,
                host_port: Some(80),
                ..Default::default()
            }]);
            pod
        };
        let assigned = vec![on_node(with_port(pod("old", "")), "a")];
        assert_eq!(
            verdict(
                &with_port(pod("p", "")),
                node("a", "1", "1Gi", 10),
                &assigned
            ),
            reasons(&["node(s) didn't have free ports for the requested pod ports"])
        );
        assert_eq!(
            verdict(&pod("p", ""), node("a", "1", "1Gi", 10), &assigned),
            Ok(())
        );
    }

    #[test]
    fn resources_report_every_shortfall() {
        let assigned = vec![on_node(with_requests(pod("old", ""), "1500m", "1Gi"), "a")];
        let big = with_requests(pod("p", ""), "1", "2Gi");
        assert_eq!(
            verdict(&big, node("a", "2", "2Gi", 1), &assigned),
            reasons(&["Too many pods", "Insufficient cpu", "Insufficient memory"])
        );
        let small = with_requests(pod("p", ""), "500m", "1Gi");
        assert_eq!(verdict(&small, node("a", "2", "2Gi", 2), &assigned), Ok(()));
    }

    #[test]
    fn extended_resources_are_checked_by_name() {
        let mut gpu_pod = pod("p", "");
        spec_mut(&mut gpu_pod).containers[0].resources = Some(
            hakube_kinds::k8s_openapi::api::core::v1::ResourceRequirements {
                requests: Some(quantities(&[
                    ("example.com/gpu", "1"),
                    ("ephemeral-storage", "1Gi"),
                ])),
                ..Default::default()
            },
        );
        assert_eq!(
            verdict(&gpu_pod, node("a", "1", "1Gi", 10), &[]),
            reasons(&[
                "Insufficient ephemeral-storage",
                "Insufficient example.com/gpu"
            ])
        );
    }
}
