//! Defaulting (structuraldefaulting upstream): fills `default`s into absent
//! fields of objects that are present, and into non-nullable nulls; nulls
//! that cannot be defaulted are dropped beforehand so they do not fail the
//! type check of a non-nullable field.

use serde_json::Value;

use super::schema::Schema;

/// Applies defaults recursively; defaults are deep-copied and then defaulted
/// themselves, so nested defaults inside a default object also apply.
pub(crate) fn apply(x: &mut Value, s: &Schema) {
    match x {
        Value::Object(map) => {
            for (key, prop) in &s.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                let absent_or_null = map.get(key).is_none_or(|v| v.is_null() && !prop.nullable);
                if absent_or_null {
                    map.insert(key.clone(), default.clone());
                }
            }
            for (key, v) in map.iter_mut() {
                if let Some(prop) = s.properties.get(key) {
                    apply(v, prop);
                } else if let Some(value_schema) = s.additional.as_ref().and_then(|a| a.schema()) {
                    fill_null(v, value_schema);
                    apply(v, value_schema);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = &s.items {
                for item in items.iter_mut() {
                    fill_null(item, item_schema);
                    apply(item, item_schema);
                }
            }
        }
        _ => {}
    }
}

/// A null where the schema is non-nullable takes the schema's default.
fn fill_null(v: &mut Value, s: &Schema) {
    if v.is_null()
        && !s.nullable
        && let Some(default) = &s.default
    {
        *v = default.clone();
    }
}

/// Removes nulls of non-nullable fields that have no default
/// (PruneNonNullableNullsWithoutDefaults upstream).
pub(crate) fn drop_non_nullable_nulls(x: &mut Value, s: Option<&Schema>) {
    match x {
        Value::Object(map) => {
            let field_schema = |key: &str| {
                s.and_then(|s| {
                    s.properties
                        .get(key)
                        .or_else(|| s.additional.as_ref().and_then(|a| a.schema()))
                })
            };
            map.retain(|key, v| {
                let schema = field_schema(key);
                !(v.is_null() && schema.is_some_and(|s| !s.nullable && s.default.is_none()))
            });
            for (key, v) in map.iter_mut() {
                drop_non_nullable_nulls(v, field_schema(key));
            }
        }
        Value::Array(items) => {
            let item_schema = s.and_then(|s| s.items.as_deref());
            for item in items.iter_mut() {
                drop_non_nullable_nulls(item, item_schema);
            }
        }
        _ => {}
    }
}
