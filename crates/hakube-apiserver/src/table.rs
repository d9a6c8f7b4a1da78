//! meta.k8s.io/v1 Tables, what `kubectl get` prints: the printer's columns and one row per
//! object, each row carrying the object's metadata (or the whole object with
//! `includeObject=Object`, which `--sort-by` needs).

use serde_json::{Value, json};

use crate::objects;
use crate::printers::printer_for;
use crate::request::Query;
use crate::resources::ResourceType;

fn row_object(object: &Value, include: &str) -> Value {
    match include {
        "Object" => object.clone(),
        "None" => Value::Null,
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
    }
}

/// The columns of `resource`'s printer as Table column definitions.
pub fn columns(resource: &ResourceType) -> Vec<Value> {
    if let Some(custom) = &resource.custom {
        return crate::printers::custom::columns(&custom.printer_columns);
    }
    printer_for(&resource.group, &resource.plural)
        .columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.column_type, "format": c.format,
                "description": c.description, "priority": c.priority})
        })
        .collect()
}

/// One row per object.
pub fn rows(resource: &ResourceType, objects: &[Value], include: &str) -> Vec<Value> {
    let printer = printer_for(&resource.group, &resource.plural);
    let now = objects::now_unix_seconds();
    let custom = resource
        .custom
        .as_ref()
        .map(|custom| crate::printers::custom::Cells::new(&custom.printer_columns));
    let cells = |object: &Value| match &custom {
        Some(custom) => custom.row(object, now),
        None => (printer.cells)(object, now),
    };
    objects
        .iter()
        .map(|object| json!({"cells": cells(object), "object": row_object(object, include)}))
        .collect()
}

/// A whole Table for a list or a single GET; `metadata` is the list metadata.
pub fn build(resource: &ResourceType, objects: &[Value], query: &Query, metadata: Value) -> Value {
    let include = query.get("includeObject").unwrap_or("Metadata");
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns(resource),
        "rows": rows(resource, objects, include),
    })
}
