//! Review kinds, computed per request and never stored: `kubectl auth can-i`
//! (SelfSubjectAccessReview, SubjectAccessReview), `kubectl auth can-i --list`
//! (SelfSubjectRulesReview) and `kubectl auth whoami` (SelfSubjectReview). With RBAC off (the default, as in MicroK8s) every authenticated user
//! may do everything.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::objects::At as _;
use crate::{body, respond, write};

pub async fn create(call: Call, request_body: Body) -> ApiResult<Response> {
    let resource = call.target.resource.clone();
    let bytes = body::read(request_body).await?;
    let mut review = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    write::check_type_meta(&resource, &mut review)?;
    match resource.kind.as_str() {
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            review["status"] = access_review(&call, &review).await?;
        }
        "SelfSubjectRulesReview" => {
            review["status"] = rules_review(&call, &review).await?;
        }
        "SelfSubjectReview" => {
            review["status"] = json!({"userInfo": user_info(&call.user)});
        }
        other => {
            return Err(ApiError::MethodNotAllowed(format!(
                "{other} cannot be created on this server"
            )));
        }
    }
    Ok(respond::json(StatusCode::CREATED, &review, &[]))
}

/// What `kubectl auth can-i --list` shows: everything with RBAC off (or for the always-allowed
/// groups), else the rules of the roles bound to the user there, split as upstream splits them.
async fn rules_review(call: &Call, review: &serde_json::Value) -> ApiResult<serde_json::Value> {
    let everything = json!({"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": false});
    if !call.server.options.rbac {
        return Ok(everything);
    }
    let namespace = review
        .at("/spec/namespace")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let Some(rules) = crate::rbac::rules_of(&call.server, &call.user, namespace).await? else {
        return Ok(everything);
    };
    let keep = |rule: &serde_json::Value, fields: &[&str]| {
        let mut kept = serde_json::Map::new();
        for field in fields {
            if let Some(value) = rule.get(*field).filter(|v| !v.is_null()) {
                kept.insert((*field).to_string(), value.clone());
            }
        }
        serde_json::Value::Object(kept)
    };
    let resource_rules: Vec<serde_json::Value> = rules
        .iter()
        .filter(|rule| rule.get("resources").is_some())
        .map(|rule| keep(rule, &["verbs", "apiGroups", "resources", "resourceNames"]))
        .collect();
    let non_resource_rules: Vec<serde_json::Value> = rules
        .iter()
        .filter(|rule| rule.get("nonResourceURLs").is_some())
        .map(|rule| keep(rule, &["verbs", "nonResourceURLs"]))
        .collect();
    Ok(
        json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules,
        "incomplete": false}),
    )
}

/// A user as `kubectl auth whoami` shows it (uid and extra only when set, as upstream).
fn user_info(user: &crate::auth::User) -> serde_json::Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if let Some(uid) = &user.uid {
        info["uid"] = json!(uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

/// The answer to an access review: RBAC's when it is on.
async fn access_review(call: &Call, review: &serde_json::Value) -> ApiResult<serde_json::Value> {
    if !call.server.options.rbac {
        return Ok(
            json!({"allowed": true, "reason": "RBAC is off: every authenticated user is allowed"}),
        );
    }
    let text = |pointer: &str| {
        review
            .at(pointer)
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    };
    let user = match text("/spec/user") {
        Some(name) => crate::auth::User {
            name,
            groups: review
                .at("/spec/groups")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .map(str::to_string)
                .collect(),
            ..crate::auth::User::default()
        },
        None => call.user.clone(),
    };
    let Some(resource) = text("/spec/resourceAttributes/resource") else {
        // Non-resource URLs: open to authenticated users.
        return Ok(json!({"allowed": true}));
    };
    let attributes = crate::rbac::Attributes {
        verb: text("/spec/resourceAttributes/verb").unwrap_or_default(),
        group: text("/spec/resourceAttributes/group").unwrap_or_default(),
        resource,
        subresource: text("/spec/resourceAttributes/subresource").filter(|s| !s.is_empty()),
        namespace: text("/spec/resourceAttributes/namespace").filter(|s| !s.is_empty()),
        name: text("/spec/resourceAttributes/name").filter(|s| !s.is_empty()),
    };
    let allowed = crate::rbac::allowed(&call.server, &user, &attributes).await?;
    Ok(if allowed {
        json!({"allowed": true, "reason": "allowed by RBAC"})
    } else {
        json!({"allowed": false})
    })
}
