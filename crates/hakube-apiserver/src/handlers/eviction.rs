//! Pod subresources that act on a pod: `eviction` (drain's way to delete a pod, honouring its
//! PodDisruptionBudget: 429 with upstream's message while the budget allows no disruption)
//! and `binding` (the scheduler assigns a node).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use hakube_store::Condition;

use crate::admission::namespace_objects;
use crate::controllers::{Stored, disruption::is_ready};
use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::selectors::LabelSelector;
use crate::storage::{Freshness, Write};
use crate::{body, objects, respond};

/// How often an eviction is retried after its budget or pod changed under it.
const ATTEMPTS: usize = 5;

fn success(code: StatusCode) -> Response {
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

pub async fn evict(call: Call, request_body: Body) -> ApiResult<Response> {
    let bytes = body::read(request_body).await?;
    body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let namespace = call.target.namespace.clone().unwrap_or_default();
    let key = object_key(&call);
    for _ in 0..ATTEMPTS {
        let (pod, _) = call.server.storage.get(&key, Freshness::Latest).await?;
        let pod = pod.ok_or_else(|| not_found(&call))?;
        let revision: u64 = objects::resource_version(&pod)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let budgets: Vec<Stored> =
            namespace_objects(&call.server, "policy", "poddisruptionbudgets", &namespace)
                .await?
                .into_iter()
                .filter(|b| budget_matches(&b.object, &pod))
                .collect();
        let mut writes = vec![Write::Delete {
            key: key.clone(),
            condition: Condition::ModRevision(revision),
        }];
        match budgets.as_slice() {
            [] => {}
            [budget] => {
                if decide(&budget.object, &pod)? {
                    writes.push(Write::Put {
                        key: budget.key.clone(),
                        object: charged(&budget.object, &pod),
                        condition: Condition::ModRevision(budget.revision),
                    });
                }
            }
            _ => {
                return Err(ApiError::Internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(),
                ));
            }
        }
        if call.server.storage.transact(&writes).await?.is_some() {
            return Ok(success(StatusCode::CREATED));
        }
    }
    Err(ApiError::Conflict {
        subject: call
            .target
            .resource
            .subject(call.target.name.as_deref().unwrap_or_default()),
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

/// `pods/<name>/binding`: assigns the pod to a node, once.
pub async fn bind(call: Call, request_body: Body) -> ApiResult<Response> {
    let bytes = body::read(request_body).await?;
    let binding = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let node = binding
        .at("/target/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if node.is_empty() {
        return Err(ApiError::Invalid {
            subject: call
                .target
                .resource
                .subject(call.target.name.as_deref().unwrap_or_default()),
            causes: vec![crate::error::Cause::required("target.name")],
        });
    }
    let key = object_key(&call);
    let (pod, _) = call.server.storage.get(&key, Freshness::Latest).await?;
    let mut pod = pod.ok_or_else(|| not_found(&call))?;
    let name = call.target.name.clone().unwrap_or_default();
    if let Some(current) = pod
        .at("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::Conflict {
            subject: call.target.resource.subject(&name),
            message: format!("pod {name} is already assigned to node \"{current}\""),
        });
    }
    let revision: u64 = objects::resource_version(&pod)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pod["spec"]["nodeName"] = json!(node);
    match call.server.storage.put(&key, &pod, Condition::ModRevision(revision)).await? {
        Ok(_) => Ok(success(StatusCode::CREATED)),
        Err(_) => Err(ApiError::Conflict {
            subject: call.target.resource.subject(&name),
            message: "the object has been modified; please apply your changes to the latest version and try again".into(),
        }),
    }
}
