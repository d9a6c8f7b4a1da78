//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`) over
//! `serde_json::Value`.
//!
//! This module owns the merge semantics kube-apiserver applies to built-in kinds: maps
//! merge recursively (`null` deletes), some lists merge item by item on a merge key,
//! every other list is replaced whole, and the patch directives (`$patch`,
//! `$retainKeys`, `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`) are
//! honoured and never appear in the result.
//!
//! Upstream reads merge keys from Go struct tags. We have no Go types, so
//! `FIELD_RULES` names, per kind and field path, the fields whose strategy is not the
//! default. Unlisted lists are replaced whole (for example `spec.taints`, `tolerations`,
//! `args`, `command`, Namespace `spec.finalizers`); unlisted maps are merged.
//!
//! Ordering follows upstream's implementation, not only its design notes: the items a
//! patch names come in the patch's order (or the `$setElementOrder` order when given),
//! and items only the original has are interleaved by their original position. One
//! consequence: a patch that adds a new item without `$setElementOrder` puts it *before*
//! the existing items, exactly as kube-apiserver does. `kubectl apply` sends
//! `$setElementOrder` for every merged list it changes, so applied manifests keep
//! their own order.
//!
//! The code is cut by concern: the patch directives (`$patch`, `$retainKeys` and the
//! parallel lists) in `directives`, the merging of maps in `merger`, the merging of
//! lists by merge key in `lists`, the `$setElementOrder` ordering of merged lists in
//! `ordering`, and the table of per-field strategies in `field_rules`. This file holds
//! the entry point, the error type and what they all share.

mod directives;
mod field_rules;
mod lists;
mod merger;
mod ordering;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use merger::Merger;

type Object = Map<String, Value>;

/// Stands for the top-level object in error messages, which has no field name.
const ROOT_NAME: &str = "<root>";

/// Why a strategic merge patch could not be applied. Each message names the field
/// (the last path segment) where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicMergeError {
    #[error("the patch must be a JSON object")]
    PatchNotObject,
    #[error("the object being patched must be a JSON object")]
    OriginalNotObject,
    #[error("merge key \"{merge_key}\" missing from a list item of \"{field}\"")]
    MissingMergeKey { merge_key: String, field: String },
    #[error("unknown patch directive \"{directive}\" in \"{field}\"")]
    UnknownDirective { directive: String, field: String },
    #[error(
        "invalid \"$patch\" value {value} in \"{field}\": expected \"merge\", \"replace\" or \"delete\""
    )]
    InvalidPatchValue { value: String, field: String },
    #[error("\"{directive}\" must be a list")]
    DirectiveNotList { directive: String },
    #[error("\"$retainKeys\" in \"{field}\" must be a list of field names")]
    RetainKeysNotNames { field: String },
    #[error("field \"{key}\" of \"{field}\" is patched but not listed in its \"$retainKeys\"")]
    FieldNotRetained { key: String, field: String },
    #[error("the items of \"{field}\" are not in the order given by \"$setElementOrder/{field}\"")]
    OrderMismatch { field: String },
    #[error(
        "\"$patch\": \"delete\" cannot be used in \"{field}\" because its items have no merge key"
    )]
    DeleteWithoutMergeKey { field: String },
}

/// Applies a strategic merge `patch` to `original`, an object of the given `kind`
/// ("Deployment", "Pod", ...), and returns the patched object.
///
/// # Errors
///
/// When either value is not a JSON object, or the patch is malformed: a merged list
/// item without its merge key, an unknown or ill-formed directive, items out of the
/// `$setElementOrder` order, or a field set outside its `$retainKeys`.
pub fn apply(original: &Value, patch: &Value, kind: &str) -> Result<Value, StrategicMergeError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicMergeError::PatchNotObject);
    };
    let Value::Object(original) = original else {
        return Err(StrategicMergeError::OriginalNotObject);
    };
    let merger = Merger { kind };
    merger
        .merge_map(original.clone(), patch, &[])
        .map(Value::Object)
}

fn field_name(path: &[&str]) -> String {
    path.last().copied().unwrap_or(ROOT_NAME).to_owned()
}
