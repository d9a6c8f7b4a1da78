//! What representation a client asked for in `Accept`: a plain object (JSON), or a
//! meta.k8s.io Table (kubectl's human-readable output), with the content types to answer.

use axum::http::HeaderMap;

pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Object,
    Table,
}

/// Table when the first acceptable entry asks for one (kubectl lists Table first, with JSON
/// as the fallback), else a plain object.
pub fn representation(headers: &HeaderMap) -> Representation {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let first = accept.split(',').next().unwrap_or("");
    if first.contains("as=Table") {
        Representation::Table
    } else {
        Representation::Object
    }
}

/// Whether the client asked for aggregated discovery (apidiscovery.k8s.io/v2).
pub fn wants_aggregated_discovery(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|entry| {
                entry.contains("as=APIGroupDiscoveryList")
                    && entry.contains("v=v2")
                    && !entry.contains("v=v2beta1")
            })
        })
}
