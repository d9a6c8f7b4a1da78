//! Routing a resource request to its verb: one file per verb (get, list, watch, create,
//! update, patch, delete), like kine's. Each handler takes a [`Call`] and returns a response
//! or an [`ApiError`] that becomes a Status.

pub mod binding;
pub mod create;
pub mod delete;
pub mod discovery;
pub mod eviction;
pub mod get;
pub mod list;
pub mod logs;
pub mod metrics_api;
mod metrics_objects;
pub mod patch;
pub mod reviews;
pub mod scale;
pub mod streams;
pub mod token;
pub mod update;
pub mod watch;

use streams::StreamKind;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use crate::ApiServer;
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::request::{ApiPath, Query, Target, parse_path};

/// One resource request, parsed.
pub struct Call {
    pub server: Arc<ApiServer>,
    pub target: Target,
    pub query: Query,
    pub headers: HeaderMap,
    pub user: User,
    /// The client's connection once it switches protocols (exec, attach, port-forward).
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

/// Every path the fixed routes do not take: `/api/v1/…` and `/apis/…`.
pub async fn dispatch(State(server): State<Arc<ApiServer>>, request: Request) -> Response {
    match route(server, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn route(server: Arc<ApiServer>, request: Request) -> ApiResult<Response> {
    let (mut parts, body) = request.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let user = match crate::auth::authenticate(&server, &parts).await? {
        crate::auth::Authenticated::User(user) => user,
        crate::auth::Authenticated::RefusedImpersonation { user, refusal } => {
            audit_refusal(&server, &parts, &user, &refusal).await;
            return Err(refusal);
        }
    };
    let path = parts.uri.path().to_string();
    if path.starts_with("/openapi/") {
        return Err(ApiError::UnknownPath);
    }
    let query = Query::parse(parts.uri.query());
    match parse_path(&path, &server.registry)? {
        ApiPath::GroupVersion { group, version } => {
            Ok(discovery::resource_list(&server, &group, &version))
        }
        ApiPath::Group(group) => discovery::group(&server, &group),
        ApiPath::Resource(target) => {
            let attributes = attributes(&target, &parts.method, &query);
            let audit = server
                .options
                .audit
                .clone()
                .filter(|_| is_write(&parts.method));
            let uri = parts
                .uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            if server.options.rbac && !crate::rbac::allowed(&server, &user, &attributes).await? {
                let refused = ApiError::Forbidden(attributes.refusal(&user));
                if let Some(audit) = audit {
                    audit
                        .record(audit_record(
                            &user,
                            &attributes,
                            &uri,
                            refused.code().as_u16(),
                        ))
                        .await;
                }
                return Err(refused);
            }
            let audited_user = user.clone();
            let deprecation = target
                .resource
                .custom
                .as_ref()
                .and_then(|custom| custom.deprecation_warning.clone());
            let call = Call {
                server,
                target,
                query,
                headers: parts.headers,
                user,
                upgrade,
            };
            let started = std::time::Instant::now();
            let metrics_server = call.server.clone();
            let mut response = match by_verb(call, parts.method, body).await {
                Ok(response) => response,
                Err(error) => error.into_response(),
            };
            // Every answer through a deprecated version warns, refusals too (as upstream's).
            if let Some(warning) = deprecation
                && let Ok(value) = crate::respond::warning(&warning).parse()
            {
                response.headers_mut().append("warning", value);
            }
            let code = response.status().as_u16();
            metrics_server.metrics.observe(
                &attributes.verb,
                &attributes.resource,
                code,
                started.elapsed().as_secs_f64(),
            );
            if let Some(audit) = audit {
                audit
                    .record(audit_record(&audited_user, &attributes, &uri, code))
                    .await;
            }
            Ok(response)
        }
    }
}

/// An object answered to a write, as the request's version presents it (a custom object is
/// stored under its storage version).
pub fn written(
    resource: &crate::resources::ResourceType,
    code: axum::http::StatusCode,
    mut object: serde_json::Value,
    warnings: &[String],
) -> Response {
    resource.present(&mut object);
    crate::respond::json(code, &object, warnings)
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The RBAC attributes of a request (upstream's verbs: get, list, watch, create, update,
/// patch, delete, deletecollection).
fn attributes(target: &Target, method: &Method, query: &Query) -> crate::rbac::Attributes {
    let named = target.name.is_some();
    let verb = match *method {
        Method::GET if !named && query.flag("watch") => "watch",
        Method::GET if !named => "list",
        Method::GET => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if !named => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    };
    crate::rbac::Attributes {
        verb: verb.into(),
        group: target.resource.group.clone(),
        resource: target.resource.plural.clone(),
        subresource: target.subresource.clone(),
        namespace: target.namespace.clone(),
        name: target.name.clone(),
    }
}

/// Audits a write whose user was refused the impersonation it asked for, under the real
/// user (the request never ran).
async fn audit_refusal(
    server: &ApiServer,
    parts: &axum::http::request::Parts,
    user: &User,
    refusal: &ApiError,
) {
    let Some(audit) = server
        .options
        .audit
        .as_ref()
        .filter(|_| is_write(&parts.method))
    else {
        return;
    };
    let Ok(ApiPath::Resource(target)) = parse_path(parts.uri.path(), &server.registry) else {
        return;
    };
    let query = Query::parse(parts.uri.query());
    let attributes = attributes(&target, &parts.method, &query);
    let uri = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let record = audit_record(user, &attributes, &uri, refusal.code().as_u16());
    audit.record(record).await;
}

fn audit_record(
    user: &User,
    attributes: &crate::rbac::Attributes,
    uri: &str,
    code: u16,
) -> serde_json::Value {
    let (real, impersonated) = match &user.impersonator {
        Some(impersonator) => (impersonator.as_ref(), Some(user)),
        None => (user, None),
    };
    let mut record = serde_json::json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "stage": "ResponseComplete",
        "requestReceivedTimestamp": crate::objects::now_rfc3339(),
        "verb": attributes.verb,
        "requestURI": uri,
        "user": {"username": real.name, "groups": real.groups},
        "objectRef": {"resource": attributes.resource, "subresource": attributes.subresource,
            "namespace": attributes.namespace, "name": attributes.name, "apiGroup": attributes.group},
        "responseStatus": {"code": code},
    });
    if let Some(impersonated) = impersonated {
        record["impersonatedUser"] =
            serde_json::json!({"username": impersonated.name, "groups": impersonated.groups});
    }
    record
}

async fn by_verb(call: Call, method: Method, body: Body) -> ApiResult<Response> {
    // Computed from the node agents, never stored: their own handler for every verb.
    if call.target.resource.group == metrics_api::GROUP {
        return metrics_api::serve(call, method).await;
    }
    let has_name = call.target.name.is_some();
    let subresource = call.target.subresource.clone();
    match (method, has_name, subresource.as_deref()) {
        (Method::GET, false, None) if call.query.flag("watch") => watch::watch(call).await,
        (Method::GET, false, None) => list::list(call).await,
        (Method::GET, true, None | Some("status")) => get::get(call).await,
        (Method::GET, true, Some("scale")) => scale::get(call).await,
        (Method::GET, true, Some("log")) if is_pod(&call) => logs::logs(call).await,
        (Method::GET | Method::POST, true, Some("exec")) if is_pod(&call) => {
            streams::stream(call, StreamKind::Exec).await
        }
        (Method::GET | Method::POST, true, Some("attach")) if is_pod(&call) => {
            streams::stream(call, StreamKind::Attach).await
        }
        (Method::GET | Method::POST, true, Some("portforward")) if is_pod(&call) => {
            streams::stream(call, StreamKind::PortForward).await
        }
        (Method::POST, false, None) => create::create(call, body).await,
        (Method::POST, true, Some("token")) if call.target.resource.plural == "serviceaccounts" => {
            token::create(call, body).await
        }
        (Method::POST, true, Some("eviction")) if is_pod(&call) => {
            eviction::evict(call, body).await
        }
        (Method::POST, true, Some("binding")) if is_pod(&call) => binding::bind(call, body).await,
        (Method::PUT, true, None | Some("status")) => update::update(call, body).await,
        (Method::PUT, true, Some("scale")) => scale::update(call, body).await,
        (Method::PATCH, true, None | Some("status")) => patch::patch(call, body).await,
        (Method::PATCH, true, Some("scale")) => scale::patch(call, body).await,
        (Method::DELETE, true, None) => delete::delete(call, body).await,
        (Method::DELETE, false, None) => delete::delete_collection(call, body).await,
        (method, _, subresource) => Err(not_allowed(&call, &method, subresource)),
    }
}

fn is_pod(call: &Call) -> bool {
    call.target.resource.group.is_empty() && call.target.resource.plural == "pods"
}

fn not_allowed(call: &Call, method: &Method, subresource: Option<&str>) -> ApiError {
    let resource = &call.target.resource;
    let status_missing = subresource == Some("status") && !resource.subresources.status;
    let scale_missing = subresource == Some("scale") && !resource.subresources.scale;
    let known_extra = subresource.is_some_and(|name| {
        resource
            .extra_subresources
            .iter()
            .any(|extra| extra.name == name)
    });
    if (subresource.is_some()
        && !known_extra
        && subresource != Some("status")
        && subresource != Some("scale"))
        || status_missing
        || scale_missing
    {
        return ApiError::UnknownPath;
    }
    if known_extra {
        return ApiError::ServiceUnavailable(format!(
            "{} of {} is served by the node agent, which this cluster does not run yet",
            subresource.unwrap_or_default(),
            resource.plural
        ));
    }
    ApiError::MethodNotAllowed(format!(
        "the server does not allow this method on the requested resource ({method} {})",
        resource.plural
    ))
}
