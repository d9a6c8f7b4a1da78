//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`) over
//! `serde_json::Value`.
//!
//! This module owns the merge semantics kube-apiserver applies to built-in kinds: maps
//! merge recursively (`null` deletes), some lists merge item by item on a merge key,
//! every other list is replaced whole, and the patch directives (`$patch`,
//! `$retainKeys`, `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`) are
//! honoured and never appear in the result.
//!
//! Upstream reads merge keys from Go struct tags. We have no Go types, so
//! `FIELD_RULES` names, per kind and field path, the fields whose strategy is not the
//! default. Unlisted lists are replaced whole (for example `spec.taints`, `tolerations`,
//! `args`, `command`, Namespace `spec.finalizers`); unlisted maps are merged.
//!
//! Ordering follows upstream's implementation, not only its design notes: the items a
//! patch names come in the patch's order (or the `$setElementOrder` order when given),
//! and items only the original has are interleaved by their original position. One
//! consequence: a patch that adds a new item without `$setElementOrder` puts it *before*
//! the existing items, exactly as kube-apiserver does. `kubectl apply` sends
//! `$setElementOrder` for every merged list it changes, so applied manifests keep
//! their own order.

use FieldStrategy::{MergeByKey, MergePrimitives, Replace};
use serde_json::{Map, Value};

type Object = Map<String, Value>;

const PATCH_DIRECTIVE: &str = "$patch";
const RETAIN_KEYS_DIRECTIVE: &str = "$retainKeys";
const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST_PREFIX: &str = "$deleteFromPrimitiveList/";
/// Stands for the top-level object in error messages, which has no field name.
const ROOT_NAME: &str = "<root>";

/// Why a strategic merge patch could not be applied. Each message names the field
/// (the last path segment) where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrategicMergeError {
    #[error("the patch must be a JSON object")]
    PatchNotObject,
    #[error("the object being patched must be a JSON object")]
    OriginalNotObject,
    #[error("merge key \"{merge_key}\" missing from a list item of \"{field}\"")]
    MissingMergeKey { merge_key: String, field: String },
    #[error("unknown patch directive \"{directive}\" in \"{field}\"")]
    UnknownDirective { directive: String, field: String },
    #[error(
        "invalid \"$patch\" value {value} in \"{field}\": expected \"merge\", \"replace\" or \"delete\""
    )]
    InvalidPatchValue { value: String, field: String },
    #[error("\"{directive}\" must be a list")]
    DirectiveNotList { directive: String },
    #[error("\"$retainKeys\" in \"{field}\" must be a list of field names")]
    RetainKeysNotNames { field: String },
    #[error("field \"{key}\" of \"{field}\" is patched but not listed in its \"$retainKeys\"")]
    FieldNotRetained { key: String, field: String },
    #[error("the items of \"{field}\" are not in the order given by \"$setElementOrder/{field}\"")]
    OrderMismatch { field: String },
    #[error(
        "\"$patch\": \"delete\" cannot be used in \"{field}\" because its items have no merge key"
    )]
    DeleteWithoutMergeKey { field: String },
}

/// How a field deviates from the default (maps merge, lists are replaced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldStrategy {
    /// A list of objects merged item by item on this key (`patchStrategy:"merge"`).
    MergeByKey(&'static str),
    /// A list of scalars merged as an ordered set (`patchStrategy:"merge"`, no key).
    MergePrimitives,
    /// The patch value replaces the original whole, even a map (`patchStrategy:"replace"`).
    Replace,
}

/// One row of the strategy table.
struct FieldRule {
    /// The kind the rule is limited to; `None` applies to every kind.
    kind: Option<&'static str>,
    /// Trailing field names of the path, dot separated. List items add no segment, so
    /// `containers.ports` is the `ports` of any container.
    path_suffix: &'static str,
    strategy: FieldStrategy,
}

impl FieldRule {
    fn matches(&self, kind: &str, path: &[&str]) -> bool {
        if self.kind.is_some_and(|rule_kind| rule_kind != kind) {
            return false;
        }
        let suffix_length = self.suffix_length();
        path.len() >= suffix_length
            && self
                .path_suffix
                .split('.')
                .eq(path[path.len() - suffix_length..].iter().copied())
    }

    fn suffix_length(&self) -> usize {
        self.path_suffix.split('.').count()
    }

    /// Kind-specific rules beat generic ones, then longer suffixes beat shorter ones,
    /// so a new row can override an existing one without reordering the table.
    fn specificity(&self) -> (bool, usize) {
        (self.kind.is_some(), self.suffix_length())
    }
}

const fn any_kind(path_suffix: &'static str, strategy: FieldStrategy) -> FieldRule {
    FieldRule {
        kind: None,
        path_suffix,
        strategy,
    }
}

const fn for_kind(
    kind: &'static str,
    path_suffix: &'static str,
    strategy: FieldStrategy,
) -> FieldRule {
    FieldRule {
        kind: Some(kind),
        path_suffix,
        strategy,
    }
}

/// Fields whose patch strategy is not the default, transcribed from the
/// `patchStrategy`/`patchMergeKey` tags of `k8s.io/api`. Pod spec rows also cover pod
/// templates (Deployment, StatefulSet, Job, CronJob, ...) because they match by suffix.
/// `$retainKeys` needs no row: like upstream it is honoured wherever a patch sends it
/// (kubectl sends it for Deployment `spec.strategy` and pod `volumes` items).
const FIELD_RULES: &[FieldRule] = &[
    // ObjectMeta
    any_kind("metadata.finalizers", MergePrimitives),
    any_kind("metadata.ownerReferences", MergeByKey("uid")),
    // PodSpec
    any_kind("containers", MergeByKey("name")),
    any_kind("initContainers", MergeByKey("name")),
    any_kind("ephemeralContainers", MergeByKey("name")),
    any_kind("volumes", MergeByKey("name")),
    any_kind("imagePullSecrets", MergeByKey("name")),
    any_kind("hostAliases", MergeByKey("ip")),
    any_kind("topologySpreadConstraints", MergeByKey("topologyKey")),
    any_kind("resourceClaims", MergeByKey("name")),
    any_kind("schedulingGates", MergeByKey("name")),
    // Container, EphemeralContainer
    any_kind("containers.ports", MergeByKey("containerPort")),
    any_kind("initContainers.ports", MergeByKey("containerPort")),
    any_kind("ephemeralContainers.ports", MergeByKey("containerPort")),
    any_kind("env", MergeByKey("name")),
    any_kind("volumeMounts", MergeByKey("mountPath")),
    any_kind("volumeDevices", MergeByKey("devicePath")),
    // Status of Pod, Node, workloads, Namespace, PVC, ...
    any_kind("conditions", MergeByKey("type")),
    any_kind("status.podIPs", MergeByKey("ip")),
    any_kind("status.hostIPs", MergeByKey("ip")),
    any_kind("status.resourceClaimStatuses", MergeByKey("name")),
    // Kind-specific fields
    for_kind("Service", "spec.ports", MergeByKey("port")),
    for_kind("Node", "status.addresses", MergeByKey("type")),
    for_kind("Node", "spec.podCIDRs", MergePrimitives),
    for_kind("ServiceAccount", "secrets", MergeByKey("name")),
    for_kind("ServiceAccount", "imagePullSecrets", Replace),
    for_kind("PodDisruptionBudget", "spec.selector", Replace),
];

/// Applies a strategic merge `patch` to `original`, an object of the given `kind`
/// ("Deployment", "Pod", ...), and returns the patched object.
///
/// # Errors
///
/// When either value is not a JSON object, or the patch is malformed: a merged list
/// item without its merge key, an unknown or ill-formed directive, items out of the
/// `$setElementOrder` order, or a field set outside its `$retainKeys`.
pub fn apply(original: &Value, patch: &Value, kind: &str) -> Result<Value, StrategicMergeError> {
    let Value::Object(patch) = patch else {
        return Err(StrategicMergeError::PatchNotObject);
    };
    let Value::Object(original) = original else {
        return Err(StrategicMergeError::OriginalNotObject);
    };
    let merger = Merger { kind };
    merger
        .merge_map(original.clone(), patch, &[])
        .map(Value::Object)
}

/// What a `$patch` directive asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatchDirective {
    Merge,
    Replace,
    Delete,
}

/// The parallel-list directives that accompany one list field in a patch map.
#[derive(Debug, Clone, Copy)]
struct ListDirectives<'p> {
    /// `$setElementOrder/<field>`: the wanted order of the merged list.
    order: Option<&'p [Value]>,
    /// `$deleteFromPrimitiveList/<field>`: values to remove from the list.
    deletions: Option<&'p [Value]>,
}

impl<'p> ListDirectives<'p> {
    fn read(patch: &'p Object, field: &str) -> Result<Self, StrategicMergeError> {
        Ok(Self {
            order: parallel_list(patch, SET_ELEMENT_ORDER_PREFIX, field)?,
            deletions: parallel_list(patch, DELETE_FROM_PRIMITIVE_LIST_PREFIX, field)?,
        })
    }
}

/// A merged list's patch, split into the items to merge and its directive items.
#[derive(Debug, Default)]
struct SplitPatchList<'p> {
    items: Vec<&'p Value>,
    /// Merge key values of the `{"$patch": "delete"}` items.
    deleted_keys: Vec<&'p Value>,
    /// A `{"$patch": "replace"}` item: the other items become the whole list.
    replace_whole: bool,
}

/// Carries the kind, which selects kind-specific rows of [`FIELD_RULES`].
struct Merger<'k> {
    kind: &'k str,
}

impl Merger<'_> {
    /// Merges a patch map into `original`. `path` holds the field names from the root
    /// down to this map (list items add none); it selects the strategies of the fields.
    fn merge_map<'p>(
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

    /// Merges a list field. `original` is `None` when the object has no list there;
    /// `patch_items` is `None` when only parallel-list directives name the field.
    fn merge_list<'p>(
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

    /// A patch value with nothing to merge into, cleaned of nulls and directives.
    fn new_value<'p>(
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

    fn strategy(&self, path: &[&str]) -> Option<FieldStrategy> {
        FIELD_RULES
            .iter()
            .filter(|rule| rule.matches(self.kind, path))
            .max_by_key(|rule| rule.specificity())
            .map(|rule| rule.strategy)
    }
}

/// The fields a patch map touches, in patch order: its plain keys plus the fields named
/// by parallel-list directives. Rejects unknown `$` directives.
fn touched_fields<'p>(
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

fn patch_directive(patch: &Object, path: &[&str]) -> Result<PatchDirective, StrategicMergeError> {
    patch
        .get(PATCH_DIRECTIVE)
        .map_or(Ok(PatchDirective::Merge), |value| {
            parse_patch_directive(value, path)
        })
}

/// The `$patch` directive of a list item, if the item is an object carrying one.
fn item_directive(
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
fn apply_retain_keys(
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
fn identity<'v>(item: &'v Value, merge_key: Option<&str>) -> Option<&'v Value> {
    match (merge_key, item) {
        (Some(key), Value::Object(fields)) => fields.get(key),
        _ => Some(item),
    }
}

fn required_merge_key<'v>(
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

fn order_identities<'p>(
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
fn check_items_follow_order(
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
fn order_merged_items(
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

fn into_object(value: Value) -> Object {
    match value {
        Value::Object(fields) => fields,
        _ => Object::new(),
    }
}

fn child_path<'p>(path: &[&'p str], field: &'p str) -> Vec<&'p str> {
    let mut child = Vec::with_capacity(path.len() + 1);
    child.extend_from_slice(path);
    child.push(field);
    child
}

fn field_name(path: &[&str]) -> String {
    path.last().copied().unwrap_or(ROOT_NAME).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(original: Value, patch: Value, kind: &str) -> Value {
        match apply(&original, &patch, kind) {
            Ok(value) => value,
            Err(error) => panic!("patch failed: {error}"),
        }
    }

    fn patch_error(original: Value, patch: Value, kind: &str) -> StrategicMergeError {
        match apply(&original, &patch, kind) {
            Ok(value) => panic!("patch unexpectedly succeeded: {value}"),
            Err(error) => error,
        }
    }

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item["name"].as_str())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {"spec": {"containers": [
                    {"name": "web", "image": "nginx:1.25",
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "side", "image": "busybox"}
                ]}}
            }
        })
    }

    #[test]
    fn kubectl_apply_patch_with_set_element_order_and_delete() {
        let patch = json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"web"},{"name":"side"}],
            "containers":[{
                "$setElementOrder/env":[{"name":"A"},{"name":"C"}],
                "env":[{"name":"C","value":"3"},{"$patch":"delete","name":"B"}],
                "image":"nginx:1.26","name":"web"}]}}}});
        let result = patched(deployment(), patch, "Deployment");
        let containers = &result["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers,
            &json!([
                {"name": "web", "image": "nginx:1.26",
                 "env": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]},
                {"name": "side", "image": "busybox"}
            ])
        );
        assert_eq!(result["spec"]["replicas"], json!(2));
        assert!(!result.to_string().contains('$'));
    }

    #[test]
    fn set_element_order_alone_reorders() {
        let patch = json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"side"},{"name":"web"}]}}}});
        let result = patched(deployment(), patch, "Deployment");
        assert_eq!(
            names(&result["spec"]["template"]["spec"]["containers"]),
            ["side", "web"]
        );
    }

    #[test]
    fn set_element_order_rejects_patch_items_out_of_order() {
        let patch = json!({"spec":{"template":{"spec":{
            "$setElementOrder/containers":[{"name":"web"},{"name":"side"}],
            "containers":[{"name":"side","image":"b"},{"name":"web","image":"w"}]}}}});
        assert_eq!(
            patch_error(deployment(), patch, "Deployment"),
            StrategicMergeError::OrderMismatch {
                field: "containers".into()
            }
        );
    }

    #[test]
    fn unlisted_items_keep_their_original_slots() {
        // C, D and E are unknown to the patch; upstream's interleaving (not its design
        // notes, which put them all first) decides where they go.
        let original = json!({"spec":{"containers":[
            {"name":"C"},{"name":"B"},{"name":"D"},{"name":"A"},{"name":"E"}]}});
        let patch = json!({"spec":{
            "$setElementOrder/containers":[{"name":"A"},{"name":"B"}],
            "containers":[{"name":"A","image":"a"},{"name":"B","image":"b"}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(
            names(&result["spec"]["containers"]),
            ["C", "D", "A", "B", "E"]
        );
    }

    #[test]
    fn patch_order_is_respected_without_set_element_order() {
        // Design proposal example: live B, C, A; patch A', B', D.
        let original = json!({"spec":{"containers":[{"name":"B"},{"name":"C"},{"name":"A"}]}});
        let patch = json!({"spec":{"containers":[
            {"name":"A","image":"a"},{"name":"B","image":"b"},{"name":"D"}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(names(&result["spec"]["containers"]), ["C", "A", "B", "D"]);
    }

    #[test]
    fn new_item_without_set_element_order_goes_first_like_upstream() {
        let original = json!({"spec":{"containers":[{"name":"a"},{"name":"b"}]}});
        let patch = json!({"spec":{"containers":[{"name":"new","image":"x"}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(names(&result["spec"]["containers"]), ["new", "a", "b"]);
    }

    #[test]
    fn merge_by_key_updates_matching_item_recursively() {
        let original = json!({"spec":{"containers":[
            {"name":"web","image":"nginx","ports":[{"containerPort":80,"name":"http"}],
             "resources":{"limits":{"cpu":"1"}}}]}});
        let patch = json!({"spec":{"containers":[
            {"name":"web","ports":[{"containerPort":80,"protocol":"TCP"}],
             "resources":{"limits":{"memory":"1Gi"}}}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(
            result["spec"]["containers"][0],
            json!({"name":"web","image":"nginx",
                   "ports":[{"containerPort":80,"name":"http","protocol":"TCP"}],
                   "resources":{"limits":{"cpu":"1","memory":"1Gi"}}})
        );
    }

    #[test]
    fn volume_mounts_merge_by_mount_path_and_args_are_replaced() {
        let original = json!({"spec":{"containers":[{"name":"c","args":["a","b"],
            "volumeMounts":[{"mountPath":"/data","name":"data"}]}]}});
        let patch = json!({"spec":{"containers":[{"name":"c","args":["z"],
            "volumeMounts":[{"mountPath":"/data","readOnly":true}]}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(
            result["spec"]["containers"][0],
            json!({"name":"c","args":["z"],
                   "volumeMounts":[{"mountPath":"/data","name":"data","readOnly":true}]})
        );
    }

    #[test]
    fn node_taints_are_replaced_whole() {
        let original = json!({"spec":{"taints":[
            {"key":"a","effect":"NoSchedule"},{"key":"b","effect":"NoExecute"}]}});
        let patch = json!({"spec":{"taints":[{"key":"c","effect":"NoSchedule"}]}});
        let result = patched(original, patch, "Node");
        assert_eq!(
            result["spec"]["taints"],
            json!([{"key":"c","effect":"NoSchedule"}])
        );
    }

    #[test]
    fn null_deletes_fields() {
        let node =
            json!({"metadata":{"name":"n1"},"spec":{"unschedulable":true,"podCIDR":"10.0.0.0/24"}});
        let result = patched(node, json!({"spec":{"unschedulable":null}}), "Node");
        assert_eq!(result["spec"], json!({"podCIDR":"10.0.0.0/24"}));

        let result = patched(
            deployment(),
            json!({"metadata":{"labels":{"tier":null,"new":"x"}}}),
            "Deployment",
        );
        assert_eq!(result["metadata"]["labels"], json!({"app":"web","new":"x"}));
    }

    #[test]
    fn null_inside_new_values_is_dropped() {
        let result = patched(
            json!({}),
            json!({"metadata":{"labels":{"a":"1","b":null}}}),
            "Pod",
        );
        assert_eq!(result, json!({"metadata":{"labels":{"a":"1"}}}));
    }

    #[test]
    fn node_addresses_merge_by_type() {
        let original = json!({"status":{"addresses":[
            {"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n1"}]}});
        let patch = json!({"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.2"}]}});
        let result = patched(original, patch, "Node");
        assert_eq!(
            result["status"]["addresses"],
            json!([{"type":"InternalIP","address":"10.0.0.2"},{"type":"Hostname","address":"n1"}])
        );
    }

    #[test]
    fn conditions_merge_by_type() {
        let original = json!({"status":{"conditions":[
            {"type":"Ready","status":"False"},{"type":"MemoryPressure","status":"False"}]}});
        let patch = json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}});
        let result = patched(original, patch, "Node");
        assert_eq!(
            result["status"]["conditions"],
            json!([{"type":"Ready","status":"True"},{"type":"MemoryPressure","status":"False"}])
        );
    }

    #[test]
    fn service_ports_merge_by_port() {
        let original = json!({"spec":{"ports":[
            {"port":80,"targetPort":8080,"name":"http"},{"port":443,"name":"https"}]}});
        let patch = json!({"spec":{"ports":[{"port":80,"targetPort":9090}]}});
        let result = patched(original, patch, "Service");
        assert_eq!(
            result["spec"]["ports"],
            json!([{"port":80,"targetPort":9090,"name":"http"},{"port":443,"name":"https"}])
        );
    }

    #[test]
    fn service_port_without_merge_key_is_an_error() {
        let original = json!({"spec":{"ports":[{"port":80}]}});
        let error = patch_error(
            original,
            json!({"spec":{"ports":[{"name":"http"}]}}),
            "Service",
        );
        assert_eq!(
            error.to_string(),
            "merge key \"port\" missing from a list item of \"ports\""
        );
    }

    #[test]
    fn pod_disruption_budget_selector_is_replaced() {
        let original =
            json!({"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"a","tier":"t"}}}});
        let patch = json!({"spec":{"selector":{"matchLabels":{"app":"b"}}}});
        let result = patched(original.clone(), patch.clone(), "PodDisruptionBudget");
        assert_eq!(
            result["spec"]["selector"],
            json!({"matchLabels":{"app":"b"}})
        );
        assert_eq!(result["spec"]["minAvailable"], json!(1));

        // Other kinds merge their selector map.
        let result = patched(original, patch, "ReplicaSet");
        assert_eq!(
            result["spec"]["selector"],
            json!({"matchLabels":{"app":"b","tier":"t"}})
        );
    }

    #[test]
    fn finalizers_union_keeps_existing_and_dedupes() {
        let original = json!({"metadata":{"finalizers":["a","b"]}});
        let result = patched(
            original.clone(),
            json!({"metadata":{"finalizers":["b","c"]}}),
            "Pod",
        );
        assert_eq!(result["metadata"]["finalizers"], json!(["a", "b", "c"]));

        // A value unknown to the original goes first, as upstream does.
        let result = patched(
            original.clone(),
            json!({"metadata":{"finalizers":["c"]}}),
            "Pod",
        );
        assert_eq!(result["metadata"]["finalizers"], json!(["c", "a", "b"]));

        // kubectl apply's form: $setElementOrder pins the order.
        let patch =
            json!({"metadata":{"$setElementOrder/finalizers":["a","b","c"],"finalizers":["c"]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(result["metadata"]["finalizers"], json!(["a", "b", "c"]));
    }

    #[test]
    fn delete_from_primitive_list_removes_values() {
        let original = json!({"metadata":{"finalizers":["a","b","c"]}});
        let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["b","zzz"]}});
        let result = patched(original.clone(), patch, "Pod");
        assert_eq!(result["metadata"]["finalizers"], json!(["a", "c"]));

        let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a","b","c"]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(result["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn delete_from_primitive_list_on_missing_list_does_nothing() {
        let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}});
        assert_eq!(
            patched(json!({"metadata":{}}), patch, "Pod"),
            json!({"metadata":{}})
        );
    }

    #[test]
    fn namespace_spec_finalizers_are_replaced() {
        let original = json!({"spec":{"finalizers":["kubernetes"]}});
        let result = patched(original, json!({"spec":{"finalizers":[]}}), "Namespace");
        assert_eq!(result["spec"]["finalizers"], json!([]));
    }

    #[test]
    fn patch_replace_directive_on_a_map() {
        let patch = json!({"spec":{"strategy":{"$patch":"replace","type":"Recreate"}}});
        let result = patched(deployment(), patch, "Deployment");
        assert_eq!(result["spec"]["strategy"], json!({"type":"Recreate"}));
    }

    #[test]
    fn patch_delete_directive_on_a_map_empties_it() {
        let patch = json!({"metadata":{"labels":{"$patch":"delete"}}});
        let result = patched(deployment(), patch, "Deployment");
        assert_eq!(result["metadata"]["labels"], json!({}));
    }

    #[test]
    fn patch_replace_item_replaces_a_merged_list() {
        let patch = json!({"spec":{"template":{"spec":{"containers":[
            {"$patch":"replace"},{"name":"only","image":"x"}]}}}});
        let result = patched(deployment(), patch, "Deployment");
        assert_eq!(
            result["spec"]["template"]["spec"]["containers"],
            json!([{"name":"only","image":"x"}])
        );
    }

    #[test]
    fn patch_merge_item_is_the_default() {
        let original = json!({"spec":{"containers":[{"name":"a","image":"old"}]}});
        let patch = json!({"spec":{"containers":[{"$patch":"merge","name":"a","image":"new"}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(
            result["spec"]["containers"],
            json!([{"name":"a","image":"new"}])
        );
    }

    #[test]
    fn retain_keys_drops_unlisted_fields() {
        let patch = json!({"spec":{"strategy":{
            "$retainKeys":["type"],"type":"Recreate","rollingUpdate":null}}});
        let result = patched(deployment(), patch, "Deployment");
        assert_eq!(result["spec"]["strategy"], json!({"type":"Recreate"}));
    }

    #[test]
    fn retain_keys_on_volume_items() {
        let original = json!({"spec":{"volumes":[{"name":"v","emptyDir":{}}]}});
        let patch = json!({"spec":{"volumes":[{"$retainKeys":["name","configMap"],
            "name":"v","configMap":{"name":"cm"}}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(
            result["spec"]["volumes"],
            json!([{"name":"v","configMap":{"name":"cm"}}])
        );
    }

    #[test]
    fn retain_keys_rejects_patched_field_it_does_not_retain() {
        let patch =
            json!({"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{"maxSurge":2}}}});
        assert_eq!(
            patch_error(deployment(), patch, "Deployment"),
            StrategicMergeError::FieldNotRetained {
                key: "rollingUpdate".into(),
                field: "strategy".into()
            }
        );
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let original = json!({"metadata":{"ownerReferences":[{"uid":"1","name":"a"}]}});
        let patch = json!({"metadata":{"ownerReferences":[{"uid":"1","controller":true},{"uid":"2","name":"b"}]}});
        let result = patched(original, patch, "Pod");
        assert_eq!(
            result["metadata"]["ownerReferences"],
            json!([{"uid":"1","name":"a","controller":true},{"uid":"2","name":"b"}])
        );
    }

    #[test]
    fn new_list_is_cleaned_of_directives() {
        let patch = json!({"spec":{
            "$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
            "containers":[{"name":"b","env":[{"name":"X","$patch":"delete"}]},{"name":"a"}]}});
        let result = patched(json!({"spec":{}}), patch, "Pod");
        assert_eq!(
            result,
            json!({"spec":{"containers":[{"name":"b","env":[]},{"name":"a"}]}})
        );
    }

    #[test]
    fn mismatched_shapes_take_the_patch_value() {
        let original = json!({"spec":{"a":{"x":1},"b":[1,2],"c":"text"}});
        let patch = json!({"spec":{"a":[1],"b":{"y":null,"z":2},"c":{"k":"v"}}});
        let result = patched(original, patch, "Thing");
        assert_eq!(result, json!({"spec":{"a":[1],"b":{"z":2},"c":{"k":"v"}}}));
    }

    #[test]
    fn kind_specific_rules_do_not_leak_to_other_kinds() {
        // Outside a Service, spec.ports is an unlisted list and is replaced.
        let original = json!({"spec":{"ports":[{"port":80},{"port":443}]}});
        let result = patched(
            original,
            json!({"spec":{"ports":[{"port":80,"name":"x"}]}}),
            "Ingress",
        );
        assert_eq!(result["spec"]["ports"], json!([{"port":80,"name":"x"}]));
    }

    #[test]
    fn patch_must_be_an_object() {
        let error = patch_error(json!({}), json!([1]), "Pod");
        assert_eq!(error.to_string(), "the patch must be a JSON object");
        assert_eq!(
            patch_error(json!([]), json!({}), "Pod"),
            StrategicMergeError::OriginalNotObject
        );
    }

    #[test]
    fn merge_key_missing_from_container_is_an_error() {
        let patch = json!({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}});
        let error = patch_error(deployment(), patch, "Deployment");
        assert_eq!(
            error.to_string(),
            "merge key \"name\" missing from a list item of \"containers\""
        );

        let patch = json!({"spec":{"template":{"spec":{"containers":[{"$patch":"delete"}]}}}});
        let error = patch_error(deployment(), patch, "Deployment");
        assert_eq!(
            error.to_string(),
            "merge key \"name\" missing from a list item of \"containers\""
        );
    }

    #[test]
    fn unknown_directives_are_errors() {
        let error = patch_error(
            deployment(),
            json!({"spec":{"$frobnicate":1}}),
            "Deployment",
        );
        assert_eq!(
            error.to_string(),
            "unknown patch directive \"$frobnicate\" in \"spec\""
        );

        let error = patch_error(
            deployment(),
            json!({"spec":{"$setElementOrder/":[]}}),
            "Deployment",
        );
        assert!(matches!(
            error,
            StrategicMergeError::UnknownDirective { .. }
        ));

        let error = patch_error(
            deployment(),
            json!({"metadata":{"$patch":"explode"}}),
            "Deployment",
        );
        assert_eq!(
            error.to_string(),
            "invalid \"$patch\" value \"explode\" in \"metadata\": expected \"merge\", \"replace\" or \"delete\""
        );
    }

    #[test]
    fn malformed_directive_values_are_errors() {
        let patch = json!({"metadata":{"$deleteFromPrimitiveList/finalizers":"a"}});
        assert_eq!(
            patch_error(deployment(), patch, "Deployment").to_string(),
            "\"$deleteFromPrimitiveList/finalizers\" must be a list"
        );
        let patch = json!({"spec":{"strategy":{"$retainKeys":[1]}}});
        assert_eq!(
            patch_error(deployment(), patch, "Deployment"),
            StrategicMergeError::RetainKeysNotNames {
                field: "strategy".into()
            }
        );
    }

    #[test]
    fn delete_item_in_replaced_list_is_an_error() {
        let patch = json!({"spec":{"tolerations":[{"$patch":"delete","key":"a"}]}});
        assert_eq!(
            patch_error(json!({"spec":{}}), patch, "Pod"),
            StrategicMergeError::DeleteWithoutMergeKey {
                field: "tolerations".into()
            }
        );
    }

    #[test]
    fn scalars_replace_and_original_is_untouched() {
        let original = deployment();
        let result = patched(
            original.clone(),
            json!({"spec":{"replicas":5}}),
            "Deployment",
        );
        assert_eq!(result["spec"]["replicas"], json!(5));
        assert_eq!(original["spec"]["replicas"], json!(2));
    }
}
