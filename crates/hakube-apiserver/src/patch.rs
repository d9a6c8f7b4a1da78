//! Applying a PATCH body to an object, by content type: JSON patch (RFC 6902), merge patch
//! (RFC 7386), strategic merge patch (built-in kinds' merge keys), and server-side apply.

use serde_json::Value;

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    StrategicMerge,
    Apply,
}

impl PatchType {
    pub fn from_media_type(media_type: &str) -> ApiResult<Self> {
        match media_type {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::StrategicMerge),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
            other => Err(ApiError::UnsupportedMediaType(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"
            ))),
        }
    }
}

/// Parses the patch body (JSON; YAML for apply).
pub fn parse(bytes: &[u8], patch_type: PatchType) -> ApiResult<Value> {
    match patch_type {
        PatchType::Apply => {
            // kubectl sends JSON, which is YAML too; parse JSON first for its better errors.
            crate::body::parse_json(bytes).or_else(|_| crate::body::parse_yaml(bytes))
        }
        _ => crate::body::parse_json(bytes),
    }
}

/// `original` with `patch` applied. `kind` selects strategic merge keys.
pub fn apply(
    original: &Value,
    patch: &Value,
    patch_type: PatchType,
    kind: &str,
    custom: bool,
) -> ApiResult<Value> {
    match patch_type {
        PatchType::Json => {
            let operations: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::BadRequest(format!("the JSON patch is malformed: {e}")))?;
            let mut patched = original.clone();
            json_patch::patch(&mut patched, &operations)
                .map_err(|e| ApiError::Invalid {
                    subject: crate::error::Subject::default(),
                    causes: vec![crate::error::Cause { reason: "FieldValueInvalid", field: String::new(), message: format!("the JSON patch could not be applied: {e}") }],
                })?;
            Ok(patched)
        }
        PatchType::Merge => {
            require_object(patch)?;
            let mut patched = original.clone();
            json_patch::merge(&mut patched, patch);
            Ok(patched)
        }
        PatchType::StrategicMerge if custom => Err(ApiError::UnsupportedMediaType(
            "strategic merge patch is not supported for custom resources: use --type=merge or --type=json".into(),
        )),
        PatchType::StrategicMerge | PatchType::Apply => {
            require_object(patch)?;
            crate::strategic_merge::apply(original, patch, kind)
                .map_err(|e| ApiError::BadRequest(format!("the strategic merge patch could not be applied: {e}")))
        }
    }
}

fn require_object(patch: &Value) -> ApiResult<()> {
    if patch.is_object() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "the patch must be a JSON object".into(),
        ))
    }
}
