//! The `scale` subresource (autoscaling/v1 Scale) of deployments, replicasets, statefulsets,
//! replication controllers and custom resources whose definition has one (at the paths it
//! names): `kubectl scale` reads and patches it.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Cause};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::patch::{self, PatchType};
use crate::resources::ResourceType;
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

/// Where a resource keeps its replicas: a built-in workload's spec and status, or the paths
/// of a custom resource's definition.
struct Paths<'a> {
    spec_replicas: &'a str,
    status_replicas: &'a str,
    /// None: the workload's `spec.selector`.
    label_selector: Option<&'a str>,
    /// What a missing `spec.replicas` means (1 for built-in workloads, 0 for custom ones).
    default_replicas: i64,
}

fn paths(resource: &ResourceType) -> Paths<'_> {
    match resource.custom.as_ref().and_then(|c| c.scale.as_ref()) {
        Some(scale) => Paths {
            spec_replicas: &scale.spec_replicas,
            status_replicas: &scale.status_replicas,
            label_selector: Some(scale.label_selector.as_deref().unwrap_or_default()),
            default_replicas: 0,
        },
        None => Paths {
            spec_replicas: "/spec/replicas",
            status_replicas: "/status/replicas",
            label_selector: None,
            default_replicas: 1,
        },
    }
}

fn scale_of(resource: &ResourceType, object: &Value) -> Value {
    let paths = paths(resource);
    let selector = match paths.label_selector {
        None => selector_text(object),
        Some("") => String::new(),
        Some(path) => object
            .at(path)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
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
        "spec": {"replicas": object.at(paths.spec_replicas).cloned().unwrap_or(json!(paths.default_replicas))},
        "status": {
            "replicas": object.at(paths.status_replicas).cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

async fn current(call: &Call) -> ApiResult<Value> {
    let (object, _) = call
        .server
        .storage
        .get(&object_key(call), Freshness::Latest)
        .await?;
    let mut object = object.ok_or_else(|| not_found(call))?;
    call.target.resource.present(&mut object);
    Ok(object)
}

pub async fn get(call: Call) -> ApiResult<Response> {
    let object = current(&call).await?;
    let scale = scale_of(&call.target.resource, &object);
    Ok(respond::json(StatusCode::OK, &scale, &[]))
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
    set_at(
        &mut updated,
        paths(&call.target.resource).spec_replicas,
        json!(replicas),
    );
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
    let scale = scale_of(&main_call.target.resource, &stored);
    Ok(respond::json(StatusCode::OK, &scale, &warnings))
}

/// Sets the value at a JSON pointer, making the objects on the way.
fn set_at(object: &mut Value, pointer: &str, value: Value) {
    let mut place = object;
    for part in pointer.split('/').skip(1) {
        if !place.is_object() {
            *place = json!({});
        }
        place = &mut place[part];
    }
    *place = value;
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
    let current_scale = scale_of(&call.target.resource, &object);
    let mut scale = patch::apply(&current_scale, &patch_body, patch_type, "Scale", false)?;
    // The patch is applied to the version just read; a race is retried by the client.
    if patch_body.at("/metadata/resourceVersion").is_none()
        && let Some(version) = objects::resource_version(&object)
    {
        objects::metadata_mut(&mut scale).insert("resourceVersion".into(), json!(version));
    }
    write_scale(call, object, scale).await
}
