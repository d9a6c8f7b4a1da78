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

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::command::{CommandResponse, Condition, Operation};
use crate::txn::{
    KeySpan, Lease, MAX_TXN_OPS, RangeOp, RangeOutput, SortOrder, SortTarget, Txn, TxnError, TxnOp,
    TxnOpOutput, TxnOutput,
};

/// A key's value as of some revision, with etcd's version metadata. The value is shared, not
/// copied, between the key's stored version, the change events watchers hold and reads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Vec<u8>,
    pub value: Bytes,
    /// The revision that created the key in its current lifetime.
    pub create_revision: u64,
    /// The revision of the last write to the key.
    pub mod_revision: u64,
    /// Number of writes in the current lifetime (1 after creation).
    pub version: u64,
    /// The lease the key is attached to (0: none).
    pub lease: i64,
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
    value: Option<Bytes>,
    /// The lease the key was attached to by this write (0: none).
    lease: i64,
    /// The position of this write among the writes of its revision (a transaction or a lease
    /// revocation writes several keys in one revision): orders the events of one revision.
    sub_revision: u32,
}

impl Version {
    fn key_value(&self, key: &[u8]) -> Option<KeyValue> {
        self.value.as_ref().map(|value| KeyValue {
            key: key.to_vec(),
            value: value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
            lease: self.lease,
        })
    }
}

/// The newest version in `versions` as of `revision`, if it is live (not a tombstone).
fn visible(versions: &[Version], revision: u64) -> Option<&Version> {
    let visible = versions.partition_point(|v| v.mod_revision <= revision);
    visible
        .checked_sub(1)
        .and_then(|i| versions.get(i))
        .filter(|v| v.value.is_some())
}

/// The newest live value in `versions` as of `revision`.
fn live_at(key: &[u8], versions: &[Version], revision: u64) -> Option<KeyValue> {
    visible(versions, revision).and_then(|v| v.key_value(key))
}

fn to_i64(revision: u64) -> i64 {
    i64::try_from(revision).unwrap_or(i64::MAX)
}

/// The state of one transaction while its ops run.
struct TxnRun {
    /// The revision every write of the transaction gets.
    revision: u64,
    next_sub_revision: u32,
    events: Vec<Event>,
}

impl TxnRun {
    fn sub_revision(&mut self) -> u32 {
        let sub = self.next_sub_revision;
        self.next_sub_revision = sub.saturating_add(1);
        sub
    }
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
    /// Leases by id; each lists the keys attached to it (sorted, no duplicates).
    leases: BTreeMap<i64, Lease>,
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
            Operation::Txn(txn) => self.apply_txn(txn),
            Operation::LeaseGrant { id, ttl_seconds } => {
                (self.lease_grant(*id, *ttl_seconds), Vec::new())
            }
            Operation::LeaseRevoke { id } => self.lease_revoke(*id),
            Operation::LeaseCheckpoint { remaining_ms } => {
                (self.lease_checkpoint(remaining_ms), Vec::new())
            }
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
        let (kv, previous) = self.write_put(key, Bytes::copy_from_slice(value), 0, revision, 0);
        self.revision = revision;
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
        self.write_delete(key, revision, 0);
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

    /// Like [`Self::range`] without a limit, keeping only values `keep` accepts: a reader that
    /// can reject most values by their bytes (a pod list for one node) copies only the rest.
    pub fn range_matching(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        at_revision: Option<u64>,
        keep: &dyn Fn(&[u8]) -> bool,
    ) -> Result<RangeResult, ReadError> {
        let at = self.read_revision(at_revision)?;
        let items = self
            .key_range(start, end)
            .filter_map(|(key, versions)| visible(versions, at).map(|version| (key, version)))
            .filter(|(_, version)| version.value.as_deref().is_some_and(keep))
            .filter_map(|(key, version)| version.key_value(key))
            .collect();
        Ok(RangeResult {
            items,
            more: false,
            revision: at,
        })
    }

    /// Each live key in `[start, end)` with the revision of its latest write, borrowed: lets a
    /// cache of decoded objects find what changed without copying every value.
    pub fn live_revisions<'a>(
        &'a self,
        start: &[u8],
        end: Option<&[u8]>,
    ) -> impl Iterator<Item = (&'a [u8], u64)> + 'a {
        let at = self.revision;
        self.key_range(start, end)
            .filter_map(move |(key, versions)| {
                visible(versions, at).map(|version| (key.as_slice(), version.mod_revision))
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
                let event = Event {
                    kind,
                    kv,
                    previous: std::mem::replace(&mut previous, next_previous),
                };
                events.push(((v.mod_revision, v.sub_revision), event));
            }
        }
        // A key changes at most once per revision, and the writes of one revision are
        // numbered: the order is total, and the same as the order `apply` returned them in.
        events.sort_by_key(|(order, _)| *order);
        Ok(events.into_iter().map(|(_, event)| event).collect())
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
        value: Bytes::new(),
        create_revision: 0,
        mod_revision: revision,
        version: 0,
        lease: 0,
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

mod transactions;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod txn_tests;

#[cfg(test)]
mod range_tests;
