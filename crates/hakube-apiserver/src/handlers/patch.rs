//! PATCH of an object (or its status): read, apply the patch, write conditioned on the
//! version read; a concurrent change makes it re-read and re-apply (like upstream, a patch
//! without a resourceVersion never fails with a conflict). Server-side apply
//! (`application/apply-patch+yaml`) goes through field ownership ([`crate::managed_fields`]):
//! it creates the object when absent, and refuses with 409 to change fields another manager
//! owns unless `force=true`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::handlers::get::{not_found, object_key};
use crate::handlers::update::{Ownership, field_manager};
use crate::handlers::{Call, written};
use crate::managed_fields::{self, Conflict};
use crate::objects::At as _;
use crate::patch::{self, PatchType};
use crate::storage::Freshness;
use crate::{body, objects};

/// How often a patch is re-applied after losing a race with another write.
const MAX_ATTEMPTS: usize = 8;

pub async fn patch(call: Call, request_body: Body) -> ApiResult<Response> {
    let patch_type = PatchType::from_media_type(&body::content_type(&call.headers))?;
    let bytes = body::read(request_body).await?;
    let patch_body = patch::parse(&bytes, patch_type)?;
    let resource = call.target.resource.clone();
    let custom = !hakube_kinds::is_typed(&resource.group, &resource.kind);
    if patch_type == PatchType::Apply && call.query.get("fieldManager").is_none_or(str::is_empty) {
        return Err(ApiError::BadRequest(
            "PATCH, application/apply-patch+yaml requests require a fieldManager".into(),
        ));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (current, _) = call
            .server
            .storage
            .get(&object_key(&call), Freshness::Latest)
            .await?;
        let Some(mut current) = current else {
            if patch_type == PatchType::Apply && call.target.subresource.is_none() {
                return create_by_apply(call, patch_body).await;
            }
            return Err(not_found(&call));
        };
        // Patched as the request's version sees it (a custom object's apiVersion).
        resource.present(&mut current);
        let (mut patched, ownership) = if patch_type == PatchType::Apply {
            (
                apply(&call, Some(&current), &patch_body)?,
                Ownership::Recorded,
            )
        } else {
            let patched = patch::apply(&current, &patch_body, patch_type, &resource.kind, custom)
                .map_err(|error| name_subject(error, &call))?;
            (patched, Ownership::Update)
        };
        // The precondition is what the patch itself says, else the version just read.
        let pinned = patch_body
            .at("/metadata/resourceVersion")
            .is_some_and(|v| !v.is_null());
        if !pinned && let Some(version) = objects::resource_version(&current).map(str::to_string) {
            objects::metadata_mut(&mut patched).insert("resourceVersion".into(), json!(version));
        }
        match crate::handlers::update::replace(&call, &current, patched, ownership).await {
            Err(ApiError::Conflict { .. }) if !pinned && attempt < MAX_ATTEMPTS => continue,
            Err(error) => return Err(error),
            Ok((stored, warnings)) => {
                return Ok(written(&resource, StatusCode::OK, stored, &warnings));
            }
        }
    }
}

/// Server-side apply of `config` onto `current` (None: a create).
fn apply(call: &Call, current: Option<&Value>, config: &Value) -> ApiResult<Value> {
    let resource = &call.target.resource;
    let manager = field_manager(call);
    let mut force = call.query.flag("force");
    if let Some(current) = current
        && !force
    {
        let conflicts = managed_fields::conflicts(current, config, &manager);
        let remaining: Vec<Conflict> = conflicts
            .iter()
            .filter(|c| !migrating_from_client_side(current, c))
            .cloned()
            .collect();
        if !remaining.is_empty() {
            return Err(conflict_error(&remaining));
        }
        // Only client-side apply's own fields: the applier takes them over, as upstream does.
        force = !conflicts.is_empty();
    }
    let merge = |object: &Value, config: &Value| {
        crate::strategic_merge::apply(object, config, &resource.kind).map_err(|e| e.to_string())
    };
    match managed_fields::apply(
        current,
        config,
        &manager,
        &resource.api_version(),
        force,
        merge,
    ) {
        Ok(object) => Ok(object),
        Err(Ok(conflicts)) => Err(conflict_error(&conflicts)),
        Err(Err(why)) => Err(ApiError::BadRequest(format!(
            "the applied configuration could not be merged: {why}"
        ))),
    }
}

/// Whether a conflict is with client-side apply over a field of its last-applied
/// configuration: the move from `kubectl apply` to `kubectl apply --server-side`, which
/// upstream lets the applier take over without `--force-conflicts`.
fn migrating_from_client_side(current: &Value, conflict: &Conflict) -> bool {
    const CLIENT_SIDE_APPLY: &str = "kubectl-client-side-apply";
    if conflict.manager != CLIENT_SIDE_APPLY {
        return false;
    }
    let Some(last_applied) = current
        .at("/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
    else {
        return false;
    };
    managed_fields::fields(&last_applied)
        .0
        .contains(&conflict.path)
}

/// Upstream's answer to an apply that would take fields from other managers.
fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|c| {
            format!(
                "conflict with \"{}\" using {}: {}",
                c.manager,
                c.api_version,
                managed_fields::describe(&c.path)
            )
        })
        .collect();
    let count = if conflicts.len() == 1 {
        "1 conflict".to_string()
    } else {
        format!("{} conflicts", conflicts.len())
    };
    ApiError::ApplyConflict {
        message: format!("Apply failed with {count}: {}", lines.join("\n")),
        causes: conflicts
            .iter()
            .map(|c| {
                (
                    managed_fields::describe(&c.path),
                    format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                )
            })
            .collect(),
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

async fn create_by_apply(call: Call, config: Value) -> ApiResult<Response> {
    let resource = call.target.resource.clone();
    let url_name = call.target.name.clone().unwrap_or_default();
    let mut config = config;
    match objects::name(&config) {
        Some(name) if name != url_name => {
            return Err(ApiError::BadRequest(format!(
                "the name of the object ({name}) does not match the name on the URL ({url_name})"
            )));
        }
        _ => {
            objects::metadata_mut(&mut config).insert("name".into(), json!(url_name));
        }
    }
    let mut object = apply(&call, None, &config)?;
    let warnings = crate::write::prepare_create(
        &call.server,
        &resource,
        call.target.namespace.as_deref(),
        &mut object,
        &call.query,
    )
    .await?;
    if call.query.dry_run()? {
        return Ok(written(&resource, StatusCode::CREATED, object, &warnings));
    }
    crate::admission::mutate_create(&call.server, &resource, &mut object).await?;
    match crate::handlers::create::store_new(&call.server, &resource, object).await {
        Ok(stored) => Ok(written(&resource, StatusCode::CREATED, stored, &warnings)),
        Err(ApiError::AlreadyExists(_)) => Err(ApiError::Conflict {
            subject: resource.subject(&url_name),
            message: "the object was created concurrently; apply again".into(),
        }),
        Err(error) => Err(error),
    }
}
