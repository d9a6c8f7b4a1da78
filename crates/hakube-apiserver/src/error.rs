//! The API server's operating errors and their Kubernetes `Status` form: each error knows its
//! HTTP code and upstream reason, and renders the message kubectl prints after
//! `Error from server (<reason>):`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use hakube_store::StoreError;

/// One field-level problem of an Invalid object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, …
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

impl Cause {
    pub fn invalid(field: impl Into<String>, value: impl std::fmt::Display, why: &str) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            field: field.into(),
            message: format!("Invalid value: {value}: {why}"),
        }
    }

    pub fn required(field: impl Into<String>) -> Self {
        Cause {
            reason: "FieldValueRequired",
            field: field.into(),
            message: "Required value".into(),
        }
    }
}

/// Names the object an error is about: `qualified` is `deployments.apps` (plural.group) or
/// `pods` for the core group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subject {
    pub group: String,
    pub plural: String,
    pub kind: String,
    pub name: String,
}

impl Subject {
    pub fn qualified_resource(&self) -> String {
        qualify(&self.plural, &self.group)
    }

    pub fn qualified_kind(&self) -> String {
        qualify(&self.kind, &self.group)
    }
}

fn qualify(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    #[error("{} \"{}\" not found", .0.qualified_resource(), .0.name)]
    NotFound(Subject),
    #[error("{} \"{}\" already exists", .0.qualified_resource(), .0.name)]
    AlreadyExists(Subject),
    #[error("Operation cannot be fulfilled on {} \"{}\": {}", .subject.qualified_resource(), .subject.name, .message)]
    Conflict { subject: Subject, message: String },
    #[error("{} \"{}\" is invalid: {}", .subject.qualified_kind(), .subject.name, describe_causes(.causes))]
    Invalid {
        subject: Subject,
        causes: Vec<Cause>,
    },
    /// Server-side apply would take fields other managers own: (field, "conflict with …").
    #[error("{message}")]
    ApplyConflict {
        message: String,
        causes: Vec<(String, String)>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the server could not find the requested resource")]
    UnknownPath,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotAcceptable(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{message}")]
    TooManyRequests {
        message: String,
        causes: Vec<(String, String)>,
    },
    /// A watch or continue token older than the retained history.
    #[error("{0}")]
    Expired(String),
    #[error("the request body is {size} bytes, the limit is {limit} bytes")]
    RequestEntityTooLarge { size: usize, limit: usize },
    /// Quorum lost, leader unreachable, disk full: nothing changed; try later.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// The write was proposed but not confirmed in time: its outcome is unknown.
    #[error("{0}")]
    Timeout(String),
    #[error("Internal error occurred: {0}")]
    Internal(String),
}

fn describe_causes(causes: &[Cause]) -> String {
    let parts: Vec<String> = causes
        .iter()
        .map(|cause| {
            if cause.field.is_empty() {
                cause.message.clone()
            } else {
                format!("{}: {}", cause.field, cause.message)
            }
        })
        .collect();
    if parts.len() == 1 {
        parts.join("")
    } else {
        format!("[{}]", parts.join(", "))
    }
}

impl ApiError {
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::UnknownPath => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists(_)
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Expired(_) => StatusCode::GONE,
            ApiError::RequestEntityTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Upstream's `StatusReason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) | ApiError::UnknownPath => "NotFound",
            ApiError::AlreadyExists(_) => "AlreadyExists",
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::MethodNotAllowed(_) => "MethodNotAllowed",
            ApiError::UnsupportedMediaType(_) => "UnsupportedMediaType",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Expired(_) => "Expired",
            ApiError::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailable",
            ApiError::Timeout(_) => "Timeout",
            ApiError::Internal(_) => "InternalError",
        }
    }

    fn details(&self) -> Option<Value> {
        let of_subject = |subject: &Subject| {
            let mut details = json!({"name": subject.name, "kind": subject.plural});
            if !subject.group.is_empty() {
                details["group"] = json!(subject.group);
            }
            details
        };
        match self {
            ApiError::NotFound(subject) | ApiError::AlreadyExists(subject) => {
                Some(of_subject(subject))
            }
            ApiError::Conflict { subject, .. } => Some(of_subject(subject)),
            ApiError::Invalid { subject, causes } => {
                let mut details = of_subject(subject);
                details["kind"] = json!(subject.kind);
                details["causes"] = causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                Some(details)
            }
            ApiError::ApplyConflict { causes, .. } => Some(json!({
                "causes": causes.iter().map(|(field, message)| json!({"reason": "FieldManagerConflict", "message": message, "field": field})).collect::<Vec<_>>()
            })),
            ApiError::TooManyRequests { causes, .. } if !causes.is_empty() => Some(json!({
                "causes": causes.iter().map(|(reason, message)| json!({"reason": reason, "message": message})).collect::<Vec<_>>()
            })),
            _ => None,
        }
    }

    /// The `Status` object of this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        if let Some(details) = self.details() {
            status["details"] = details;
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code(), axum::Json(self.status())).into_response();
        if matches!(self, ApiError::TooManyRequests { .. }) {
            // Clients back off by Retry-After, as they do against upstream.
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::QuorumLost { .. }
            | StoreError::LeaderUnreachable(_)
            | StoreError::DiskFull { .. }
            | StoreError::ShuttingDown
            | StoreError::NotLeader => ApiError::ServiceUnavailable(error.to_string()),
            StoreError::OutcomeUnknown(_) | StoreError::Timeout(_) => {
                ApiError::Timeout(error.to_string())
            }
            StoreError::TooLarge { size, limit, .. } => {
                ApiError::RequestEntityTooLarge { size, limit }
            }
            StoreError::Read(read) => ApiError::Expired(read.to_string()),
            StoreError::InvalidRequest(message) => ApiError::BadRequest(message),
            StoreError::Internal(_) | StoreError::LeaseNotFound(_) => {
                ApiError::Internal(error.to_string())
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(name: &str) -> Subject {
        Subject {
            group: "apps".into(),
            plural: "deployments".into(),
            kind: "Deployment".into(),
            name: name.into(),
        }
    }

    #[test]
    fn messages_read_like_upstream() {
        assert_eq!(
            ApiError::NotFound(deployment("web")).to_string(),
            "deployments.apps \"web\" not found"
        );
        let invalid = ApiError::Invalid {
            subject: deployment("web"),
            causes: vec![Cause::invalid(
                "spec.replicas",
                -1,
                "must be greater than or equal to 0",
            )],
        };
        assert_eq!(
            invalid.to_string(),
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let status = invalid.status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][0]["field"], "spec.replicas");
    }

    #[test]
    fn quorum_loss_is_service_unavailable() {
        let error = ApiError::from(StoreError::QuorumLost {
            reachable: 1,
            voters: 3,
            needed: 2,
        });
        assert_eq!(error.code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(error.to_string().contains("read-only"));
    }
}
