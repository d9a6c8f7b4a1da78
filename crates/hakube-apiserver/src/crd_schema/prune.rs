//! Pruning of fields a structural schema does not specify (pruning.Prune
//! upstream), recording each removed path the way UnknownFieldPathOptions
//! does (`spec.foo`, `spec.items[0].bar`) for fieldValidation=Strict/Warn.

use serde_json::{Map, Value};

use super::schema::Schema;

/// Fields that belong to the server at resource roots and are never pruned.
const META_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

/// Prunes a whole resource: the root is treated as an embedded resource.
pub(crate) fn prune_resource(object: &mut Value, schema: &Schema) -> Vec<String> {
    let mut pruner = Pruner::default();
    pruner.prune(object, Some(schema), true, "");
    pruner.paths
}

/// Prunes a standalone value (a schema default) against its schema.
pub(crate) fn prune_value(value: &mut Value, schema: &Schema) -> Vec<String> {
    let mut pruner = Pruner::default();
    pruner.prune(value, Some(schema), schema.embedded_resource, "");
    pruner.paths
}

#[derive(Default)]
struct Pruner {
    paths: Vec<String>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Pruner {
    /// `embedded` says whether meta fields are exempt at this level.
    fn prune(&mut self, x: &mut Value, s: Option<&Schema>, embedded: bool, path: &str) {
        if let Some(s) = s
            && s.preserves_unknown()
        {
            self.skip(x, s, embedded, path);
            return;
        }
        match x {
            Value::Object(map) => self.prune_object(map, s, embedded, path),
            Value::Array(items) => {
                let item_schema = s.and_then(|s| s.items.as_deref());
                for (i, item) in items.iter_mut().enumerate() {
                    let embedded = item_schema.is_some_and(|s| s.embedded_resource);
                    self.prune(item, item_schema, embedded, &format!("{path}[{i}]"));
                }
            }
            _ => {}
        }
    }

    fn prune_object(
        &mut self,
        map: &mut Map<String, Value>,
        s: Option<&Schema>,
        embedded: bool,
        path: &str,
    ) {
        let Some(s) = s else {
            // a value with no schema at all (e.g. under additionalProperties: true) keeps no fields
            self.paths.extend(map.keys().map(|k| join(path, k)));
            map.clear();
            return;
        };
        let mut unknown = Vec::new();
        for (key, v) in map.iter_mut() {
            if embedded && META_FIELDS.contains(&key.as_str()) {
                continue;
            }
            if let Some(prop) = s.properties.get(key) {
                self.prune(v, Some(prop), prop.embedded_resource, &join(path, key));
            } else if let Some(additional) = &s.additional {
                let value_schema = additional.schema();
                self.prune(
                    v,
                    value_schema,
                    value_schema.is_some_and(|s| s.embedded_resource),
                    &join(path, key),
                );
            } else {
                self.paths.push(join(path, key));
                unknown.push(key.clone());
            }
        }
        // retain keeps key order when serde_json preserves insertion order
        map.retain(|k, _| !unknown.contains(k));
    }

    /// Under `x-kubernetes-preserve-unknown-fields`: unknown fields stay, but
    /// specified ones are still pruned inside.
    fn skip(&mut self, x: &mut Value, s: &Schema, embedded: bool, path: &str) {
        match x {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if embedded && META_FIELDS.contains(&key.as_str()) {
                        continue;
                    }
                    if let Some(prop) = s.properties.get(key) {
                        self.prune(v, Some(prop), prop.embedded_resource, &join(path, key));
                    } else if let Some(additional) = &s.additional {
                        let value_schema = additional.schema();
                        self.prune(
                            v,
                            value_schema,
                            value_schema.is_some_and(|s| s.embedded_resource),
                            &join(path, key),
                        );
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = s.items.as_deref() {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.skip(
                            item,
                            item_schema,
                            item_schema.embedded_resource,
                            &format!("{path}[{i}]"),
                        );
                    }
                }
            }
            _ => {}
        }
    }
}
