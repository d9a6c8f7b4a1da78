//! `serviceaccounts/<name>/token` (TokenRequest, `kubectl create token`): a bound token for
//! an existing service account.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult, Cause};
use crate::handlers::Call;
use crate::handlers::get::{not_found, object_key};
use crate::objects::At as _;
use crate::storage::Freshness;
use crate::tokens::{
    DEFAULT_EXPIRATION_SECONDS, ISSUER, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS,
    TokenSubject,
};
use crate::{body, objects, respond};

pub async fn create(call: Call, request_body: Body) -> ApiResult<Response> {
    let bytes = body::read(request_body).await?;
    let mut request = body::decode_object(&bytes, &body::content_type(&call.headers))?;
    let key = call.server.options.token_key.clone().ok_or_else(|| {
        ApiError::ServiceUnavailable("this API server has no service account signing key".into())
    })?;
    let (account, _) = call
        .server
        .storage
        .get(&object_key(&call), Freshness::Latest)
        .await?;
    let account = account.ok_or_else(|| not_found(&call))?;
    let seconds = request
        .at("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let name = call.target.name.clone().unwrap_or_default();
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(ApiError::Invalid {
            subject: crate::error::Subject {
                group: "authentication.k8s.io".into(),
                plural: "tokenrequests".into(),
                kind: "TokenRequest".into(),
                name,
            },
            causes: vec![Cause::invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration less than 10 minutes",
            )],
        });
    }
    let seconds = seconds.min(MAX_EXPIRATION_SECONDS);
    let audiences: Vec<String> = match request.at("/spec/audiences").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![ISSUER.to_string()],
    };
    let subject = TokenSubject {
        namespace: call.target.namespace.clone().unwrap_or_default(),
        name: name.clone(),
        uid: objects::text(&account, &["metadata", "uid"])
            .unwrap_or_default()
            .to_string(),
    };
    let now = objects::now_unix_seconds();
    let token = key.issue(&subject, &audiences, now, seconds);
    let expires = jiff::Timestamp::from_second(now + seconds)
        .map(|t| t.to_string())
        .unwrap_or_default();
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["metadata"] =
        json!({"name": name, "namespace": subject.namespace, "creationTimestamp": null});
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = json!(seconds);
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(respond::json(StatusCode::CREATED, &request, &[]))
}
