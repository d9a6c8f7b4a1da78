//! Validation, pruning and defaulting of custom resources against a
//! CustomResourceDefinition version's `schema.openAPIV3Schema`, modelled on
//! kube-apiserver's apiextensions-apiserver (structural schemas, pruning,
//! defaulting) and kube-openapi's validator (value validation and messages).
//!
//! Layout, one concern per file:
//! - `schema`: parses the raw JSON schema once into a typed tree.
//! - `structural` / `rules`: the CRD create-time checks (`check_structural`).
//! - `prune` / `defaults`: the decode-time mutations (`default_and_prune`).
//! - `validate` (+ `listtype`, `embedded`, `formats`, `pattern`): the
//!   write-time checks (`validate`).
//! - `problem` / `gofmt` / `paths`: message and field-path rendering, which
//!   copies Go's formatting so clients see the strings kubectl users expect.

mod defaults;
mod embedded;
mod formats;
mod gofmt;
mod listtype;
mod paths;
mod pattern;
mod problem;
mod prune;
mod rules;
mod schema;
mod structural;
mod validate;

#[cfg(test)]
mod tests;

use serde_json::Value;

use schema::Schema;

/// One problem, as the API server reports it in a 422 Invalid Status: a field
/// path ("spec.replicas") and upstream's message ("Invalid value: \"string\":
/// spec.replicas in body must be of type integer: \"string\"").
///
/// `reason` is the StatusCause type: FieldValueInvalid, FieldValueRequired,
/// FieldValueNotSupported, FieldValueTypeInvalid, FieldValueTooLong,
/// FieldValueTooMany, FieldValueDuplicate or FieldValueForbidden.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Problem {
    pub field: String,
    pub reason: &'static str,
    pub message: String,
}

/// Checks that `schema` is a structural schema hakube supports (types
/// everywhere, no unsupported keywords); a CRD whose schema fails is refused at
/// create time with these problems.
///
/// Field paths are relative to the schema root (e.g. `properties[spec].type`);
/// the caller prefixes them with `spec.versions[i].schema.openAPIV3Schema.`
/// because only it knows the version index.
pub fn check_structural(schema: &Value) -> Vec<Problem> {
    structural::check(schema)
}

/// Applies `default`s (recursively, for absent fields whose parent object is
/// present) and prunes fields not in the schema (unless
/// `x-kubernetes-preserve-unknown-fields: true`; `metadata`, `apiVersion`,
/// `kind` at the root are never pruned), returning the pruned paths (for
/// fieldValidation=Strict/Warn: `unknown field "spec.foo"`).
///
/// Upstream prunes first, then drops non-nullable nulls that have no default,
/// then defaults; the same order is used here. It yields the same object as
/// defaulting first because a valid CRD's defaults never contain unknown
/// fields (`check_structural` enforces that).
pub fn default_and_prune(object: &mut Value, schema: &Value) -> Vec<String> {
    let schema = Schema::parse(schema);
    let pruned = prune::prune_resource(object, &schema);
    defaults::drop_non_nullable_nulls(object, Some(&schema));
    defaults::apply(object, &schema);
    pruned
}

/// Validates `object` against `schema` the way the API server validates a
/// custom resource on create/update: kube-openapi value validation first,
/// then embedded-resource type meta, then list-type (set/map) uniqueness.
/// ObjectMeta semantics (name format, labels…) are validated elsewhere.
pub fn validate(object: &Value, schema: &Value) -> Vec<Problem> {
    let schema = Schema::parse(schema);
    let mut problems = validate::validate_value(object, &schema, "");
    problems.extend(embedded::validate(object, &schema));
    problems.extend(listtype::validate(object, &schema));
    problems
}
