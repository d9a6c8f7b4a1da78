//! GET of one object (and of its `status` subresource, which is the whole object).

use axum::http::StatusCode;
use axum::response::Response;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::negotiation::{Representation, representation};
use crate::storage::{self, Freshness};
use crate::{respond, table};

/// The freshness a `resourceVersion` parameter asks for, on a GET or a LIST.
pub fn freshness(call: &Call) -> ApiResult<Freshness> {
    let exact = call.query.get("resourceVersionMatch") == Some("Exact");
    match call.query.get("resourceVersion") {
        None | Some("") => Ok(Freshness::Latest),
        Some("0") => Ok(Freshness::Any),
        Some(text) => {
            let revision: u64 = text.parse().map_err(|_| {
                ApiError::BadRequest(format!("invalid resourceVersion {text:?}: not a number"))
            })?;
            if exact {
                return Ok(Freshness::Exact(revision));
            }
            // NotOlderThan: this replica's state if it has caught up, else a confirmed read.
            let applied = call.server.storage.store().machine().read().kv.revision();
            Ok(if applied >= revision {
                Freshness::Any
            } else {
                Freshness::Latest
            })
        }
    }
}

pub fn object_key(call: &Call) -> Vec<u8> {
    storage::key(
        &call.target.resource,
        call.target.namespace.as_deref(),
        call.target.name.as_deref().unwrap_or_default(),
    )
}

pub fn not_found(call: &Call) -> ApiError {
    ApiError::NotFound(
        call.target
            .resource
            .subject(call.target.name.as_deref().unwrap_or_default()),
    )
}

pub async fn get(call: Call) -> ApiResult<Response> {
    let (object, read) = call
        .server
        .storage
        .get(&object_key(&call), freshness(&call)?)
        .await?;
    let mut object = object.ok_or_else(|| not_found(&call))?;
    call.target.resource.present(&mut object);
    let warnings = respond::read_warnings(read.stale);
    Ok(match representation(&call.headers) {
        Representation::Table => {
            let table = table::build(
                &call.target.resource,
                std::slice::from_ref(&object),
                &call.query,
                serde_json::json!({"resourceVersion": crate::objects::resource_version(&object)}),
            );
            respond::table(StatusCode::OK, &table, &warnings)
        }
        Representation::Object => respond::json(StatusCode::OK, &object, &warnings),
    })
}
