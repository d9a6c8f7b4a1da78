//! PATCH of an object (or its status): read, apply the patch, write conditioned on the
//! version read; a concurrent change makes it re-read and re-apply (like upstream, a patch
//! without a resourceVersion never fails with a conflict). Server-side apply creates the
//! object when it does not exist.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::patch::{self, PatchType};
use crate::storage::Freshness;
use crate::{body, objects, respond};

/// How often a patch is re-applied after losing a race with another write.
const MAX_ATTEMPTS: usize = 8;

pub async fn patch(call: Call, request_body: Body) -> ApiResult<Response> {
    let patch_type = PatchType::from_media_type(&body::content_type(&call.headers))?;
    let bytes = body::read(request_body).await?;
    let patch_body = patch::parse(&bytes, patch_type)?;
    let resource = call.target.resource.clone();
    let custom = !hakube_kinds::is_typed(&resource.group, &resource.kind);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (current, _) = call
            .server
            .storage
            .get(&object_key(&call), Freshness::Latest)
            .await?;
        let Some(current) = current else {
            if patch_type == PatchType::Apply && call.target.subresource.is_none() {
                return create_by_apply(call, patch_body).await;
            }
            return Err(not_found(&call));
        };
        let mut patched = patch::apply(&current, &patch_body, patch_type, &resource.kind, custom)
            .map_err(|error| name_subject(error, &call))?;
        if patch_type == PatchType::Apply {
            record_manager(&mut patched, &call, "Apply");
        }
        // The precondition is what the patch itself says, else the version just read.
        let pinned = patch_body
            .pointer("/metadata/resourceVersion")
            .is_some_and(|v| !v.is_null());
        if !pinned && let Some(version) = objects::resource_version(&current).map(str::to_string) {
            objects::metadata_mut(&mut patched).insert("resourceVersion".into(), json!(version));
        }
        match crate::handlers::update::replace(&call, &current, patched).await {
            Err(ApiError::Conflict { .. }) if !pinned && attempt < MAX_ATTEMPTS => continue,
            Err(error) => return Err(error),
            Ok((stored, warnings)) => return Ok(respond::json(StatusCode::OK, &stored, &warnings)),
        }
    }
}

fn name_subject(error: ApiError, call: &Call) -> ApiError {
    match error {
        ApiError::Invalid { causes, .. } => ApiError::Invalid {
            subject: call
                .target
                .resource
                .subject(call.target.name.as_deref().unwrap_or_default()),
            causes,
        },
        other => other,
    }
}

async fn create_by_apply(call: Call, mut object: Value) -> ApiResult<Response> {
    let resource = call.target.resource.clone();
    let url_name = call.target.name.clone().unwrap_or_default();
    match objects::name(&object) {
        Some(name) if name != url_name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({url_name})"
            )));
        }
        _ => {
            objects::metadata_mut(&mut object).insert("name".into(), json!(url_name));
        }
    }
    record_manager(&mut object, &call, "Apply");
    let warnings = crate::write::prepare_create(
        &call.server,
        &resource,
        call.target.namespace.as_deref(),
        &mut object,
        &call.query,
    )
    .await?;
    if call.query.dry_run()? {
        return Ok(respond::json(StatusCode::CREATED, &object, &warnings));
    }
    crate::admission::mutate_create(&call.server, &resource, &mut object).await?;
    match crate::handlers::create::store_new(&call.server, &resource, object).await {
        Ok(stored) => Ok(respond::json(StatusCode::CREATED, &stored, &warnings)),
        Err(ApiError::AlreadyExists(_)) => Err(ApiError::Conflict {
            subject: resource.subject(&url_name),
            message: "the object was created concurrently; apply again".into(),
        }),
        Err(error) => Err(error),
    }
}

/// Records the field manager of a write in `metadata.managedFields` (one entry per manager
/// and operation, with the time of its last write).
fn record_manager(object: &mut Value, call: &Call, operation: &str) {
    let manager = call
        .query
        .get("fieldManager")
        .unwrap_or("unknown")
        .to_string();
    let api_version = call.target.resource.api_version();
    let metadata = objects::metadata_mut(object);
    let mut entries: Vec<Value> = metadata
        .get("managedFields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    entries.retain(|e| !(e["manager"] == json!(manager) && e["operation"] == json!(operation)));
    entries.push(
        json!({"manager": manager, "operation": operation, "apiVersion": api_version,
        "time": objects::now_rfc3339(), "fieldsType": "FieldsV1", "fieldsV1": {}}),
    );
    metadata.insert("managedFields".into(), json!(entries));
}
