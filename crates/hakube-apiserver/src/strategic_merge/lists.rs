//! Merging of list fields: lists with merge strategy merge item by item on their merge
//! key (objects) or by equality (scalars), honouring `$patch` items; other lists are
//! replaced whole by the patch's list.

use serde_json::Value;

use super::directives::{ListDirectives, PatchDirective, item_directive};
use super::field_rules::FieldStrategy::{MergeByKey, MergePrimitives};
use super::merger::Merger;
use super::ordering::{check_items_follow_order, order_identities, order_merged_items};
use super::{Object, StrategicMergeError, field_name};

/// A merged list's patch, split into the items to merge and its directive items.
#[derive(Debug, Default)]
struct SplitPatchList<'p> {
    items: Vec<&'p Value>,
    /// Merge key values of the `{"$patch": "delete"}` items.
    deleted_keys: Vec<&'p Value>,
    /// A `{"$patch": "replace"}` item: the other items become the whole list.
    replace_whole: bool,
}

impl Merger<'_> {
    /// Merges a list field. `original` is `None` when the object has no list there;
    /// `patch_items` is `None` when only parallel-list directives name the field.
    pub(super) fn merge_list<'p>(
        &self,
        original: Option<Vec<Value>>,
        patch_items: Option<&'p [Value]>,
        directives: ListDirectives<'p>,
        path: &[&'p str],
    ) -> Result<Vec<Value>, StrategicMergeError> {
        let mut base = original.unwrap_or_default();
        if let Some(deletions) = directives.deletions {
            base.retain(|item| !deletions.contains(item));
        }
        let (merge_key, patch_items) = match (self.strategy(path), patch_items) {
            (Some(MergeByKey(key)), items) => (Some(key), items.unwrap_or_default()),
            (Some(MergePrimitives), items) => (None, items.unwrap_or_default()),
            (_, Some(items)) => return self.replace_list(items, path),
            (_, None) => return Ok(base),
        };
        self.merge_items(base, patch_items, merge_key, directives.order, path)
    }

    /// Merges the items of a list with merge strategy: by `merge_key` for objects, by
    /// equality for scalars (and for objects when the list has no key).
    fn merge_items<'p>(
        &self,
        base: Vec<Value>,
        patch_items: &'p [Value],
        merge_key: Option<&str>,
        order: Option<&'p [Value]>,
        path: &[&'p str],
    ) -> Result<Vec<Value>, StrategicMergeError> {
        let split = split_patch_list(patch_items, merge_key, path)?;
        let mut merged = base;
        if let Some(key) = merge_key {
            merged.retain(|item| {
                !split
                    .deleted_keys
                    .iter()
                    .any(|deleted| item.get(key) == Some(*deleted))
            });
        }
        if split.replace_whole {
            merged.clear();
        }
        // Positions of the surviving original items, used to interleave them afterwards.
        let server_order: Vec<Value> = merged
            .iter()
            .filter_map(|item| identity(item, merge_key))
            .cloned()
            .collect();
        for item in &split.items {
            self.merge_item(&mut merged, item, merge_key, path)?;
        }
        let wanted_order = match order {
            Some(order) => {
                let wanted = order_identities(order, merge_key, path)?;
                check_items_follow_order(&split.items, &wanted, merge_key, path)?;
                wanted
            }
            // After `$patch: replace` the patch items are the list, in the patch's order.
            None if split.replace_whole => Vec::new(),
            None => split
                .items
                .iter()
                .filter_map(|item| identity(item, merge_key))
                .collect(),
        };
        Ok(order_merged_items(
            merged,
            &wanted_order,
            &server_order,
            merge_key,
        ))
    }

    /// Merges one patch item into the list: into the item with the same merge key, or
    /// as a new item.
    fn merge_item<'p>(
        &self,
        merged: &mut Vec<Value>,
        item: &'p Value,
        merge_key: Option<&str>,
        path: &[&'p str],
    ) -> Result<(), StrategicMergeError> {
        if let (Some(key), Value::Object(patch_fields)) = (merge_key, item) {
            let key_value = required_merge_key(item, key, path)?;
            match merged
                .iter()
                .position(|existing| existing.get(key) == Some(key_value))
            {
                Some(index) => {
                    let existing = into_object(std::mem::take(&mut merged[index]));
                    merged[index] = Value::Object(self.merge_map(existing, patch_fields, path)?);
                }
                None => merged.push(Value::Object(self.merge_map(
                    Object::new(),
                    patch_fields,
                    path,
                )?)),
            }
            return Ok(());
        }
        let value = self.new_value(item, path)?;
        if !merged.contains(&value) {
            merged.push(value);
        }
        Ok(())
    }

    /// A list without merge strategy: the patch list is the result.
    fn replace_list<'p>(
        &self,
        patch_items: &'p [Value],
        path: &[&'p str],
    ) -> Result<Vec<Value>, StrategicMergeError> {
        let mut replaced = Vec::with_capacity(patch_items.len());
        for item in patch_items {
            match item_directive(item, path)? {
                // The list is replaced anyway; only the marker item itself goes away.
                Some(PatchDirective::Replace) => {}
                Some(PatchDirective::Delete) => {
                    return Err(StrategicMergeError::DeleteWithoutMergeKey {
                        field: field_name(path),
                    });
                }
                Some(PatchDirective::Merge) | None => replaced.push(self.new_value(item, path)?),
            }
        }
        Ok(replaced)
    }
}

fn split_patch_list<'p>(
    patch_items: &'p [Value],
    merge_key: Option<&str>,
    path: &[&str],
) -> Result<SplitPatchList<'p>, StrategicMergeError> {
    let mut split = SplitPatchList::default();
    for item in patch_items {
        match item_directive(item, path)? {
            Some(PatchDirective::Replace) => split.replace_whole = true,
            Some(PatchDirective::Delete) => {
                let key = merge_key.ok_or_else(|| StrategicMergeError::DeleteWithoutMergeKey {
                    field: field_name(path),
                })?;
                split
                    .deleted_keys
                    .push(required_merge_key(item, key, path)?);
            }
            // `$patch: merge` is the default; merge_map drops the marker.
            Some(PatchDirective::Merge) | None => {
                if let (Some(key), Value::Object(_)) = (merge_key, item) {
                    required_merge_key(item, key, path)?;
                }
                split.items.push(item);
            }
        }
    }
    Ok(split)
}

/// What identifies a list item: its merge key value, or the item itself for scalars.
pub(super) fn identity<'v>(item: &'v Value, merge_key: Option<&str>) -> Option<&'v Value> {
    match (merge_key, item) {
        (Some(key), Value::Object(fields)) => fields.get(key),
        _ => Some(item),
    }
}

pub(super) fn required_merge_key<'v>(
    item: &'v Value,
    merge_key: &str,
    path: &[&str],
) -> Result<&'v Value, StrategicMergeError> {
    item.get(merge_key)
        .ok_or_else(|| StrategicMergeError::MissingMergeKey {
            merge_key: merge_key.to_owned(),
            field: field_name(path),
        })
}

fn into_object(value: Value) -> Object {
    match value {
        Value::Object(fields) => fields,
        _ => Object::new(),
    }
}
