//! Matching rules shared by the filters and scores: label selectors (pods), node selector
//! terms (nodes, with `matchFields` on metadata.name) and taint tolerations. Label selectors
//! are compiled once into [`Selector`] so that matching many pods does no re-parsing.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Taint, Toleration,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub type Labels = BTreeMap<String, String>;

/// One compiled requirement of a label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Self::In(key, values) => labels.get(key).is_some_and(|value| values.contains(value)),
            Self::NotIn(key, values) => labels.get(key).is_none_or(|value| !values.contains(value)),
            Self::Exists(key) => labels.contains_key(key),
            Self::DoesNotExist(key) => !labels.contains_key(key),
        }
    }
}

/// A compiled label selector. A missing selector selects nothing (upstream's
/// `labels.Nothing()`), an empty one everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    Nothing,
    All(Vec<Requirement>),
}

impl Selector {
    pub fn compile(selector: Option<&LabelSelector>) -> Self {
        let Some(selector) = selector else {
            return Self::Nothing;
        };
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::In(key.clone(), vec![value.clone()]));
        }
        for expression in selector.match_expressions.iter().flatten() {
            let key = expression.key.clone();
            let values = expression.values.clone().unwrap_or_default();
            let requirement = match expression.operator.as_str() {
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                // An operator the API would have rejected: the selector cannot match.
                _ => return Self::Nothing,
            };
            requirements.push(requirement);
        }
        Self::All(requirements)
    }

    /// Narrows the selector to the incoming pod's values of `keys` (matchLabelKeys) or away
    /// from them (mismatchLabelKeys); keys the pod lacks are ignored, as upstream does.
    pub fn with_pod_label_keys(
        mut self,
        keys: &[String],
        pod_labels: &Labels,
        matching: bool,
    ) -> Self {
        if let Self::All(requirements) = &mut self {
            for key in keys {
                if let Some(value) = pod_labels.get(key) {
                    let values = vec![value.clone()];
                    requirements.push(if matching {
                        Requirement::In(key.clone(), values)
                    } else {
                        Requirement::NotIn(key.clone(), values)
                    });
                }
            }
        }
        self
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Self::Nothing => false,
            Self::All(requirements) => requirements
                .iter()
                .all(|requirement| requirement.matches(labels)),
        }
    }
}

pub fn node_labels(node: &Node) -> &Labels {
    static EMPTY: Labels = BTreeMap::new();
    node.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

/// Whether a node satisfies any of the terms (terms are ORed; an empty list matches nothing).
pub fn node_matches_any_term(node: &Node, terms: &[NodeSelectorTerm]) -> bool {
    terms.iter().any(|term| node_matches_term(node, term))
}

/// A term's expressions and fields are ANDed; a term with neither matches nothing.
pub fn node_matches_term(node: &Node, term: &NodeSelectorTerm) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node_labels(node);
    let node_name = node.metadata.name.as_deref().unwrap_or_default();
    expressions
        .iter()
        .all(|requirement| node_requirement_matches(requirement, labels.get(&requirement.key)))
        && fields.iter().all(|requirement| {
            // metadata.name is the only field upstream supports.
            requirement.key == "metadata.name"
                && node_requirement_matches(requirement, Some(&node_name.to_owned()))
        })
}

fn node_requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|value| values.contains(value)),
        "NotIn" => value.is_none_or(|value| !values.contains(value)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => compare_integers(requirement.operator.as_str(), value, values),
        _ => false,
    }
}

/// Gt/Lt compare the label as an integer against the single integer value; anything that
/// does not parse fails the requirement.
fn compare_integers(operator: &str, value: Option<&String>, values: &[String]) -> bool {
    let [bound] = values else { return false };
    let (Some(Ok(label)), Ok(bound)) = (
        value.map(|value| value.parse::<i64>()),
        bound.parse::<i64>(),
    ) else {
        return false;
    };
    if operator == "Gt" {
        label > bound
    } else {
        label < bound
    }
}

/// Upstream's `Toleration.ToleratesTaint`: effect and key must match when the toleration sets
/// them; `Exists` ignores the value, `Equal` (the default) compares it.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
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

pub fn any_tolerates(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|toleration| tolerates(toleration, taint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelectorRequirement, ObjectMeta,
    };

    fn labels(entries: &[(&str, &str)]) -> Labels {
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: Some(values.iter().map(|value| (*value).to_owned()).collect()),
        }
    }

    fn node_requirement(key: &str, operator: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.to_owned(),
            operator: operator.to_owned(),
            values: Some(values.iter().map(|value| (*value).to_owned()).collect()),
        }
    }

    fn node(name: &str, node_labels: &[(&str, &str)]) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(labels(node_labels)),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn label_selectors_follow_upstream_semantics() {
        assert!(!Selector::compile(None).matches(&labels(&[])));
        assert!(Selector::compile(Some(&LabelSelector::default())).matches(&labels(&[("a", "b")])));
        let selector = Selector::compile(Some(&LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                expression("tier", "In", &["front", "edge"]),
                expression("canary", "DoesNotExist", &[]),
                expression("zone", "NotIn", &["z9"]),
                expression("team", "Exists", &[]),
            ]),
        }));
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "edge"), ("team", "x")])));
        assert!(!selector.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "x"),
            ("canary", "1")
        ])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "back"), ("team", "x")])));
        assert!(!selector.matches(&labels(&[
            ("app", "web"),
            ("tier", "edge"),
            ("team", "x"),
            ("zone", "z9")
        ])));
    }

    #[test]
    fn pod_label_keys_narrow_the_selector() {
        let pod_labels = labels(&[("pod-template-hash", "abc")]);
        let keys = vec!["pod-template-hash".to_owned(), "absent".to_owned()];
        let matching = Selector::compile(Some(&LabelSelector::default())).with_pod_label_keys(
            &keys,
            &pod_labels,
            true,
        );
        assert!(matching.matches(&pod_labels));
        assert!(!matching.matches(&labels(&[("pod-template-hash", "def")])));
        let mismatching = Selector::compile(Some(&LabelSelector::default())).with_pod_label_keys(
            &keys,
            &pod_labels,
            false,
        );
        assert!(!mismatching.matches(&pod_labels));
    }

    #[test]
    fn node_terms_are_ored_and_requirements_anded() {
        let worker = node("worker-1", &[("disk", "ssd"), ("cores", "16")]);
        let ssd_and_big = NodeSelectorTerm {
            match_expressions: Some(vec![
                node_requirement("disk", "In", &["ssd"]),
                node_requirement("cores", "Gt", &["8"]),
            ]),
            match_fields: None,
        };
        let small = NodeSelectorTerm {
            match_expressions: Some(vec![node_requirement("cores", "Lt", &["8"])]),
            match_fields: None,
        };
        let by_name = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![node_requirement("metadata.name", "In", &["worker-1"])]),
        };
        assert!(node_matches_any_term(
            &worker,
            &[small.clone(), ssd_and_big]
        ));
        assert!(!node_matches_any_term(
            &worker,
            std::slice::from_ref(&small)
        ));
        assert!(node_matches_any_term(&worker, &[by_name]));
        assert!(!node_matches_any_term(
            &worker,
            &[NodeSelectorTerm::default()]
        ));
        assert!(!node_matches_any_term(&worker, &[]));
        let absent = NodeSelectorTerm {
            match_expressions: Some(vec![
                node_requirement("gpu", "DoesNotExist", &[]),
                node_requirement("gpu", "NotIn", &["a100"]),
                node_requirement("disk", "Exists", &[]),
            ]),
            match_fields: None,
        };
        assert!(node_matches_term(&worker, &absent));
        let not_a_number = NodeSelectorTerm {
            match_expressions: Some(vec![node_requirement("disk", "Gt", &["1"])]),
            match_fields: None,
        };
        assert!(!node_matches_term(&worker, &not_a_number));
    }

    #[test]
    fn tolerations_match_like_upstream() {
        let taint = Taint {
            key: "dedicated".to_owned(),
            value: Some("db".to_owned()),
            effect: "NoSchedule".to_owned(),
            time_added: None,
        };
        let toleration = |key: Option<&str>,
                          operator: Option<&str>,
                          value: Option<&str>,
                          effect: Option<&str>| Toleration {
            key: key.map(str::to_owned),
            operator: operator.map(str::to_owned),
            value: value.map(str::to_owned),
            effect: effect.map(str::to_owned),
            toleration_seconds: None,
        };
        assert!(tolerates(
            &toleration(Some("dedicated"), None, Some("db"), None),
            &taint
        ));
        assert!(!tolerates(
            &toleration(Some("dedicated"), Some("Equal"), Some("web"), None),
            &taint
        ));
        assert!(tolerates(
            &toleration(Some("dedicated"), Some("Exists"), None, Some("NoSchedule")),
            &taint
        ));
        assert!(!tolerates(
            &toleration(Some("dedicated"), Some("Exists"), None, Some("NoExecute")),
            &taint
        ));
        assert!(tolerates(
            &toleration(None, Some("Exists"), None, None),
            &taint
        ));
        assert!(!tolerates(
            &toleration(Some("other"), Some("Exists"), None, None),
            &taint
        ));
    }
}
