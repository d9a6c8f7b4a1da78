//! Keyword-level rules every CRD schema node must follow
//! (ValidateCustomResourceDefinitionOpenAPISchema upstream): valid types, no
//! unique items, no defaults in resource meta, consistent list/map
//! extensions. Walked over every sub-schema, junctors included.

use super::schema::{Additional, Schema};
use super::{Problem, gofmt, paths};

const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];
const META_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Where in the resource the walk is, which decides whether defaults are allowed.
#[derive(Clone, Default)]
struct Context {
    is_root: bool,
    inside_meta: bool,
    defaults_forbidden: Option<String>,
}

impl Context {
    fn forbid_defaults(&self, reason: String) -> Context {
        Context {
            defaults_forbidden: Some(reason),
            is_root: false,
            ..self.clone()
        }
    }

    fn nested(&self) -> Context {
        Context {
            is_root: false,
            ..self.clone()
        }
    }
}

pub(crate) fn check(schema: &Schema) -> Vec<Problem> {
    let mut out = Vec::new();
    walk(
        schema,
        "",
        &Context {
            is_root: true,
            ..Context::default()
        },
        &mut out,
    );
    out
}

fn walk(s: &Schema, path: &str, ctx: &Context, out: &mut Vec<Problem>) {
    check_node(s, path, ctx, out);
    if let Some(Additional::Schema(value_schema)) = &s.additional {
        let sub = if ctx.inside_meta {
            ctx.forbid_defaults(
                "inside additionalProperties applying to object metadata".to_string(),
            )
        } else {
            ctx.nested()
        };
        walk(
            value_schema,
            &paths::child(path, "additionalProperties"),
            &sub,
            out,
        );
    }
    for (name, prop) in &s.properties {
        let mut sub = ctx.nested();
        if (ctx.is_root || s.embedded_resource) && META_FIELDS.contains(&name.as_str()) {
            sub.inside_meta = true;
            if ctx.is_root {
                sub.defaults_forbidden = Some(format!("in top-level {name}"));
            }
        }
        walk(
            prop,
            &paths::key(&paths::child(path, "properties"), name),
            &sub,
            out,
        );
    }
    if let Some(not) = &s.not {
        walk(not, &paths::child(path, "not"), &ctx.nested(), out);
    }
    for (keyword, branches) in [
        ("allOf", &s.all_of),
        ("oneOf", &s.one_of),
        ("anyOf", &s.any_of),
    ] {
        for (i, branch) in branches.iter().enumerate() {
            walk(
                branch,
                &paths::index(&paths::child(path, keyword), i),
                &ctx.nested(),
                out,
            );
        }
    }
    if let Some(items) = &s.items {
        walk(items, &paths::child(path, "items"), &ctx.nested(), out);
    }
}

fn check_node(s: &Schema, path: &str, ctx: &Context, out: &mut Vec<Problem>) {
    let at = |keyword: &str| paths::child(path, keyword);
    let t = s.type_str();
    if !t.is_empty() && !TYPES.contains(&t) {
        let supported: Vec<String> = TYPES.iter().map(|t| t.to_string()).collect();
        out.push(Problem::not_supported(
            &at("type"),
            &gofmt::quote(t),
            &supported,
        ));
    }
    if t == "null" {
        out.push(Problem::forbidden(
            &at("type"),
            "type cannot be set to null, use nullable as an alternative",
        ));
    }
    if s.default.is_some()
        && let Some(reason) = &ctx.defaults_forbidden
    {
        out.push(Problem::forbidden(
            &at("default"),
            &format!("must not be set {reason}"),
        ));
    }
    if ctx.inside_meta && s.embedded_resource {
        out.push(Problem::forbidden(
            &at("x-kubernetes-embedded-resource"),
            "must not be used inside of resource meta",
        ));
    }
    if s.unique_items {
        let detail =
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic";
        out.push(Problem::forbidden(&at("uniqueItems"), detail));
    }
    let conflicting = matches!(
        s.additional,
        Some(Additional::Allows(false)) | Some(Additional::Schema(_))
    );
    if !s.properties.is_empty() && conflicting {
        out.push(Problem::forbidden(
            &at("additionalProperties"),
            "additionalProperties and properties are mutual exclusive",
        ));
    }
    if s.preserve_unknown == Some(false) {
        out.push(Problem::invalid(
            &at("x-kubernetes-preserve-unknown-fields"),
            "false",
            "must be true or undefined",
        ));
    }
    check_map_type(s, path, out);
    check_list_type(s, path, out);
}

/// Reports a type that must be `want` because of `reason`.
fn require_type(s: &Schema, path: &str, want: &str, reason: &str, out: &mut Vec<Problem>) {
    let field = paths::child(path, "type");
    let detail = format!("must be {want} if {reason}");
    match s.type_str() {
        "" => out.push(Problem::required(&field, &detail)),
        t if t != want => out.push(Problem::invalid(&field, &gofmt::quote(t), &detail)),
        _ => {}
    }
}

fn check_map_type(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    let Some(map_type) = &s.map_type else { return };
    require_type(s, path, "object", "x-kubernetes-map-type is specified", out);
    if map_type != "atomic" && map_type != "granular" {
        let allowed = ["atomic".to_string(), "granular".to_string()];
        out.push(Problem::not_supported(
            &paths::child(path, "x-kubernetes-map-type"),
            &gofmt::quote(map_type),
            &allowed,
        ));
    }
}

fn check_list_type(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    let at = |keyword: &str| paths::child(path, keyword);
    if let Some(list_type) = &s.list_type {
        require_type(s, path, "array", "x-kubernetes-list-type is specified", out);
        if !["atomic", "set", "map"].contains(&list_type.as_str()) {
            let allowed: Vec<String> = ["atomic", "set", "map"]
                .iter()
                .map(|t| t.to_string())
                .collect();
            out.push(Problem::not_supported(
                &at("x-kubernetes-list-type"),
                &gofmt::quote(list_type),
                &allowed,
            ));
        }
    }
    if !s.list_map_keys.is_empty() {
        let detail = "must be map if x-kubernetes-list-map-keys is non-empty";
        match s.list_type.as_deref() {
            None => out.push(Problem::required(&at("x-kubernetes-list-type"), detail)),
            Some("map") => {}
            Some(other) => out.push(Problem::invalid(
                &at("x-kubernetes-list-type"),
                &gofmt::quote(other),
                detail,
            )),
        }
    }
    match s.list_type.as_deref() {
        Some("set") => check_set_items(s, path, out),
        Some("map") => check_map_list(s, path, out),
        _ => {}
    }
}

/// Set elements must be atomic, and may not be null.
fn check_set_items(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    let Some(items) = &s.items else { return };
    let items_path = paths::child(path, "items");
    let detail = "must be atomic as item of a list with x-kubernetes-list-type=set";
    match items.type_str() {
        "array" if items.list_type.as_deref().is_some_and(|t| t != "atomic") => {
            let bad = gofmt::quote(items.list_type.as_deref().unwrap_or(""));
            out.push(Problem::invalid(
                &paths::child(&items_path, "x-kubernetes-list-type"),
                &bad,
                detail,
            ));
        }
        "object" if items.map_type.as_deref() != Some("atomic") => {
            let bad = gofmt::quote(items.map_type.as_deref().unwrap_or(""));
            out.push(Problem::invalid(
                &paths::child(&items_path, "x-kubernetes-map-type"),
                &bad,
                detail,
            ));
        }
        _ => {}
    }
    if items.nullable {
        out.push(Problem::forbidden(
            &paths::child(&items_path, "nullable"),
            "cannot be nullable when x-kubernetes-list-type is set",
        ));
    }
}

/// Map lists need object items whose key fields exist, are scalar, are
/// required or defaulted, and are not nullable.
fn check_map_list(s: &Schema, path: &str, out: &mut Vec<Problem>) {
    let at = |keyword: &str| paths::child(path, keyword);
    let keys_path = at("x-kubernetes-list-map-keys");
    if s.list_map_keys.is_empty() {
        out.push(Problem::required(
            &keys_path,
            "must not be empty if x-kubernetes-list-type is map",
        ));
    }
    let Some(items) = &s.items else {
        out.push(Problem::required(
            &at("items"),
            "must have a schema if x-kubernetes-list-type is map",
        ));
        return;
    };
    let items_path = at("items");
    if items.type_str() != "object" {
        let detail = "must be object if parent array's x-kubernetes-list-type is map";
        out.push(Problem::invalid(
            &paths::child(&items_path, "type"),
            &gofmt::quote(items.type_str()),
            detail,
        ));
        return;
    }
    if items.nullable {
        out.push(Problem::forbidden(
            &paths::child(&items_path, "nullable"),
            "cannot be nullable when x-kubernetes-list-type is map",
        ));
    }
    let keys_bad = gofmt::string_slice(&s.list_map_keys);
    for (i, key) in s.list_map_keys.iter().enumerate() {
        if s.list_map_keys[..i].contains(key) {
            out.push(Problem::invalid(
                &keys_path,
                &keys_bad,
                "must not contain duplicate entries",
            ));
        }
        let Some(prop) = items.properties.get(key) else {
            out.push(Problem::invalid(
                &keys_path,
                &keys_bad,
                "entries must all be names of item properties",
            ));
            continue;
        };
        let prop_path = paths::key(&paths::child(&items_path, "properties"), key);
        if matches!(prop.type_str(), "array" | "object") {
            let detail = "must be a scalar type if parent array's x-kubernetes-list-type is map";
            out.push(Problem::invalid(
                &paths::child(&prop_path, "type"),
                &gofmt::quote(items.type_str()),
                detail,
            ));
        }
        if !items.required.contains(key) && prop.default.is_none() {
            let detail = "this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property";
            out.push(Problem::required(
                &paths::child(&prop_path, "default"),
                detail,
            ));
        }
        if prop.nullable {
            let detail = "this property is in x-kubernetes-list-map-keys, so it cannot be nullable";
            out.push(Problem::forbidden(
                &paths::child(&prop_path, "nullable"),
                detail,
            ));
        }
    }
}
