//! Builders for the unit tests: nodes that are Ready with given allocatable resources, and
//! pods owned by a controller, with requests, labels and placement set by small helpers.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::core::v1::{
    Affinity, Container, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodAffinityTerm,
    PodAntiAffinity, PodSpec, ResourceRequirements, Taint, Toleration, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, ObjectMeta, OwnerReference,
};

pub fn quantities(entries: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    entries
        .iter()
        .map(|(name, amount)| ((*name).to_owned(), Quantity((*amount).to_owned())))
        .collect()
}

pub fn labels(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// A Ready node with the hostname label and the given allocatable cpu, memory and pods.
pub fn node(name: &str, cpu: &str, memory: &str, pods: u32) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels(&[("kubernetes.io/hostname", name)])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(quantities(&[
                ("cpu", cpu),
                ("memory", memory),
                ("pods", &pods.to_string()),
            ])),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".to_owned(),
                status: "True".to_owned(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

pub fn with_node_labels(mut node: Node, entries: &[(&str, &str)]) -> Node {
    node.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .extend(labels(entries));
    node
}

pub fn with_taint(mut node: Node, key: &str, value: &str, effect: &str) -> Node {
    let taint = Taint {
        key: key.to_owned(),
        value: Some(value.to_owned()),
        effect: effect.to_owned(),
        time_added: None,
    };
    node.spec
        .get_or_insert_with(NodeSpec::default)
        .taints
        .get_or_insert_with(Vec::new)
        .push(taint);
    node
}

/// A pending pod in namespace "default" with uid `<name>-uid`, one container, owned by the
/// controller `owner_uid` (none when empty) and labelled `app=<owner_uid>`.
pub fn pod(name: &str, owner_uid: &str) -> Pod {
    let owner_references = (!owner_uid.is_empty()).then(|| {
        vec![OwnerReference {
            api_version: "apps/v1".to_owned(),
            kind: "ReplicaSet".to_owned(),
            name: owner_uid.to_owned(),
            uid: owner_uid.to_owned(),
            controller: Some(true),
            block_owner_deletion: None,
        }]
    });
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("default".to_owned()),
            uid: Some(format!("{name}-uid")),
            labels: (!owner_uid.is_empty()).then(|| labels(&[("app", owner_uid)])),
            owner_references,
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "main".to_owned(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

pub fn with_requests(mut pod: Pod, cpu: &str, memory: &str) -> Pod {
    if let Some(container) = pod
        .spec
        .as_mut()
        .and_then(|spec| spec.containers.first_mut())
    {
        container.resources = Some(ResourceRequirements {
            requests: Some(quantities(&[("cpu", cpu), ("memory", memory)])),
            ..Default::default()
        });
    }
    pod
}

pub fn on_node(mut pod: Pod, node_name: &str) -> Pod {
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_name = Some(node_name.to_owned());
    }
    pod
}

pub fn with_toleration(mut pod: Pod, key: &str, operator: &str, effect: &str) -> Pod {
    let toleration = Toleration {
        key: Some(key.to_owned()).filter(|key| !key.is_empty()),
        operator: Some(operator.to_owned()),
        effect: Some(effect.to_owned()).filter(|effect| !effect.is_empty()),
        ..Default::default()
    };
    if let Some(spec) = pod.spec.as_mut() {
        spec.tolerations
            .get_or_insert_with(Vec::new)
            .push(toleration);
    }
    pod
}

pub fn spec_mut(pod: &mut Pod) -> &mut PodSpec {
    pod.spec.get_or_insert_with(PodSpec::default)
}

fn app_selector(pod: &Pod) -> Option<LabelSelector> {
    let app = pod.metadata.labels.as_ref()?.get("app")?.clone();
    Some(LabelSelector {
        match_labels: Some(labels(&[("app", &app)])),
        match_expressions: None,
    })
}

/// Adds a topology spread constraint over the pod's own `app` label.
pub fn with_spread(mut pod: Pod, key: &str, max_skew: i32, when_unsatisfiable: &str) -> Pod {
    let constraint = TopologySpreadConstraint {
        label_selector: app_selector(&pod),
        max_skew,
        topology_key: key.to_owned(),
        when_unsatisfiable: when_unsatisfiable.to_owned(),
        ..Default::default()
    };
    spec_mut(&mut pod)
        .topology_spread_constraints
        .get_or_insert_with(Vec::new)
        .push(constraint);
    pod
}

/// Adds anti-affinity against the pod's own `app` label: required, or preferred with a weight.
pub fn with_self_anti_affinity(mut pod: Pod, key: &str, preferred_weight: Option<i32>) -> Pod {
    let term = PodAffinityTerm {
        label_selector: app_selector(&pod),
        topology_key: key.to_owned(),
        ..Default::default()
    };
    let anti = match preferred_weight {
        None => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..Default::default()
        },
        Some(weight) => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight,
                    pod_affinity_term: term,
                },
            ]),
            ..Default::default()
        },
    };
    spec_mut(&mut pod).affinity = Some(Affinity {
        pod_anti_affinity: Some(anti),
        ..Default::default()
    });
    pod
}
