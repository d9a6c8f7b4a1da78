//! Writing answers: objects and lists as JSON (or as a Table when kubectl asks for one), with
//! a `Warning` header when a read may be stale (quorum lost) or the request had warnings.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::negotiation::TABLE_CONTENT_TYPE;

pub const STALE_WARNING: &str = "299 - \"the cluster has lost quorum: this answer comes from this node's replica and may be stale\"";

/// A JSON answer with `warnings` as `Warning: 299 - "…"` headers.
pub fn json(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    with_type(code, body, "application/json", warnings)
}

/// A JSON body already encoded.
pub fn json_bytes(code: StatusCode, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut response = (code, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for warning in warnings {
        if let Ok(value) = HeaderValue::from_str(warning) {
            headers.append("warning", value);
        }
    }
    response
}

pub fn table(code: StatusCode, body: &Value, warnings: &[String]) -> Response {
    with_type(code, body, TABLE_CONTENT_TYPE, warnings)
}

pub fn with_type(
    code: StatusCode,
    body: &Value,
    content_type: &str,
    warnings: &[String],
) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (code, bytes).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    for warning in warnings {
        if let Ok(value) = HeaderValue::from_str(warning) {
            headers.append("warning", value);
        }
    }
    response
}

/// A warning text in the `Warning` header's form.
pub fn warning(text: &str) -> String {
    format!(
        "299 - \"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

/// Warnings for a read: the stale-read warning when the read could not be confirmed.
pub fn read_warnings(stale: bool) -> Vec<String> {
    if stale {
        vec![STALE_WARNING.to_string()]
    } else {
        Vec::new()
    }
}
