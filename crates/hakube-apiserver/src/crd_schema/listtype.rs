//! `x-kubernetes-list-type: set|map` uniqueness, a separate pass upstream
//! (listtype.ValidateListSetsAndMaps) run after schema validation.
//!
//! Paths use apimachinery's `field.Path` style (`spec.labels[key]`), and
//! only the second occurrence of a repeated element is reported, as upstream.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::schema::Schema;
use super::{Problem, gofmt, paths};

pub(crate) fn validate(object: &Value, schema: &Schema) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Value::Object(map) = object {
        walk_object(map, schema, "", &mut out);
    }
    out
}

fn walk_object(map: &Map<String, Value>, s: &Schema, path: &str, out: &mut Vec<Problem>) {
    if let Some(value_schema) = s.additional.as_ref().and_then(|a| a.schema()) {
        for (key, v) in map {
            walk(v, value_schema, &paths::key(path, key), out);
        }
    }
    for (key, v) in map {
        if let Some(prop) = s.properties.get(key) {
            walk(v, prop, &paths::child(path, key), out);
        }
    }
}

fn walk(v: &Value, s: &Schema, path: &str, out: &mut Vec<Problem>) {
    match v {
        Value::Array(items) => walk_array(items, s, path, out),
        Value::Object(map) => walk_object(map, s, path, out),
        _ => {}
    }
}

fn walk_array(items: &[Value], s: &Schema, path: &str, out: &mut Vec<Problem>) {
    match s.list_type.as_deref() {
        Some("set") => {
            for i in repeated(items.iter().map(canonical)) {
                out.push(Problem::duplicate(
                    &paths::index(path, i),
                    &gofmt::bad(&items[i]),
                ));
            }
        }
        Some("map") => check_map_list(items, s, path, out),
        _ => {}
    }
    if let Some(item_schema) = &s.items {
        for (i, item) in items.iter().enumerate() {
            walk(item, item_schema, &paths::index(path, i), out);
        }
    }
}

fn check_map_list(items: &[Value], s: &Schema, path: &str, out: &mut Vec<Problem>) {
    if let Some(i) = items.iter().position(|x| !x.is_null() && !x.is_object()) {
        let detail = "must be an object for an array of list-type map";
        out.push(Problem::invalid(
            &paths::index(path, i),
            &gofmt::bad(&items[i]),
            detail,
        ));
        return;
    }
    // the identity of an element is the object of its key fields; a missing
    // key differs from an explicit null, as upstream's sentinel makes it
    let keys: Vec<Map<String, Value>> = items
        .iter()
        .map(|item| {
            let fields = item.as_object();
            s.list_map_keys
                .iter()
                .filter_map(|k| {
                    fields
                        .and_then(|f| f.get(k))
                        .map(|v| (k.clone(), v.clone()))
                })
                .collect()
        })
        .collect();
    for i in repeated(keys.iter().map(|k| canonical(&Value::Object(k.clone())))) {
        out.push(Problem::duplicate(
            &paths::index(path, i),
            &gofmt::sharp_v(&Value::Object(keys[i].clone())),
        ));
    }
}

/// Indices where an identity is seen for the second time.
fn repeated(identities: impl Iterator<Item = String>) -> Vec<usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, identity) in identities.enumerate() {
        let count = seen.entry(identity).or_insert(0);
        *count += 1;
        if *count == 2 {
            out.push(i);
        }
    }
    out
}

/// JSON with sorted keys, so equal values compare equal regardless of the
/// map implementation (Go marshals maps sorted too). Integers and floats stay
/// distinct, as int64 and float64 do in Go.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String((*k).clone()), canonical(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}
