//! Review kinds, computed per request and never stored: `kubectl auth can-i`
//! (SelfSubjectAccessReview, SubjectAccessReview) and `kubectl auth whoami`
//! (SelfSubjectReview). With RBAC off (the default, as in MicroK8s) every authenticated user
//! may do everything.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::{body, respond, write};

pub async fn create(call: Call, request_body: Body) -> ApiResult<Response> {
    let resource = call.target.resource.clone();
    let bytes = body::read(request_body).await?;
    let mut review = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    write::check_type_meta(&resource, &mut review)?;
    match resource.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            review["status"] = json!({"allowed": true, "reason": "RBAC is off: every authenticated user is allowed"});
        }
        "SelfSubjectRulesReview" => {
            review["status"] = json!({"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": false});
        }
        "SelfSubjectReview" => {
            review["status"] =
                json!({"userInfo": {"username": call.user.name, "groups": call.user.groups}});
        }
        other => {
            return Err(ApiError::MethodNotAllowed(format!(
                "{other} cannot be created on this server"
            )));
        }
    }
    Ok(respond::json(StatusCode::CREATED, &review, &[]))
}
