//! PUT of an object (or its status): replaces the stored object if the client's
//! resourceVersion still matches (409 Conflict otherwise).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use hakube_store::Condition;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::storage::Freshness;
use crate::{body, objects, write};

pub async fn update(call: Call, request_body: Body) -> ApiResult<Response> {
    let bytes = body::read(request_body).await?;
    let object = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let url_name = call.target.name.clone().unwrap_or_default();
    match objects::name(&object) {
        Some(name) if name != url_name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({url_name})"
            )));
        }
        _ => {}
    }
    let (current, _) = call
        .server
        .storage
        .get(&object_key(&call), Freshness::Latest)
        .await?;
    let current = current.ok_or_else(|| not_found(&call))?;
    let (stored, warnings) = replace(&call, &current, object, Ownership::Update).await?;
    Ok(crate::handlers::written(
        &call.target.resource,
        StatusCode::OK,
        stored,
        &warnings,
    ))
}

/// Writes `new` over `current` (both whole objects), conditioned on the resourceVersion the
/// client sent (or on `current`'s when it sent none). Used by update, patch and scale.
/// Who owns the fields a write changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// The request's field manager takes what it changed (update, patch, scale).
    Update,
    /// The caller already recorded ownership (server-side apply).
    Recorded,
}

/// The request's field manager: `fieldManager`, else the client's name from its User-Agent
/// (`kubectl/v1.33.1 …` → `kubectl`), as upstream does.
pub fn field_manager(call: &Call) -> String {
    if let Some(manager) = call.query.get("fieldManager").filter(|m| !m.is_empty()) {
        return manager.to_string();
    }
    call.headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|agent| agent.split('/').next())
        .filter(|name| !name.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

/// Equal but for the resourceVersion and the times in managedFields.
fn unchanged(current: &Value, new: &Value) -> bool {
    let strip = |object: &Value| {
        let mut object = object.clone();
        let metadata = objects::metadata_mut(&mut object);
        metadata.remove("resourceVersion");
        if let Some(entries) = metadata
            .get_mut("managedFields")
            .and_then(Value::as_array_mut)
        {
            for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
                entry.remove("time");
            }
        }
        object
    };
    strip(current) == strip(new)
}

pub async fn replace(
    call: &Call,
    current: &Value,
    mut new: Value,
    ownership: Ownership,
) -> ApiResult<(Value, Vec<String>)> {
    let resource = &call.target.resource;
    // A custom object read through another version (patch, scale) is compared and replaced
    // as it is stored: the new one is stored under the storage version too.
    let stored_form;
    let current = match &resource.custom {
        Some(_) => {
            let mut copy = current.clone();
            resource.to_storage(&mut copy);
            stored_form = copy;
            &stored_form
        }
        None => current,
    };
    let name = call.target.name.clone().unwrap_or_default();
    let conflict = || {
        ApiError::Conflict {
        subject: resource.subject(&name),
        message: "the object has been modified; please apply your changes to the latest version and try again".into(),
    }
    };
    let current_version = objects::resource_version(current)
        .unwrap_or("0")
        .to_string();
    let expected = objects::resource_version(&new)
        .unwrap_or(&current_version)
        .to_string();
    if expected != current_version {
        return Err(conflict());
    }
    let uid = objects::text(&new, &["metadata", "uid"]).map(str::to_string);
    if let Some(uid) =
        uid.filter(|uid| Some(uid.as_str()) != objects::text(current, &["metadata", "uid"]))
    {
        return Err(ApiError::Conflict {
            subject: resource.subject(&name),
            message: format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                objects::text(current, &["metadata", "uid"]).unwrap_or("")
            ),
        });
    }
    let warnings = write::prepare_update(
        resource,
        current,
        &mut new,
        call.target.subresource.as_deref(),
        &call.query,
    )?;
    if ownership == Ownership::Update {
        let manager = field_manager(call);
        crate::managed_fields::record_update(
            Some(current),
            &mut new,
            &manager,
            &resource.api_version(),
            call.target.subresource.as_deref(),
        );
    }
    // A write that changes nothing keeps the version and wakes no watcher, as upstream.
    if unchanged(current, &new) {
        return Ok((current.clone(), warnings));
    }
    if call.query.dry_run()? {
        return Ok((new, warnings));
    }
    let revision: u64 = current_version.parse().unwrap_or(0);
    let key = object_key(call);
    // An object being deleted whose last finalizer was just removed goes away now.
    if crate::handlers::delete::finalized(&new) {
        return match call
            .server
            .storage
            .delete(&key, Condition::ModRevision(revision))
            .await?
        {
            Ok(_) => Ok((new, warnings)),
            Err(Some(_)) => Err(conflict()),
            Err(None) => Err(not_found(call)),
        };
    }
    match call
        .server
        .storage
        .put(&key, &new, Condition::ModRevision(revision))
        .await?
    {
        Ok(stored) => Ok((stored, warnings)),
        Err(Some(_)) => Err(conflict()),
        Err(None) => Err(not_found(call)),
    }
}
