//! Discovery endpoints (`/api`, `/apis`, `/api/v1`, `/apis/<group>[/<version>]`), answered in
//! the form the client's `Accept` asks for.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::ApiServer;
use crate::discovery::{self, AGGREGATED_CONTENT_TYPE};
use crate::error::{ApiError, ApiResult};
use crate::negotiation::wants_aggregated_discovery;
use crate::respond;

/// Checks the request's user and gives the request back (discovery needs no more).
async fn authenticated(server: &ApiServer, request: Request) -> ApiResult<Request> {
    let (parts, body) = request.into_parts();
    match crate::auth::authenticate(server, &parts).await? {
        crate::auth::Authenticated::User(_) => Ok(Request::from_parts(parts, body)),
        crate::auth::Authenticated::RefusedImpersonation { refusal, .. } => Err(refusal),
    }
}

pub async fn core(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    let request = match authenticated(&server, request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    if wants_aggregated_discovery(request.headers()) {
        let body = discovery::aggregated_core(&server.registry);
        return respond::with_type(StatusCode::OK, &body, AGGREGATED_CONTENT_TYPE, &[]);
    }
    respond::json(
        StatusCode::OK,
        &discovery::api_versions(&server.options.advertise_address),
        &[],
    )
}

pub async fn groups(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    let request = match authenticated(&server, request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    if wants_aggregated_discovery(request.headers()) {
        let body = discovery::aggregated_groups(&server.registry);
        return respond::with_type(StatusCode::OK, &body, AGGREGATED_CONTENT_TYPE, &[]);
    }
    respond::json(
        StatusCode::OK,
        &discovery::api_group_list(&server.registry),
        &[],
    )
}

pub fn resource_list(server: &ApiServer, group: &str, version: &str) -> Response {
    let body = discovery::api_resource_list(&server.registry, group, version);
    respond::json(StatusCode::OK, &body, &[])
}

pub fn group(server: &ApiServer, group: &str) -> ApiResult<Response> {
    let body = discovery::api_group(&server.registry, group).ok_or(ApiError::UnknownPath)?;
    Ok(respond::json(StatusCode::OK, &body, &[]))
}

pub async fn openapi_root(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    let _request = match authenticated(&server, request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    respond::json(StatusCode::OK, &crate::openapi::root(&server.registry), &[])
}

pub async fn openapi_group_version(
    State(server): State<Arc<ApiServer>>,
    request: Request,
) -> Response {
    let request = match authenticated(&server, request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let path = request
        .uri()
        .path()
        .trim_start_matches("/openapi/v3/")
        .to_string();
    // The first call generates every schema once (tens of milliseconds).
    match crate::openapi::group_version(&server.registry, &path) {
        Some(document) => respond::json(StatusCode::OK, &document, &[]),
        None => ApiError::UnknownPath.into_response(),
    }
}

pub async fn openapi_v2(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    let _request = match authenticated(&server, request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let bytes = crate::openapi::v2_document(&server.registry);
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(crate::openapi::V2_CONTENT_TYPE),
    );
    response
}

pub async fn metrics(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    let _request = match authenticated(&server, request).await {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let mut page = server
        .options
        .node_metrics
        .as_ref()
        .map(|render| render())
        .unwrap_or_default();
    // The node's page ends with the OpenMetrics terminator; the API's metrics go before it.
    if let Some(stripped) = page.strip_suffix("# EOF\n") {
        page = stripped.to_string();
    }
    page.push_str(&server.metrics.render());
    let mut response = (StatusCode::OK, page).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    response
}
