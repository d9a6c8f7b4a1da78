//! Daemon pods as upstream makes them: the template's spec with the tolerations every daemon
//! pod carries (so cordoned, pressured and failing nodes keep their daemons), a required node
//! affinity naming the node (the scheduler binds it there), and the labels that tell which
//! template a pod was made from.

use hakube_kinds::k8s_openapi::api::apps::v1::DaemonSet;
use hakube_kinds::k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
    Toleration,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::controller_refs;
use crate::deployments::pod_template_hash;

/// The label carrying the hash of the template a daemon pod was made from.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// The label carrying the DaemonSet's template generation when the pod was made.
pub const POD_TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Where the API server records the generation of the DaemonSet's last template change.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Which template is current: its hash and its generation.
pub struct Revision {
    pub hash: String,
    pub generation: Option<String>,
}

impl Revision {
    /// The hash of the template is the revision (its ControllerRevision is "<set>-<hash>",
    /// kept by [`crate::controller_revisions`]). Without the template-generation annotation the object's generation stands in; a pod
    /// counts as updated when either label matches, so that only matters for old pods.
    pub fn of(daemon_set: &DaemonSet) -> Self {
        let template = daemon_set.spec.template.clone();
        let annotations = daemon_set.metadata.annotations.as_ref();
        let annotated = annotations
            .and_then(|annotations| annotations.get(TEMPLATE_GENERATION_ANNOTATION))
            .cloned();
        let generation = annotated.or_else(|| {
            let generation = daemon_set.metadata.generation;
            generation.map(|generation| generation.to_string())
        });
        Self {
            hash: pod_template_hash(&template, None),
            generation,
        }
    }

    /// Upstream's IsPodUpdated: the pod carries the current hash or template generation.
    pub fn is_updated(&self, pod: &Pod) -> bool {
        let labels = pod.metadata.labels.as_ref();
        let label = |key: &str| labels.and_then(|labels| labels.get(key));
        let hash_matches = label(REVISION_HASH_LABEL) == Some(&self.hash);
        let generation = label(POD_TEMPLATE_GENERATION_LABEL);
        let generation_matches =
            self.generation.is_some() && generation == self.generation.as_ref();
        hash_matches || generation_matches
    }
}

/// The tolerations upstream adds to every daemon pod: NoExecute ones without a time limit
/// (a not-ready or unreachable node keeps its daemons), NoSchedule ones for pressure and
/// cordoning, and network-unavailable for host-network pods (they bring the network up).
fn daemon_tolerations(host_network: bool) -> Vec<Toleration> {
    let exists = |key: &str, effect: &str| Toleration {
        key: Some(key.to_string()),
        operator: Some("Exists".to_string()),
        effect: Some(effect.to_string()),
        ..Toleration::default()
    };
    let mut tolerations = vec![
        exists("node.kubernetes.io/not-ready", "NoExecute"),
        exists("node.kubernetes.io/unreachable", "NoExecute"),
        exists("node.kubernetes.io/disk-pressure", "NoSchedule"),
        exists("node.kubernetes.io/memory-pressure", "NoSchedule"),
        exists("node.kubernetes.io/pid-pressure", "NoSchedule"),
        exists("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        tolerations.push(exists(
            "node.kubernetes.io/network-unavailable",
            "NoSchedule",
        ));
    }
    tolerations
}

/// The template's spec with the daemon tolerations added, an equal one replacing the
/// template's own (upstream's AddOrUpdateTolerationInPodSpec).
pub fn daemon_pod_spec(daemon_set: &DaemonSet) -> PodSpec {
    let mut spec = daemon_set.spec.template.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    for toleration in daemon_tolerations(host_network) {
        let same = tolerations.iter().position(|existing| {
            existing.key == toleration.key
                && existing.operator == toleration.operator
                && existing.value == toleration.value
                && existing.effect == toleration.effect
        });
        match same {
            Some(index) => tolerations[index] = toleration,
            None => tolerations.push(toleration),
        }
    }
    spec
}

/// A new daemon pod for `node`.
pub fn pod_for_node(
    daemon_set: &DaemonSet,
    daemon_spec: &PodSpec,
    revision: &Revision,
    node: &str,
) -> Pod {
    let template_metadata = daemon_set
        .spec
        .template
        .metadata
        .clone()
        .unwrap_or_default();
    let mut labels = template_metadata.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.to_string(), revision.hash.clone());
    if let Some(generation) = &revision.generation {
        labels.insert(
            POD_TEMPLATE_GENERATION_LABEL.to_string(),
            generation.clone(),
        );
    }
    let name = daemon_set.metadata.name.as_deref().unwrap_or_default();
    let owner = controller_refs::controller_reference("apps/v1", "DaemonSet", &daemon_set.metadata);
    let mut spec = daemon_spec.clone();
    spec.affinity = Some(bound_to_node(spec.affinity.take(), node));
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: daemon_set.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_metadata.annotations,
            finalizers: template_metadata.finalizers,
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become the single
/// term "metadata.name In [node]" (the node was already judged against the template's own
/// terms); preferred terms and pod (anti-)affinity stay.
fn bound_to_node(affinity: Option<Affinity>, node: &str) -> Affinity {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".to_string(),
            operator: "In".to_string(),
            values: Some(vec![node.to_string()]),
        }]),
    };
    let mut affinity = affinity.unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
        node_selector_terms: vec![term],
    });
    affinity
}

/// The node a daemon pod is for: where it runs, or before binding the node its affinity names.
pub fn target_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(node) = spec.node_name.as_deref().filter(|node| !node.is_empty()) {
        return Some(node);
    }
    let node_affinity = spec.affinity.as_ref()?.node_affinity.as_ref()?;
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .as_ref()?;
    required.node_selector_terms.iter().find_map(|term| {
        term.match_fields.iter().flatten().find_map(|field| {
            let values = field.values.as_deref().unwrap_or_default();
            match values {
                [node] if field.key == "metadata.name" && field.operator == "In" => {
                    Some(node.as_str())
                }
                _ => None,
            }
        })
    })
}
