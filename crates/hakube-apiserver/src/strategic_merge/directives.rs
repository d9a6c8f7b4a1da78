//! The patch directives: `$patch` on maps and list items, `$retainKeys`, and the
//! parallel lists `$setElementOrder/<field>` and `$deleteFromPrimitiveList/<field>`
//! that accompany a list field. They are read and checked here, and never reach the
//! result.

use serde_json::Value;

use super::{Object, StrategicMergeError, field_name};

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList/";

/// What a `$patch` directive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PatchDirective {
    Merge,
    Replace,
    Delete,
}

/// The parallel-list directives that accompany one list field in a patch map.
#[derive(Debug, Clone, Copy)]
pub(super) struct ListDirectives<'p> {
    /// `$setElementOrder/<field>`: the wanted order of the merged list.
    pub(super) order: Option<&'p [Value]>,
    /// `$deleteFromPrimitiveList/<field>`: values to remove from the list.
    pub(super) deletions: Option<&'p [Value]>,
}

impl<'p> ListDirectives<'p> {
    pub(super) fn read(patch: &'p Object, field: &str) -> Result<Self, StrategicMergeError> {
        Ok(Self {
            order: parallel_list(patch, SET_ELEMENT_ORDER_PREFIX, field)?,
            deletions: parallel_list(patch, DELETE_FROM_PRIMITIVE_LIST_PREFIX, field)?,
        })
    }
}

/// The fields a patch map touches, in patch order: its plain keys plus the fields named
/// by parallel-list directives. Rejects unknown `$` directives.
pub(super) fn touched_fields<'p>(
    patch: &'p Object,
    path: &[&str],
) -> Result<Vec<&'p str>, StrategicMergeError> {
    let mut fields = Vec::new();
    for key in patch.keys() {
        if let Some(field) = field_of_key(key, path)?
            && !fields.contains(&field)
        {
            fields.push(field);
        }
    }
    Ok(fields)
}

/// The field a patch key refers to, or `None` for directives about the map itself.
fn field_of_key<'p>(key: &'p str, path: &[&str]) -> Result<Option<&'p str>, StrategicMergeError> {
    if !key.starts_with('$') {
        return Ok(Some(key));
    }
    if key == PATCH_DIRECTIVE || key == RETAIN_KEYS_DIRECTIVE {
        return Ok(None);
    }
    [SET_ELEMENT_ORDER_PREFIX, DELETE_FROM_PRIMITIVE_LIST_PREFIX]
        .iter()
        .find_map(|prefix| key.strip_prefix(prefix))
        .filter(|field| !field.is_empty())
        .map(Some)
        .ok_or_else(|| StrategicMergeError::UnknownDirective {
            directive: key.to_owned(),
            field: field_name(path),
        })
}

fn parallel_list<'p>(
    patch: &'p Object,
    prefix: &str,
    field: &str,
) -> Result<Option<&'p [Value]>, StrategicMergeError> {
    let directive = format!("{prefix}{field}");
    match patch.get(&directive) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.as_slice())),
        Some(_) => Err(StrategicMergeError::DirectiveNotList { directive }),
    }
}

pub(super) fn patch_directive(
    patch: &Object,
    path: &[&str],
) -> Result<PatchDirective, StrategicMergeError> {
    patch
        .get(PATCH_DIRECTIVE)
        .map_or(Ok(PatchDirective::Merge), |value| {
            parse_patch_directive(value, path)
        })
}

/// The `$patch` directive of a list item, if the item is an object carrying one.
pub(super) fn item_directive(
    item: &Value,
    path: &[&str],
) -> Result<Option<PatchDirective>, StrategicMergeError> {
    item.get(PATCH_DIRECTIVE)
        .map(|value| parse_patch_directive(value, path))
        .transpose()
}

fn parse_patch_directive(
    value: &Value,
    path: &[&str],
) -> Result<PatchDirective, StrategicMergeError> {
    match value.as_str() {
        Some("merge") => Ok(PatchDirective::Merge),
        Some("replace") => Ok(PatchDirective::Replace),
        Some("delete") => Ok(PatchDirective::Delete),
        _ => Err(StrategicMergeError::InvalidPatchValue {
            value: value.to_string(),
            field: field_name(path),
        }),
    }
}

/// Honours `$retainKeys`: the original keeps only the listed fields. Like upstream,
/// a patch that sets a field it does not retain is rejected as self-contradictory.
pub(super) fn apply_retain_keys(
    merged: &mut Object,
    patch: &Object,
    path: &[&str],
) -> Result<(), StrategicMergeError> {
    let Some(retain_keys) = patch.get(RETAIN_KEYS_DIRECTIVE) else {
        return Ok(());
    };
    let retained: Vec<&str> = retain_keys
        .as_array()
        .and_then(|names| names.iter().map(Value::as_str).collect())
        .ok_or_else(|| StrategicMergeError::RetainKeysNotNames {
            field: field_name(path),
        })?;
    let unretained = patch.iter().find(|(key, value)| {
        !key.starts_with('$') && !value.is_null() && !retained.contains(&key.as_str())
    });
    if let Some((key, _)) = unretained {
        return Err(StrategicMergeError::FieldNotRetained {
            key: key.clone(),
            field: field_name(path),
        });
    }
    merged.retain(|key, _| retained.contains(&key.as_str()));
    Ok(())
}
