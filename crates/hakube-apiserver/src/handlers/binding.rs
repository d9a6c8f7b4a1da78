//! `pods/<name>/binding`: the scheduler assigns a pod to a node, once.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use hakube_store::Condition;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::eviction::success;
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::storage::Freshness;
use crate::{body, objects};

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
