//! `pods/<name>/eviction`: drain's way to delete a pod, honouring its PodDisruptionBudget
//! (429 with upstream's message while the budget allows no disruption). As upstream's since
//! 1.26, a pod its node must stop first is not removed at once: it gets a DisruptionTarget
//! condition and a deletionTimestamp its grace period ahead (or the Eviction's
//! deleteOptions.gracePeriodSeconds), in one transaction with the budget's charge, and its
//! node agent stops it as for any graceful delete. The rest of the deleteOptions apply as to a
//! DELETE too (upstream passes them to the pod's deletion): a propagationPolicy of Orphan or
//! Foreground adds its finalizer in that same write.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use hakube_store::Condition;

use crate::admission::namespace_objects;
use crate::controllers::{disruption::is_ready, is_deleting};
use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::delete::{DeleteOptions, marked_for_deletion};
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::selectors::LabelSelector;
use crate::storage::{Freshness, Stored, Write};
use crate::{body, objects, respond};

/// How often an eviction is retried after its budget or pod changed under it.
const ATTEMPTS: usize = 5;

pub fn success(code: StatusCode) -> Response {
    respond::json(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code.as_u16()}),
        &[],
    )
}

fn too_many(cause: String) -> ApiError {
    ApiError::TooManyRequests {
        message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        causes: vec![("DisruptionBudget".into(), cause)],
    }
}

fn budget_matches(budget: &Value, pod: &Value) -> bool {
    budget
        .at("/spec/selector")
        .map(LabelSelector::from_label_selector_object)
        .and_then(Result::ok)
        .is_some_and(|s| !s.is_empty() && s.matches(&objects::labels(pod)))
}

/// What the budget says about evicting `pod`: `Ok(true)` charge a disruption, `Ok(false)`
/// evict without charging (an unhealthy pod the policy lets go), `Err` refuse.
fn decide(budget: &Value, pod: &Value) -> ApiResult<bool> {
    let name = objects::name(budget).unwrap_or_default();
    let status = budget.get("status").cloned().unwrap_or(json!({}));
    let generation = budget
        .at("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if status.get("observedGeneration").and_then(Value::as_i64) != Some(generation) {
        return Err(too_many(format!(
            "The disruption budget {name} is still being processed by the server."
        )));
    }
    let number = |field: &str| status.get(field).and_then(Value::as_i64).unwrap_or(0);
    let (healthy, desired, allowed) = (
        number("currentHealthy"),
        number("desiredHealthy"),
        number("disruptionsAllowed"),
    );
    if !is_ready(pod) {
        let policy = budget
            .at("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("IfHealthyBudget");
        if policy == "AlwaysAllow" || healthy >= desired {
            return Ok(false);
        }
    }
    if allowed <= 0 {
        return Err(too_many(format!(
            "The disruption budget {name} needs {desired} healthy pods and has {healthy} currently"
        )));
    }
    Ok(true)
}

/// Pods no budget protects (upstream's canIgnorePDB): finished, not started (Pending), or
/// already being deleted.
fn ignores_budgets(pod: &Value) -> bool {
    is_deleting(pod)
        || matches!(
            pod.at("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed" | "Pending")
        )
}

/// `pod` with upstream's DisruptionTarget condition, replacing one it had.
fn with_disruption_target(mut pod: Value) -> Value {
    let condition = json!({"type": "DisruptionTarget", "status": "True",
        "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting",
        "lastProbeTime": null, "lastTransitionTime": objects::now_rfc3339()});
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c.get("type") != Some(&json!("DisruptionTarget")));
        list.push(condition);
    }
    pod
}

/// What evicting `pod` (stored at `revision`) does to it: `None` when nothing changes (it is
/// already being deleted at least as soon), else the write that marks or removes it.
fn pod_write(key: &[u8], pod: &Value, revision: u64, options: &DeleteOptions) -> Option<Write> {
    let condition = Condition::ModRevision(revision);
    match marked_for_deletion(pod, options) {
        Some(marked) if marked == *pod => None,
        Some(marked) => Some(Write::Put {
            key: key.to_vec(),
            object: with_disruption_target(marked),
            condition,
        }),
        None => Some(Write::Delete {
            key: key.to_vec(),
            condition,
        }),
    }
}

/// The budget write that pays for evicting `pod`, or the refusal; `None` when no budget
/// covers it or the budget lets it go free.
async fn budget_write(call: &Call, namespace: &str, pod: &Value) -> ApiResult<Option<Write>> {
    if ignores_budgets(pod) {
        return Ok(None);
    }
    let budgets: Vec<Stored> =
        namespace_objects(&call.server, "policy", "poddisruptionbudgets", namespace)
            .await?
            .into_iter()
            .filter(|b| budget_matches(&b.object, pod))
            .collect();
    match budgets.as_slice() {
        [] => Ok(None),
        [budget] => Ok(decide(&budget.object, pod)?.then(|| Write::Put {
            key: budget.key.clone(),
            object: charged(&budget.object, pod),
            condition: Condition::ModRevision(budget.revision),
        })),
        _ => Err(ApiError::Internal(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
        )),
    }
}

pub async fn evict(call: Call, request_body: Body) -> ApiResult<Response> {
    let bytes = body::read(request_body).await?;
    let eviction = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let no_options = json!({});
    let options = DeleteOptions::of(&call, eviction.get("deleteOptions").unwrap_or(&no_options))?;
    let namespace = call.target.namespace.clone().unwrap_or_default();
    let key = object_key(&call);
    let subject = || {
        call.target
            .resource
            .subject(call.target.name.as_deref().unwrap_or_default())
    };
    for _ in 0..ATTEMPTS {
        let (pod, _) = call.server.storage.get(&key, Freshness::Latest).await?;
        let pod = pod.ok_or_else(|| not_found(&call))?;
        if let Some(message) = options.unmet_by(&pod) {
            return Err(ApiError::Conflict {
                subject: subject(),
                message,
            });
        }
        let revision: u64 = objects::resource_version(&pod)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let Some(pod_write) = pod_write(&key, &pod, revision, &options) else {
            return Ok(success(StatusCode::CREATED));
        };
        let mut writes = vec![pod_write];
        writes.extend(budget_write(&call, &namespace, &pod).await?);
        if options.dry_run || call.server.storage.transact(&writes).await?.is_some() {
            return Ok(success(StatusCode::CREATED));
        }
    }
    Err(ApiError::Conflict {
        subject: subject(),
        message: "the pod or its disruption budget kept changing; try again".into(),
    })
}

/// The budget with one disruption spent on `pod`.
fn charged(budget: &Value, pod: &Value) -> Value {
    let mut charged = budget.clone();
    let allowed = budget
        .at("/status/disruptionsAllowed")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    charged["status"]["disruptionsAllowed"] = json!((allowed - 1).max(0));
    let name = objects::name(pod).unwrap_or_default().to_string();
    if !charged["status"]["disruptedPods"].is_object() {
        charged["status"]["disruptedPods"] = json!({});
    }
    charged["status"]["disruptedPods"][name] = json!(objects::now_rfc3339());
    charged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
    use crate::request::Query;

    fn options(query: &str) -> DeleteOptions {
        DeleteOptions::parse(&Query::parse(Some(query)), &json!({})).expect("valid options")
    }

    fn running_pod() -> Value {
        json!({"kind": "Pod", "metadata": {"name": "w1", "resourceVersion": "7"},
            "spec": {"nodeName": "node2", "terminationGracePeriodSeconds": 20},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn a_running_pod_is_marked_with_a_disruption_target_not_removed() {
        let Some(Write::Put {
            object, condition, ..
        }) = pod_write(b"k", &running_pod(), 7, &options(""))
        else {
            panic!("a running pod must be marked, not deleted");
        };
        assert_eq!(condition, Condition::ModRevision(7));
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 20);
        let target = object["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "DisruptionTarget"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (&target["status"], &target["reason"]),
            (&json!("True"), &json!("EvictionByEvictionAPI"))
        );
        assert_eq!(
            object["status"]["conditions"][0]["type"], "Ready",
            "other conditions stay"
        );
    }

    #[test]
    fn grace_zero_or_an_unbound_pod_is_removed_at_once() {
        assert!(matches!(
            pod_write(b"k", &running_pod(), 7, &options("gracePeriodSeconds=0")),
            Some(Write::Delete { .. })
        ));
        let mut unbound = running_pod();
        unbound["spec"]["nodeName"] = json!("");
        assert!(matches!(
            pod_write(b"k", &unbound, 7, &options("")),
            Some(Write::Delete { .. })
        ));
    }

    #[test]
    fn a_pod_already_stopping_as_soon_is_left_alone_and_skips_budgets() {
        let Some(Write::Put { object: marked, .. }) =
            pod_write(b"k", &running_pod(), 7, &options(""))
        else {
            panic!("a running pod must be marked");
        };
        assert!(ignores_budgets(&marked));
        assert!(pod_write(b"k", &marked, 8, &options("gracePeriodSeconds=25")).is_none());
        assert!(
            pod_write(b"k", &marked, 8, &options("gracePeriodSeconds=5")).is_some(),
            "a shorter grace period brings the deadline forward"
        );
        assert!(!ignores_budgets(&running_pod()));
    }

    fn finalizers(object: &Value) -> Vec<&str> {
        object["metadata"]["finalizers"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_evictions_propagation_policy_adds_its_finalizer_to_the_graceful_mark() {
        let Some(Write::Put { object, .. }) = pod_write(
            b"k",
            &running_pod(),
            7,
            &options("propagationPolicy=Orphan"),
        ) else {
            panic!("a running pod must be marked, not deleted");
        };
        assert_eq!(finalizers(&object), [ORPHAN_FINALIZER]);
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 20);
        assert!(
            object["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "DisruptionTarget")),
            "still marked as a disruption target"
        );
    }

    #[test]
    fn an_unbound_pod_evicted_in_the_foreground_is_held_by_its_finalizer() {
        let mut unbound = running_pod();
        unbound["spec"]["nodeName"] = json!("");
        let Some(Write::Put { object, .. }) =
            pod_write(b"k", &unbound, 7, &options("propagationPolicy=Foreground"))
        else {
            panic!("the foreground finalizer must hold the pod, not let it be removed");
        };
        assert_eq!(finalizers(&object), [FOREGROUND_FINALIZER]);
        assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
    }
}
