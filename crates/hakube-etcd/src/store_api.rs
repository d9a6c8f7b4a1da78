//! Reads of the applied state the etcd API needs, in one place: ranges with etcd's options,
//! leases, a hash of the key space, an approximate size. Everything here reads a
//! [`KeyValueState`] (the caller holds the read lock, so one call sees one revision).

use hakube_store::Store;
use hakube_store::mvcc::{KeyValueState, ReadError};
use hakube_store::txn::{Lease, RangeOp, RangeOutput, TxnError};
use openraft::type_config::async_runtime::WatchReceiver;

/// etcd's convention for `(key, range_end)`: the `[start, end)` interval (end `None`:
/// unbounded), or `None` for the single key `key`.
pub fn interval(key: &[u8], range_end: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    if range_end.is_empty() {
        return None;
    }
    if range_end == [0] {
        return Some((key.to_vec(), None));
    }
    Some((key.to_vec(), Some(range_end.to_vec())))
}

/// etcd's Range over the applied state (the store's, so it matches ranges inside a txn).
pub fn range_op(kv: &KeyValueState, op: &RangeOp) -> Result<RangeOutput, TxnError> {
    kv.range_op(op)
}

/// The lease attached to a key (0: none).
pub fn key_lease(kv: &hakube_store::KeyValue) -> i64 {
    kv.lease
}

/// Every lease in the replicated state, ascending.
pub fn lease_ids(kv: &KeyValueState) -> Vec<i64> {
    kv.lease_ids()
}

/// One lease of the replicated state.
pub fn lease(kv: &KeyValueState, id: i64) -> Option<Lease> {
    kv.lease(id).cloned()
}

/// The store's hash of the key space as of `revision` (0: latest), with that revision.
pub fn hash_kv(kv: &KeyValueState, revision: i64) -> Result<(u32, u64), ReadError> {
    let at = if revision > 0 {
        revision as u64
    } else {
        kv.revision()
    };
    Ok((kv.hash_kv(at)?, at))
}

/// The live data's size in bytes (keys and latest values), for Status' `db_size`.
pub fn approximate_size(kv: &KeyValueState) -> i64 {
    match kv.range(&[0], None, None, 0) {
        Ok(result) => result
            .items
            .iter()
            .map(|item| (item.key.len() + item.value.len() + 24) as i64)
            .sum(),
        Err(_) => 0,
    }
}

/// The Raft term this node knows, cheaply (no quorum computation).
pub fn current_term(store: &Store) -> u64 {
    store.raft().metrics().borrow_watched().current_term
}
