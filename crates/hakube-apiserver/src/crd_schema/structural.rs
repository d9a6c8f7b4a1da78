//! `check_structural`: whether a CRD version's schema is a structural schema
//! hakube can serve (NewStructural + ValidateStructural + ValidateDefaults
//! upstream).
//!
//! Structural means: every specified field has a type outside of the value
//! validations (`allOf`/`anyOf`/`oneOf`/`not`), those junctors only restrict
//! values and never introduce fields or types, `metadata` is restricted to
//! `name`/`generateName`, and every `default` validates and survives pruning.

use serde_json::Value;

use super::schema::{Additional, Schema};
use super::{Problem, gofmt, paths, prune, rules, validate};

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Item,
    Field,
}

pub(crate) fn check(raw: &Value) -> Vec<Problem> {
    let (schema, mut problems) = Schema::parse_checked(raw);
    problems.extend(rules::check(&schema));
    let mut invariants = Vec::new();
    check_invariants(&schema, Level::Root, "", &mut invariants);
    check_completeness(&schema, "", &mut invariants);
    // upstream sorts these because they come out of map iteration
    invariants.sort_by(|a, b| (&a.field, &a.message).cmp(&(&b.field, &b.message)));
    problems.extend(invariants);
    // defaults are only meaningful (and only checked upstream) once the schema is sound
    if problems.is_empty() {
        check_defaults(&schema, "", &mut problems);
    }
    problems
}

fn check_invariants(s: &Schema, level: Level, path: &str, out: &mut Vec<Problem>) {
    let at = |keyword: &str| paths::child(path, keyword);
    if s.type_str() == "array" && s.items.is_none() {
        out.push(Problem::required(&at("items"), "must be specified"));
    }
    if let Some(items) = &s.items {
        check_invariants(items, Level::Item, &at("items"), out);
    }
    for (name, prop) in &s.properties {
        check_invariants(
            prop,
            Level::Field,
            &paths::key(&at("properties"), name),
            out,
        );
    }
    if let Some(additional) = &s.additional {
        if level == Level::Root {
            out.push(Problem::forbidden(
                &at("additionalProperties"),
                "must not be used at the root",
            ));
        }
        if let Additional::Schema(value_schema) = additional {
            check_invariants(value_schema, Level::Field, &at("additionalProperties"), out);
        }
    }
    check_extensions(s, path, out);
    check_value_validation(
        s,
        is_int_or_string_any_of(&s.any_of),
        is_int_or_string_all_of(s),
        path,
        out,
    );
    check_type_presence(s, level, path, out);
    check_type_meta(s, level, path, out);
}

fn check_extensions(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    if s.int_or_string && s.preserves_unknown() {
        let field = paths::child(path, "x-kubernetes-preserve-unknown-fields");
        out.push(Problem::invalid(
            &field,
            "true",
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
    if s.int_or_string && s.embedded_resource {
        let field = paths::child(path, "x-kubernetes-embedded-resource");
        out.push(Problem::invalid(
            &field,
            "true",
            "must be false if x-kubernetes-int-or-string is true",
        ));
    }
}

fn check_type_presence(s: &Schema, level: Level, path: &str, out: &mut Vec<Problem>) {
    let field = paths::child(path, "type");
    let t = s.type_str();
    if s.embedded_resource && t != "object" {
        let detail = "must be object if x-kubernetes-embedded-resource is true";
        out.push(if t.is_empty() {
            Problem::required(&field, detail)
        } else {
            Problem::invalid(&field, &gofmt::quote(t), detail)
        });
    } else if t.is_empty() && !s.int_or_string && !s.preserves_unknown() {
        let detail = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        out.push(Problem::required(&field, detail));
    }
    if s.embedded_resource && s.additional.is_some() {
        let field = paths::child(path, "additionalProperties");
        out.push(Problem::forbidden(
            &field,
            "must not be used if x-kubernetes-embedded-resource is set",
        ));
    }
    if level == Level::Root && !t.is_empty() && t != "object" {
        out.push(Problem::invalid(
            &field,
            &gofmt::quote(t),
            "must be object at the root",
        ));
    }
    if s.embedded_resource && !s.preserves_unknown() && s.properties.is_empty() {
        let detail = "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields";
        out.push(Problem::required(&paths::child(path, "properties"), detail));
    }
}

/// `kind`/`apiVersion` must be strings and `metadata` an object wherever a
/// resource starts; at the root `metadata` may only restrict name/generateName.
fn check_type_meta(s: &Schema, level: Level, path: &str, out: &mut Vec<Problem>) {
    let resource = level == Level::Root || s.embedded_resource;
    let props = paths::child(path, "properties");
    for name in ["kind", "apiVersion"] {
        if let Some(prop) = s.properties.get(name)
            && resource
            && prop.type_str() != "string"
        {
            let field = paths::child(&paths::key(&props, name), "type");
            out.push(Problem::invalid(
                &field,
                &gofmt::quote(prop.type_str()),
                "must be string",
            ));
        }
    }
    let Some(metadata) = s.properties.get("metadata") else {
        return;
    };
    let meta_path = paths::key(&props, "metadata");
    if resource && metadata.type_str() != "object" {
        out.push(Problem::invalid(
            &paths::child(&meta_path, "type"),
            &gofmt::quote(metadata.type_str()),
            "must be object",
        ));
    }
    if level == Level::Root && restricts_more_than_names(metadata) {
        let detail = "must not specify anything other than name and generateName, but metadata is implicitly specified";
        out.push(Problem::forbidden(&meta_path, detail));
    }
}

fn restricts_more_than_names(metadata: &Schema) -> bool {
    let only_names = metadata
        .properties
        .keys()
        .all(|k| k == "name" || k == "generateName");
    metadata.keys.iter().any(|k| match k.as_str() {
        "type" | "default" => false,
        "properties" => !only_names,
        _ => true,
    })
}

/// The junctors and pattern of a node (validateValueValidation upstream).
/// The int-or-string idioms may skip the `anyOf` (or the first `allOf`'s
/// `anyOf`), whose branches legitimately carry types.
fn check_value_validation(
    s: &Schema,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &str,
    out: &mut Vec<Problem>,
) {
    let at = |keyword: &str| paths::child(path, keyword);
    if !skip_any_of {
        for (i, branch) in s.any_of.iter().enumerate() {
            check_nested(branch, false, &paths::index(&at("anyOf"), i), out);
        }
    }
    for (i, branch) in s.all_of.iter().enumerate() {
        check_nested(
            branch,
            skip_first_all_of_any_of && i == 0,
            &paths::index(&at("allOf"), i),
            out,
        );
    }
    for (i, branch) in s.one_of.iter().enumerate() {
        check_nested(branch, false, &paths::index(&at("oneOf"), i), out);
    }
    if let Some(not) = &s.not {
        check_nested(not, false, &at("not"), out);
    }
    if let (Some(pattern), Some(Err(error))) = (&s.pattern, &s.regex) {
        let detail = format!("must be a valid regular expression, but isn't: {error}");
        out.push(Problem::invalid(
            &at("pattern"),
            &gofmt::quote(pattern),
            &detail,
        ));
    }
}

/// `anyOf: [{type: integer}, {type: string}]`, the int-or-string idiom.
fn is_int_or_string_any_of(any_of: &[Schema]) -> bool {
    any_of.len() == 2 && any_of[0].is_bare_type("integer") && any_of[1].is_bare_type("string")
}

fn is_int_or_string_all_of(s: &Schema) -> bool {
    s.all_of
        .first()
        .is_some_and(|first| is_int_or_string_any_of(&first.any_of))
}

/// Keywords a junctor branch may not use, with upstream's detail.
const NESTED_FORBIDDEN: &[(&str, &str)] = &[
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("externalDocs", "must be undefined to be structural"),
    (
        "x-kubernetes-list-map-keys",
        "must be empty to be structural",
    ),
    (
        "x-kubernetes-list-type",
        "must be undefined to be structural",
    ),
    (
        "x-kubernetes-map-type",
        "must be undefined to be structural",
    ),
    ("x-kubernetes-validations", "must be empty to be structural"),
];

/// A junctor branch only restricts values: no types, defaults, docs or
/// extensions, and no reasoning about `metadata`.
fn check_nested(s: &Schema, skip_any_of: bool, path: &str, out: &mut Vec<Problem>) {
    let at = |keyword: &str| paths::child(path, keyword);
    check_value_validation(s, skip_any_of, false, path, out);
    if let Some(items) = &s.items {
        check_nested(items, false, &at("items"), out);
    }
    for (name, prop) in &s.properties {
        check_nested(prop, false, &paths::key(&at("properties"), name), out);
    }
    for (keyword, detail) in NESTED_FORBIDDEN {
        if s.has(keyword)
            && !(*keyword == "x-kubernetes-list-map-keys" && s.list_map_keys.is_empty())
        {
            out.push(Problem::forbidden(&at(keyword), detail));
        }
    }
    for (keyword, set) in [
        ("nullable", s.nullable),
        (
            "x-kubernetes-preserve-unknown-fields",
            s.preserves_unknown(),
        ),
        ("x-kubernetes-embedded-resource", s.embedded_resource),
        ("x-kubernetes-int-or-string", s.int_or_string),
    ] {
        if set {
            out.push(Problem::forbidden(
                &at(keyword),
                "must be false to be structural",
            ));
        }
    }
    if s.properties.contains_key("metadata") {
        let field = paths::key(&at("properties"), "metadata");
        out.push(Problem::forbidden(
            &field,
            "must not be specified in a nested context",
        ));
    }
}

/// Every field or array a root junctor mentions must also be specified
/// structurally (upstream checks the root's junctors only).
fn check_completeness(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    junctor_completeness(s, s, path, path, out);
}

fn junctor_completeness(
    v: &Schema,
    s: &Schema,
    s_path: &str,
    v_path: &str,
    out: &mut Vec<Problem>,
) {
    if let Some(not) = &v.not {
        nested_completeness(not, Some(s), s_path, &paths::child(v_path, "not"), out);
    }
    for (keyword, branches) in [
        ("allOf", &v.all_of),
        ("anyOf", &v.any_of),
        ("oneOf", &v.one_of),
    ] {
        for (i, branch) in branches.iter().enumerate() {
            let branch_path = paths::index(&paths::child(v_path, keyword), i);
            nested_completeness(branch, Some(s), s_path, &branch_path, out);
        }
    }
}

fn nested_completeness(
    v: &Schema,
    s: Option<&Schema>,
    s_path: &str,
    v_path: &str,
    out: &mut Vec<Problem>,
) {
    let Some(s) = s else {
        out.push(Problem::required(
            s_path,
            &format!("because it is defined in {v_path}"),
        ));
        return;
    };
    junctor_completeness(v, s, s_path, v_path, out);
    if let Some(items) = &v.items {
        let s_items = paths::child(s_path, "items");
        nested_completeness(
            items,
            s.items.as_deref(),
            &s_items,
            &paths::child(v_path, "items"),
            out,
        );
    }
    for (name, prop) in &v.properties {
        let s_prop = paths::key(&paths::child(s_path, "properties"), name);
        let v_prop = paths::key(&paths::child(v_path, "properties"), name);
        nested_completeness(prop, s.properties.get(name), &s_prop, &v_prop, out);
    }
}

/// Defaults must validate against their own schema and contain no field
/// pruning would drop (ValidateDefaults upstream). Defaults under
/// `additionalProperties` are not followed, as upstream.
fn check_defaults(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    if let Some(default) = &s.default {
        let field = paths::child(path, "default");
        let mut pruned = default.clone();
        if !prune::prune_value(&mut pruned, s).is_empty() {
            out.push(Problem::invalid(
                &field,
                &gofmt::bad(default),
                "must not have unknown fields",
            ));
        }
        out.extend(validate::validate_value(default, s, &field));
    }
    if let Some(items) = &s.items {
        check_defaults(items, &paths::child(path, "items"), out);
    }
    for (name, prop) in &s.properties {
        check_defaults(
            prop,
            &paths::key(&paths::child(path, "properties"), name),
            out,
        );
    }
}
