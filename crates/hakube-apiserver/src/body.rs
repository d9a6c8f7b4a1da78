//! Request bodies: read within the size limit (3 MiB, like upstream), then decoded by content
//! type: JSON, YAML, or Kubernetes protobuf (kubectl 1.32+ `create <generator>`).

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Upstream's limit on a request body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

pub async fn read(body: Body) -> ApiResult<bytes::Bytes> {
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::RequestEntityTooLarge {
                size: MAX_BODY_BYTES + 1,
                limit: MAX_BODY_BYTES,
            })
        }
        Err(error) => Err(ApiError::BadRequest(format!(
            "cannot read the request body: {error}"
        ))),
    }
}

/// The media type of a request (without parameters), lower-cased.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes an object body (create, update, eviction…) by its content type.
pub fn decode_object(bytes: &[u8], media_type: &str) -> ApiResult<Value> {
    let value = match media_type {
        "application/json" | "" | "*/*" => parse_json(bytes)?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => parse_yaml(bytes)?,
        "application/vnd.kubernetes.protobuf" => crate::protobuf::decode(bytes)
            .map_err(|e| ApiError::BadRequest(format!("cannot decode the protobuf body: {e}")))?,
        other => {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {other})"
            )));
        }
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    Ok(value)
}

pub fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON: {e}")))
}

pub fn parse_yaml(bytes: &[u8]) -> ApiResult<Value> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest("the YAML body is not UTF-8".into()))?;
    serde_saphyr::from_str(text)
        .map_err(|e| ApiError::BadRequest(format!("the request body is not valid YAML: {e}")))
}
