//! Decoded objects shared by the in-process readers that look at many objects at once (the
//! controllers every round, the scheduler, authorization on every request): an object is
//! decoded from its stored JSON once per write instead of once per reader per round.
//!
//! A read walks the local replica's keys under its read lock, comparing revisions only; it
//! reuses the decoded object of every key whose latest revision is the cached one and decodes
//! the others after the lock is released. So what a read returns is exactly what a
//! `Freshness::Any` range read returns (the local replica at one revision), and an object
//! whose key and revision match is never stale: stored versions do not change.
//!
//! Events are never cached: they are most of a busy cluster's keys, each is written a few
//! times and then left alone, and only event expiry reads them in bulk.
//!
//! Cached objects are compact [`Tree`]s, decoded straight from the stored bytes: as
//! `serde_json::Value`s a pod took ~3 times as much (each of its maps a 632-byte B-tree leaf),
//! and the cache was the largest part of the controllers' node's memory. Readers read trees
//! as they read Values ([`crate::tree::Json`], and serde for typed reads); one that changes
//! an object takes a `Value` copy of it for that write only (`Tree::to_value`).
//!
//! Cached objects come without `metadata.managedFields`: no reader looks at them, and they
//! are a third of a decoded pod. A reader that writes a cached object back puts them in again
//! first ([`crate::storage::Storage::restore_managed_fields`]).

use std::collections::BTreeMap;
use std::ops::{Bound, Deref};
use std::sync::{Arc, Mutex};

use hakube_store::KeyValue;
use hakube_store::mvcc::KeyValueState;
use serde_json::Value;

use crate::objects::At as _;
use crate::storage::prefix_end;
use crate::tree::Tree;

/// A cached object.
type Stored = crate::storage::Stored<Tree>;

const EVENTS_PREFIX: &[u8] = b"/registry/core/events/";

/// The decoded objects of the keys read so far, by key.
#[derive(Default)]
pub struct DecodedCache {
    entries: Mutex<BTreeMap<Vec<u8>, Arc<Stored>>>,
}

/// A key of one walk: decoded already, or to decode.
enum Slot {
    Cached(Arc<Stored>),
    Changed(KeyValue),
}

impl DecodedCache {
    /// Every object under `prefix` (events left out) as of the replica's `state`, decoded;
    /// undecodable values are skipped, as a range read skips them.
    /// `read_state` locks the replica's applied state for reading; it is held only while the
    /// keys are compared.
    pub fn objects_under<G>(
        &self,
        read_state: impl FnOnce() -> G,
        prefix: &[u8],
    ) -> Vec<Arc<Stored>>
    where
        G: Deref,
        G::Target: AsState,
    {
        let slots = self.walk(read_state, prefix);
        let mut decoded = Vec::new();
        let objects: Vec<Arc<Stored>> = slots
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Cached(stored) => Some(stored),
                Slot::Changed(kv) => {
                    let object = decode_for_cache(&kv)?;
                    let stored = Arc::new(Stored {
                        key: kv.key,
                        revision: kv.mod_revision,
                        object,
                    });
                    decoded.push(stored.clone());
                    Some(stored)
                }
            })
            .collect();
        if !decoded.is_empty() {
            let mut entries = self.lock();
            for stored in decoded {
                // A later walk may have cached a newer version meanwhile: keep that one.
                let newer = entries
                    .get(&stored.key)
                    .is_some_and(|cached| cached.revision > stored.revision);
                if !newer {
                    entries.insert(stored.key.clone(), stored);
                }
            }
        }
        objects
    }

    /// Under both locks: the live keys under `prefix` in key order, each cached or copied out
    /// to decode; cached keys no longer live are dropped.
    fn walk<G>(&self, read_state: impl FnOnce() -> G, prefix: &[u8]) -> Vec<Slot>
    where
        G: Deref,
        G::Target: AsState,
    {
        let mut entries = self.lock();
        let guard = read_state();
        let kv = guard.key_values();
        let mut slots = Vec::new();
        let mut gone = Vec::new();
        for (start, end) in ranges(prefix) {
            let bounds = (
                Bound::Included(start.as_slice()),
                Bound::Excluded(end.as_slice()),
            );
            let mut cached = entries.range::<[u8], _>(bounds).peekable();
            for (key, revision) in kv.live_revisions(&start, Some(&end)) {
                while let Some((old, _)) = cached.next_if(|(k, _)| k.as_slice() < key) {
                    gone.push(old.clone());
                }
                match cached.next_if(|(k, _)| k.as_slice() == key) {
                    Some((_, stored)) if stored.revision == revision => {
                        slots.push(Slot::Cached(stored.clone()));
                    }
                    _ => {
                        if let Ok(Some(value)) = kv.get(key, None) {
                            slots.push(Slot::Changed(value));
                        }
                    }
                }
            }
            gone.extend(cached.map(|(key, _)| key.clone()));
        }
        for key in gone {
            entries.remove(&key);
        }
        slots
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Arc<Stored>>> {
        // Every critical section leaves the map whole (inserts and removes of single entries),
        // so a panic elsewhere while it was held leaves nothing half-done.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many objects are cached (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The cached form of a stored object ([`Tree::from_stored`]: without
/// `metadata.managedFields`, with its resourceVersion).
fn decode_for_cache(kv: &KeyValue) -> Option<Tree> {
    Tree::from_stored(&kv.value, kv.mod_revision).ok()
}

/// Copies `stored`'s `metadata.managedFields` into `object` (a changed copy of its cached form)
/// unless `object` has its own or `stored` is not the version at `revision` (a write
/// conditional on `revision` fails then anyway). Only the managed fields are decoded.
pub fn restore_managed_fields(stored: &KeyValue, revision: u64, object: &mut Value) {
    #[derive(serde::Deserialize)]
    struct Metadata {
        #[serde(rename = "managedFields")]
        managed_fields: Option<Value>,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        metadata: Metadata,
    }
    if stored.mod_revision != revision || object.at("/metadata/managedFields").is_some() {
        return;
    }
    if let Ok(Object {
        metadata: Metadata {
            managed_fields: Some(fields),
        },
    }) = serde_json::from_slice(&stored.value)
        && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.insert("managedFields".into(), fields);
    }
}

/// What the cache reads from a replica's applied state.
pub trait AsState {
    fn key_values(&self) -> &KeyValueState;
}

impl AsState for hakube_store::state_machine::Applied {
    fn key_values(&self) -> &KeyValueState {
        &self.kv
    }
}

impl AsState for KeyValueState {
    fn key_values(&self) -> &KeyValueState {
        self
    }
}

/// `[start, end)` ranges covering `prefix` without the events.
fn ranges(prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let end = prefix_end(prefix);
    if prefix.starts_with(EVENTS_PREFIX) {
        return Vec::new();
    }
    if EVENTS_PREFIX.starts_with(prefix) {
        return vec![
            (prefix.to_vec(), EVENTS_PREFIX.to_vec()),
            (prefix_end(EVENTS_PREFIX), end),
        ];
    }
    vec![(prefix.to_vec(), end)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_store::mvcc::KeyValueState;
    use hakube_store::{Condition, Operation};
    use std::sync::{RwLock, RwLockReadGuard};

    fn put(state: &RwLock<KeyValueState>, key: &str, value: &str) {
        let put = Operation::Put {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            condition: Condition::Always,
        };
        state.write().expect("not poisoned").apply(&put);
    }

    fn read<'a>(
        state: &'a RwLock<KeyValueState>,
    ) -> impl FnOnce() -> RwLockReadGuard<'a, KeyValueState> {
        || state.read().expect("not poisoned")
    }

    fn names(objects: &[Arc<Stored>]) -> Vec<String> {
        objects
            .iter()
            .map(|s| String::from_utf8_lossy(&s.key).into_owned())
            .collect()
    }

    #[test]
    fn decodes_once_per_write_and_follows_deletes() {
        let state = RwLock::new(KeyValueState::new());
        let cache = DecodedCache::default();
        put(
            &state,
            "/registry/core/pods/default/a",
            r#"{"metadata":{"name":"a"}}"#,
        );
        put(
            &state,
            "/registry/core/pods/default/b",
            r#"{"metadata":{"name":"b"}}"#,
        );
        let first = cache.objects_under(read(&state), b"/registry/core/pods/");
        assert_eq!(first.len(), 2);
        let again = cache.objects_under(read(&state), b"/registry/core/pods/");
        assert!(
            Arc::ptr_eq(&first[0], &again[0]),
            "unchanged: the same decoded object"
        );
        assert_eq!(again[0].object["metadata"]["resourceVersion"], "1");

        put(
            &state,
            "/registry/core/pods/default/a",
            r#"{"metadata":{"name":"a","x":1}}"#,
        );
        let delete = Operation::Delete {
            key: b"/registry/core/pods/default/b".to_vec(),
            condition: Condition::Always,
        };
        state.write().expect("not poisoned").apply(&delete);
        let after = cache.objects_under(read(&state), b"/registry/core/pods/");
        assert_eq!(names(&after), ["/registry/core/pods/default/a"]);
        assert_eq!(after[0].object["metadata"]["x"], 1);
        assert_eq!(after[0].revision, 3);
        assert_eq!(cache.len(), 1, "the deleted key left the cache");
    }

    #[test]
    fn leaves_managed_fields_out_and_puts_them_back_for_a_write() {
        let state = RwLock::new(KeyValueState::new());
        let cache = DecodedCache::default();
        let key = "/registry/core/pods/default/a";
        put(
            &state,
            key,
            r#"{"metadata":{"name":"a","managedFields":[{"manager":"m"}]},"spec":{}}"#,
        );
        let cached = cache.objects_under(read(&state), b"/registry/core/pods/");
        assert_eq!(cached[0].object["metadata"].get("managedFields"), None);

        let stored = state
            .read()
            .expect("not poisoned")
            .get(key.as_bytes(), None)
            .expect("readable")
            .expect("present");
        let mut changed = cached[0].object.to_value();
        changed["spec"]["nodeName"] = "n".into();
        restore_managed_fields(&stored, cached[0].revision, &mut changed);
        assert_eq!(changed["metadata"]["managedFields"][0]["manager"], "m");
        assert_eq!(changed["spec"]["nodeName"], "n");

        // A copy of an older version, or one with managed fields of its own, is left alone.
        let mut stale = cached[0].object.to_value();
        restore_managed_fields(&stored, cached[0].revision - 1, &mut stale);
        assert_eq!(stale["metadata"].get("managedFields"), None);
        let mut own = serde_json::json!({"metadata": {"managedFields": []}});
        restore_managed_fields(&stored, cached[0].revision, &mut own);
        assert_eq!(own["metadata"]["managedFields"], serde_json::json!([]));
    }

    #[test]
    fn leaves_events_out_and_skips_undecodable_values() {
        let state = RwLock::new(KeyValueState::new());
        let cache = DecodedCache::default();
        put(
            &state,
            "/registry/core/events/default/e",
            r#"{"metadata":{}}"#,
        );
        put(&state, "/registry/core/nodes/n", r#"{"metadata":{}}"#);
        put(&state, "/registry/core/pods/default/bad", "not json");
        put(
            &state,
            "/registry/apps/deployments/default/d",
            r#"{"metadata":{}}"#,
        );
        let all = cache.objects_under(read(&state), b"/registry/");
        assert_eq!(
            names(&all),
            [
                "/registry/apps/deployments/default/d",
                "/registry/core/nodes/n"
            ]
        );
        assert!(
            cache
                .objects_under(read(&state), b"/registry/core/events/")
                .is_empty()
        );
    }
}
