//! Which nodes a DaemonSet covers, as upstream's NodeShouldRunDaemonPod judges them: the
//! template's nodeName, nodeSelector and required node affinity must admit the node, and its
//! NoSchedule/NoExecute taints must be tolerated for a new pod to go there; a pod already
//! there keeps running as long as it tolerates the NoExecute ones.

use hakube_kinds::k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec, Taint, Toleration,
};

/// How one node stands toward the DaemonSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFit {
    pub node: String,
    /// A daemon pod belongs here: create one when missing.
    pub should_run: bool,
    /// A daemon pod already here may stay (it tolerates the NoExecute taints).
    pub should_continue_running: bool,
}

/// The fit of every node, in the order given.
pub fn fits(daemon_spec: &PodSpec, nodes: &[Node]) -> Vec<NodeFit> {
    nodes.iter().map(|node| fit(daemon_spec, node)).collect()
}

fn fit(daemon_spec: &PodSpec, node: &Node) -> NodeFit {
    let name = node.metadata.name.clone().unwrap_or_default();
    let named_elsewhere = daemon_spec
        .node_name
        .as_deref()
        .is_some_and(|wanted| !wanted.is_empty() && wanted != name);
    let admitted = !named_elsewhere && affinity_admits(daemon_spec, node);
    let taints = node
        .spec
        .as_ref()
        .and_then(|spec| spec.taints.as_deref())
        .unwrap_or_default();
    let tolerations = daemon_spec.tolerations.as_deref().unwrap_or_default();
    let untolerated = |effects: &[&str]| {
        taints.iter().any(|taint| {
            effects.contains(&taint.effect.as_str()) && !any_tolerates(tolerations, taint)
        })
    };
    NodeFit {
        should_run: admitted && !untolerated(&["NoSchedule", "NoExecute"]),
        should_continue_running: admitted && !untolerated(&["NoExecute"]),
        node: name,
    }
}

/// nodeSelector labels must all be present, and one required affinity term must match.
fn affinity_admits(spec: &PodSpec, node: &Node) -> bool {
    let labels = node.metadata.labels.as_ref();
    let selector_matches = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(key, value)| labels.and_then(|labels| labels.get(key)) == Some(value));
    let required = spec
        .affinity
        .as_ref()
        .and_then(|affinity| affinity.node_affinity.as_ref())
        .and_then(|affinity| {
            affinity
                .required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    selector_matches
        && required.is_none_or(|required| {
            let terms = &required.node_selector_terms;
            terms.iter().any(|term| term_matches(term, node))
        })
}

/// A term's expressions and fields all hold; a term with neither matches nothing.
fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    let name = node.metadata.name.as_deref();
    expressions.iter().all(|requirement| {
        let value = labels.and_then(|labels| labels.get(&requirement.key));
        requirement_matches(requirement, value.map(String::as_str))
    }) && fields.iter().all(|requirement| {
        // metadata.name is the only field node selectors support.
        requirement.key == "metadata.name" && requirement_matches(requirement, name)
    })
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    let listed = |value: &str| values.iter().any(|listed| listed == value);
    let as_integer = |text: &str| text.parse::<i64>().ok();
    let bound = match values {
        [bound] => as_integer(bound),
        _ => None,
    };
    let number = value.and_then(as_integer);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(listed),
        "NotIn" => value.is_none_or(|value| !listed(value)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => number
            .zip(bound)
            .is_some_and(|(number, bound)| number > bound),
        "Lt" => number
            .zip(bound)
            .is_some_and(|(number, bound)| number < bound),
        // Validation rejects other operators; admitting nothing is the safe reading.
        _ => false,
    }
}

fn any_tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|toleration| tolerates(toleration, taint))
}

/// Upstream's ToleratesTaint: effect and key must match when set; Exists ignores the value.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    let key = toleration.key.as_deref().unwrap_or_default();
    if (!effect.is_empty() && effect != taint.effect) || (!key.is_empty() && key != taint.key) {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}
