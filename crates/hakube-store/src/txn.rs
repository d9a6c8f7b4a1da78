//! etcd-style transactions and leases as replicated operations: the types the etcd v3 API
//! maps its requests onto. They are part of the log's wire format (see [`crate::command`]):
//! append fields and variants only at the end.
//!
//! Key ranges follow etcd's convention so the API layer can pass them through: `range_end`
//! empty means the single key `key`; `range_end == [0]` means every key `>= key`; otherwise
//! the half-open range `[key, range_end)`. `key == [0]` with `range_end == [0]` is every key.

use serde::{Deserialize, Serialize};

use crate::mvcc::KeyValue;

/// If every compare holds, run `success`, else `failure`; ops run in order, each seeing the
/// effects of the ones before it. A transaction with any write increments the store revision
/// exactly once: every key it writes gets that same mod revision (as in etcd).
///
/// As in etcd, every compare, nested transactions' included, is evaluated against the state
/// before the transaction: the branch taken at every level is decided before any op runs.
/// The checks that reject the whole transaction ([`TxnError`]) also look at that state, and
/// only at the ops of the branches taken (duplicate keys and the op count: both branches).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Txn {
    pub compares: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    pub key: Vec<u8>,
    /// etcd's range convention; a compare over a range holds when it holds for every key in it.
    pub range_end: Vec<u8>,
    pub target: CompareTarget,
    pub result: CompareResult,
}

/// What is compared, with the value to compare against. A missing key has version,
/// create and mod revision 0, lease 0, and a value that compares unequal to anything.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    Version(i64),
    CreateRevision(i64),
    ModRevision(i64),
    Value(Vec<u8>),
    Lease(i64),
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareResult {
    Equal,
    Greater,
    Less,
    NotEqual,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    Range(RangeOp),
    Put(PutOp),
    DeleteRange(DeleteRangeOp),
    Txn(Txn),
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    None,
    Ascend,
    Descend,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortTarget {
    #[default]
    Key,
    Version,
    Create,
    Mod,
    Value,
}

/// etcd's RangeRequest, minus `serializable` (the API layer decides how to read).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RangeOp {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    /// 0: no limit.
    pub limit: i64,
    /// 0: the latest revision.
    pub revision: i64,
    pub sort_order: SortOrder,
    pub sort_target: SortTarget,
    pub keys_only: bool,
    pub count_only: bool,
    pub min_mod_revision: i64,
    pub max_mod_revision: i64,
    pub min_create_revision: i64,
    pub max_create_revision: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct PutOp {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// 0: no lease. The lease must exist.
    pub lease: i64,
    pub prev_kv: bool,
    /// Keep the current value (the key must exist).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist).
    pub ignore_lease: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct DeleteRangeOp {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub prev_kv: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct RangeOutput {
    pub kvs: Vec<KeyValue>,
    /// More keys matched than `limit` returned.
    pub more: bool,
    /// Keys in the range at the read revision, before the limit. As in etcd, the min/max
    /// mod/create revision filters do not reduce it (they only prune `kvs`).
    pub count: i64,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum TxnOpOutput {
    Range(RangeOutput),
    Put {
        prev_kv: Option<KeyValue>,
    },
    DeleteRange {
        deleted: i64,
        prev_kvs: Vec<KeyValue>,
    },
    Txn(TxnOutput),
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct TxnOutput {
    pub succeeded: bool,
    pub responses: Vec<TxnOpOutput>,
}

/// Why a transaction was rejected as a whole (nothing applied, revision unchanged). etcd
/// rejects these before proposing; the state machine re-checks, since only apply order is
/// authoritative (a lease may be revoked in between).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TxnError {
    #[error("requested lease not found")]
    LeaseNotFound(i64),
    #[error("duplicate key given in txn request")]
    DuplicateKey,
    #[error("key not found")]
    KeyNotFound,
    #[error("too many operations in txn request")]
    TooManyOps,
    #[error("mvcc: required revision has been compacted")]
    Compacted,
    #[error("mvcc: required revision is a future revision")]
    FutureRevision,
}

/// A lease as the replicated state knows it. Its expiry is driven by the leader (deadlines
/// in memory, revoked through the log); `remaining_ms` is the last checkpoint, so that a new
/// leader continues with the remaining time instead of a full TTL.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub ttl_seconds: i64,
    pub remaining_ms: Option<i64>,
    pub keys: Vec<Vec<u8>>,
}

impl Txn {
    /// Bytes of keys and values it carries, nested transactions included.
    pub fn approximate_size(&self) -> usize {
        let compares: usize = self
            .compares
            .iter()
            .map(|c| {
                c.key.len()
                    + c.range_end.len()
                    + match &c.target {
                        CompareTarget::Value(value) => value.len(),
                        _ => 8,
                    }
            })
            .sum();
        let ops: usize = self
            .success
            .iter()
            .chain(self.failure.iter())
            .map(|op| match op {
                TxnOp::Range(range) => range.key.len() + range.range_end.len(),
                TxnOp::Put(put) => put.key.len() + put.value.len(),
                TxnOp::DeleteRange(delete) => delete.key.len() + delete.range_end.len(),
                TxnOp::Txn(inner) => inner.approximate_size(),
            })
            .sum();
        compares + ops
    }
}

/// Most operations in one transaction (etcd's default `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;

// ---- behaviour (pure; the state machine in `crate::mvcc` uses these) ----------------------

/// A key range in etcd's convention, resolved (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpan<'a> {
    /// `range_end` empty: exactly this key.
    Key(&'a [u8]),
    /// `[start, end)`; `end` None: every key `>= start`. Empty when `end <= start`.
    Range {
        start: &'a [u8],
        end: Option<&'a [u8]>,
    },
}

impl<'a> KeySpan<'a> {
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeySpan::Key(key),
            [0] => KeySpan::Range {
                start: key,
                end: None,
            },
            end => KeySpan::Range {
                start: key,
                end: Some(end),
            },
        }
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        match *self {
            KeySpan::Key(k) => k == key,
            KeySpan::Range { start, end } => key >= start && end.is_none_or(|end| key < end),
        }
    }
}

impl CompareResult {
    /// Whether `actual.cmp(expected)` satisfies this result.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering;
        match self {
            CompareResult::Equal => ordering == Ordering::Equal,
            CompareResult::NotEqual => ordering != Ordering::Equal,
            CompareResult::Greater => ordering == Ordering::Greater,
            CompareResult::Less => ordering == Ordering::Less,
        }
    }
}

impl Compare {
    /// Whether the compare holds for one key (`None`: the key does not exist). A missing key
    /// has version, create and mod revision 0 and lease 0; a value compare on a missing key is
    /// false whatever the result (etcd: there is no way to represent a missing value).
    pub fn holds_for(&self, kv: Option<&KeyValue>) -> bool {
        let to_i64 = |r: u64| i64::try_from(r).unwrap_or(i64::MAX);
        let ordering = match (&self.target, kv) {
            (CompareTarget::Value(_), None) => return false,
            (CompareTarget::Value(expected), Some(kv)) => {
                kv.value.as_ref().cmp(expected.as_slice())
            }
            (CompareTarget::Version(expected), kv) => {
                kv.map_or(0, |kv| to_i64(kv.version)).cmp(expected)
            }
            (CompareTarget::CreateRevision(expected), kv) => {
                kv.map_or(0, |kv| to_i64(kv.create_revision)).cmp(expected)
            }
            (CompareTarget::ModRevision(expected), kv) => {
                kv.map_or(0, |kv| to_i64(kv.mod_revision)).cmp(expected)
            }
            (CompareTarget::Lease(expected), kv) => kv.map_or(0, |kv| kv.lease).cmp(expected),
        };
        self.result.holds(ordering)
    }
}

impl Txn {
    /// Whether no branch (at any depth) writes.
    pub fn is_read_only(&self) -> bool {
        self.success
            .iter()
            .chain(self.failure.iter())
            .all(|op| match op {
                TxnOp::Range(_) => true,
                TxnOp::Put(_) | TxnOp::DeleteRange(_) => false,
                TxnOp::Txn(inner) => inner.is_read_only(),
            })
    }

    /// etcd's size rule: at each level, `max(compares, success, failure)` may not exceed the
    /// budget, and a nested transaction gets what its parent level left (`max - parent's`).
    pub fn check_op_count(&self, max_ops: usize) -> Result<(), TxnError> {
        fn check(txn: &Txn, budget: i64) -> Result<(), TxnError> {
            let len = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            let ops = len(txn.compares.len())
                .max(len(txn.success.len()))
                .max(len(txn.failure.len()));
            if ops > budget {
                return Err(TxnError::TooManyOps);
            }
            for op in txn.success.iter().chain(txn.failure.iter()) {
                if let TxnOp::Txn(inner) = op {
                    check(inner, budget - ops)?;
                }
            }
            Ok(())
        }
        check(self, i64::try_from(max_ops).unwrap_or(i64::MAX))
    }

    /// Rejects a transaction that could write one key twice ([`TxnError::DuplicateKey`]), as
    /// etcd does before proposing: within `success` and within `failure`, no two puts of one
    /// key and no put of a key that a delete's range covers, at any depth, except that the
    /// two branches of one nested transaction may write the same key (only one runs).
    /// Overlapping deletes are allowed (the second finds the keys already gone). Stricter than
    /// etcd in one case: etcd misses a nested delete that follows a nested put of the same
    /// key; here every key must get at most one write per revision.
    pub fn check_duplicate_keys(&self) -> Result<(), TxnError> {
        check_intervals(&self.success)?;
        check_intervals(&self.failure)?;
        Ok(())
    }
}

type Writes<'a> = (std::collections::BTreeSet<&'a [u8]>, Vec<KeySpan<'a>>);

/// The keys `ops` put and the ranges they delete (at any depth), or a duplicate.
fn check_intervals(ops: &[TxnOp]) -> Result<Writes<'_>, TxnError> {
    let covered = |dels: &[KeySpan<'_>], key: &[u8]| dels.iter().any(|span| span.contains(key));
    let mut dels: Vec<KeySpan<'_>> = ops
        .iter()
        .filter_map(|op| match op {
            TxnOp::DeleteRange(d) => Some(KeySpan::new(&d.key, &d.range_end)),
            _ => None,
        })
        .collect();
    let mut puts: std::collections::BTreeSet<&[u8]> = std::collections::BTreeSet::new();
    for op in ops {
        let TxnOp::Txn(inner) = op else { continue };
        let (puts_then, dels_then) = check_intervals(&inner.success)?;
        let (puts_else, dels_else) = check_intervals(&inner.failure)?;
        for &key in &puts_then {
            if puts.contains(key) || covered(&dels, key) {
                return Err(TxnError::DuplicateKey);
            }
        }
        for &key in &puts_else {
            if (puts.contains(key) && !puts_then.contains(key)) || covered(&dels, key) {
                return Err(TxnError::DuplicateKey);
            }
        }
        // Earlier siblings' puts against this one's deletes (etcd does not check this order).
        for span in dels_then.iter().chain(dels_else.iter()) {
            if puts.iter().any(|&key| span.contains(key)) {
                return Err(TxnError::DuplicateKey);
            }
        }
        puts.extend(puts_then);
        puts.extend(puts_else);
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let TxnOp::Put(put) = op else { continue };
        let key = put.key.as_slice();
        if puts.contains(key) || covered(&dels, key) {
            return Err(TxnError::DuplicateKey);
        }
        puts.insert(key);
    }
    Ok((puts, dels))
}
