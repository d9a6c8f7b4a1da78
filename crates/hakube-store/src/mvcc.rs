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
use crate::txn::{
    KeySpan, Lease, MAX_TXN_OPS, RangeOp, RangeOutput, SortOrder, SortTarget, Txn, TxnError, TxnOp,
    TxnOpOutput, TxnOutput,
};

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
    value: Option<Vec<u8>>,
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
        let (kv, previous) = self.write_put(key, value.to_vec(), 0, revision, 0);
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

/// Writes, transactions and leases.
impl KeyValueState {
    /// Appends a version of `key`. A second write of the key in one revision replaces the
    /// first: transactions reject that before they run, so this only keeps the history
    /// well-formed (one version per key and revision) should it ever happen.
    fn push_version(&mut self, key: &[u8], version: Version) {
        let versions = self.keys.entry(key.to_vec()).or_default();
        match versions.last_mut() {
            Some(last) if last.mod_revision == version.mod_revision => *last = version,
            _ => versions.push(version),
        }
    }

    /// Writes `value` under `key` at `revision`, moving the key to `lease` (0: none; a lease
    /// that does not exist counts as none). Returns the new value and the previous one.
    fn write_put(
        &mut self,
        key: &[u8],
        value: Vec<u8>,
        lease: i64,
        revision: u64,
        sub_revision: u32,
    ) -> (KeyValue, Option<KeyValue>) {
        let previous = self.current(key);
        let (create_revision, version) = match &previous {
            Some(kv) => (kv.create_revision, kv.version + 1),
            None => (revision, 1),
        };
        if let Some(old) = previous.as_ref().map(|kv| kv.lease)
            && old != 0
            && old != lease
        {
            self.detach(old, key);
        }
        let lease = if lease != 0 && self.attach(lease, key) {
            lease
        } else {
            0
        };
        self.push_version(
            key,
            Version {
                mod_revision: revision,
                create_revision,
                version,
                value: Some(value.clone()),
                lease,
                sub_revision,
            },
        );
        let kv = KeyValue {
            key: key.to_vec(),
            value,
            create_revision,
            mod_revision: revision,
            version,
            lease,
        };
        (kv, previous)
    }

    /// Deletes `key` at `revision` if it is live, detaching it from its lease. Returns the
    /// deleted value.
    fn write_delete(&mut self, key: &[u8], revision: u64, sub_revision: u32) -> Option<KeyValue> {
        let previous = self.current(key)?;
        if previous.lease != 0 {
            self.detach(previous.lease, key);
        }
        self.push_version(
            key,
            Version {
                mod_revision: revision,
                create_revision: 0,
                version: 0,
                value: None,
                lease: 0,
                sub_revision,
            },
        );
        Some(previous)
    }

    /// Adds `key` to the lease's keys; false when the lease does not exist.
    fn attach(&mut self, lease: i64, key: &[u8]) -> bool {
        let Some(lease) = self.leases.get_mut(&lease) else {
            return false;
        };
        if let Err(at) = lease.keys.binary_search_by(|k| k.as_slice().cmp(key)) {
            lease.keys.insert(at, key.to_vec());
        }
        true
    }

    fn detach(&mut self, lease: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&lease)
            && let Ok(at) = lease.keys.binary_search_by(|k| k.as_slice().cmp(key))
        {
            lease.keys.remove(at);
        }
    }

    /// Keys (with their versions) in a span, dead ones included.
    fn span_versions<'s>(
        &'s self,
        span: KeySpan<'_>,
    ) -> Box<dyn Iterator<Item = (&'s Vec<u8>, &'s Vec<Version>)> + 's> {
        match span {
            KeySpan::Key(key) => Box::new(self.keys.get_key_value(key).into_iter()),
            KeySpan::Range { start, end } => Box::new(self.key_range(start, end)),
        }
    }

    // ---- transactions -------------------------------------------------------------------

    fn apply_txn(&mut self, txn: &Txn) -> (CommandResponse, Vec<Event>) {
        match self.run_txn(txn) {
            Ok((output, events)) => (
                CommandResponse {
                    revision: self.revision,
                    succeeded: output.succeeded,
                    txn: Some(output),
                    ..Default::default()
                },
                events,
            ),
            Err(error) => (
                CommandResponse {
                    revision: self.revision,
                    succeeded: false,
                    failure: Some(error.to_string()),
                    txn_error: Some(error),
                    ..Default::default()
                },
                Vec::new(),
            ),
        }
    }

    /// Checks the whole transaction, then runs it; nothing changes when a check fails.
    fn run_txn(&mut self, txn: &Txn) -> Result<(TxnOutput, Vec<Event>), TxnError> {
        txn.check_op_count(MAX_TXN_OPS)?;
        txn.check_duplicate_keys()?;
        // etcd decides every level's branch up front, against the state before the txn.
        let mut path = Vec::new();
        self.decide_path(txn, &mut path);
        let mut ops = Vec::new();
        path_ops(txn, &mut path.iter(), &mut ops);
        for op in &ops {
            if let TxnOp::Put(put) = op {
                if (put.ignore_value || put.ignore_lease) && self.current(&put.key).is_none() {
                    return Err(TxnError::KeyNotFound);
                }
                if put.lease != 0 && !self.leases.contains_key(&put.lease) {
                    return Err(TxnError::LeaseNotFound(put.lease));
                }
            }
        }
        for op in &ops {
            if let TxnOp::Range(range) = op {
                self.txn_read_revision(range.revision)?;
            }
        }
        // From here on nothing can fail: every write gets the next revision.
        let mut run = TxnRun {
            revision: self.revision + 1,
            next_sub_revision: 0,
            events: Vec::new(),
        };
        let output = self.run_level(txn, &mut path.iter(), &mut run);
        if !run.events.is_empty() {
            self.revision = run.revision;
        }
        Ok((output, run.events))
    }

    /// Answers a transaction without writes outside the log, as etcd serves read-only
    /// transactions (after a read barrier when linearizable). The same checks and output as
    /// applying it; None when some branch could write (it must go through the log).
    pub fn read_only_txn(&self, txn: &Txn) -> Option<Result<TxnOutput, TxnError>> {
        if !txn.is_read_only() {
            return None;
        }
        Some(self.answer_read_only(txn))
    }

    fn answer_read_only(&self, txn: &Txn) -> Result<TxnOutput, TxnError> {
        txn.check_op_count(MAX_TXN_OPS)?;
        let mut path = Vec::new();
        self.decide_path(txn, &mut path);
        let mut ops = Vec::new();
        path_ops(txn, &mut path.iter(), &mut ops);
        for op in &ops {
            if let TxnOp::Range(range) = op {
                self.txn_read_revision(range.revision)?;
            }
        }
        Ok(self.read_level(txn, &mut path.iter()))
    }

    fn read_level(&self, txn: &Txn, path: &mut std::slice::Iter<'_, bool>) -> TxnOutput {
        let succeeded = path.next().copied().unwrap_or(false);
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let responses = ops
            .iter()
            .filter_map(|op| match op {
                TxnOp::Range(range) => {
                    let at = match u64::try_from(range.revision) {
                        Ok(r) if r > 0 => r,
                        _ => self.revision,
                    };
                    Some(TxnOpOutput::Range(self.range_at(range, at)))
                }
                TxnOp::Txn(inner) => Some(TxnOpOutput::Txn(self.read_level(inner, path))),
                // Not in a read-only transaction.
                TxnOp::Put(_) | TxnOp::DeleteRange(_) => None,
            })
            .collect();
        TxnOutput {
            succeeded,
            responses,
        }
    }

    /// Appends, in pre-order, whether each transaction on the path taken succeeds.
    fn decide_path(&self, txn: &Txn, path: &mut Vec<bool>) {
        let succeeded = txn.compares.iter().all(|c| self.compare_holds(c));
        path.push(succeeded);
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        for op in ops {
            if let TxnOp::Txn(inner) = op {
                self.decide_path(inner, path);
            }
        }
    }

    /// A compare over a range holds when it holds for every live key in it; over no key, it
    /// is evaluated against a missing key.
    fn compare_holds(&self, compare: &crate::txn::Compare) -> bool {
        let span = KeySpan::new(&compare.key, &compare.range_end);
        let mut any = false;
        for (key, versions) in self.span_versions(span) {
            let Some(kv) = versions.last().and_then(|v| v.key_value(key)) else {
                continue;
            };
            any = true;
            if !compare.holds_for(Some(&kv)) {
                return false;
            }
        }
        any || compare.holds_for(None)
    }

    fn run_level(
        &mut self,
        txn: &Txn,
        path: &mut std::slice::Iter<'_, bool>,
        run: &mut TxnRun,
    ) -> TxnOutput {
        let succeeded = path.next().copied().unwrap_or(false);
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match op {
                TxnOp::Range(range) => {
                    // The state so far: writes of this txn are at `run.revision`.
                    let at = match u64::try_from(range.revision) {
                        Ok(r) if r > 0 => r,
                        _ => run.revision,
                    };
                    TxnOpOutput::Range(self.range_at(range, at))
                }
                TxnOp::Put(put) => {
                    let current = self.current(&put.key);
                    let value = match (&current, put.ignore_value) {
                        (Some(kv), true) => kv.value.clone(),
                        (None, true) => Vec::new(),
                        (_, false) => put.value.clone(),
                    };
                    let lease = match (&current, put.ignore_lease) {
                        (Some(kv), true) => kv.lease,
                        (None, true) => 0,
                        (_, false) => put.lease,
                    };
                    let sub = run.sub_revision();
                    let (kv, previous) = self.write_put(&put.key, value, lease, run.revision, sub);
                    run.events.push(Event {
                        kind: EventKind::Put,
                        kv,
                        previous: previous.clone(),
                    });
                    TxnOpOutput::Put {
                        prev_kv: previous.filter(|_| put.prev_kv),
                    }
                }
                TxnOp::DeleteRange(delete) => {
                    let span = KeySpan::new(&delete.key, &delete.range_end);
                    let live: Vec<Vec<u8>> = self
                        .span_versions(span)
                        .filter(|(_, versions)| versions.last().is_some_and(|v| v.value.is_some()))
                        .map(|(key, _)| key.clone())
                        .collect();
                    let mut deleted = 0;
                    let mut prev_kvs = Vec::new();
                    for key in live {
                        let sub = run.sub_revision();
                        if let Some(previous) = self.write_delete(&key, run.revision, sub) {
                            deleted += 1;
                            if delete.prev_kv {
                                prev_kvs.push(previous.clone());
                            }
                            run.events.push(Event {
                                kind: EventKind::Delete,
                                kv: tombstone_kv(&key, run.revision),
                                previous: Some(previous),
                            });
                        }
                    }
                    TxnOpOutput::DeleteRange { deleted, prev_kvs }
                }
                TxnOp::Txn(inner) => TxnOpOutput::Txn(self.run_level(inner, path, run)),
            };
            responses.push(response);
        }
        TxnOutput {
            succeeded,
            responses,
        }
    }

    /// The revision a range with `revision` reads at (etcd: 0 or negative is the latest).
    fn txn_read_revision(&self, revision: i64) -> Result<u64, TxnError> {
        let Ok(requested) = u64::try_from(revision) else {
            return Ok(self.revision);
        };
        if requested == 0 {
            return Ok(self.revision);
        }
        if requested > self.revision {
            return Err(TxnError::FutureRevision);
        }
        if requested < self.compact_revision {
            return Err(TxnError::Compacted);
        }
        Ok(requested)
    }

    /// etcd's range at a readable revision: count, filters, sort, limit, keys/count only.
    fn range_at(&self, op: &RangeOp, at: u64) -> RangeOutput {
        let span = KeySpan::new(&op.key, &op.range_end);
        let mut matched: Vec<(&[u8], &Version)> = self
            .span_versions(span)
            .filter_map(|(key, versions)| visible(versions, at).map(|v| (key.as_slice(), v)))
            .collect();
        let count = i64::try_from(matched.len()).unwrap_or(i64::MAX);
        if op.count_only {
            return RangeOutput {
                kvs: Vec::new(),
                more: false,
                count,
            };
        }
        if op.max_mod_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.mod_revision) <= op.max_mod_revision);
        }
        if op.min_mod_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.mod_revision) >= op.min_mod_revision);
        }
        if op.max_create_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.create_revision) <= op.max_create_revision);
        }
        if op.min_create_revision != 0 {
            matched.retain(|(_, v)| to_i64(v.create_revision) >= op.min_create_revision);
        }
        // Keys come in ascending order already; another target sorts ascending by default.
        let order = match (op.sort_order, op.sort_target) {
            (SortOrder::None | SortOrder::Ascend, SortTarget::Key) => SortOrder::None,
            (SortOrder::None, _) => SortOrder::Ascend,
            (order, _) => order,
        };
        let target = op.sort_target;
        let compare = |a: &(&[u8], &Version), b: &(&[u8], &Version)| match target {
            SortTarget::Key => a.0.cmp(b.0),
            SortTarget::Version => a.1.version.cmp(&b.1.version),
            SortTarget::Create => a.1.create_revision.cmp(&b.1.create_revision),
            SortTarget::Mod => a.1.mod_revision.cmp(&b.1.mod_revision),
            SortTarget::Value => a.1.value.cmp(&b.1.value),
        };
        // Stable sorts: ties stay in ascending key order, so every replica answers alike.
        match order {
            SortOrder::None => {}
            SortOrder::Ascend => matched.sort_by(compare),
            SortOrder::Descend => matched.sort_by(|a, b| compare(b, a)),
        }
        let mut more = false;
        if let Ok(limit) = usize::try_from(op.limit)
            && limit > 0
            && matched.len() > limit
        {
            matched.truncate(limit);
            more = true;
        }
        let kvs = matched
            .into_iter()
            .map(|(key, v)| KeyValue {
                key: key.to_vec(),
                value: if op.keys_only {
                    Vec::new()
                } else {
                    v.value.clone().unwrap_or_default()
                },
                create_revision: v.create_revision,
                mod_revision: v.mod_revision,
                version: v.version,
                lease: v.lease,
            })
            .collect();
        RangeOutput { kvs, more, count }
    }

    /// An etcd range read outside the log: `revision` 0 is the latest; a compacted or future
    /// revision is an error. Kept consistent with ranges inside a transaction.
    pub fn range_op(&self, op: &RangeOp) -> Result<RangeOutput, TxnError> {
        let at = self.txn_read_revision(op.revision)?;
        Ok(self.range_at(op, at))
    }

    // ---- leases -------------------------------------------------------------------------

    fn lease_grant(&mut self, id: i64, ttl_seconds: i64) -> CommandResponse {
        if id == 0 {
            return self.failed(None, "lease id 0 is reserved (no lease)".to_owned());
        }
        if self.leases.contains_key(&id) {
            return self.failed(None, "lease already exists".to_owned());
        }
        self.leases.insert(
            id,
            Lease {
                id,
                ttl_seconds,
                remaining_ms: None,
                keys: Vec::new(),
            },
        );
        CommandResponse {
            revision: self.revision,
            succeeded: true,
            ..Default::default()
        }
    }

    /// Deletes every key attached to the lease, in key order and in one revision, then the
    /// lease (the revision is unchanged when it had no keys).
    fn lease_revoke(&mut self, id: i64) -> (CommandResponse, Vec<Event>) {
        let Some(keys) = self.leases.get(&id).map(|lease| lease.keys.clone()) else {
            let error = TxnError::LeaseNotFound(id);
            return (
                CommandResponse {
                    revision: self.revision,
                    succeeded: false,
                    failure: Some(error.to_string()),
                    txn_error: Some(error),
                    ..Default::default()
                },
                Vec::new(),
            );
        };
        let mut run = TxnRun {
            revision: self.revision + 1,
            next_sub_revision: 0,
            events: Vec::new(),
        };
        for key in keys {
            let sub = run.sub_revision();
            if let Some(previous) = self.write_delete(&key, run.revision, sub) {
                run.events.push(Event {
                    kind: EventKind::Delete,
                    kv: tombstone_kv(&key, run.revision),
                    previous: Some(previous),
                });
            }
        }
        self.leases.remove(&id);
        if !run.events.is_empty() {
            self.revision = run.revision;
        }
        (
            CommandResponse {
                revision: self.revision,
                succeeded: true,
                ..Default::default()
            },
            run.events,
        )
    }

    /// Records remaining times (ms) of existing leases; unknown ids are ignored, and a value
    /// of 0 or less clears the checkpoint (a new leader then starts from the full TTL, as
    /// etcd's `remaining_TTL == 0`).
    fn lease_checkpoint(&mut self, remaining_ms: &[(i64, i64)]) -> CommandResponse {
        for &(id, remaining) in remaining_ms {
            if let Some(lease) = self.leases.get_mut(&id) {
                lease.remaining_ms = (remaining > 0).then_some(remaining);
            }
        }
        CommandResponse {
            revision: self.revision,
            succeeded: true,
            ..Default::default()
        }
    }

    pub fn lease(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every lease id, ascending.
    pub fn lease_ids(&self) -> Vec<i64> {
        self.leases.keys().copied().collect()
    }

    /// Every lease, by ascending id.
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.leases.values()
    }

    // ---- integrity ----------------------------------------------------------------------

    /// A CRC32 over every live key, value and mod revision at `revision` (0: the latest), in
    /// key order: replicas that applied the same log agree on it.
    pub fn hash_kv(&self, revision: u64) -> Result<u32, ReadError> {
        let at = self.read_revision((revision != 0).then_some(revision))?;
        let mut hasher = crc32fast::Hasher::new();
        for (key, versions) in &self.keys {
            let Some(version) = visible(versions, at) else {
                continue;
            };
            let value = version.value.as_deref().unwrap_or_default();
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(key);
            hasher.update(&(value.len() as u64).to_le_bytes());
            hasher.update(value);
            hasher.update(&version.mod_revision.to_le_bytes());
        }
        Ok(hasher.finalize())
    }
}

/// The non-transaction ops on the path `path` chooses, in the order they run.
fn path_ops<'t>(txn: &'t Txn, path: &mut std::slice::Iter<'_, bool>, out: &mut Vec<&'t TxnOp>) {
    let succeeded = path.next().copied().unwrap_or(false);
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    for op in ops {
        match op {
            TxnOp::Txn(inner) => path_ops(inner, path, out),
            other => out.push(other),
        }
    }
}

fn tombstone_kv(key: &[u8], revision: u64) -> KeyValue {
    KeyValue {
        key: key.to_vec(),
        value: Vec::new(),
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
            lease: 0,
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
                        lease: 0,
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
                            lease: 0,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod txn_tests {
    use super::*;
    use crate::txn::{Compare, CompareResult, CompareTarget, DeleteRangeOp, PutOp};

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn put(key: &str, value: &str) -> TxnOp {
        TxnOp::Put(PutOp {
            key: b(key),
            value: b(value),
            ..Default::default()
        })
    }

    fn put_lease(key: &str, value: &str, lease: i64) -> TxnOp {
        TxnOp::Put(PutOp {
            key: b(key),
            value: b(value),
            lease,
            ..Default::default()
        })
    }

    fn del(key: &str, end: &[u8]) -> TxnOp {
        TxnOp::DeleteRange(DeleteRangeOp {
            key: b(key),
            range_end: end.to_vec(),
            prev_kv: true,
        })
    }

    fn range(key: &str, end: &[u8]) -> RangeOp {
        RangeOp {
            key: b(key),
            range_end: end.to_vec(),
            ..Default::default()
        }
    }

    fn compare(key: &str, target: CompareTarget, result: CompareResult) -> Compare {
        Compare {
            key: b(key),
            range_end: Vec::new(),
            target,
            result,
        }
    }

    fn txn(compares: Vec<Compare>, success: Vec<TxnOp>, failure: Vec<TxnOp>) -> Operation {
        Operation::Txn(Txn {
            compares,
            success,
            failure,
        })
    }

    fn simple_put(key: &str, value: &str) -> Operation {
        Operation::Put {
            key: b(key),
            value: b(value),
            condition: Condition::Always,
        }
    }

    fn names(kvs: &[KeyValue]) -> Vec<String> {
        kvs.iter()
            .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
            .collect()
    }

    /// /a: value "3", create 1, mod 3, version 2; /b: value "2", create 2, mod 2, version 1.
    fn setup() -> KeyValueState {
        let mut s = KeyValueState::new();
        s.apply(&simple_put("/a", "1"));
        s.apply(&simple_put("/b", "2"));
        s.apply(&simple_put("/a", "3"));
        s
    }

    fn holds(s: &KeyValueState, c: Compare) -> bool {
        let mut s = s.clone();
        let before = s.clone();
        let (r, events) = s.apply(&txn(vec![c], vec![], vec![]));
        assert!(events.is_empty());
        assert_eq!(s, before);
        assert_eq!(r.revision, before.revision());
        assert!(r.txn_error.is_none());
        assert_eq!(r.succeeded, r.txn.unwrap().succeeded);
        r.succeeded
    }

    #[test]
    fn compares_every_target_and_result() {
        use CompareResult::{Equal as Eq, Greater as Gt, Less as Lt, NotEqual as Ne};
        use CompareTarget::{CreateRevision, Lease, ModRevision, Value, Version};
        let s = setup();
        let cases: Vec<(CompareTarget, [bool; 4])> = vec![
            // [Equal, NotEqual, Greater, Less] for /a
            (Version(2), [true, false, false, false]),
            (Version(1), [false, true, true, false]),
            (Version(3), [false, true, false, true]),
            (CreateRevision(1), [true, false, false, false]),
            (CreateRevision(0), [false, true, true, false]),
            (CreateRevision(2), [false, true, false, true]),
            (ModRevision(3), [true, false, false, false]),
            (ModRevision(2), [false, true, true, false]),
            (ModRevision(4), [false, true, false, true]),
            (Value(b("3")), [true, false, false, false]),
            (Value(b("2")), [false, true, true, false]),
            (Value(b("4")), [false, true, false, true]),
            (Value(b("30")), [false, true, false, true]),
            (Value(Vec::new()), [false, true, true, false]),
            (Lease(0), [true, false, false, false]),
            (Lease(-1), [false, true, true, false]),
            (Lease(5), [false, true, false, true]),
        ];
        for (target, expected) in cases {
            for (result, want) in [Eq, Ne, Gt, Lt].into_iter().zip(expected) {
                let c = compare("/a", target.clone(), result);
                assert_eq!(holds(&s, c), want, "/a {target:?} {result:?}");
            }
        }
        // A missing key: zeros, and a value compare that never holds.
        let missing: Vec<(CompareTarget, [bool; 4])> = vec![
            (Version(0), [true, false, false, false]),
            (CreateRevision(0), [true, false, false, false]),
            (ModRevision(1), [false, true, false, true]),
            (Lease(0), [true, false, false, false]),
            (Lease(-3), [false, true, true, false]),
            (Value(Vec::new()), [false, false, false, false]),
            (Value(b("x")), [false, false, false, false]),
        ];
        for (target, expected) in missing {
            for (result, want) in [Eq, Ne, Gt, Lt].into_iter().zip(expected) {
                let c = compare("/missing", target.clone(), result);
                assert_eq!(holds(&s, c), want, "missing {target:?} {result:?}");
            }
        }
        // A deleted key is missing too.
        let mut deleted = s.clone();
        deleted.apply(&Operation::Delete {
            key: b("/b"),
            condition: Condition::Always,
        });
        assert!(holds(&deleted, compare("/b", Version(0), Eq)));
        assert!(!holds(&deleted, compare("/b", Value(b("2")), Ne)));
    }

    #[test]
    fn range_compares_hold_for_every_key() {
        use CompareResult::{Equal, Greater, NotEqual};
        use CompareTarget::{ModRevision, Value, Version};
        let s = setup();
        let ranged = |key: &str, end: &[u8], target, result| Compare {
            key: b(key),
            range_end: end.to_vec(),
            target,
            result,
        };
        // /a mod 3, /b mod 2.
        assert!(holds(&s, ranged("/a", b"/c", ModRevision(1), Greater)));
        assert!(!holds(&s, ranged("/a", b"/c", ModRevision(2), Greater)));
        assert!(holds(&s, ranged("/", &[0], Version(0), Greater)));
        assert!(holds(&s, ranged("/b", &[0], Version(1), Equal)));
        assert!(!holds(&s, ranged("/a", &[0], Version(1), Equal)));
        assert!(holds(&s, ranged("/a", b"/c", Value(b("9")), NotEqual)));
        // An empty range compares like a missing key.
        assert!(holds(&s, ranged("/x", b"/y", Version(0), Equal)));
        assert!(!holds(&s, ranged("/x", b"/y", Value(Vec::new()), NotEqual)));
        assert!(holds(&s, ranged("/y", b"/x", ModRevision(0), Equal)));
        // Several compares: all must hold.
        let (r, _) = s.clone().apply(&txn(
            vec![
                compare("/a", Version(2), Equal),
                compare("/b", Version(2), Equal),
            ],
            vec![],
            vec![],
        ));
        assert!(!r.succeeded);
    }

    #[test]
    fn branches_share_one_revision() {
        let mut s = setup();
        let mod_b = |r| compare("/b", CompareTarget::ModRevision(r), CompareResult::Equal);
        let op = txn(
            vec![mod_b(2)],
            vec![
                put("/d", "x"),
                put("/c", "y"),
                del("/b", &[]),
                TxnOp::Range(range("/", &[0])),
            ],
            vec![put("/e", "z")],
        );
        let (r, events) = s.apply(&op);
        assert!(r.succeeded);
        assert_eq!(r.revision, 4);
        assert_eq!(s.revision(), 4);
        assert_eq!(r.failure, None);
        let out = r.txn.unwrap();
        assert!(out.succeeded);
        assert_eq!(out.responses.len(), 4);
        assert_eq!(out.responses[0], TxnOpOutput::Put { prev_kv: None });
        let TxnOpOutput::DeleteRange { deleted, prev_kvs } = &out.responses[2] else {
            panic!("{:?}", out.responses[2]);
        };
        assert_eq!(*deleted, 1);
        assert_eq!(prev_kvs[0].value, b("2"));
        let TxnOpOutput::Range(seen) = &out.responses[3] else {
            panic!();
        };
        // The range sees the writes before it.
        assert_eq!(names(&seen.kvs), vec!["/a", "/c", "/d"]);
        assert_eq!(seen.count, 3);
        assert_eq!(seen.kvs[1].mod_revision, 4);
        // Events: in op order, all at the txn's revision.
        let summary: Vec<(EventKind, String, u64)> = events
            .iter()
            .map(|e| {
                (
                    e.kind.clone(),
                    String::from_utf8(e.kv.key.clone()).unwrap(),
                    e.kv.mod_revision,
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (EventKind::Put, "/d".to_owned(), 4),
                (EventKind::Put, "/c".to_owned(), 4),
                (EventKind::Delete, "/b".to_owned(), 4),
            ]
        );
        assert_eq!(events[1].kv.create_revision, 4);
        assert_eq!(events[1].kv.version, 1);
        assert_eq!(events[2].previous.as_ref().unwrap().value, b("2"));
        // The history replays the same events in the same order.
        assert_eq!(s.events_since(b"", None, 3).unwrap(), events);

        // Now the compare fails: the failure branch runs, at the next revision.
        let (r, events) = s.apply(&op);
        assert!(!r.succeeded);
        assert_eq!(r.failure, None);
        assert_eq!(r.txn_error, None);
        assert_eq!(r.revision, 5);
        assert!(!r.txn.unwrap().succeeded);
        assert_eq!(events.len(), 1);
        assert_eq!(s.get(b"/e", None).unwrap().unwrap().mod_revision, 5);

        // A read-only txn, and a delete that deletes nothing, keep the revision.
        let (r, events) = s.apply(&txn(
            vec![],
            vec![TxnOp::Range(range("/a", &[])), del("/nothing", &[0xff])],
            vec![],
        ));
        assert!(r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.revision, 5);
        assert_eq!(s.revision(), 5);
        // prev_kv on a put; a put of the same value still writes.
        let (r, _) = s.apply(&txn(
            vec![],
            vec![TxnOp::Put(PutOp {
                key: b("/a"),
                value: b("3"),
                prev_kv: true,
                ..Default::default()
            })],
            vec![],
        ));
        let TxnOpOutput::Put { prev_kv } = &r.txn.unwrap().responses[0] else {
            panic!();
        };
        assert_eq!(prev_kv.as_ref().unwrap().mod_revision, 3);
        assert_eq!(s.get(b"/a", None).unwrap().unwrap().version, 3);
        assert_eq!(s.revision(), 6);
    }

    #[test]
    fn nested_txns() {
        let mut s = setup();
        let inner = Txn {
            // Decided against the state before the outer txn (etcd): /x is still missing.
            compares: vec![compare(
                "/x",
                CompareTarget::Version(0),
                CompareResult::Equal,
            )],
            success: vec![put("/y", "2"), TxnOp::Range(range("/x", &[]))],
            failure: vec![put("/z", "3")],
        };
        let failing = Txn {
            compares: vec![compare(
                "/a",
                CompareTarget::Value(b("nope")),
                CompareResult::Equal,
            )],
            success: vec![put("/never", "")],
            failure: vec![del("/b", &[])],
        };
        let (r, events) = s.apply(&txn(
            vec![],
            vec![put("/x", "1"), TxnOp::Txn(inner), TxnOp::Txn(failing)],
            vec![],
        ));
        assert!(r.succeeded);
        assert_eq!(r.revision, 4);
        let out = r.txn.unwrap();
        let TxnOpOutput::Txn(first) = &out.responses[1] else {
            panic!();
        };
        assert!(first.succeeded);
        let TxnOpOutput::Range(x) = &first.responses[1] else {
            panic!();
        };
        assert_eq!(x.kvs[0].value, b("1"));
        assert_eq!(x.kvs[0].mod_revision, 4);
        let TxnOpOutput::Txn(second) = &out.responses[2] else {
            panic!();
        };
        assert!(!second.succeeded);
        assert!(matches!(
            second.responses[0],
            TxnOpOutput::DeleteRange { deleted: 1, .. }
        ));
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|e| e.kv.mod_revision == 4));
        assert_eq!(s.get(b"/z", None).unwrap(), None);
        assert_eq!(s.get(b"/never", None).unwrap(), None);
        assert_eq!(s.get(b"/b", None).unwrap(), None);
    }

    fn rejected(s: &mut KeyValueState, op: &Operation, error: TxnError) {
        let before = s.clone();
        let (r, events) = s.apply(op);
        assert!(!r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.failure, Some(error.to_string()));
        assert_eq!(r.txn_error, Some(error));
        assert_eq!(r.txn, None);
        assert_eq!(r.revision, before.revision());
        assert_eq!(*s, before);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let mut s = setup();
        let nested = |success, failure| {
            TxnOp::Txn(Txn {
                compares: vec![],
                success,
                failure,
            })
        };
        let bad = vec![
            vec![put("/a", "1"), put("/a", "2")],
            vec![del("/a", b"/c"), put("/b", "1")],
            vec![put("/b", "1"), del("/a", b"/c")],
            vec![del("/a", &[0]), put("/z", "1")],
            vec![put("/a", "1"), nested(vec![put("/a", "2")], vec![])],
            vec![nested(vec![put("/a", "2")], vec![]), put("/a", "1")],
            vec![del("/a", &[]), nested(vec![], vec![put("/a", "2")])],
            vec![
                nested(vec![put("/a", "2")], vec![]),
                nested(vec![del("/a", &[])], vec![]),
            ],
            vec![
                nested(vec![del("/a", &[])], vec![]),
                nested(vec![], vec![put("/a", "2")]),
            ],
        ];
        for ops in bad {
            let op = txn(vec![], ops.clone(), vec![]);
            rejected(&mut s, &op, TxnError::DuplicateKey);
            // The branch not taken is checked as well.
            let op = txn(vec![], vec![], ops);
            rejected(&mut s, &op, TxnError::DuplicateKey);
        }
        let good = vec![
            vec![del("/a", b"/c"), del("/b", &[])],
            vec![nested(vec![put("/a", "1")], vec![put("/a", "2")])],
            vec![
                nested(vec![put("/a", "1")], vec![del("/a", &[])]),
                put("/b", "x"),
            ],
            vec![put("/a", "1"), put("/b", "2"), del("/c", &[0])],
        ];
        for ops in good {
            let (r, _) = s.apply(&txn(vec![], ops.clone(), ops));
            assert!(r.succeeded, "{r:?}");
        }
    }

    #[test]
    fn too_many_ops() {
        let mut s = setup();
        let ranges = |n| vec![TxnOp::Range(range("/a", &[])); n];
        rejected(
            &mut s,
            &txn(vec![], ranges(MAX_TXN_OPS + 1), vec![]),
            TxnError::TooManyOps,
        );
        let (r, _) = s.apply(&txn(vec![], ranges(MAX_TXN_OPS), ranges(MAX_TXN_OPS)));
        assert!(r.succeeded);
        // A nested txn gets what its parent level left.
        let mut ops = ranges(100);
        ops.push(TxnOp::Txn(Txn {
            compares: vec![],
            success: ranges(28),
            failure: vec![],
        }));
        rejected(&mut s, &txn(vec![], ops, vec![]), TxnError::TooManyOps);
        let mut ops = ranges(100);
        ops.push(TxnOp::Txn(Txn {
            compares: vec![],
            success: ranges(27),
            failure: vec![],
        }));
        assert!(s.apply(&txn(vec![], ops, vec![])).0.succeeded);
    }

    #[test]
    fn ranges_at_bad_revisions_reject_the_txn() {
        let mut s = setup();
        s.apply(&Operation::Compact { revision: 2 });
        let at = |revision| {
            txn(
                vec![],
                vec![
                    put("/new", "1"),
                    TxnOp::Range(RangeOp {
                        revision,
                        ..range("/a", &[])
                    }),
                ],
                vec![],
            )
        };
        rejected(&mut s, &at(4), TxnError::FutureRevision);
        rejected(&mut s, &at(1), TxnError::Compacted);
        let (r, _) = s.apply(&at(2));
        let TxnOpOutput::Range(old) = &r.txn.unwrap().responses[1] else {
            panic!();
        };
        assert_eq!(old.kvs[0].value, b("1"));
        // Only the branch taken is checked.
        let (r, _) = s.apply(&txn(
            vec![],
            vec![],
            vec![TxnOp::Range(RangeOp {
                revision: 99,
                ..range("/a", &[])
            })],
        ));
        assert!(r.succeeded);
    }

    #[test]
    fn leases_attach_detach_and_revoke() {
        let mut s = setup();
        let grant = |id, ttl_seconds| Operation::LeaseGrant { id, ttl_seconds };
        let (r, events) = s.apply(&grant(1, 10));
        assert!(r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.revision, 3);
        let (r, _) = s.apply(&grant(1, 20));
        assert!(!r.succeeded);
        assert_eq!(r.failure.as_deref(), Some("lease already exists"));
        assert!(!s.apply(&grant(0, 20)).0.succeeded);
        assert!(s.apply(&grant(2, 20)).0.succeeded);
        assert_eq!(s.lease_ids(), vec![1, 2]);
        assert_eq!(s.lease(1).unwrap().ttl_seconds, 10);
        assert_eq!(s.lease(1).unwrap().remaining_ms, None);

        // A missing lease rejects the txn.
        rejected(
            &mut s,
            &txn(vec![], vec![put_lease("/k", "v", 9)], vec![]),
            TxnError::LeaseNotFound(9),
        );
        let (r, _) = s.apply(&txn(
            vec![],
            vec![
                put_lease("/k/c", "c", 1),
                put_lease("/k/a", "a", 1),
                put_lease("/k/b", "b", 1),
                put_lease("/k/d", "d", 2),
            ],
            vec![],
        ));
        assert!(r.succeeded);
        assert_eq!(r.revision, 4);
        assert_eq!(
            s.lease(1).unwrap().keys,
            vec![b("/k/a"), b("/k/b"), b("/k/c")]
        );
        assert_eq!(s.get(b"/k/a", None).unwrap().unwrap().lease, 1);
        // Moving a key to another lease, or to none, detaches it.
        s.apply(&txn(vec![], vec![put_lease("/k/a", "a2", 2)], vec![]));
        assert_eq!(s.lease(1).unwrap().keys, vec![b("/k/b"), b("/k/c")]);
        assert_eq!(s.lease(2).unwrap().keys, vec![b("/k/a"), b("/k/d")]);
        s.apply(&simple_put("/k/d", "plain"));
        assert_eq!(s.lease(2).unwrap().keys, vec![b("/k/a")]);
        assert_eq!(s.get(b"/k/d", None).unwrap().unwrap().lease, 0);
        s.apply(&Operation::Delete {
            key: b("/k/a"),
            condition: Condition::Always,
        });
        assert!(s.lease(2).unwrap().keys.is_empty());
        // The lease of an old revision stays readable.
        assert_eq!(s.get(b"/k/a", Some(5)).unwrap().unwrap().lease, 2);
        // Re-putting with the same lease keeps one entry.
        s.apply(&txn(vec![], vec![put_lease("/k/b", "b2", 1)], vec![]));
        assert_eq!(s.lease(1).unwrap().keys, vec![b("/k/b"), b("/k/c")]);
        let revision = s.revision();

        // Revoke: every attached key deleted in one revision, in key order.
        let (r, events) = s.apply(&Operation::LeaseRevoke { id: 1 });
        assert!(r.succeeded);
        assert_eq!(r.revision, revision + 1);
        assert_eq!(
            names(&events.iter().map(|e| e.kv.clone()).collect::<Vec<_>>()),
            vec!["/k/b", "/k/c"]
        );
        assert!(events.iter().all(|e| e.kind == EventKind::Delete
            && e.kv.mod_revision == revision + 1
            && e.previous.as_ref().is_some_and(|p| p.lease == 1)));
        assert_eq!(s.lease(1), None);
        assert_eq!(s.get(b"/k/b", None).unwrap(), None);
        assert_eq!(s.events_since(b"", None, revision).unwrap(), events);
        // Unknown now.
        let (r, _) = s.apply(&Operation::LeaseRevoke { id: 1 });
        assert!(!r.succeeded);
        assert_eq!(r.txn_error, Some(TxnError::LeaseNotFound(1)));
        // A lease without keys: no revision.
        let (r, events) = s.apply(&Operation::LeaseRevoke { id: 2 });
        assert!(r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.revision, revision + 1);
        assert!(s.lease_ids().is_empty());
    }

    #[test]
    fn ignore_value_and_ignore_lease() {
        let mut s = setup();
        s.apply(&Operation::LeaseGrant {
            id: 5,
            ttl_seconds: 60,
        });
        let ignoring = |key: &str, value: &str, lease, ignore_value, ignore_lease| {
            TxnOp::Put(PutOp {
                key: b(key),
                value: b(value),
                lease,
                prev_kv: false,
                ignore_value,
                ignore_lease,
            })
        };
        rejected(
            &mut s,
            &txn(
                vec![],
                vec![ignoring("/missing", "", 0, true, false)],
                vec![],
            ),
            TxnError::KeyNotFound,
        );
        rejected(
            &mut s,
            &txn(
                vec![],
                vec![ignoring("/missing", "v", 0, false, true)],
                vec![],
            ),
            TxnError::KeyNotFound,
        );
        // Created earlier in the same txn does not count (checked against the txn's start).
        rejected(
            &mut s,
            &txn(
                vec![],
                vec![TxnOp::Txn(Txn {
                    compares: vec![],
                    success: vec![ignoring("/n", "", 0, true, false)],
                    failure: vec![],
                })],
                vec![],
            ),
            TxnError::KeyNotFound,
        );
        s.apply(&txn(vec![], vec![put_lease("/a", "leased", 5)], vec![]));
        // Keep the value, drop the lease.
        s.apply(&txn(
            vec![],
            vec![ignoring("/a", "", 0, true, false)],
            vec![],
        ));
        let a = s.get(b"/a", None).unwrap().unwrap();
        assert_eq!((a.value.as_slice(), a.lease), (b"leased".as_slice(), 0));
        assert!(s.lease(5).unwrap().keys.is_empty());
        s.apply(&txn(vec![], vec![put_lease("/a", "leased", 5)], vec![]));
        // Keep the lease, change the value.
        s.apply(&txn(
            vec![],
            vec![ignoring("/a", "new", 0, false, true)],
            vec![],
        ));
        let a = s.get(b"/a", None).unwrap().unwrap();
        assert_eq!((a.value.as_slice(), a.lease), (b"new".as_slice(), 5));
        assert_eq!(s.lease(5).unwrap().keys, vec![b("/a")]);
    }

    #[test]
    fn checkpoints() {
        let mut s = setup();
        s.apply(&Operation::LeaseGrant {
            id: 1,
            ttl_seconds: 60,
        });
        s.apply(&Operation::LeaseGrant {
            id: 2,
            ttl_seconds: 60,
        });
        let (r, events) = s.apply(&Operation::LeaseCheckpoint {
            remaining_ms: vec![(1, 1_500), (2, 7), (3, 9)],
        });
        assert!(r.succeeded);
        assert!(events.is_empty());
        assert_eq!(r.revision, 3);
        assert_eq!(s.revision(), 3);
        assert_eq!(s.lease(1).unwrap().remaining_ms, Some(1_500));
        assert_eq!(s.lease(2).unwrap().remaining_ms, Some(7));
        assert_eq!(s.lease(3), None);
        s.apply(&Operation::LeaseCheckpoint {
            remaining_ms: vec![(2, 0)],
        });
        assert_eq!(s.lease(2).unwrap().remaining_ms, None);
        assert_eq!(s.lease(1).unwrap().remaining_ms, Some(1_500));
    }

    fn range_state() -> KeyValueState {
        let mut s = KeyValueState::new();
        s.apply(&simple_put("/k/c", "1")); // 1
        s.apply(&simple_put("/k/a", "3")); // 2
        s.apply(&simple_put("/k/b", "2")); // 3
        s.apply(&simple_put("/k/c", "0")); // 4: /k/c version 2, create 1
        s.apply(&simple_put("/k/d", "9")); // 5
        s.apply(&simple_put("/z", "z")); // 6
        s.apply(&Operation::Delete {
            key: b("/k/d"),
            condition: Condition::Always,
        }); // 7
        s
    }

    #[test]
    fn range_op_semantics() {
        let s = range_state();
        let k = || range("/k/", b"/k0");
        let all = s.range_op(&k()).unwrap();
        assert_eq!(names(&all.kvs), vec!["/k/a", "/k/b", "/k/c"]);
        assert_eq!((all.count, all.more), (3, false));
        assert_eq!(all.kvs[2].version, 2);
        // Limit: more, count before the limit.
        let page = s.range_op(&RangeOp { limit: 2, ..k() }).unwrap();
        assert_eq!(names(&page.kvs), vec!["/k/a", "/k/b"]);
        assert_eq!((page.count, page.more), (3, true));
        let exact = s.range_op(&RangeOp { limit: 3, ..k() }).unwrap();
        assert!(!exact.more);
        // Single key, [0] end, everything.
        assert_eq!(
            names(&s.range_op(&range("/k/b", &[])).unwrap().kvs),
            vec!["/k/b"]
        );
        assert_eq!(s.range_op(&range("/k/d", &[])).unwrap().count, 0);
        assert_eq!(
            names(&s.range_op(&range("/k/c", &[0])).unwrap().kvs),
            vec!["/k/c", "/z"]
        );
        assert_eq!(s.range_op(&range("\0", &[0])).unwrap().count, 4);
        // Sorting.
        let sorted = |order, target| {
            names(
                &s.range_op(&RangeOp {
                    sort_order: order,
                    sort_target: target,
                    ..k()
                })
                .unwrap()
                .kvs,
            )
        };
        assert_eq!(
            sorted(SortOrder::Descend, SortTarget::Key),
            vec!["/k/c", "/k/b", "/k/a"]
        );
        assert_eq!(
            sorted(SortOrder::Ascend, SortTarget::Key),
            vec!["/k/a", "/k/b", "/k/c"]
        );
        assert_eq!(
            sorted(SortOrder::None, SortTarget::Value),
            vec!["/k/c", "/k/b", "/k/a"]
        );
        assert_eq!(
            sorted(SortOrder::Descend, SortTarget::Value),
            vec!["/k/a", "/k/b", "/k/c"]
        );
        assert_eq!(
            sorted(SortOrder::Ascend, SortTarget::Create),
            vec!["/k/c", "/k/a", "/k/b"]
        );
        assert_eq!(
            sorted(SortOrder::Descend, SortTarget::Mod),
            vec!["/k/c", "/k/b", "/k/a"]
        );
        // Ties keep key order.
        assert_eq!(
            sorted(SortOrder::Descend, SortTarget::Version),
            vec!["/k/c", "/k/a", "/k/b"]
        );
        assert_eq!(
            sorted(SortOrder::Ascend, SortTarget::Version),
            vec!["/k/a", "/k/b", "/k/c"]
        );
        // Sort, then limit.
        let top = s
            .range_op(&RangeOp {
                sort_order: SortOrder::Descend,
                sort_target: SortTarget::Value,
                limit: 1,
                ..k()
            })
            .unwrap();
        assert_eq!(
            (names(&top.kvs), top.more, top.count),
            (vec!["/k/a".to_owned()], true, 3)
        );
        // Filters prune kvs, not the count.
        let filtered = |op: RangeOp| {
            let out = s.range_op(&op).unwrap();
            assert_eq!(out.count, 3);
            names(&out.kvs)
        };
        assert_eq!(
            filtered(RangeOp {
                min_mod_revision: 3,
                ..k()
            }),
            vec!["/k/b", "/k/c"]
        );
        assert_eq!(
            filtered(RangeOp {
                max_mod_revision: 3,
                ..k()
            }),
            vec!["/k/a", "/k/b"]
        );
        assert_eq!(
            filtered(RangeOp {
                min_create_revision: 2,
                ..k()
            }),
            vec!["/k/a", "/k/b"]
        );
        assert_eq!(
            filtered(RangeOp {
                max_create_revision: 2,
                ..k()
            }),
            vec!["/k/a", "/k/c"]
        );
        assert_eq!(
            filtered(RangeOp {
                min_mod_revision: 2,
                max_mod_revision: 3,
                limit: 1,
                ..k()
            }),
            vec!["/k/a"]
        );
        // keys_only, count_only.
        let keys = s
            .range_op(&RangeOp {
                keys_only: true,
                ..k()
            })
            .unwrap();
        assert!(
            keys.kvs
                .iter()
                .all(|kv| kv.value.is_empty() && kv.mod_revision > 0)
        );
        let counted = s
            .range_op(&RangeOp {
                count_only: true,
                limit: 1,
                ..k()
            })
            .unwrap();
        assert_eq!(
            counted,
            RangeOutput {
                kvs: vec![],
                more: false,
                count: 3
            }
        );
        // Revisions: old, latest (0 or negative), future, compacted.
        let old = s.range_op(&RangeOp { revision: 5, ..k() }).unwrap();
        assert_eq!(names(&old.kvs), vec!["/k/a", "/k/b", "/k/c", "/k/d"]);
        assert_eq!(
            s.range_op(&RangeOp { revision: 1, ..k() }).unwrap().kvs[0].value,
            b("1")
        );
        assert_eq!(
            s.range_op(&RangeOp {
                revision: -1,
                ..k()
            })
            .unwrap(),
            all
        );
        assert_eq!(
            s.range_op(&RangeOp { revision: 8, ..k() }),
            Err(TxnError::FutureRevision)
        );
        let mut compacted = s.clone();
        compacted.apply(&Operation::Compact { revision: 4 });
        assert_eq!(
            compacted.range_op(&RangeOp { revision: 3, ..k() }),
            Err(TxnError::Compacted)
        );
        assert_eq!(
            compacted.range_op(&RangeOp { revision: 4, ..k() }).unwrap(),
            s.range_op(&RangeOp { revision: 4, ..k() }).unwrap()
        );
        // A read-only txn answers the same outside the log as through it.
        let read = txn(
            vec![compare(
                "/k/a",
                CompareTarget::Version(1),
                CompareResult::Equal,
            )],
            vec![
                TxnOp::Range(RangeOp { limit: 1, ..k() }),
                TxnOp::Txn(Txn {
                    compares: vec![],
                    success: vec![],
                    failure: vec![TxnOp::Range(k())],
                }),
            ],
            vec![],
        );
        let Operation::Txn(read_txn) = &read else {
            panic!();
        };
        let answered = s.read_only_txn(read_txn).unwrap().unwrap();
        let (r, events) = s.clone().apply(&read);
        assert!(events.is_empty());
        assert_eq!(r.txn.unwrap(), answered);
        assert!(answered.succeeded);
        assert_eq!(answered.responses.len(), 2);
        assert_eq!(
            s.read_only_txn(&Txn {
                failure: vec![put("/x", "")],
                ..Txn::default()
            }),
            None
        );
        assert_eq!(
            s.read_only_txn(&Txn {
                success: vec![TxnOp::Range(RangeOp {
                    revision: 99,
                    ..k()
                })],
                ..Txn::default()
            }),
            Some(Err(TxnError::FutureRevision))
        );
        // The same semantics inside a txn.
        let mut t = s.clone();
        let op = RangeOp {
            sort_order: SortOrder::Descend,
            sort_target: SortTarget::Mod,
            limit: 2,
            keys_only: true,
            ..k()
        };
        let (r, _) = t.apply(&txn(vec![], vec![TxnOp::Range(op.clone())], vec![]));
        assert_eq!(
            r.txn.unwrap().responses,
            vec![TxnOpOutput::Range(s.range_op(&op).unwrap())]
        );
    }

    #[test]
    fn hash_kv_follows_history() {
        let a = range_state();
        let b2 = range_state();
        assert_eq!(a.hash_kv(0).unwrap(), b2.hash_kv(0).unwrap());
        assert_eq!(a.hash_kv(0).unwrap(), a.hash_kv(a.revision()).unwrap());
        let at5 = a.hash_kv(5).unwrap();
        assert_ne!(at5, a.hash_kv(0).unwrap());
        let mut c = a.clone();
        c.apply(&simple_put("/k/a", "3")); // same value, new mod revision
        assert_ne!(c.hash_kv(0).unwrap(), a.hash_kv(0).unwrap());
        assert_eq!(c.hash_kv(7).unwrap(), a.hash_kv(0).unwrap());
        assert_eq!(c.hash_kv(5).unwrap(), at5);
        c.apply(&Operation::Compact { revision: 6 });
        assert!(matches!(c.hash_kv(5), Err(ReadError::Compacted { .. })));
        assert!(matches!(
            c.hash_kv(99),
            Err(ReadError::FutureRevision { .. })
        ));
        // Leases and checkpoints do not change it.
        let mut d = a.clone();
        d.apply(&Operation::LeaseGrant {
            id: 3,
            ttl_seconds: 5,
        });
        assert_eq!(d.hash_kv(0).unwrap(), a.hash_kv(0).unwrap());
    }

    /// A tiny deterministic PRNG (xorshift64).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    const KEYS: [&str; 5] = ["/a", "/b", "/c", "/d", "/e"];

    fn random_op(rng: &mut Rng, s: &KeyValueState) -> Operation {
        let mut key = || KEYS[rng.below(KEYS.len() as u64) as usize];
        let k1 = key();
        let k2 = key();
        let k3 = key();
        let lease = rng.below(4) as i64; // 0: none; 1..3 may or may not exist
        let revision = s.revision();
        match rng.below(12) {
            0 => simple_put(k1, "p"),
            1 => Operation::Delete {
                key: b(k1),
                condition: Condition::Always,
            },
            2 => Operation::LeaseGrant {
                id: 1 + rng.below(3) as i64,
                ttl_seconds: 10,
            },
            3 => Operation::LeaseRevoke {
                id: 1 + rng.below(3) as i64,
            },
            4 => Operation::LeaseCheckpoint {
                remaining_ms: vec![(1, rng.below(5_000) as i64), (2, 0)],
            },
            5 if revision > s.compact_revision() + 3 => Operation::Compact {
                revision: revision - 2,
            },
            _ => {
                let target = match rng.below(3) {
                    0 => CompareTarget::ModRevision(rng.below(revision + 2) as i64),
                    1 => CompareTarget::Lease(lease),
                    _ => CompareTarget::Version(rng.below(3) as i64),
                };
                let result = [
                    CompareResult::Equal,
                    CompareResult::NotEqual,
                    CompareResult::Greater,
                    CompareResult::Less,
                ][rng.below(4) as usize];
                let ops = |a: &str, c: &str, rng: &mut Rng| -> Vec<TxnOp> {
                    let mut ops = vec![
                        TxnOp::Put(PutOp {
                            key: b(a),
                            value: vec![rng.below(256) as u8],
                            lease,
                            prev_kv: rng.below(2) == 0,
                            ignore_value: rng.below(6) == 0,
                            ignore_lease: rng.below(6) == 0,
                        }),
                        TxnOp::Range(RangeOp {
                            limit: rng.below(3) as i64,
                            ..range("/", &[0])
                        }),
                    ];
                    if c != a {
                        ops.push(del(c, &[]));
                    }
                    ops
                };
                let success = ops(k2, k3, rng);
                let failure = ops(k3, k2, rng);
                txn(vec![compare(k1, target, result)], success, failure)
            }
        }
    }

    /// Every live key's lease lists it, and every lease lists only live keys on it.
    fn check_lease_index(s: &KeyValueState) {
        for lease in s.leases() {
            let mut sorted = lease.keys.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted, lease.keys);
            for key in &lease.keys {
                assert_eq!(s.get(key, None).unwrap().unwrap().lease, lease.id);
            }
        }
        for kv in s.range(b"", None, None, 0).unwrap().items {
            if kv.lease != 0 {
                assert!(s.lease(kv.lease).unwrap().keys.contains(&kv.key));
            }
        }
    }

    #[test]
    fn random_histories_are_deterministic_and_consistent() {
        for seed in [3u64, 0xfeed_beef, 0x0123_4567_89ab_cdef] {
            let mut rng = Rng(seed);
            let mut a = KeyValueState::new();
            let mut b2 = KeyValueState::new();
            let mut all_events: Vec<Event> = Vec::new();
            let (mut txns, mut failed, mut multi) = (0, 0, 0);
            for i in 0..600 {
                let op = random_op(&mut rng, &a);
                let before = a.revision();
                let (ra, ea) = a.apply(&op);
                let (rb, eb) = b2.apply(&op);
                assert_eq!((&ra, &ea), (&rb, &eb), "seed {seed} op {i}");
                // One revision per command at most, every event at it.
                assert!(a.revision() == before || a.revision() == before + 1);
                assert_eq!(ea.is_empty(), a.revision() == before, "op {i}: {op:?}");
                assert!(ea.iter().all(|e| e.kv.mod_revision == a.revision()));
                if let Operation::Txn(_) = op {
                    txns += 1;
                    failed += usize::from(ra.txn_error.is_some());
                    multi += usize::from(ea.len() > 1);
                }
                all_events.extend(ea);
                check_lease_index(&a);
                // The retained history replays exactly what apply returned.
                let from = a.compact_revision();
                let expected: Vec<Event> = all_events
                    .iter()
                    .filter(|e| e.kv.mod_revision > from)
                    .cloned()
                    .collect();
                assert_eq!(a.events_since(b"", None, from).unwrap(), expected, "op {i}");
            }
            assert!(
                txns > 200 && failed > 10 && multi > 20,
                "{txns} {failed} {multi}"
            );
            let bytes_a = postcard::to_allocvec(&a).unwrap();
            assert_eq!(bytes_a, postcard::to_allocvec(&b2).unwrap());
            let restored: KeyValueState = postcard::from_bytes(&bytes_a).unwrap();
            assert_eq!(restored, a);
            assert_eq!(a.hash_kv(0).unwrap(), b2.hash_kv(0).unwrap());
        }
    }
}
