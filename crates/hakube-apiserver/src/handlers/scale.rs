//! The `scale` subresource (autoscaling/v1 Scale) of deployments, replicasets, statefulsets
//! and replication controllers: `kubectl scale` reads and patches it.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Cause};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::patch::{self, PatchType};
use crate::storage::Freshness;
use crate::{body, objects, respond};

/// The label selector of a workload as a selector string (`app=web,tier in (a)`).
fn selector_text(object: &Value) -> String {
    let selector = object.at("/spec/selector");
    let mut parts = Vec::new();
    let labels = selector
        .and_then(|s| {
            s.get("matchLabels")
                .or(if s.get("matchExpressions").is_none() {
                    Some(s)
                } else {
                    None
                })
        })
        .and_then(Value::as_object);
    for (key, value) in labels.into_iter().flatten() {
        parts.push(format!("{key}={}", value.as_str().unwrap_or_default()));
    }
    for expression in selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap_or_default();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match expression["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "DoesNotExist" => format!("!{key}"),
            _ => key.to_string(),
        });
    }
    parts.join(",")
}

fn scale_of(object: &Value) -> Value {
    let metadata = objects::metadata(object).cloned().unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
            "creationTimestamp": metadata.get("creationTimestamp"),
        },
        "spec": {"replicas": object.at("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": object.at("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_text(object),
        },
    })
}

async fn current(call: &Call) -> ApiResult<Value> {
    let (object, _) = call
        .server
        .storage
        .get(&object_key(call), Freshness::Latest)
        .await?;
    object.ok_or_else(|| not_found(call))
}

pub async fn get(call: Call) -> ApiResult<Response> {
    let object = current(&call).await?;
    Ok(respond::json(StatusCode::OK, &scale_of(&object), &[]))
}

/// Writes the replicas of `scale` into the workload.
async fn write_scale(call: Call, object: Value, scale: Value) -> ApiResult<Response> {
    let replicas = scale
        .at("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::Invalid {
            subject: crate::error::Subject {
                group: "autoscaling".into(),
                plural: "scale".into(),
                kind: "Scale".into(),
                name: call.target.name.clone().unwrap_or_default(),
            },
            causes: vec![Cause::invalid(
                "spec.replicas",
                replicas,
                "must be greater than or equal to 0",
            )],
        });
    }
    let mut updated = object.clone();
    updated["spec"]["replicas"] = json!(replicas);
    if let Some(version) = objects::resource_version(&scale) {
        objects::metadata_mut(&mut updated).insert("resourceVersion".into(), json!(version));
    }
    let mut main_call = call;
    main_call.target.subresource = None;
    let (stored, warnings) = crate::handlers::update::replace(
        &main_call,
        &object,
        updated,
        crate::handlers::update::Ownership::Update,
    )
    .await?;
    Ok(respond::json(StatusCode::OK, &scale_of(&stored), &warnings))
}

pub async fn update(call: Call, request_body: Body) -> ApiResult<Response> {
    let bytes = body::read(request_body).await?;
    let scale = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let object = current(&call).await?;
    write_scale(call, object, scale).await
}

pub async fn patch(call: Call, request_body: Body) -> ApiResult<Response> {
    let patch_type = PatchType::from_media_type(&body::content_type(&call.headers))?;
    let bytes = body::read(request_body).await?;
    let patch_body = patch::parse(&bytes, patch_type)?;
    let object = current(&call).await?;
    let mut scale = patch::apply(&scale_of(&object), &patch_body, patch_type, "Scale", false)?;
    // The patch is applied to the version just read; a race is retried by the client.
    if patch_body.at("/metadata/resourceVersion").is_none()
        && let Some(version) = objects::resource_version(&object)
    {
        objects::metadata_mut(&mut scale).insert("resourceVersion".into(), json!(version));
    }
    write_scale(call, object, scale).await
}
