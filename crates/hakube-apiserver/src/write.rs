//! The shared path of every write (create, update, patch, apply): type and namespace checks,
//! server-owned metadata, defaulting, strict decoding with `fieldValidation`, validation, and
//! admission, before the conditional write to the store.

mod defaults;
mod pod_failure_policy;
mod validation;

use serde_json::{Value, json};

use crate::ApiServer;
use crate::error::{ApiError, ApiResult, Cause};
use crate::objects::At as _;
use crate::objects::{self, metadata_mut};
use crate::request::Query;
use crate::resources::ResourceType;
use crate::storage::{self, Freshness};

pub use validation::validate;

/// `fieldValidation`: what to do with fields the kind does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    pub fn from_query(query: &Query) -> ApiResult<Self> {
        match query.get("fieldValidation") {
            // Upstream's default since 1.27.
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::BadRequest(format!(
                "fieldValidation must be one of Strict, Warn or Ignore, not {other:?}"
            ))),
        }
    }
}

/// Checks `apiVersion`/`kind` against the URL's type (filling them in when absent).
pub fn check_type_meta(resource: &ResourceType, object: &mut Value) -> ApiResult<()> {
    let expected_version = resource.api_version();
    match object.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => object["apiVersion"] = json!(expected_version),
        Some(version) if version == expected_version => {}
        Some(version) => {
            return Err(ApiError::BadRequest(format!(
                "the API version in the data ({version}) does not match the expected API version ({expected_version})"
            )));
        }
    }
    match object.get("kind").and_then(Value::as_str) {
        None | Some("") => object["kind"] = json!(resource.kind),
        Some(kind) if kind == resource.kind => {}
        Some(kind) => {
            return Err(ApiError::BadRequest(format!(
                "the kind in the data ({kind}) does not match the expected kind ({}) of {}",
                resource.kind, resource.plural
            )));
        }
    }
    Ok(())
}

/// Sets the object's namespace from the URL; a different one in the body is an error.
pub fn check_namespace(
    resource: &ResourceType,
    url_namespace: Option<&str>,
    object: &mut Value,
) -> ApiResult<()> {
    let in_body = objects::namespace(object).map(str::to_string);
    if !resource.namespaced {
        if in_body.is_some() {
            metadata_mut(object).remove("namespace");
        }
        return Ok(());
    }
    let Some(url_namespace) = url_namespace else {
        return Err(ApiError::BadRequest(format!(
            "{} are namespaced: create them under /namespaces/<namespace>/",
            resource.plural
        )));
    };
    match in_body {
        Some(namespace) if namespace != url_namespace => Err(ApiError::BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
                .into(),
        )),
        _ => {
            metadata_mut(object).insert("namespace".into(), json!(url_namespace));
            Ok(())
        }
    }
}

/// Decodes a built-in kind strictly and puts it in canonical form; returns the warnings
/// (unknown fields under `Warn`).
/// A custom resource: defaults and pruning from its definition's schema, then validation.
fn decode_custom(
    resource: &ResourceType,
    schema: &Value,
    object: &mut Value,
    mode: FieldValidation,
) -> ApiResult<Vec<String>> {
    let pruned = crate::crd_schema::default_and_prune(object, schema);
    let unknown: Vec<String> = pruned
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    if mode == FieldValidation::Strict && !unknown.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
            resource.kind,
            resource.version,
            resource.kind,
            unknown.join(", ")
        )));
    }
    let problems = crate::crd_schema::validate(object, schema);
    if !problems.is_empty() {
        return Err(ApiError::Invalid {
            subject: resource.subject(objects::name(object).unwrap_or_default()),
            causes: problems
                .into_iter()
                .map(|p| crate::error::Cause {
                    reason: p.reason,
                    field: p.field,
                    message: p.message,
                })
                .collect(),
        });
    }
    Ok(match mode {
        FieldValidation::Warn => unknown.iter().map(|w| crate::respond::warning(w)).collect(),
        _ => Vec::new(),
    })
}

pub fn decode_strictly(
    resource: &ResourceType,
    object: &mut Value,
    mode: FieldValidation,
) -> ApiResult<Vec<String>> {
    if let Some(schema) = resource.custom.as_ref().map(|c| &c.schema) {
        return decode_custom(resource, schema, object, mode);
    }
    let Some(outcome) = hakube_kinds::normalize(&resource.group, &resource.kind, object) else {
        return Ok(Vec::new());
    };
    let cannot_handle = |why: String| {
        ApiError::BadRequest(format!(
            "{} in version \"{}\" cannot be handled as a {}: {why}",
            resource.kind, resource.version, resource.kind
        ))
    };
    let normalized = outcome.map_err(|e| cannot_handle(e.to_string()))?;
    let unknown: Vec<String> = normalized
        .unknown_fields
        .iter()
        .map(|path| format!("unknown field \"{path}\""))
        .collect();
    *object = normalized.object;
    match mode {
        FieldValidation::Strict if !unknown.is_empty() => Err(cannot_handle(format!(
            "strict decoding error: {}",
            unknown.join(", ")
        ))),
        FieldValidation::Warn => Ok(unknown.iter().map(|w| crate::respond::warning(w)).collect()),
        _ => Ok(Vec::new()),
    }
}

/// NamespaceLifecycle: objects go only into namespaces that exist and are not terminating.
pub async fn admit_namespace(
    server: &ApiServer,
    resource: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> ApiResult<()> {
    let Some(namespace) = namespace.filter(|_| resource.namespaced) else {
        return Ok(());
    };
    let Some(namespaces) = server.registry.by_plural("", "v1", "namespaces") else {
        return Ok(());
    };
    let key = storage::key(&namespaces, None, namespace);
    // This replica may not have a namespace created a moment ago through another node:
    // confirm a miss with the leader before refusing.
    let (mut found, _) = server.storage.get(&key, Freshness::Any).await?;
    if found.is_none() {
        found = server.storage.get(&key, Freshness::Latest).await?.0;
    }
    let Some(found) = found else {
        return Err(ApiError::NotFound(namespaces.subject(namespace)));
    };
    if found
        .at("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Err(ApiError::Forbidden(format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
            resource.plural,
        )));
    }
    Ok(())
}

/// Everything a create does before the store write. Returns the warnings.
pub async fn prepare_create(
    server: &ApiServer,
    resource: &ResourceType,
    url_namespace: Option<&str>,
    object: &mut Value,
    query: &Query,
) -> ApiResult<Vec<String>> {
    check_type_meta(resource, object)?;
    check_namespace(resource, url_namespace, object)?;
    assign_name(resource, object)?;
    let warnings = decode_strictly(resource, object, FieldValidation::from_query(query)?)?;
    set_create_metadata(resource, object);
    defaults::apply(resource, object);
    if resource.group.is_empty() && resource.kind == "Pod" {
        defaults::scheduling_gated_condition(object);
    }
    validate(resource, object, None)?;
    if resource.kind == "CustomResourceDefinition" {
        accept_definition(resource, object)?;
    }
    resource.to_storage(object);
    let name = objects::name(object).unwrap_or_default().to_string();
    admit_namespace(server, resource, objects::namespace(object), &name).await?;
    Ok(warnings)
}

fn assign_name(resource: &ResourceType, object: &mut Value) -> ApiResult<()> {
    if objects::name(object).is_some() {
        return Ok(());
    }
    let base = objects::text(object, &["metadata", "generateName"])
        .unwrap_or("")
        .to_string();
    if base.is_empty() {
        return Err(ApiError::Invalid {
            subject: resource.subject(""),
            causes: vec![crate::error::Cause {
                reason: "FieldValueRequired",
                field: "metadata.name".into(),
                message: "Required value: name or generateName is required".into(),
            }],
        });
    }
    metadata_mut(object).insert("name".into(), json!(objects::generated_name(&base)));
    Ok(())
}

/// Server-owned metadata of a new object.
fn set_create_metadata(resource: &ResourceType, object: &mut Value) {
    let has_spec = object.get("spec").is_some();
    let metadata = metadata_mut(object);
    metadata.insert("uid".into(), json!(objects::new_uid()));
    metadata.insert("creationTimestamp".into(), json!(objects::now_rfc3339()));
    for field in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        metadata.remove(field);
    }
    if has_spec || resource.kind == "CustomResourceDefinition" {
        metadata.insert("generation".into(), json!(1));
    } else {
        metadata.remove("generation");
    }
    // A new object's status is the server's to set (except Nodes, whose agent reports it).
    // Custom resources start without one, as upstream's do.
    if resource.subresources.status
        && resource.kind != "Node"
        && let Some(map) = object.as_object_mut()
    {
        if resource.custom.is_some() {
            map.remove("status");
        } else {
            map.insert("status".into(), json!({}));
        }
    }
}

/// Everything an update does before the store write: `new` replaces `current` (the main
/// resource or, with `subresource` "status", only the status). Returns the warnings.
pub fn prepare_update(
    resource: &ResourceType,
    current: &Value,
    new: &mut Value,
    subresource: Option<&str>,
    query: &Query,
) -> ApiResult<Vec<String>> {
    check_type_meta(resource, new)?;
    let namespace = objects::namespace(current).map(str::to_string);
    check_namespace(resource, namespace.as_deref(), new)?;
    let warnings = decode_strictly(resource, new, FieldValidation::from_query(query)?)?;
    if resource.subresources.status {
        split_status(current, new, subresource == Some("status"));
    }
    keep_server_metadata(current, new);
    if resource.group.is_empty() && resource.kind == "Service" {
        crate::services::keep_addresses(current, new);
    }
    bump_generation(current, new);
    defaults::apply(resource, new);
    validate(resource, new, Some(current))?;
    if resource.kind == "CustomResourceDefinition" {
        let status_write = subresource == Some("status");
        let mut causes = crate::crds::check_stored_versions(new, status_write);
        if !status_write {
            causes.extend(crate::crds::check(new));
        }
        invalid_definition(resource, new, causes)?;
        if !status_write {
            new["status"] = crate::crds::accepted_status(new, current.get("status"));
        }
    }
    resource.to_storage(new);
    Ok(warnings)
}

/// With a status subresource, the main resource cannot change the status and the status
/// subresource can change nothing else.
fn split_status(current: &Value, new: &mut Value, status_only: bool) {
    if status_only {
        let status = new.get("status").cloned();
        let mut merged = current.clone();
        match status {
            Some(status) => merged["status"] = status,
            None => {
                if let Some(map) = merged.as_object_mut() {
                    map.remove("status");
                }
            }
        }
        // The client's resourceVersion is the precondition.
        if let Some(version) = objects::resource_version(new).map(str::to_string) {
            metadata_mut(&mut merged).insert("resourceVersion".into(), json!(version));
        }
        *new = merged;
    } else if let Some(map) = new.as_object_mut() {
        match current.get("status") {
            Some(status) => {
                map.insert("status".into(), status.clone());
            }
            None => {
                map.remove("status");
            }
        }
    }
}

fn keep_server_metadata(current: &Value, new: &mut Value) {
    let Some(current_metadata) = objects::metadata(current).cloned() else {
        return;
    };
    let metadata = metadata_mut(new);
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match current_metadata.get(field) {
            Some(value) => metadata.insert(field.into(), value.clone()),
            None => metadata.remove(field),
        };
    }
    metadata.remove("selfLink");
}

/// `metadata.generation` counts changes of everything but metadata and status.
fn bump_generation(current: &Value, new: &mut Value) {
    let Some(generation) = current.at("/metadata/generation").and_then(Value::as_i64) else {
        return;
    };
    let strip = |object: &Value| {
        let mut object = object.clone();
        if let Some(map) = object.as_object_mut() {
            map.remove("metadata");
            map.remove("status");
        }
        object
    };
    if strip(current) != strip(new) {
        metadata_mut(new).insert("generation".into(), json!(generation + 1));
    }
}

fn invalid_definition(resource: &ResourceType, crd: &Value, causes: Vec<Cause>) -> ApiResult<()> {
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::Invalid {
        subject: resource.subject(objects::name(crd).unwrap_or_default()),
        causes,
    })
}

/// A new CustomResourceDefinition: checked, accepted (status), and held by the cleanup
/// finalizer so its custom objects go with it.
fn accept_definition(resource: &ResourceType, crd: &mut Value) -> ApiResult<()> {
    invalid_definition(resource, crd, crate::crds::check(crd))?;
    crd["status"] = crate::crds::accepted_status(crd, None);
    let metadata = metadata_mut(crd);
    let mut finalizers: Vec<Value> = metadata
        .get("finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !finalizers.contains(&json!(crate::crds::CLEANUP_FINALIZER)) {
        finalizers.push(json!(crate::crds::CLEANUP_FINALIZER));
    }
    metadata.insert("finalizers".into(), json!(finalizers));
    Ok(())
}
