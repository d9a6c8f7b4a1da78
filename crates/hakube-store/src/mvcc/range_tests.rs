//! Unit tests of `KeyValueState::range_op`: etcd's range semantics (range ends, limits, counts,
//! sorting, revision filters, keys-only and count-only, reads at old or compacted revisions).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use super::txn_tests::*;
use super::*;
use crate::txn::{CompareResult, CompareTarget};

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
