//! Unit tests of transactions and leases in the MVCC state.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use super::*;
use crate::txn::{Compare, CompareResult, CompareTarget, DeleteRangeOp, PutOp};

pub(super) fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub(super) fn put(key: &str, value: &str) -> TxnOp {
    TxnOp::Put(PutOp {
        key: b(key),
        value: b(value),
        ..Default::default()
    })
}

pub(super) fn put_lease(key: &str, value: &str, lease: i64) -> TxnOp {
    TxnOp::Put(PutOp {
        key: b(key),
        value: b(value),
        lease,
        ..Default::default()
    })
}

pub(super) fn del(key: &str, end: &[u8]) -> TxnOp {
    TxnOp::DeleteRange(DeleteRangeOp {
        key: b(key),
        range_end: end.to_vec(),
        prev_kv: true,
    })
}

pub(super) fn range(key: &str, end: &[u8]) -> RangeOp {
    RangeOp {
        key: b(key),
        range_end: end.to_vec(),
        ..Default::default()
    }
}

pub(super) fn compare(key: &str, target: CompareTarget, result: CompareResult) -> Compare {
    Compare {
        key: b(key),
        range_end: Vec::new(),
        target,
        result,
    }
}

pub(super) fn txn(compares: Vec<Compare>, success: Vec<TxnOp>, failure: Vec<TxnOp>) -> Operation {
    Operation::Txn(Txn {
        compares,
        success,
        failure,
    })
}

pub(super) fn simple_put(key: &str, value: &str) -> Operation {
    Operation::Put {
        key: b(key),
        value: b(value),
        condition: Condition::Always,
    }
}

pub(super) fn names(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect()
}

/// /a: value "3", create 1, mod 3, version 2; /b: value "2", create 2, mod 2, version 1.
pub(super) fn setup() -> KeyValueState {
    let mut s = KeyValueState::new();
    s.apply(&simple_put("/a", "1"));
    s.apply(&simple_put("/b", "2"));
    s.apply(&simple_put("/a", "3"));
    s
}

pub(super) fn holds(s: &KeyValueState, c: Compare) -> bool {
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
    assert_eq!((a.value.as_ref(), a.lease), (b"leased".as_slice(), 0));
    assert!(s.lease(5).unwrap().keys.is_empty());
    s.apply(&txn(vec![], vec![put_lease("/a", "leased", 5)], vec![]));
    // Keep the lease, change the value.
    s.apply(&txn(
        vec![],
        vec![ignoring("/a", "new", 0, false, true)],
        vec![],
    ));
    let a = s.get(b"/a", None).unwrap().unwrap();
    assert_eq!((a.value.as_ref(), a.lease), (b"new".as_slice(), 5));
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

pub(super) fn range_state() -> KeyValueState {
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
