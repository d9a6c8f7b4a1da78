//! Unit tests of the MVCC state: lifecycles, conditions, reads at revisions, compaction,
//! ranges, events, determinism, and a model check against a naive replay.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

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
        value: value.as_bytes().to_vec().into(),
        create_revision: create,
        mod_revision: modified,
        version,
        lease: 0,
    }
}

fn value_at(s: &KeyValueState, key: &str, at: Option<u64>) -> Option<String> {
    s.get(key.as_bytes(), at)
        .unwrap()
        .map(|kv| String::from_utf8(kv.value.to_vec()).unwrap())
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
                    value: value.clone().into(),
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
                        value: Bytes::new(),
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

#[test]
fn range_matching_keeps_accepted_values_and_live_revisions_skip_tombstones() {
    let mut s = KeyValueState::new();
    s.apply(&put("/p/a", "node-1", Condition::Always));
    s.apply(&put("/p/b", "node-2", Condition::Always));
    s.apply(&put("/p/c", "node-1", Condition::Always));
    s.apply(&del("/p/c", Condition::Always));
    let keep = |bytes: &[u8]| bytes == b"node-1";
    let now = s.range_matching(b"/p/", Some(b"/p0"), None, &keep).unwrap();
    assert_eq!(keys(&now.items), ["/p/a"]);
    assert_eq!(now.revision, 4);
    let before_delete = s
        .range_matching(b"/p/", Some(b"/p0"), Some(3), &keep)
        .unwrap();
    assert_eq!(keys(&before_delete.items), ["/p/a", "/p/c"]);
    let live: Vec<(Vec<u8>, u64)> = s
        .live_revisions(b"/p/", Some(b"/p0"))
        .map(|(key, revision)| (key.to_vec(), revision))
        .collect();
    assert_eq!(live, [(b"/p/a".to_vec(), 1), (b"/p/b".to_vec(), 2)]);
}

#[test]
fn shared_values_serialize_as_the_byte_vectors_they_replaced() {
    // Snapshots written before values were shared (`Vec<u8>`) must still load: postcard
    // writes both as a length and the bytes.
    let value = b"{\"kind\":\"Pod\"}".to_vec();
    let shared = Some(Bytes::from(value.clone()));
    let before = postcard::to_allocvec(&Some(value)).unwrap();
    assert_eq!(postcard::to_allocvec(&shared).unwrap(), before);
    let loaded: Option<Bytes> = postcard::from_bytes(&before).unwrap();
    assert_eq!(loaded, shared);
}
