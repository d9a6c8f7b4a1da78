//! The order of a merged list, as upstream computes it: items the patch names follow
//! `$setElementOrder` (or the patch's own order), and items only the original has are
//! interleaved by their original position.

use serde_json::Value;

use super::lists::{identity, required_merge_key};
use super::{StrategicMergeError, field_name};

pub(super) fn order_identities<'p>(
    order: &'p [Value],
    merge_key: Option<&str>,
    path: &[&str],
) -> Result<Vec<&'p Value>, StrategicMergeError> {
    order
        .iter()
        .map(|entry| match (merge_key, entry) {
            (Some(key), Value::Object(_)) => required_merge_key(entry, key, path),
            _ => Ok(entry),
        })
        .collect()
}

/// Upstream rejects a patch whose items are not a subsequence of its
/// `$setElementOrder` list, since the two would ask for different orders.
pub(super) fn check_items_follow_order(
    items: &[&Value],
    wanted_order: &[&Value],
    merge_key: Option<&str>,
    path: &[&str],
) -> Result<(), StrategicMergeError> {
    if wanted_order.is_empty() {
        return Ok(());
    }
    let mut remaining_order = wanted_order.iter();
    for item in items {
        let Some(item_identity) = identity(item, merge_key) else {
            continue;
        };
        if !remaining_order.any(|wanted| *wanted == item_identity) {
            return Err(StrategicMergeError::OrderMismatch {
                field: field_name(path),
            });
        }
    }
    Ok(())
}

/// Orders a merged list like upstream: items named in `wanted_order` come in that
/// order; the others keep their relative order and are slotted in by their position in
/// the original list (`server_order`).
pub(super) fn order_merged_items(
    merged: Vec<Value>,
    wanted_order: &[&Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let wanted_position = |item: &Value| {
        identity(item, merge_key).and_then(|item_identity| {
            wanted_order
                .iter()
                .position(|wanted| *wanted == item_identity)
        })
    };
    let (mut listed, unlisted): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| wanted_position(item).is_some());
    listed.sort_by_key(|item| wanted_position(item));
    interleave(unlisted, listed, server_order, merge_key)
}

/// Upstream's `mergeSortedSlice`: an unlisted item goes first only when both items were
/// in the original list and it came earlier there; otherwise the listed item goes first.
fn interleave(
    unlisted: Vec<Value>,
    listed: Vec<Value>,
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Vec<Value> {
    let server_position = |item: &Value| {
        identity(item, merge_key)
            .and_then(|item_identity| server_order.iter().position(|known| known == item_identity))
    };
    let mut result = Vec::with_capacity(unlisted.len() + listed.len());
    let mut unlisted = unlisted.into_iter().peekable();
    let mut listed = listed.into_iter().peekable();
    while let (Some(unlisted_item), Some(listed_item)) = (unlisted.peek(), listed.peek()) {
        let unlisted_first = matches!(
            (server_position(unlisted_item), server_position(listed_item)),
            (Some(unlisted_index), Some(listed_index)) if unlisted_index < listed_index
        );
        let next = if unlisted_first {
            unlisted.next()
        } else {
            listed.next()
        };
        result.extend(next);
    }
    result.extend(unlisted);
    result.extend(listed);
    result
}
