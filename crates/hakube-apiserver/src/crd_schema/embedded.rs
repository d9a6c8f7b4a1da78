//! Type-meta checks for `x-kubernetes-embedded-resource` values below the
//! root (objectmeta.Validate upstream): `apiVersion` and `kind` must be
//! present, non-empty strings of the right shape. Embedded `metadata` is
//! left to the server's ObjectMeta validation.

use serde_json::{Map, Value};

use super::schema::Schema;
use super::{Problem, gofmt, paths};

const DNS1035_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

pub(crate) fn validate(object: &Value, schema: &Schema) -> Vec<Problem> {
    let mut out = Vec::new();
    walk(object, schema, "", &mut out);
    out
}

fn walk(v: &Value, s: &Schema, path: &str, out: &mut Vec<Problem>) {
    match v {
        Value::Object(map) => {
            if s.embedded_resource {
                check_type_meta(map, path, out);
            }
            for (key, child) in map {
                if let Some(prop) = s.properties.get(key) {
                    walk(child, prop, &paths::child(path, key), out);
                } else if let Some(value_schema) = s.additional.as_ref().and_then(|a| a.schema()) {
                    walk(child, value_schema, &paths::key(path, key), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for (i, item) in items.iter().enumerate() {
                    walk(item, item_schema, &paths::index(path, i), out);
                }
            }
        }
        _ => {}
    }
}

fn check_type_meta(map: &Map<String, Value>, path: &str, out: &mut Vec<Problem>) {
    let api_version_path = paths::child(path, "apiVersion");
    let kind_path = paths::child(path, "kind");
    match map.get("apiVersion") {
        None => out.push(Problem::required(&api_version_path, "")),
        Some(Value::String(s)) if s.is_empty() => {
            out.push(Problem::required(&api_version_path, ""))
        }
        Some(Value::String(s)) if s != "/" && s.matches('/').count() > 1 => {
            let detail = format!("unexpected GroupVersion string: {s}");
            out.push(Problem::invalid(
                &api_version_path,
                &gofmt::quote(s),
                &detail,
            ));
        }
        Some(Value::String(_)) => {}
        Some(other) => out.push(Problem::invalid(
            &api_version_path,
            &gofmt::bad(other),
            "must be a string",
        )),
    }
    match map.get("kind") {
        None => out.push(Problem::required(&kind_path, "")),
        Some(Value::String(s)) if s.is_empty() => out.push(Problem::required(&kind_path, "")),
        Some(Value::String(s)) => {
            let errors = dns1035_errors(&s.to_lowercase());
            if !errors.is_empty() {
                let detail = format!(
                    "may have mixed case, but should otherwise match: {}",
                    errors.join(",")
                );
                out.push(Problem::invalid(&kind_path, &gofmt::quote(s), &detail));
            }
        }
        Some(other) => out.push(Problem::invalid(
            &kind_path,
            &gofmt::bad(other),
            "must be a string",
        )),
    }
}

/// `validation.IsDNS1035Label`.
fn dns1035_errors(s: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if s.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    let bytes = s.as_bytes();
    let valid = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if !valid {
        errors.push(DNS1035_MESSAGE.to_string());
    }
    errors
}
