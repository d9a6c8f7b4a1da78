//! ResourceQuota: what an object costs ([`usage`]), whether a namespace's quotas allow it
//! ([`charge`]: the quotas with their `status.used` raised, or upstream's "exceeded quota"
//! Forbidden), and a namespace's true usage ([`recount`], for the quota controller that keeps
//! `status.used` right after deletes). A quota with scopes counts only the pods its scopes
//! take in ([`crate::admission::quota_scopes`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::admission::quota_scopes::applies;
use crate::error::ApiError;
use crate::objects::At as _;
use crate::quantity::{Format, Quantity};
use crate::tree::Json;

pub type Usage = BTreeMap<String, Quantity>;

fn count(value: i128) -> Quantity {
    Quantity::from_milli(value * 1000, Format::DecimalSI)
}

/// The object-count names upstream tracks for core kinds (`pods`, `services`, …).
fn legacy_count_name(group: &str, plural: &str) -> Option<&'static str> {
    match (group, plural) {
        ("", "pods") => Some("pods"),
        ("", "services") => Some("services"),
        ("", "configmaps") => Some("configmaps"),
        ("", "secrets") => Some("secrets"),
        ("", "persistentvolumeclaims") => Some("persistentvolumeclaims"),
        ("", "replicationcontrollers") => Some("replicationcontrollers"),
        ("", "resourcequotas") => Some("resourcequotas"),
        _ => None,
    }
}

fn is_terminal_pod<J: Json>(pod: &J) -> bool {
    matches!(
        pod.at("/status/phase").and_then(J::as_str),
        Some("Succeeded" | "Failed")
    )
}

/// A container's request (falling back to its limit, as defaulting does) or limit.
fn container_amount<J: Json>(container: &J, field: &str, resource: &str) -> Option<Quantity> {
    let read = |f: &str| {
        container
            .at(&format!("/resources/{f}/{resource}"))
            .and_then(crate::quantity::from_json)
    };
    match field {
        "requests" => read("requests").or_else(|| read("limits")),
        _ => read("limits"),
    }
}

/// A pod's effective amount: the larger of its containers' sum and its largest init container.
fn pod_amount<J: Json>(pod: &J, field: &str, resource: &str) -> Option<Quantity> {
    let list = |name: &str| {
        pod.at(&format!("/spec/{name}"))
            .and_then(J::as_array)
            .unwrap_or_default()
    };
    let mut sum: Option<Quantity> = None;
    for container in list("containers") {
        if let Some(amount) = container_amount(container, field, resource) {
            sum = Some(sum.map_or(amount, |s| s.add(amount)));
        }
    }
    let init = list("initContainers")
        .iter()
        .filter_map(|c| container_amount(c, field, resource))
        .max_by_key(Quantity::milli);
    match (sum, init) {
        (Some(sum), Some(init)) => Some(if init.milli() > sum.milli() {
            init
        } else {
            sum
        }),
        (sum, init) => sum.or(init),
    }
}

/// What one object counts against quotas.
pub fn usage<J: Json>(group: &str, plural: &str, object: &J) -> Usage {
    let mut usage = Usage::new();
    let terminal = plural == "pods" && group.is_empty() && is_terminal_pod(object);
    if terminal {
        return usage;
    }
    let counted = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    usage.insert(format!("count/{counted}"), count(1));
    if let Some(name) = legacy_count_name(group, plural) {
        usage.insert(name.into(), count(1));
    }
    match (group, plural) {
        ("", "pods") => {
            for (field, resource) in [
                ("requests", "cpu"),
                ("requests", "memory"),
                ("limits", "cpu"),
                ("limits", "memory"),
                ("requests", "ephemeral-storage"),
                ("limits", "ephemeral-storage"),
            ] {
                if let Some(amount) = pod_amount(object, field, resource) {
                    usage.insert(format!("{field}.{resource}"), amount);
                    if field == "requests" {
                        usage.insert(resource.into(), amount);
                    }
                }
            }
        }
        ("", "services") => {
            let kind = object
                .at("/spec/type")
                .and_then(J::as_str)
                .unwrap_or("ClusterIP");
            let ports = object
                .at("/spec/ports")
                .and_then(J::as_array)
                .map_or(0, <[J]>::len) as i128;
            if kind == "NodePort" || kind == "LoadBalancer" {
                usage.insert("services.nodeports".into(), count(ports));
            }
            if kind == "LoadBalancer" {
                usage.insert("services.loadbalancers".into(), count(1));
            }
        }
        ("", "persistentvolumeclaims") => {
            if let Some(storage) = object
                .at("/spec/resources/requests/storage")
                .and_then(crate::quantity::from_json)
            {
                usage.insert("requests.storage".into(), storage);
            }
        }
        _ => {}
    }
    usage
}

fn quantities<J: Json>(map: Option<&J>) -> BTreeMap<String, Quantity> {
    map.and_then(J::members)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| crate::quantity::from_json(v).map(|q| (k.to_string(), q)))
        .collect()
}

fn render(usage: &BTreeMap<String, Quantity>) -> Value {
    Value::Object(
        usage
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.to_canonical_string())))
            .collect::<Map<_, _>>(),
    )
}

fn list(entries: &[(String, Quantity)]) -> String {
    entries
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The pod resources a quota tracks that a pod must declare.
fn missing_declarations(
    quota_hard: &BTreeMap<String, Quantity>,
    group: &str,
    plural: &str,
    object: &Value,
) -> Vec<String> {
    if !(group.is_empty() && plural == "pods") {
        return Vec::new();
    }
    let mut missing = Vec::new();
    for tracked in [
        "requests.cpu",
        "requests.memory",
        "limits.cpu",
        "limits.memory",
        "cpu",
        "memory",
    ] {
        if !quota_hard.contains_key(tracked) {
            continue;
        }
        let (field, resource) = tracked.split_once('.').unwrap_or(("requests", tracked));
        let containers = object
            .at("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let undeclared: Vec<String> = containers
            .iter()
            .filter(|c| container_amount(*c, field, resource).is_none())
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect();
        if !undeclared.is_empty() {
            missing.push(format!(
                "must specify {tracked} for: {}",
                undeclared.join(",")
            ));
        }
    }
    missing
}

/// Charges `cost` to `quota`: the quota with `status.used` raised, or the Forbidden answer.
pub fn charge(
    quota: &Value,
    cost: &Usage,
    group: &str,
    plural: &str,
    object: &Value,
    object_name: &str,
) -> Result<Value, ApiError> {
    let quota_name = crate::objects::name(quota).unwrap_or_default();
    let hard = quantities(quota.at("/spec/hard"));
    let forbidden = |why: String| {
        ApiError::Forbidden(format!("{plural} \"{object_name}\" is forbidden: {why}"))
    };
    let missing = missing_declarations(&hard, group, plural, object);
    if !missing.is_empty() {
        return Err(forbidden(format!(
            "failed quota: {quota_name}: {}",
            missing.join("; ")
        )));
    }
    let mut used = quantities(quota.at("/status/used"));
    let (mut requested, mut used_before, mut limited) = (Vec::new(), Vec::new(), Vec::new());
    for (resource, limit) in &hard {
        let Some(amount) = cost.get(resource) else {
            continue;
        };
        let before = used.get(resource).copied().unwrap_or_default();
        let after = before.add(*amount);
        if after.milli() > limit.milli() {
            requested.push((resource.clone(), *amount));
            used_before.push((resource.clone(), before));
            limited.push((resource.clone(), *limit));
        }
        used.insert(resource.clone(), after);
    }
    if !requested.is_empty() {
        return Err(forbidden(format!(
            "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
            list(&requested),
            list(&used_before),
            list(&limited)
        )));
    }
    let mut charged = quota.clone();
    charged["status"]["hard"] = render(&hard);
    charged["status"]["used"] = render(&used);
    Ok(charged)
}

/// Whether a quota tracks anything `cost` has and its scopes take in the object (else it
/// need not change).
pub fn tracks(quota: &Value, cost: &Usage, group: &str, plural: &str, object: &Value) -> bool {
    quota
        .at("/spec/hard")
        .and_then(Value::as_object)
        .is_some_and(|hard| hard.keys().any(|k| cost.contains_key(k)))
        && applies(quota, group, plural, object)
}

/// A quota's status for the objects of its namespace: `(group, plural, object)` triples.
pub fn recount<'a, J: Json + 'a>(
    quota: &J,
    objects: impl Iterator<Item = (&'a str, &'a str, &'a J)>,
) -> Value {
    let hard = quantities(quota.at("/spec/hard"));
    let mut used: BTreeMap<String, Quantity> = hard
        .keys()
        .map(|k| (k.clone(), Quantity::default()))
        .collect();
    for (group, plural, object) in objects.filter(|(g, p, o)| applies(quota, g, p, o)) {
        for (resource, amount) in usage(group, plural, object) {
            if let Some(total) = used.get_mut(&resource) {
                *total = total.add(amount);
            }
        }
    }
    json!({"hard": render(&hard), "used": render(&used)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(cpu: &str) -> Value {
        json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":cpu}}}]}})
    }

    #[test]
    fn pods_count_and_their_requests_add_up() {
        let cost = usage("", "pods", &pod("250m"));
        assert_eq!(cost["pods"], count(1));
        assert_eq!(cost["requests.cpu"].to_canonical_string(), "250m");
        assert_eq!(cost["count/pods"], count(1));
    }

    #[test]
    fn a_quota_refuses_what_exceeds_it_with_upstreams_words() {
        let quota = json!({"metadata":{"name":"q"},"spec":{"hard":{"pods":"1","requests.cpu":"1"}},"status":{"used":{"pods":"1","requests.cpu":"500m"}}});
        let error = charge(
            &quota,
            &usage("", "pods", &pod("250m")),
            "",
            "pods",
            &pod("250m"),
            "p",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "pods \"p\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"
        );
        let roomy =
            json!({"metadata":{"name":"q"},"spec":{"hard":{"pods":"2","requests.cpu":"1"}}});
        let charged = charge(
            &roomy,
            &usage("", "pods", &pod("250m")),
            "",
            "pods",
            &pod("250m"),
            "p",
        )
        .unwrap();
        assert_eq!(
            charged["status"]["used"],
            json!({"pods":"1","requests.cpu":"250m"})
        );
        let undeclared =
            json!({"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i"}]}});
        let error = charge(
            &roomy,
            &usage("", "pods", &undeclared),
            "",
            "pods",
            &undeclared,
            "p",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("failed quota: q: must specify requests.cpu for: c"),
            "{error}"
        );
    }

    #[test]
    fn recount_sums_the_namespace() {
        let quota = json!({"spec":{"hard":{"pods":"10","configmaps":"5"}}});
        let a = pod("1");
        let cm = json!({"metadata":{"name":"x"}});
        let status = recount(
            &quota,
            [
                ("", "pods", &a),
                ("", "configmaps", &cm),
                ("", "configmaps", &cm),
            ]
            .into_iter(),
        );
        assert_eq!(status["used"], json!({"configmaps":"2","pods":"1"}));
        let best_effort = json!({"spec":{"hard":{"pods":"10"},"scopes":["BestEffort"]}});
        let plain = json!({"spec":{"containers":[{"name":"c","image":"i"}]}});
        let status = recount(
            &best_effort,
            [("", "pods", &a), ("", "pods", &plain), ("", "pods", &plain)].into_iter(),
        );
        assert_eq!(status["used"], json!({"pods":"2"}));
    }
}
