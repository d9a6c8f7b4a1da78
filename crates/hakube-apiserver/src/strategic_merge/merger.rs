//! The [`Merger`], which walks a patch map and merges it into the original field by
//! field: `null` deletes, maps merge recursively unless their strategy is to replace,
//! scalars replace, and lists go to the list merging in `lists`.

use serde_json::Value;

use super::directives::{
    ListDirectives, PatchDirective, apply_retain_keys, patch_directive, touched_fields,
};
use super::field_rules::FieldStrategy::Replace;
use super::{Object, StrategicMergeError};

/// Carries the kind, which selects kind-specific rows of `field_rules::FIELD_RULES`.
pub(super) struct Merger<'k> {
    pub(super) kind: &'k str,
}

impl Merger<'_> {
    /// Merges a patch map into `original`. `path` holds the field names from the root
    /// down to this map (list items add none); it selects the strategies of the fields.
    pub(super) fn merge_map<'p>(
        &self,
        original: Object,
        patch: &'p Object,
        path: &[&'p str],
    ) -> Result<Object, StrategicMergeError> {
        let mut merged = match patch_directive(patch, path)? {
            // Upstream turns a deleted map into an empty one rather than removing the field.
            PatchDirective::Delete => return Ok(Object::new()),
            PatchDirective::Replace => Object::new(),
            PatchDirective::Merge => original,
        };
        apply_retain_keys(&mut merged, patch, path)?;
        for field in touched_fields(patch, path)? {
            let field_path = child_path(path, field);
            self.merge_field(&mut merged, field, patch, &field_path)?;
        }
        Ok(merged)
    }

    /// Merges the patch's value for one field, together with the parallel-list
    /// directives naming that field, into `merged`.
    fn merge_field<'p>(
        &self,
        merged: &mut Object,
        field: &'p str,
        patch: &'p Object,
        path: &[&'p str],
    ) -> Result<(), StrategicMergeError> {
        let directives = ListDirectives::read(patch, field)?;
        // Values are taken in place and re-inserted (insert keeps a key's position), and
        // deletion uses retain, so key order survives serde_json's `preserve_order`.
        match patch.get(field) {
            Some(Value::Null) => merged.retain(|key, _| key != field),
            Some(Value::Object(patch_fields)) => {
                let original = merged.get_mut(field).map(std::mem::take);
                let value = self.merge_object_field(original, patch_fields, path)?;
                merged.insert(field.to_owned(), Value::Object(value));
            }
            Some(Value::Array(patch_items)) => {
                let original = match merged.get_mut(field).map(std::mem::take) {
                    Some(Value::Array(items)) => Some(items),
                    // Absent, or a different shape that the patch list replaces.
                    _ => None,
                };
                let items = self.merge_list(original, Some(patch_items), directives, path)?;
                merged.insert(field.to_owned(), Value::Array(items));
            }
            Some(scalar) => {
                merged.insert(field.to_owned(), scalar.clone());
            }
            // Only a directive names the field: reorder or prune the existing list.
            None => {
                if let Some(Value::Array(items)) = merged.get_mut(field) {
                    let original = std::mem::take(items);
                    *items = self.merge_list(Some(original), None, directives, path)?;
                }
            }
        }
        Ok(())
    }

    fn merge_object_field<'p>(
        &self,
        original: Option<Value>,
        patch: &'p Object,
        path: &[&'p str],
    ) -> Result<Object, StrategicMergeError> {
        let base = match original {
            Some(Value::Object(fields)) if self.strategy(path) != Some(Replace) => fields,
            // Absent, replaced whole, or a different shape: the patch map stands alone,
            // but still goes through merge_map so nulls and directives are dropped.
            _ => Object::new(),
        };
        self.merge_map(base, patch, path)
    }

    /// A patch value with nothing to merge into, cleaned of nulls and directives.
    pub(super) fn new_value<'p>(
        &self,
        value: &'p Value,
        path: &[&'p str],
    ) -> Result<Value, StrategicMergeError> {
        match value {
            Value::Object(fields) => Ok(Value::Object(self.merge_map(
                Object::new(),
                fields,
                path,
            )?)),
            other => Ok(other.clone()),
        }
    }
}

fn child_path<'p>(path: &[&'p str], field: &'p str) -> Vec<&'p str> {
    let mut child = Vec::with_capacity(path.len() + 1);
    child.extend_from_slice(path);
    child.push(field);
    child
}
