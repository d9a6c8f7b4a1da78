//! POST of a new object: the write path of [`crate::write`], then a create-only store write
//! (409 AlreadyExists when the name is taken).

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use hakube_store::Condition;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::{body, objects, respond, storage, write};

pub async fn create(call: Call, request_body: Body) -> ApiResult<Response> {
    let resource = call.target.resource.clone();
    if !resource.stored {
        return crate::handlers::reviews::create(call, request_body).await;
    }
    let bytes = body::read(request_body).await?;
    let mut object = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let warnings = write::prepare_create(
        &call.server,
        &resource,
        call.target.namespace.as_deref(),
        &mut object,
        &call.query,
    )
    .await?;
    let name = objects::name(&object).unwrap_or_default().to_string();
    if call.query.dry_run()? {
        return Ok(respond::json(StatusCode::CREATED, &object, &warnings));
    }
    let key = storage::key(&resource, objects::namespace(&object), &name);
    match call
        .server
        .storage
        .put(&key, &object, Condition::Absent)
        .await?
    {
        Ok(stored) => Ok(respond::json(StatusCode::CREATED, &stored, &warnings)),
        Err(_) => Err(ApiError::AlreadyExists(resource.subject(&name))),
    }
}
