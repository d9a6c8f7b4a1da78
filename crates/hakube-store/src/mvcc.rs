//! The multi-version key-value state machine every replica applies committed
//! [`Operation`]s to (the equivalent of etcd's MVCC store).
//!
//! This module owns the versioned key space: the store revision, per-key
//! version history, compaction, and reads at past revisions (get, range,
//! count, and the event history that watches replay from).
//!
//! Applying must be deterministic, because every replica applies the same log
//! and must end in byte-identical state (snapshots are compared and shipped
//! between nodes). So nothing here reads a clock, draws randomness, or iterates
//! a hash map: all state lives in `BTreeMap`s and `Vec`s, and the revision is
//! derived solely from the sequence of applied operations.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::command::{CommandResponse, Condition, Operation};

/// A key's value as of some revision, with etcd's version metadata.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// The revision that created the key in its current lifetime.
    pub create_revision: u64,
    /// The revision of the last write to the key.
    pub mod_revision: u64,
    /// Number of writes in the current lifetime (1 after creation).
    pub version: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change to one key, as delivered to watchers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    /// The new value. For a delete: the key, an empty value, `mod_revision`
    /// set to the delete's revision, and zero `version`/`create_revision`.
    pub kv: KeyValue,
    /// The key's value just before this change, if it existed.
    pub previous: Option<KeyValue>,
}

/// The result of [`KeyValueState::range`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResult {
    pub items: Vec<KeyValue>,
    /// True when the limit cut the result short.
    pub more: bool,
    /// The revision the read was served at.
    pub revision: u64,
}

#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadError {
    #[error("revision {requested} has been compacted (oldest available {compact_revision})")]
    Compacted {
        requested: u64,
        compact_revision: u64,
    },
    #[error("revision {requested} is newer than the store's current revision {current}")]
    FutureRevision { requested: u64, current: u64 },
}

/// One write to a key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct Version {
    mod_revision: u64,
    create_revision: u64,
    version: u64,
    /// `None` marks a tombstone: the key was deleted at `mod_revision`.
    /// Tombstones are kept so reads at older revisions still see the value.
    value: Option<Vec<u8>>,
}

impl Version {
    fn key_value(&self, key: &[u8]) -> Option<KeyValue> {
        self.value.as_ref().map(|value| KeyValue {
            key: key.to_vec(),
            value: value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
        })
    }
}

/// The newest live value in `versions` as of `revision`.
fn live_at(key: &[u8], versions: &[Version], revision: u64) -> Option<KeyValue> {
    let visible = versions.partition_point(|v| v.mod_revision <= revision);
    visible
        .checked_sub(1)
        .and_then(|i| versions.get(i))
        .and_then(|v| v.key_value(key))
}

/// The replicated key-value state.
///
/// Serializing it (postcard) yields the state-machine snapshot; two replicas
/// that applied the same operations serialize to identical bytes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyValueState {
    /// Per key, its versions in ascending revision order: every version newer
    /// than `compact_revision`, plus the newest one at or below it (needed to
    /// read at `compact_revision` and as the `previous` of the next event),
    /// unless that one is a tombstone, which reads the same as no version.
    keys: BTreeMap<Vec<u8>, Vec<Version>>,
    revision: u64,
    compact_revision: u64,
}

impl KeyValueState {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store revision: 0 initially, +1 per successful put or delete.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The oldest revision that can still be read.
    pub fn compact_revision(&self) -> u64 {
        self.compact_revision
    }

    /// Applies one committed operation, returning the response for the
    /// proposer and the events for watchers (empty unless a key changed).
    pub fn apply(&mut self, op: &Operation) -> (CommandResponse, Vec<Event>) {
        match op {
            Operation::Put {
                key,
                value,
                condition,
            } => self.put(key, value, *condition),
            Operation::Delete { key, condition } => self.delete(key, *condition),
            Operation::Compact { revision } => (self.compact(*revision), Vec::new()),
            // Placeholder while transactions and leases are implemented (same change series).
            Operation::Txn(_)
            | Operation::LeaseGrant { .. }
            | Operation::LeaseRevoke { .. }
            | Operation::LeaseCheckpoint { .. } => (
                self.failed(None, "operation not supported by this version".into()),
                Vec::new(),
            ),
        }
    }

    /// The key's latest live value.
    fn current(&self, key: &[u8]) -> Option<KeyValue> {
        self.keys
            .get(key)
            .and_then(|versions| versions.last())
            .and_then(|v| v.key_value(key))
    }

    fn failed(&self, previous: Option<KeyValue>, reason: String) -> CommandResponse {
        CommandResponse {
            revision: self.revision,
            succeeded: false,
            previous,
            current: None,
            failure: Some(reason),
            ..Default::default()
        }
    }

    fn put(
        &mut self,
        key: &[u8],
        value: &[u8],
        condition: Condition,
    ) -> (CommandResponse, Vec<Event>) {
        let previous = self.current(key);
        if let Err(reason) = check(condition, previous.as_ref()) {
            return (self.failed(previous, reason), Vec::new());
        }
        let revision = self.revision + 1;
        let (create_revision, version) = match &previous {
            Some(kv) => (kv.create_revision, kv.version + 1),
            None => (revision, 1),
        };
        self.keys.entry(key.to_vec()).or_default().push(Version {
            mod_revision: revision,
            create_revision,
            version,
            value: Some(value.to_vec()),
        });
        self.revision = revision;
        let kv = KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision,
            mod_revision: revision,
            version,
        };
        let response = CommandResponse {
            revision,
            succeeded: true,
            previous: previous.clone(),
            current: Some(kv.clone()),
            failure: None,
            ..Default::default()
        };
        let event = Event {
            kind: EventKind::Put,
            kv,
            previous,
        };
        (response, vec![event])
    }

    fn delete(&mut self, key: &[u8], condition: Condition) -> (CommandResponse, Vec<Event>) {
        let previous = self.current(key);
        if let Err(reason) = check(condition, previous.as_ref()) {
            return (self.failed(previous, reason), Vec::new());
        }
        if previous.is_none() {
            return (self.failed(None, "key not found".to_owned()), Vec::new());
        }
        let revision = self.revision + 1;
        self.keys.entry(key.to_vec()).or_default().push(Version {
            mod_revision: revision,
            create_revision: 0,
            version: 0,
            value: None,
        });
        self.revision = revision;
        let response = CommandResponse {
            revision,
            succeeded: true,
            previous: previous.clone(),
            current: None,
            failure: None,
            ..Default::default()
        };
        let event = Event {
            kind: EventKind::Delete,
            kv: tombstone_kv(key, revision),
            previous,
        };
        (response, vec![event])
    }

    fn compact(&mut self, revision: u64) -> CommandResponse {
        if revision <= self.compact_revision {
            return self.failed(None, format!("revision {revision} is already compacted"));
        }
        if revision > self.revision {
            return self.failed(None, format!("revision {revision} is in the future"));
        }
        self.keys.retain(|_, versions| {
            let visible = versions.partition_point(|v| v.mod_revision <= revision);
            // Keep the newest version at or below `revision`: reads at any
            // revision >= `revision` before the next write still see it.
            let mut drop = visible.saturating_sub(1);
            // A tombstone there reads exactly like no version at all.
            if visible > 0 && versions.get(drop).is_some_and(|v| v.value.is_none()) {
                drop += 1;
            }
            versions.drain(..drop);
            !versions.is_empty()
        });
        self.compact_revision = revision;
        tracing::debug!(
            revision,
            keys = self.keys.len(),
            "compacted key-value history"
        );
        CommandResponse {
            revision: self.revision,
            succeeded: true,
            ..CommandResponse::default()
        }
    }

    /// Resolves a requested read revision (None = latest) to a readable one.
    fn read_revision(&self, at_revision: Option<u64>) -> Result<u64, ReadError> {
        let Some(requested) = at_revision else {
            return Ok(self.revision);
        };
        if requested < self.compact_revision {
            return Err(ReadError::Compacted {
                requested,
                compact_revision: self.compact_revision,
            });
        }
        if requested > self.revision {
            return Err(ReadError::FutureRevision {
                requested,
                current: self.revision,
            });
        }
        Ok(requested)
    }

    /// Keys in `[start, end)` (end None = unbounded), including dead ones.
    fn key_range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> btree_map::Range<'_, Vec<u8>, Vec<Version>> {
        let upper = match end {
            Some(end) if end > start => Bound::Excluded(end),
            // An empty or inverted interval; BTreeMap::range would panic on
            // an inverted one, so ask for the empty `[start, start)` instead.
            Some(_) => Bound::Excluded(start),
            None => Bound::Unbounded,
        };
        self.keys.range::<[u8], _>((Bound::Included(start), upper))
    }

    /// The key's value as of `at_revision` (None = latest).
    pub fn get(&self, key: &[u8], at_revision: Option<u64>) -> Result<Option<KeyValue>, ReadError> {
        let at = self.read_revision(at_revision)?;
        Ok(self
            .keys
            .get(key)
            .and_then(|versions| live_at(key, versions, at)))
    }

    /// Live keys in `[start, end)` ascending as of `at_revision` (None =
    /// latest), at most `limit` of them (0 = no limit).
    pub fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        at_revision: Option<u64>,
        limit: usize,
    ) -> Result<RangeResult, ReadError> {
        let at = self.read_revision(at_revision)?;
        let mut items = Vec::new();
        let mut more = false;
        for kv in self
            .key_range(start, end)
            .filter_map(|(key, versions)| live_at(key, versions, at))
        {
            if limit != 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push(kv);
        }
        Ok(RangeResult {
            items,
            more,
            revision: at,
        })
    }

    /// The number of live keys in `[start, end)` as of `at_revision`.
    pub fn count(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        at_revision: Option<u64>,
    ) -> Result<u64, ReadError> {
        let at = self.read_revision(at_revision)?;
        let live = self
            .key_range(start, end)
            .filter(|(key, versions)| live_at(key, versions, at).is_some())
            .count();
        Ok(live as u64)
    }

    /// Every change with revision > `after_revision` to keys in `[start, end)`,
    /// in revision order, so a watch can start from a past revision.
    ///
    /// `after_revision` at or beyond the current revision yields no events
    /// (a watch from the future simply waits); below the compaction point the
    /// history is gone and the caller must relist.
    pub fn events_since(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        after_revision: u64,
    ) -> Result<Vec<Event>, ReadError> {
        if after_revision < self.compact_revision {
            return Err(ReadError::Compacted {
                requested: after_revision,
                compact_revision: self.compact_revision,
            });
        }
        let mut events = Vec::new();
        for (key, versions) in self.key_range(start, end) {
            let first = versions.partition_point(|v| v.mod_revision <= after_revision);
            // The version before `first` (if kept) is the true predecessor of
            // the first event: compaction keeps the newest version at or below
            // the compaction point unless it is a tombstone (no predecessor).
            let mut previous = first
                .checked_sub(1)
                .and_then(|i| versions.get(i))
                .and_then(|v| v.key_value(key));
            for v in versions.iter().skip(first) {
                let (kind, kv) = match v.key_value(key) {
                    Some(kv) => (EventKind::Put, kv),
                    None => (EventKind::Delete, tombstone_kv(key, v.mod_revision)),
                };
                let next_previous = (kind == EventKind::Put).then(|| kv.clone());
                events.push(Event {
                    kind,
                    kv,
                    previous: std::mem::replace(&mut previous, next_previous),
                });
            }
        }
        // Each revision changes exactly one key, so the order is total.
        events.sort_by_key(|e| e.kv.mod_revision);
        Ok(events)
    }

    /// The number of live keys at the latest revision.
    pub fn key_count(&self) -> usize {
        self.keys
            .values()
            .filter(|versions| versions.last().is_some_and(|v| v.value.is_some()))
            .count()
    }
}

fn tombstone_kv(key: &[u8], revision: u64) -> KeyValue {
    KeyValue {
        key: key.to_vec(),
        value: Vec::new(),
        create_revision: 0,
        mod_revision: revision,
        version: 0,
    }
}

/// Checks a condition against the key's latest live value.
fn check(condition: Condition, current: Option<&KeyValue>) -> Result<(), String> {
    match (condition, current) {
        (Condition::Always, _) | (Condition::Absent, None) => Ok(()),
        (Condition::Absent, Some(_)) => Err("key exists".to_owned()),
        (Condition::ModRevision(_), None) => Err("key not found".to_owned()),
        (Condition::ModRevision(expected), Some(kv)) if kv.mod_revision == expected => Ok(()),
        (Condition::ModRevision(_), Some(kv)) => Err(format!(
            "mod revision mismatch (current {})",
            kv.mod_revision
        )),
    }
}

/// The smallest key greater than every key that starts with `prefix`
/// (etcd's rule: drop trailing 0xff bytes, then increment the last byte).
/// None when no such key exists (empty or all-0xff prefix): the range is
/// unbounded above.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, condition: Condition) -> Operation {
        Operation::Put {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            condition,
        }
    }

    fn del(key: &str, condition: Condition) -> Operation {
        Operation::Delete {
            key: key.as_bytes().to_vec(),
            condition,
        }
    }

    fn kv(key: &str, value: &str, create: u64, modified: u64, version: u64) -> KeyValue {
        KeyValue {
            key: key.as_bytes().to_vec(),
            value: value.as_bytes().to_vec(),
            create_revision: create,
            mod_revision: modified,
            version,
        }
    }

    fn value_at(s: &KeyValueState, key: &str, at: Option<u64>) -> Option<String> {
        s.get(key.as_bytes(), at)
            .unwrap()
            .map(|kv| String::from_utf8(kv.value).unwrap())
    }

    fn keys(items: &[KeyValue]) -> Vec<String> {
        items
            .iter()
            .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
            .collect()
    }

    #[test]
    fn put_get_update_delete_lifecycle() {
        let mut s = KeyValueState::new();
        assert_eq!(s.revision(), 0);
        assert_eq!(s.get(b"/a", None).unwrap(), None);
        assert_eq!(s.get(b"/a", Some(0)).unwrap(), None);

        let (r, events) = s.apply(&put("/a", "1", Condition::Always));
        assert!(r.succeeded);
        assert_eq!(r.revision, 1);
        assert_eq!(r.previous, None);
        assert_eq!(r.current, Some(kv("/a", "1", 1, 1, 1)));
        assert_eq!(r.failure, None);
        assert_eq!(
            events,
            vec![Event {
                kind: EventKind::Put,
                kv: kv("/a", "1", 1, 1, 1),
                previous: None
            }]
        );

        let (r, _) = s.apply(&put("/b", "x", Condition::Always));
        assert_eq!(r.revision, 2);
        let (r, events) = s.apply(&put("/a", "2", Condition::Always));
        assert_eq!(r.revision, 3);
        assert_eq!(r.previous, Some(kv("/a", "1", 1, 1, 1)));
        assert_eq!(r.current, Some(kv("/a", "2", 1, 3, 2)));
        assert_eq!(events[0].previous, Some(kv("/a", "1", 1, 1, 1)));
        assert_eq!(s.get(b"/a", None).unwrap(), Some(kv("/a", "2", 1, 3, 2)));
        assert_eq!(s.key_count(), 2);

        let (r, events) = s.apply(&del("/a", Condition::Always));
        assert!(r.succeeded);
        assert_eq!(r.revision, 4);
        assert_eq!(r.previous, Some(kv("/a", "2", 1, 3, 2)));
        assert_eq!(r.current, None);
        assert_eq!(
            events,
            vec![Event {
                kind: EventKind::Delete,
                kv: kv("/a", "", 0, 4, 0),
                previous: Some(kv("/a", "2", 1, 3, 2)),
            }]
        );
        assert_eq!(s.get(b"/a", None).unwrap(), None);
        assert_eq!(s.key_count(), 1);

        // Deleting a missing key fails without bumping the revision.
        let (r, events) = s.apply(&del("/a", Condition::Always));
        assert!(!r.succeeded);
        assert_eq!(r.revision, 4);
        assert_eq!(r.failure.as_deref(), Some("key not found"));
        assert!(events.is_empty());
        assert_eq!(s.revision(), 4);

        // Recreating starts a new lifetime.
        let (r, _) = s.apply(&put("/a", "3", Condition::Always));
        assert_eq!(r.previous, None);
        assert_eq!(r.current, Some(kv("/a", "3", 5, 5, 1)));
        assert_eq!(s.key_count(), 2);
    }

    #[test]
    fn conditions() {
        let mut s = KeyValueState::new();
        let (r, _) = s.apply(&put("/a", "1", Condition::Absent));
        assert!(r.succeeded);

        let (r, events) = s.apply(&put("/a", "2", Condition::Absent));
        assert!(!r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.revision, 1);
        assert_eq!(r.failure.as_deref(), Some("key exists"));
        assert_eq!(r.previous, Some(kv("/a", "1", 1, 1, 1)));
        assert_eq!(r.current, None);

        let (r, _) = s.apply(&put("/a", "2", Condition::ModRevision(7)));
        assert!(!r.succeeded);
        assert_eq!(
            r.failure.as_deref(),
            Some("mod revision mismatch (current 1)")
        );
        assert_eq!(r.previous, Some(kv("/a", "1", 1, 1, 1)));

        let (r, _) = s.apply(&put("/a", "2", Condition::ModRevision(1)));
        assert!(r.succeeded);
        assert_eq!(r.current, Some(kv("/a", "2", 1, 2, 2)));

        let (r, _) = s.apply(&put("/new", "x", Condition::ModRevision(1)));
        assert!(!r.succeeded);
        assert_eq!(r.failure.as_deref(), Some("key not found"));
        assert_eq!(r.previous, None);

        let (r, _) = s.apply(&del("/a", Condition::ModRevision(1)));
        assert!(!r.succeeded);
        assert_eq!(
            r.failure.as_deref(),
            Some("mod revision mismatch (current 2)")
        );
        assert_eq!(r.previous, Some(kv("/a", "2", 1, 2, 2)));

        let (r, _) = s.apply(&del("/a", Condition::Absent));
        assert!(!r.succeeded);
        assert_eq!(r.failure.as_deref(), Some("key exists"));

        let (r, _) = s.apply(&del("/a", Condition::ModRevision(2)));
        assert!(r.succeeded);
        assert_eq!(r.revision, 3);
        assert_eq!(s.revision(), 3);
        assert!(s.apply(&put("/a", "again", Condition::Absent)).0.succeeded);
    }

    #[test]
    fn reads_at_old_revisions() {
        let mut s = KeyValueState::new();
        s.apply(&put("/a", "1", Condition::Always)); // 1
        s.apply(&put("/a", "2", Condition::Always)); // 2
        s.apply(&put("/b", "1", Condition::Always)); // 3
        s.apply(&del("/a", Condition::Always)); // 4
        s.apply(&put("/a", "3", Condition::Always)); // 5

        assert_eq!(value_at(&s, "/a", Some(0)), None);
        assert_eq!(value_at(&s, "/a", Some(1)).as_deref(), Some("1"));
        assert_eq!(value_at(&s, "/a", Some(3)).as_deref(), Some("2"));
        assert_eq!(value_at(&s, "/a", Some(4)), None);
        assert_eq!(s.get(b"/a", Some(5)).unwrap(), Some(kv("/a", "3", 5, 5, 1)));
        assert_eq!(value_at(&s, "/b", Some(2)), None);
        assert_eq!(s.count(b"/", None, Some(3)).unwrap(), 2);
        assert_eq!(s.count(b"/", None, Some(4)).unwrap(), 1);
        assert_eq!(
            s.get(b"/a", Some(6)),
            Err(ReadError::FutureRevision {
                requested: 6,
                current: 5
            })
        );
        let r = s.range(b"/", None, Some(2), 0).unwrap();
        assert_eq!(r.revision, 2);
        assert_eq!(r.items, vec![kv("/a", "2", 1, 2, 2)]);
        assert_eq!(s.range(b"/", None, None, 0).unwrap().revision, 5);
    }

    #[test]
    fn compaction() {
        let mut s = KeyValueState::new();
        s.apply(&put("/a", "1", Condition::Always)); // 1
        s.apply(&put("/a", "2", Condition::Always)); // 2
        s.apply(&put("/gone", "x", Condition::Always)); // 3
        s.apply(&del("/gone", Condition::Always)); // 4
        s.apply(&put("/c", "1", Condition::Always)); // 5
        s.apply(&del("/c", Condition::Always)); // 6
        s.apply(&put("/a", "3", Condition::Always)); // 7

        // Invalid compactions fail and change nothing.
        let (r, events) = s.apply(&Operation::Compact { revision: 0 });
        assert!(!r.succeeded);
        assert!(events.is_empty());
        assert_eq!(
            r.failure.as_deref(),
            Some("revision 0 is already compacted")
        );
        let (r, _) = s.apply(&Operation::Compact { revision: 99 });
        assert!(!r.succeeded);
        assert_eq!(r.failure.as_deref(), Some("revision 99 is in the future"));
        assert_eq!(s.compact_revision(), 0);

        let before = s.clone();
        let (r, events) = s.apply(&Operation::Compact { revision: 5 });
        assert!(r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.revision, 7);
        assert_eq!(s.revision(), 7);
        assert_eq!(s.compact_revision(), 5);

        // Reads at or after the compaction point are unchanged.
        for rev in 5..=7 {
            for key in ["/a", "/gone", "/c", "/missing"] {
                assert_eq!(
                    s.get(key.as_bytes(), Some(rev)).unwrap(),
                    before.get(key.as_bytes(), Some(rev)).unwrap(),
                    "{key} at {rev}"
                );
            }
            assert_eq!(
                s.range(b"", None, Some(rev), 0).unwrap(),
                before.range(b"", None, Some(rev), 0).unwrap()
            );
        }
        assert_eq!(
            s.events_since(b"", None, 5).unwrap(),
            before.events_since(b"", None, 5).unwrap()
        );
        // Reads below it fail.
        assert_eq!(
            s.get(b"/a", Some(4)),
            Err(ReadError::Compacted {
                requested: 4,
                compact_revision: 5
            })
        );
        assert!(matches!(
            s.range(b"", None, Some(1), 0),
            Err(ReadError::Compacted { .. })
        ));
        assert!(matches!(
            s.count(b"", None, Some(1)),
            Err(ReadError::Compacted { .. })
        ));
        assert!(matches!(
            s.events_since(b"", None, 4),
            Err(ReadError::Compacted { .. })
        ));

        // The deleted key's history is gone entirely; old versions of /a too.
        assert!(!s.keys.contains_key(b"/gone".as_slice()));
        assert_eq!(s.keys[b"/a".as_slice()].len(), 2);
        assert_eq!(s.keys[b"/c".as_slice()].len(), 2); // the put at 5 and the delete at 6

        let (r, _) = s.apply(&Operation::Compact { revision: 5 });
        assert_eq!(
            r.failure.as_deref(),
            Some("revision 5 is already compacted")
        );
        let (r, _) = s.apply(&Operation::Compact { revision: 3 });
        assert_eq!(
            r.failure.as_deref(),
            Some("revision 3 is already compacted")
        );

        // Compacting to the current revision keeps the latest values.
        assert!(s.apply(&Operation::Compact { revision: 7 }).0.succeeded);
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.get(b"/a", Some(7)).unwrap(), Some(kv("/a", "3", 1, 7, 3)));
        assert_eq!(s.events_since(b"", None, 7).unwrap(), Vec::new());
        assert_eq!(s.key_count(), 1);
    }

    #[test]
    fn range_limit_and_prefix() {
        let mut s = KeyValueState::new();
        for key in [
            "/reg/pods/a",
            "/reg/pods/b",
            "/reg/pods/c",
            "/reg/podsx",
            "/reg/svc/a",
            "/a",
        ] {
            s.apply(&put(key, "v", Condition::Always));
        }
        s.apply(&del("/reg/pods/b", Condition::Always));

        let prefix = b"/reg/pods/";
        let end = prefix_end(prefix).unwrap();
        assert_eq!(end, b"/reg/pods0".to_vec());

        let all = s.range(prefix, Some(&end), None, 0).unwrap();
        assert_eq!(keys(&all.items), vec!["/reg/pods/a", "/reg/pods/c"]);
        assert!(!all.more);
        assert_eq!(all.revision, 7);
        assert_eq!(s.count(prefix, Some(&end), None).unwrap(), 2);

        let page = s.range(prefix, Some(&end), None, 1).unwrap();
        assert_eq!(keys(&page.items), vec!["/reg/pods/a"]);
        assert!(page.more);
        // Next page continues after the last key (key + \0).
        let next = b"/reg/pods/a\0";
        let page = s.range(next, Some(&end), None, 1).unwrap();
        assert_eq!(keys(&page.items), vec!["/reg/pods/c"]);
        assert!(!page.more);
        // Exactly `limit` items left is not "more".
        assert!(!s.range(prefix, Some(&end), None, 2).unwrap().more);
        // The deleted key is visible at an older revision.
        let old = s.range(prefix, Some(&end), Some(6), 0).unwrap();
        assert_eq!(
            keys(&old.items),
            vec!["/reg/pods/a", "/reg/pods/b", "/reg/pods/c"]
        );

        // Unbounded end, and empty/inverted intervals.
        assert_eq!(
            keys(&s.range(b"/reg/s", None, None, 0).unwrap().items),
            vec!["/reg/svc/a"]
        );
        assert_eq!(s.range(b"", None, None, 0).unwrap().items.len(), 5);
        assert!(
            s.range(b"/z", Some(b"/a"), None, 0)
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            s.range(b"/a", Some(b"/a"), None, 0)
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(s.count(b"/z", Some(b"/a"), None).unwrap(), 0);
    }

    #[test]
    fn prefix_end_rules() {
        assert_eq!(prefix_end(b"a"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"/x/"), Some(b"/x0".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn events_since_in_revision_order() {
        let mut s = KeyValueState::new();
        s.apply(&put("/w/b", "1", Condition::Always)); // 1
        s.apply(&put("/w/a", "1", Condition::Always)); // 2
        s.apply(&put("/other", "1", Condition::Always)); // 3
        s.apply(&put("/w/b", "2", Condition::Always)); // 4
        s.apply(&del("/w/a", Condition::Always)); // 5
        s.apply(&put("/w/a", "new", Condition::Always)); // 6
        s.apply(&del("/w/b", Condition::Always)); // 7

        let end = prefix_end(b"/w/").unwrap();
        let events = s.events_since(b"/w/", Some(&end), 1).unwrap();
        let summary: Vec<(EventKind, u64, String)> = events
            .iter()
            .map(|e| {
                (
                    e.kind.clone(),
                    e.kv.mod_revision,
                    String::from_utf8(e.kv.key.clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (EventKind::Put, 2, "/w/a".to_owned()),
                (EventKind::Put, 4, "/w/b".to_owned()),
                (EventKind::Delete, 5, "/w/a".to_owned()),
                (EventKind::Put, 6, "/w/a".to_owned()),
                (EventKind::Delete, 7, "/w/b".to_owned()),
            ]
        );
        assert_eq!(events[0].previous, None);
        assert_eq!(events[1].previous, Some(kv("/w/b", "1", 1, 1, 1)));
        assert_eq!(events[2].kv, kv("/w/a", "", 0, 5, 0));
        assert_eq!(events[2].previous, Some(kv("/w/a", "1", 2, 2, 1)));
        assert_eq!(events[3].previous, None);
        assert_eq!(events[3].kv, kv("/w/a", "new", 6, 6, 1));
        assert_eq!(events[4].previous, Some(kv("/w/b", "2", 1, 4, 2)));

        // The events match what apply returned for the same revisions.
        let mut replay = KeyValueState::new();
        let mut applied = Vec::new();
        for op in [
            put("/w/b", "1", Condition::Always),
            put("/w/a", "1", Condition::Always),
            put("/other", "1", Condition::Always),
        ] {
            applied.extend(replay.apply(&op).1);
        }
        assert_eq!(s.events_since(b"", None, 0).unwrap()[..3], applied[..]);

        assert!(s.events_since(b"", None, 7).unwrap().is_empty());
        assert!(s.events_since(b"", None, 100).unwrap().is_empty());
    }

    #[test]
    fn identical_ops_give_identical_bytes() {
        let ops = random_ops(0x5eed, 300, &mut KeyValueState::new());
        let mut a = KeyValueState::new();
        let mut b = KeyValueState::new();
        let mut ra = Vec::new();
        let mut rb = Vec::new();
        for op in &ops {
            ra.push(a.apply(op));
            rb.push(b.apply(op));
        }
        assert_eq!(ra, rb);
        let bytes_a = postcard::to_allocvec(&a).unwrap();
        let bytes_b = postcard::to_allocvec(&b).unwrap();
        assert_eq!(bytes_a, bytes_b);
        // The snapshot round-trips.
        let restored: KeyValueState = postcard::from_bytes(&bytes_a).unwrap();
        assert_eq!(restored, a);
    }

    /// A tiny deterministic PRNG (xorshift64) so the randomized test is reproducible.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    const KEYS: [&str; 6] = ["/k/a", "/k/b", "/k/c", "/k/d", "/l/a", "/l/b"];

    /// Generates ops, applying them to `state` as it goes so that conditions
    /// often name the key's real mod revision and compactions are valid.
    fn random_ops(seed: u64, n: usize, state: &mut KeyValueState) -> Vec<Operation> {
        let mut rng = XorShift(seed);
        let mut ops = Vec::with_capacity(n);
        for _ in 0..n {
            let key = KEYS[rng.below(KEYS.len() as u64) as usize]
                .as_bytes()
                .to_vec();
            let current = state.get(&key, None).unwrap().map(|kv| kv.mod_revision);
            let condition = match rng.below(10) {
                0..=4 => Condition::Always,
                5 | 6 => Condition::Absent,
                7 | 8 => Condition::ModRevision(current.unwrap_or(1)),
                _ => Condition::ModRevision(rng.below(state.revision() + 2)),
            };
            let op = match rng.below(20) {
                0..=11 => Operation::Put {
                    key,
                    value: rng.next().to_le_bytes()[..rng.below(9) as usize].to_vec(),
                    condition,
                },
                12..=18 => Operation::Delete { key, condition },
                _ => {
                    // Mostly valid compactions, sometimes invalid ones.
                    let low = state.compact_revision().saturating_sub(1);
                    let span = state.revision() + 3 - low;
                    Operation::Compact {
                        revision: low + rng.below(span),
                    }
                }
            };
            state.apply(&op);
            ops.push(op);
        }
        ops
    }

    /// A naive model: replays the op log from scratch, keeping only the
    /// latest value per key, to answer "what was the state at revision R".
    #[derive(Default)]
    struct Model {
        revision: u64,
        compact_revision: u64,
        live: BTreeMap<Vec<u8>, KeyValue>,
        events: Vec<Event>,
    }

    impl Model {
        fn apply(&mut self, op: &Operation) -> CommandResponse {
            let fail = |m: &Model, previous: Option<KeyValue>, reason: String| CommandResponse {
                revision: m.revision,
                succeeded: false,
                previous,
                current: None,
                failure: Some(reason),
                ..Default::default()
            };
            match op {
                Operation::Put {
                    key,
                    value,
                    condition,
                } => {
                    let previous = self.live.get(key).cloned();
                    if let Err(reason) = model_check(*condition, previous.as_ref()) {
                        return fail(self, previous, reason);
                    }
                    self.revision += 1;
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision: previous
                            .as_ref()
                            .map_or(self.revision, |p| p.create_revision),
                        mod_revision: self.revision,
                        version: previous.as_ref().map_or(1, |p| p.version + 1),
                    };
                    self.live.insert(key.clone(), kv.clone());
                    self.events.push(Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        previous: previous.clone(),
                    });
                    CommandResponse {
                        revision: self.revision,
                        succeeded: true,
                        previous,
                        current: Some(kv),
                        failure: None,
                        ..Default::default()
                    }
                }
                Operation::Delete { key, condition } => {
                    let previous = self.live.get(key).cloned();
                    if let Err(reason) = model_check(*condition, previous.as_ref()) {
                        return fail(self, previous, reason);
                    }
                    if previous.is_none() {
                        return fail(self, None, "key not found".to_owned());
                    }
                    self.revision += 1;
                    self.live.remove(key);
                    self.events.push(Event {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key: key.clone(),
                            value: Vec::new(),
                            create_revision: 0,
                            mod_revision: self.revision,
                            version: 0,
                        },
                        previous: previous.clone(),
                    });
                    CommandResponse {
                        revision: self.revision,
                        succeeded: true,
                        previous,
                        current: None,
                        failure: None,
                        ..Default::default()
                    }
                }
                Operation::Compact { revision } => {
                    if *revision <= self.compact_revision {
                        return fail(
                            self,
                            None,
                            format!("revision {revision} is already compacted"),
                        );
                    }
                    if *revision > self.revision {
                        return fail(self, None, format!("revision {revision} is in the future"));
                    }
                    self.compact_revision = *revision;
                    CommandResponse {
                        revision: self.revision,
                        succeeded: true,
                        ..CommandResponse::default()
                    }
                }
                other => unreachable!("the model does not generate {other:?}"),
            }
        }

        /// The model state after replaying `log` up to revision `at`.
        fn replay(log: &[Operation], at: u64) -> Model {
            let mut m = Model::default();
            for op in log {
                if m.revision == at {
                    break;
                }
                m.apply(op);
            }
            m
        }
    }

    fn model_check(condition: Condition, current: Option<&KeyValue>) -> Result<(), String> {
        match condition {
            Condition::Always => Ok(()),
            Condition::Absent => match current {
                None => Ok(()),
                Some(_) => Err("key exists".to_owned()),
            },
            Condition::ModRevision(r) => match current {
                None => Err("key not found".to_owned()),
                Some(kv) if kv.mod_revision == r => Ok(()),
                Some(kv) => Err(format!(
                    "mod revision mismatch (current {})",
                    kv.mod_revision
                )),
            },
        }
    }

    #[test]
    fn matches_naive_model() {
        for seed in [1u64, 0xdead_beef, 0x1234_5678_9abc_def0] {
            let ops = random_ops(seed, 400, &mut KeyValueState::new());
            let mut rng = XorShift(seed ^ 0xa5a5_a5a5);
            let mut s = KeyValueState::new();
            let mut model = Model::default();
            let mut log = Vec::new();
            let mut successes = 0;
            let mut served = 0;
            for (i, op) in ops.iter().enumerate() {
                let (response, events) = s.apply(op);
                let expected_events = model.events.len();
                let expected = model.apply(op);
                assert_eq!(response, expected, "op {i}: {op:?}");
                assert_eq!(events, model.events[expected_events..], "op {i}");
                successes += usize::from(response.succeeded);
                log.push(op.clone());
                assert_eq!(s.revision(), model.revision);
                assert_eq!(s.compact_revision(), model.compact_revision);
                assert_eq!(s.key_count(), model.live.len());

                if i % 5 != 0 {
                    continue;
                }
                // Reads at a random revision: mostly readable ones, sometimes
                // compacted or future ones.
                let at = match rng.below(8) {
                    0 => rng.below(s.revision() + 2),
                    _ => s.compact_revision() + rng.below(s.revision() - s.compact_revision() + 1),
                };
                served += 1;
                if at < s.compact_revision() {
                    served -= 1;
                    assert!(matches!(
                        s.get(b"/k/a", Some(at)),
                        Err(ReadError::Compacted { .. })
                    ));
                    assert!(matches!(
                        s.events_since(b"", None, at),
                        Err(ReadError::Compacted { .. })
                    ));
                    continue;
                }
                if at > s.revision() {
                    served -= 1;
                    assert!(matches!(
                        s.range(b"", None, Some(at), 0),
                        Err(ReadError::FutureRevision { .. })
                    ));
                    continue;
                }
                let then = Model::replay(&log, at);
                for key in KEYS {
                    assert_eq!(
                        s.get(key.as_bytes(), Some(at)).unwrap().as_ref(),
                        then.live.get(key.as_bytes()),
                        "seed {seed} op {i} key {key} at {at}"
                    );
                }
                let all: Vec<KeyValue> = then.live.values().cloned().collect();
                assert_eq!(s.range(b"", None, Some(at), 0).unwrap().items, all);
                let end = prefix_end(b"/k/").unwrap();
                let in_k: Vec<KeyValue> = then
                    .live
                    .range(b"/k/".to_vec()..end.clone())
                    .map(|(_, kv)| kv.clone())
                    .collect();
                let page = s.range(b"/k/", Some(&end), Some(at), 2).unwrap();
                assert_eq!(page.items[..], in_k[..in_k.len().min(2)]);
                assert_eq!(page.more, in_k.len() > 2);
                assert_eq!(
                    s.count(b"/k/", Some(&end), Some(at)).unwrap(),
                    in_k.len() as u64
                );
                // Events after `at` are the model's events after `at`.
                let expected: Vec<Event> = model
                    .events
                    .iter()
                    .filter(|e| e.kv.mod_revision > at && e.kv.key.starts_with(b"/k/"))
                    .cloned()
                    .collect();
                assert_eq!(s.events_since(b"/k/", Some(&end), at).unwrap(), expected);
            }
            // The generator must exercise enough of the state space.
            assert!(successes > 100, "seed {seed}: only {successes} successes");
            assert!(s.compact_revision() > 0, "seed {seed}: never compacted");
            assert!(
                served > 25,
                "seed {seed}: only {served} historical reads checked"
            );
        }
    }
}
