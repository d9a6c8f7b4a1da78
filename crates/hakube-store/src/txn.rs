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
    /// Keys matching the range and filters, before the limit.
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

/// Most operations in one transaction (etcd's default `--max-txn-ops`).
pub const MAX_TXN_OPS: usize = 128;
