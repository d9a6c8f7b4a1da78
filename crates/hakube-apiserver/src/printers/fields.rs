//! JSON field access and the formatting helpers shared by several printers:
//! label maps, label selectors, container lists and "<none>" fallbacks.
//!
//! Objects arrive as stored JSON, so any field may be absent or `null`; every
//! accessor here degrades to the Go zero value upstream would have seen.

use serde_json::{Map, Value};

use super::duration::age;

/// The value at `path` inside `object`, treating `null` as absent.
pub(super) fn field<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut current = object;
    for key in path {
        current = current.get(key)?;
    }
    if current.is_null() {
        None
    } else {
        Some(current)
    }
}

/// The string at `path`, or "" like an unset Go string field.
pub(super) fn text<'a>(object: &'a Value, path: &[&str]) -> &'a str {
    optional_text(object, path).unwrap_or("")
}

/// The string at `path`, or `None` when absent (a Go `*string`).
pub(super) fn optional_text<'a>(object: &'a Value, path: &[&str]) -> Option<&'a str> {
    field(object, path).and_then(Value::as_str)
}

/// The integer at `path`, or `None` when absent (a Go `*int32`).
pub(super) fn optional_integer(object: &Value, path: &[&str]) -> Option<i64> {
    field(object, path).and_then(Value::as_i64)
}

/// The integer at `path`, or 0 like an unset Go integer field.
pub(super) fn integer(object: &Value, path: &[&str]) -> i64 {
    optional_integer(object, path).unwrap_or(0)
}

/// The boolean at `path`, or `None` when absent (a Go `*bool`).
pub(super) fn optional_boolean(object: &Value, path: &[&str]) -> Option<bool> {
    field(object, path).and_then(Value::as_bool)
}

/// The boolean at `path`, or false like an unset Go bool field.
pub(super) fn boolean(object: &Value, path: &[&str]) -> bool {
    optional_boolean(object, path).unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(super) fn array<'a>(object: &'a Value, path: &[&str]) -> &'a [Value] {
    field(object, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The JSON object (map) at `path`, if any.
pub(super) fn map<'a>(object: &'a Value, path: &[&str]) -> Option<&'a Map<String, Value>> {
    field(object, path).and_then(Value::as_object)
}

/// Number of entries of the map at `path` (0 when absent).
pub(super) fn map_length(object: &Value, path: &[&str]) -> i64 {
    map(object, path).map_or(0, |entries| length(entries.len()))
}

/// A collection length as the integer a cell carries.
pub(super) fn length(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// `metadata.name` as a cell.
pub(super) fn name_cell(object: &Value) -> Value {
    Value::from(text(object, &["metadata", "name"]))
}

/// The Age cell: time since `metadata.creationTimestamp`.
pub(super) fn age_cell(object: &Value, now_unix_seconds: i64) -> Value {
    Value::from(age(
        optional_text(object, &["metadata", "creationTimestamp"]),
        now_unix_seconds,
    ))
}

/// Whether `metadata.deletionTimestamp` is set.
pub(super) fn is_being_deleted(object: &Value) -> bool {
    field(object, &["metadata", "deletionTimestamp"]).is_some()
}

/// `value`, or "<none>" when it is empty.
pub(super) fn or_none(value: &str) -> String {
    or_placeholder(value, "<none>")
}

/// `value`, or `placeholder` when it is empty.
pub(super) fn or_placeholder(value: &str, placeholder: &str) -> String {
    if value.is_empty() {
        placeholder.to_string()
    } else {
        value.to_string()
    }
}

/// A Kubernetes resource.Quantity as printed: stored JSON already holds the
/// canonical string; numbers (hand-written objects) are printed as-is.
pub(super) fn quantity(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// An IntOrString (e.g. a PDB's minAvailable) as Go's `IntOrString.String()`.
pub(super) fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Upstream's `labels.FormatLabels`: "k=v,k2=v2" sorted by key, "<none>" when
/// empty.
pub(super) fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// Upstream's `metav1.FormatLabelSelector`: the selector string, "<none>" when
/// it selects everything or nothing, "<error>" when it is malformed.
pub(super) fn format_label_selector(selector: Option<&Value>) -> String {
    match label_selector_string(selector) {
        Some(rendered) => or_none(&rendered),
        None => "<error>".to_string(),
    }
}

/// Upstream's `LabelSelectorAsSelector(...).String()`: requirements sorted by
/// key and joined by ","; `None` when an operator is unknown.
pub(super) fn label_selector_string(selector: Option<&Value>) -> Option<String> {
    let Some(selector) = selector.filter(|value| !value.is_null()) else {
        return Some(String::new());
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    for (key, value) in map(selector, &["matchLabels"]).into_iter().flatten() {
        let rendered = format!("{key}={}", value.as_str().unwrap_or(""));
        requirements.push((key.clone(), rendered));
    }
    for expression in array(selector, &["matchExpressions"]) {
        let key = text(expression, &["key"]);
        requirements.push((key.to_string(), selector_expression(expression)?));
    }
    // Stable sort by key keeps the matchLabels-before-expressions order for
    // equal keys, as upstream's Add does in practice.
    requirements.sort_by(|left, right| left.0.cmp(&right.0));
    let rendered: Vec<String> = requirements.into_iter().map(|(_, text)| text).collect();
    Some(rendered.join(","))
}

/// One matchExpressions entry in selector syntax ("k in (a,b)", "!k", ...).
fn selector_expression(expression: &Value) -> Option<String> {
    let key = text(expression, &["key"]);
    let mut values: Vec<&str> = array(expression, &["values"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    // Upstream normalises value order on output.
    values.sort_unstable();
    let joined = values.join(",");
    match text(expression, &["operator"]) {
        "In" => Some(format!("{key} in ({joined})")),
        "NotIn" => Some(format!("{key} notin ({joined})")),
        "Exists" => Some(key.to_string()),
        "DoesNotExist" => Some(format!("!{key}")),
        _ => None,
    }
}

/// Upstream's `layoutContainerCells`: container names and images, each joined
/// by "," in spec order.
pub(super) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers
        .iter()
        .map(|container| text(container, &["name"]))
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|container| text(container, &["image"]))
        .collect();
    (names.join(","), images.join(","))
}

/// The containers of a pod template at `template_path` (e.g. spec.template).
pub(super) fn template_containers<'a>(object: &'a Value, template_path: &[&str]) -> &'a [Value] {
    let mut path: Vec<&str> = template_path.to_vec();
    path.extend(["spec", "containers"]);
    array(object, &path)
}

/// Upstream's `listWithMoreString`: up to `shown` items joined by ",", then
/// " + N more..." for the rest; `empty` when there are none.
pub(super) fn list_with_more(items: &[String], shown: usize, empty: &str) -> String {
    if items.is_empty() {
        return empty.to_string();
    }
    let visible = items[..items.len().min(shown)].join(",");
    if items.len() > shown {
        format!("{visible} + {} more...", items.len() - shown)
    } else {
        visible
    }
}
