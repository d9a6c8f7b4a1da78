//! Label selector matching for the workload controllers (which ReplicaSets a Deployment owns,
//! which pods a ReplicaSet owns), with upstream's meaning: an empty selector selects
//! everything, an invalid one (unknown operator) selects nothing.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement,
};

/// Whether `selector` selects an object carrying `labels` (missing labels are no labels).
pub fn selector_matches(
    selector: &LabelSelector,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let empty = BTreeMap::new();
    let labels = labels.unwrap_or(&empty);
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    labels_match
        && selector
            .match_expressions
            .iter()
            .flatten()
            .all(|requirement| requirement_matches(requirement, labels))
}

/// Whether the selector has no term at all, which upstream reads as "everything".
pub fn selector_is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

fn requirement_matches(
    requirement: &LabelSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> bool {
    let value = labels.get(&requirement.key);
    let values = requirement.values.as_deref().unwrap_or_default();
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|value| values.contains(value)),
        "NotIn" => value.is_none_or(|value| !values.contains(value)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        // Validation rejects other operators; selecting nothing is the safe reading.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn requirement(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values: Some(values.iter().map(|value| value.to_string()).collect()),
        }
    }

    #[test]
    fn match_labels_and_expressions_must_all_hold() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                requirement("tier", "In", &["front", "edge"]),
                requirement("canary", "DoesNotExist", &[]),
            ]),
        };
        let web_front = labels(&[("app", "web"), ("tier", "front")]);
        assert!(selector_matches(&selector, Some(&web_front)));
        let canary = labels(&[("app", "web"), ("tier", "front"), ("canary", "1")]);
        assert!(!selector_matches(&selector, Some(&canary)));
        let back = labels(&[("app", "web"), ("tier", "back")]);
        assert!(!selector_matches(&selector, Some(&back)));
        assert!(!selector_matches(&selector, None));
    }

    #[test]
    fn not_in_accepts_a_missing_key_and_unknown_operators_select_nothing() {
        let not_in = LabelSelector {
            match_expressions: Some(vec![requirement("tier", "NotIn", &["back"])]),
            ..LabelSelector::default()
        };
        assert!(selector_matches(&not_in, None));
        let unknown = LabelSelector {
            match_expressions: Some(vec![requirement("tier", "Near", &["back"])]),
            ..LabelSelector::default()
        };
        assert!(!selector_matches(&unknown, None));
    }

    #[test]
    fn an_empty_selector_selects_everything() {
        let empty = LabelSelector::default();
        assert!(selector_is_empty(&empty));
        assert!(selector_matches(&empty, Some(&labels(&[("any", "thing")]))));
    }
}
