//! ResourceQuota scopes: which objects a quota with `spec.scopes` or `spec.scopeSelector`
//! applies to (only pods, each scope a test of the pod, all of them required, as upstream),
//! and the validation upstream gives those fields.

use serde_json::Value;

use crate::error::Cause;
use crate::objects::At as _;
use crate::objects::strings;
use crate::tree::Json;

const TERMINATING: &str = "Terminating";
const NOT_TERMINATING: &str = "NotTerminating";
const BEST_EFFORT: &str = "BestEffort";
const NOT_BEST_EFFORT: &str = "NotBestEffort";
const PRIORITY_CLASS: &str = "PriorityClass";
const CROSS_NAMESPACE_POD_AFFINITY: &str = "CrossNamespacePodAffinity";

const SCOPES: [&str; 6] = [
    TERMINATING,
    NOT_TERMINATING,
    BEST_EFFORT,
    NOT_BEST_EFFORT,
    PRIORITY_CLASS,
    CROSS_NAMESPACE_POD_AFFINITY,
];

/// One scope test: `spec.scopes` entries are `Exists` requirements.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement<'a> {
    scope: &'a str,
    operator: &'a str,
    values: Vec<&'a str>,
}

fn requirements<J: Json>(quota: &J) -> Vec<Requirement<'_>> {
    let listed = strings(quota.at("/spec/scopes"))
        .into_iter()
        .map(|scope| Requirement {
            scope,
            operator: "Exists",
            values: Vec::new(),
        });
    let selected = quota
        .at("/spec/scopeSelector/matchExpressions")
        .and_then(J::as_array)
        .into_iter()
        .flatten()
        .map(|expression| Requirement {
            scope: expression
                .get("scopeName")
                .and_then(J::as_str)
                .unwrap_or_default(),
            operator: expression
                .get("operator")
                .and_then(J::as_str)
                .unwrap_or_default(),
            values: strings(expression.get("values")),
        });
    listed.chain(selected).collect()
}

/// Whether `object` falls under the quota's scopes (true for every object of an unscoped quota).
pub fn applies<J: Json>(quota: &J, group: &str, plural: &str, object: &J) -> bool {
    let requirements = requirements(quota);
    if requirements.is_empty() {
        return true;
    }
    // Upstream's other evaluators match no scope.
    group.is_empty()
        && plural == "pods"
        && requirements
            .iter()
            .all(|requirement| pod_matches(requirement, object))
}

/// A pod with an active deadline is "terminating": it ends by itself.
fn is_terminating<J: Json>(pod: &J) -> bool {
    pod.at("/spec/activeDeadlineSeconds")
        .and_then(J::as_i64)
        .is_some_and(|seconds| seconds >= 0)
}

/// BestEffort QoS: no container asks for or is limited in cpu or memory.
fn is_best_effort<J: Json>(pod: &J) -> bool {
    let declares = |container: &J| {
        ["requests", "limits"].iter().any(|field| {
            ["cpu", "memory"].iter().any(|resource| {
                container
                    .get("resources")
                    .and_then(|r| r.get(field))
                    .and_then(|f| f.get(resource))
                    .and_then(crate::quantity::from_json)
                    .is_some_and(|amount| amount.milli() != 0)
            })
        })
    };
    ["/spec/containers", "/spec/initContainers"]
        .iter()
        .filter_map(|path| pod.at(path).and_then(J::as_array))
        .flatten()
        .all(|container| !declares(container))
}

/// Whether a pod's (anti-)affinity terms reach into other namespaces.
fn uses_cross_namespace_affinity<J: Json>(pod: &J) -> bool {
    let crosses = |term: &J| {
        !strings(term.get("namespaces")).is_empty() || term.get("namespaceSelector").is_some()
    };
    ["podAffinity", "podAntiAffinity"].iter().any(|kind| {
        let Some(affinity) = pod.at("/spec/affinity").and_then(|a| a.get(kind)) else {
            return false;
        };
        let required = affinity
            .get("requiredDuringSchedulingIgnoredDuringExecution")
            .and_then(J::as_array)
            .into_iter()
            .flatten();
        let preferred = affinity
            .get("preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(J::as_array)
            .into_iter()
            .flatten()
            .filter_map(|weighted| weighted.get("podAffinityTerm"));
        required.chain(preferred).any(crosses)
    })
}

fn pod_matches<J: Json>(requirement: &Requirement<'_>, pod: &J) -> bool {
    match requirement.scope {
        TERMINATING => is_terminating(pod),
        NOT_TERMINATING => !is_terminating(pod),
        BEST_EFFORT => is_best_effort(pod),
        NOT_BEST_EFFORT => !is_best_effort(pod),
        CROSS_NAMESPACE_POD_AFFINITY => uses_cross_namespace_affinity(pod),
        PRIORITY_CLASS => {
            let class = pod
                .at("/spec/priorityClassName")
                .and_then(J::as_str)
                .unwrap_or_default();
            match requirement.operator {
                "In" => requirement.values.contains(&class),
                "NotIn" => !requirement.values.contains(&class),
                // Upstream: Exists means the pod names a class.
                "DoesNotExist" => class.is_empty(),
                _ => !class.is_empty(),
            }
        }
        _ => false,
    }
}

/// The resources a scope may limit (upstream's IsResourceQuotaScopeValidForResource; names
/// outside the standard ones, like `count/…`, are not checked).
fn valid_for(scope: &str, resource: &str) -> bool {
    let standard = !resource.contains('/');
    let pod_count = resource == "pods";
    let pod_compute = matches!(
        resource,
        "cpu" | "memory" | "requests.cpu" | "requests.memory" | "limits.cpu" | "limits.memory"
    );
    match scope {
        BEST_EFFORT => !standard || pod_count,
        TERMINATING
        | NOT_TERMINATING
        | NOT_BEST_EFFORT
        | PRIORITY_CLASS
        | CROSS_NAMESPACE_POD_AFFINITY => !standard || pod_count || pod_compute,
        _ => true,
    }
}

fn conflicting(scopes: &[&str]) -> bool {
    [
        (BEST_EFFORT, NOT_BEST_EFFORT),
        (TERMINATING, NOT_TERMINATING),
    ]
    .iter()
    .any(|(a, b)| scopes.contains(a) && scopes.contains(b))
}

/// Upstream's checks of `spec.scopes` and `spec.scopeSelector`.
pub fn validate(quota: &Value, causes: &mut Vec<Cause>) {
    let hard: Vec<&str> = quota
        .at("/spec/hard")
        .and_then(Value::as_object)
        .map(|hard| hard.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let scopes = strings(quota.at("/spec/scopes"));
    let shown = Value::from(scopes.clone());
    for scope in &scopes {
        if !SCOPES.contains(scope) {
            causes.push(Cause::invalid("spec.scopes", &shown, "unsupported scope"));
        }
        if hard.iter().any(|resource| !valid_for(scope, resource)) {
            causes.push(Cause::invalid(
                "spec.scopes",
                &shown,
                "unsupported scope applied to resource",
            ));
        }
    }
    if conflicting(&scopes) {
        causes.push(Cause::invalid("spec.scopes", &shown, "conflicting scopes"));
    }
    let path = "spec.scopeSelector.matchExpressions";
    let selected: Vec<Requirement<'_>> = requirements(quota).split_off(scopes.len());
    for requirement in &selected {
        selector_requirement(requirement, &hard, path, causes);
    }
    let selected_scopes: Vec<&str> = selected.iter().map(|r| r.scope).collect();
    if conflicting(&selected_scopes) {
        causes.push(Cause::invalid(
            path,
            Value::from(selected_scopes),
            "conflicting scopes",
        ));
    }
}

fn selector_requirement(
    requirement: &Requirement<'_>,
    hard: &[&str],
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let scope = requirement.scope;
    if !SCOPES.contains(&scope) {
        causes.push(Cause::invalid(
            format!("{path}.scopeName"),
            format!("{scope:?}"),
            "unsupported scope",
        ));
    }
    if hard.iter().any(|resource| !valid_for(scope, resource)) {
        causes.push(Cause::invalid(
            path,
            format!("{scope:?}"),
            "unsupported scope applied to resource",
        ));
    }
    if scope != PRIORITY_CLASS && SCOPES.contains(&scope) && requirement.operator != "Exists" {
        causes.push(Cause::invalid(
            format!("{path}.operator"),
            format!("{:?}", requirement.operator),
            "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity",
        ));
    }
    match requirement.operator {
        "In" | "NotIn" if requirement.values.is_empty() => causes.push(Cause {
            reason: "FieldValueRequired",
            field: format!("{path}.values"),
            message: "Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector".into(),
        }),
        "Exists" | "DoesNotExist" if !requirement.values.is_empty() => {
            causes.push(Cause::invalid(
                format!("{path}.values"),
                Value::from(requirement.values.clone()),
                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
            ))
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
        other => causes.push(Cause::invalid(
            format!("{path}.operator"),
            format!("{other:?}"),
            "not a valid selector operator",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    fn quota(spec: Value) -> Value {
        json!({"metadata": {"name": "q"}, "spec": spec})
    }

    #[test]
    fn best_effort_and_terminating_scopes_test_the_pod() {
        let best_effort = quota(json!({"hard": {"pods": "1"}, "scopes": ["BestEffort"]}));
        let plain = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        let sized = pod(
            json!({"containers": [{"name": "c", "image": "i", "resources": {"limits": {"memory": "64Mi"}}}]}),
        );
        assert!(applies(&best_effort, "", "pods", &plain));
        assert!(!applies(&best_effort, "", "pods", &sized));
        assert!(!applies(&best_effort, "", "configmaps", &plain));
        let terminating =
            quota(json!({"hard": {"pods": "1"}, "scopes": ["Terminating", "NotBestEffort"]}));
        let mut deadline = sized.clone();
        deadline["spec"]["activeDeadlineSeconds"] = json!(30);
        assert!(applies(&terminating, "", "pods", &deadline));
        assert!(!applies(&terminating, "", "pods", &sized));
        let unscoped = quota(json!({"hard": {"configmaps": "1"}}));
        assert!(applies(&unscoped, "", "configmaps", &plain));
    }

    #[test]
    fn priority_class_selectors_use_in_and_not_in() {
        let high = quota(
            json!({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}),
        );
        let not_high = quota(
            json!({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "NotIn", "values": ["high"]}]}}),
        );
        let urgent = pod(json!({"priorityClassName": "high", "containers": []}));
        let ordinary = pod(json!({"containers": []}));
        assert!(applies(&high, "", "pods", &urgent) && !applies(&high, "", "pods", &ordinary));
        assert!(
            !applies(&not_high, "", "pods", &urgent) && applies(&not_high, "", "pods", &ordinary)
        );
        // Exists (also a plain `scopes: [PriorityClass]`): the pod names a class.
        let any_class = quota(json!({"hard": {"pods": "1"}, "scopes": ["PriorityClass"]}));
        assert!(applies(&any_class, "", "pods", &urgent));
        assert!(!applies(&any_class, "", "pods", &ordinary));
    }

    #[test]
    fn cross_namespace_affinity_is_a_term_naming_namespaces() {
        let scoped = quota(json!({"hard": {"pods": "1"}, "scopes": ["CrossNamespacePodAffinity"]}));
        let crossing = pod(
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "namespaceSelector": {}}]}}}),
        );
        let local = pod(
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname"}]}}}),
        );
        assert!(applies(&scoped, "", "pods", &crossing));
        assert!(!applies(&scoped, "", "pods", &local));
    }

    fn messages(spec: Value) -> Vec<String> {
        let mut causes = Vec::new();
        validate(&quota(spec), &mut causes);
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn validation_refuses_what_upstream_refuses() {
        assert!(
            messages(
                json!({"hard": {"pods": "1", "count/configmaps": "1"}, "scopes": ["BestEffort"]})
            )
            .is_empty()
        );
        let wrong_resource =
            messages(json!({"hard": {"requests.cpu": "1"}, "scopes": ["BestEffort"]}));
        assert_eq!(wrong_resource.len(), 1, "{wrong_resource:?}");
        assert!(
            wrong_resource[0].starts_with("spec.scopes: "),
            "{wrong_resource:?}"
        );
        assert!(wrong_resource[0].ends_with("unsupported scope applied to resource"));
        let conflict =
            messages(json!({"hard": {"pods": "1"}, "scopes": ["Terminating", "NotTerminating"]}));
        assert!(
            conflict.iter().any(|m| m.ends_with("conflicting scopes")),
            "{conflict:?}"
        );
        assert!(
            messages(json!({"hard": {"pods": "1"}, "scopes": ["Sometimes"]}))
                .iter()
                .any(|m| m.ends_with("unsupported scope"))
        );
        let empty_in = messages(
            json!({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In"}]}}),
        );
        assert!(
            empty_in[0].starts_with("spec.scopeSelector.matchExpressions.values"),
            "{empty_in:?}"
        );
        let not_exists = messages(
            json!({"hard": {"pods": "1"}, "scopeSelector": {"matchExpressions": [
            {"scopeName": "BestEffort", "operator": "DoesNotExist"}]}}),
        );
        assert!(not_exists[0].contains("must be 'Exist'"), "{not_exists:?}");
    }
}
