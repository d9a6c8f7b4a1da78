//! Which (apiVersion, kind) pairs may arrive as protobuf, and the schema
//! message each one's bytes are: the generated `schema_kinds::KINDS`
//! table, plus DeleteOptions in any group version.

use super::error::ProtobufError;
use super::schema::Message;
use super::schema_meta;

pub use super::schema_kinds::KINDS;

/// The schema for an object of `kind` in `api_version`.
pub fn lookup(api_version: &str, kind: &str) -> Result<&'static Message, ProtobufError> {
    // DeleteOptions is registered in every group version (the body of a
    // DELETE on any resource), so any v1 apiVersion names it.
    let version = api_version.rsplit('/').next().unwrap_or_default();
    if kind == "DeleteOptions" && version == "v1" {
        return Ok(&schema_meta::DELETE_OPTIONS);
    }
    KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
        .map(|(_, _, message)| *message)
        .ok_or_else(|| ProtobufError::UnknownKind {
            kind: kind.to_owned(),
            api_version: api_version.to_owned(),
            accepted: accepted(),
        })
}

/// "v1 Binding, …, apps/v1 Deployment, …, DeleteOptions in any v1 group version".
fn accepted() -> String {
    let mut names: Vec<String> = KINDS.iter().map(|(v, k, _)| format!("{v} {k}")).collect();
    names.push("DeleteOptions in any v1 group version".to_owned());
    names.join(", ")
}
