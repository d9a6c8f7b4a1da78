//! A watch on a key range: first the retained history after the requested revision, then live
//! events as they are applied. Bounded: live events come through a bounded broadcast channel
//! (which keeps its last events in memory, so it is small); a watcher that falls behind it
//! replays what it missed from the retained MVCC history, which holds the same versions, and
//! only when that history was compacted past it is it ended with [`WatchError::Lagged`] (it
//! restarts from its last revision, as a Kubernetes client does after an expired watch).

use std::collections::VecDeque;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::mvcc::Event;
use crate::state_machine::StateMachine;

#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum WatchError {
    #[error(
        "watch fell more than {0} events behind and was closed; restart it from the last revision seen"
    )]
    Lagged(u64),
    #[error(
        "this node caught up from a snapshot whose history no longer reaches the watch's revision; restart it from the last revision seen"
    )]
    Restored,
    #[error("the datastore stopped")]
    Closed,
}

pub struct Watch {
    machine: StateMachine,
    history: VecDeque<Arc<Event>>,
    live: broadcast::Receiver<Arc<Event>>,
    /// Snapshots installed from the leader: each skips events the live channel never carried.
    restores: tokio::sync::watch::Receiver<u64>,
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    /// The highest revision delivered (or known to be covered by history).
    last_revision: u64,
    /// How many events of `last_revision` were delivered (a revision may change several keys;
    /// `usize::MAX`: all of it, or it predates the watch): a replay after falling behind
    /// skips those.
    delivered_at_last: usize,
    /// Live events at or below this revision are covered by `history` (or predate the
    /// watch). A revision can change several keys (a transaction, a lease revocation), so
    /// this is kept apart from `last_revision`: every event of a revision is delivered.
    covered_revision: u64,
}

impl Watch {
    pub(crate) fn start(
        machine: &StateMachine,
        start: &[u8],
        end: Option<&[u8]>,
        after_revision: u64,
    ) -> Result<Self, StoreError> {
        // Subscribe before reading history, so no event falls between the two.
        let live = machine.subscribe();
        let restores = machine.subscribe_restores();
        let applied = machine.read();
        let current = applied.kv.revision();
        let history = if after_revision == 0 || after_revision >= current {
            VecDeque::new()
        } else {
            applied
                .kv
                .events_since(start, end, after_revision)?
                .into_iter()
                .map(Arc::new)
                .collect()
        };
        let last_revision = if after_revision == 0 {
            current
        } else {
            after_revision
        };
        let covered_revision = current.max(after_revision);
        drop(applied);
        Ok(Self {
            machine: machine.clone(),
            history,
            live,
            restores,
            start: start.to_vec(),
            end: end.map(<[u8]>::to_vec),
            last_revision,
            delivered_at_last: usize::MAX,
            covered_revision,
        })
    }

    /// After the live channel dropped events this watcher had not read, or a snapshot install
    /// skipped them: subscribe again and queue every event after the last one delivered from
    /// the retained history (`gone` when that history no longer reaches it).
    fn catch_up(&mut self, gone: WatchError) -> Result<(), WatchError> {
        self.live = self.machine.subscribe();
        let applied = self.machine.read();
        // From the start of the last revision, less the events of it already delivered.
        let from = self.last_revision.saturating_sub(1);
        let events = applied
            .kv
            .events_since(&self.start, self.end.as_deref(), from)
            .map_err(|_| gone)?;
        let mut skip = self.delivered_at_last;
        self.history = events
            .into_iter()
            .filter(|event| {
                if event.kv.mod_revision == self.last_revision && skip > 0 {
                    skip -= 1;
                    return false;
                }
                true
            })
            .map(Arc::new)
            .collect();
        self.covered_revision = applied.kv.revision();
        Ok(())
    }

    fn delivered(&mut self, event: Arc<Event>) -> Arc<Event> {
        if event.kv.mod_revision == self.last_revision {
            self.delivered_at_last = self.delivered_at_last.saturating_add(1);
        } else {
            self.last_revision = event.kv.mod_revision;
            self.delivered_at_last = 1;
        }
        event
    }

    fn in_range(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// The next event in revision order; each event is delivered once (the events of one
    /// revision in the order they were applied).
    pub async fn next(&mut self) -> Result<Arc<Event>, WatchError> {
        loop {
            if let Some(event) = self.history.pop_front() {
                return Ok(self.delivered(event));
            }
            // A snapshot install first: the live events after it continue from its state, and
            // the catch-up reads them from that state's history along with the skipped ones.
            let received = tokio::select! {
                biased;
                changed = self.restores.changed() => {
                    if changed.is_err() {
                        return Err(WatchError::Closed);
                    }
                    self.restores.borrow_and_update();
                    self.catch_up(WatchError::Restored)?;
                    continue;
                }
                received = self.live.recv() => received,
            };
            match received {
                Ok(event) => {
                    if event.kv.mod_revision <= self.covered_revision
                        || !self.in_range(&event.kv.key)
                    {
                        continue;
                    }
                    return Ok(self.delivered(event));
                }
                Err(broadcast::error::RecvError::Lagged(count)) => {
                    self.catch_up(WatchError::Lagged(count))?
                }
                Err(broadcast::error::RecvError::Closed) => return Err(WatchError::Closed),
            }
        }
    }

    pub fn last_revision(&self) -> u64 {
        self.last_revision
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::time::Duration;

    use super::*;
    use crate::state_machine::WATCH_CHANNEL_CAPACITY;
    use crate::txn::{PutOp, Txn, TxnOp};
    use crate::{Condition, Operation};

    fn put(machine: &StateMachine, key: &str, value: usize) {
        machine.apply_for_test(&Operation::Put {
            key: key.as_bytes().to_vec(),
            value: value.to_string().into_bytes(),
            condition: Condition::Always,
        });
    }

    fn two_keys_at_once(machine: &StateMachine, value: usize) {
        let op = |key: &str| {
            TxnOp::Put(PutOp {
                key: key.as_bytes().to_vec(),
                value: value.to_string().into_bytes(),
                lease: 0,
                prev_kv: false,
                ignore_value: false,
                ignore_lease: false,
            })
        };
        machine.apply_for_test(&Operation::Txn(Txn {
            compares: Vec::new(),
            success: vec![op("/k/x"), op("/k/y")],
            failure: Vec::new(),
        }));
    }

    async fn next_values(watch: &mut Watch, count: usize) -> Vec<(u64, String)> {
        let mut seen = Vec::new();
        for _ in 0..count {
            let event = watch.next().await.unwrap();
            let key = String::from_utf8(event.kv.key.clone()).unwrap();
            seen.push((event.kv.mod_revision, key));
        }
        seen
    }

    #[tokio::test]
    async fn a_watcher_behind_the_live_channel_replays_from_history_without_gaps_or_repeats() {
        let directory = tempfile::tempdir().unwrap();
        let machine = StateMachine::open(directory.path()).unwrap();
        put(&machine, "/k/before", 0);
        let mut watch = Watch::start(&machine, b"/k/", Some(b"/k0"), 0).unwrap();
        let writes = 3 * WATCH_CHANNEL_CAPACITY;
        for i in 0..writes {
            put(&machine, &format!("/k/{}", i % 7), i);
        }
        // Read part of a two-key revision, fall behind again, and read on.
        two_keys_at_once(&machine, 1);
        let mut seen = next_values(&mut watch, writes + 1).await;
        for i in 0..writes + WATCH_CHANNEL_CAPACITY {
            put(&machine, &format!("/k/{}", i % 5), i);
        }
        seen.extend(next_values(&mut watch, 1 + writes + WATCH_CHANNEL_CAPACITY).await);
        let revisions: Vec<u64> = seen.iter().map(|(revision, _)| *revision).collect();
        let first = 2;
        let mut expected: Vec<u64> = (first..first + writes as u64 + 1).collect();
        let txn_revision = first + writes as u64;
        expected.push(txn_revision);
        expected.extend(txn_revision + 1..=txn_revision + (writes + WATCH_CHANNEL_CAPACITY) as u64);
        assert_eq!(revisions, expected, "every event once, in order");
        let txn_keys: Vec<&str> = seen
            .iter()
            .filter(|(revision, _)| *revision == txn_revision)
            .map(|(_, key)| key.as_str())
            .collect();
        assert_eq!(txn_keys, ["/k/x", "/k/y"]);
    }

    /// Two state machines (each in its own directory, kept alive by the first value).
    fn leader_and_follower() -> ([tempfile::TempDir; 2], StateMachine, StateMachine) {
        let directories = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let leader = StateMachine::open(directories[0].path()).unwrap();
        let follower = StateMachine::open(directories[1].path()).unwrap();
        (directories, leader, follower)
    }

    /// A follower that falls behind the leader's log catches up by installing the leader's
    /// snapshot: its state jumps without applying the entries in between. Its watchers must
    /// still see each of those events, once, in order (the long chaos run found a watch that
    /// skipped 1,120 events there), whether or not another write follows.
    #[tokio::test]
    async fn a_snapshot_install_does_not_skip_events_of_a_running_watch() {
        let (_directories, leader, follower) = leader_and_follower();
        for i in 0..2 {
            put(&leader, "/k/a", i);
            put(&follower, "/k/a", i);
        }
        let mut watch = Watch::start(&follower, b"/k/", Some(b"/k0"), 2).unwrap();
        for i in 2..6 {
            put(&leader, &format!("/k/{}", i % 2), i);
        }
        follower.restore_for_test(leader.read().kv.clone());
        // No write after the install: the watcher is woken by the install itself.
        let seen = tokio::time::timeout(Duration::from_secs(5), next_values(&mut watch, 4))
            .await
            .expect("the events up to the snapshot arrive without another write");
        let revisions: Vec<u64> = seen.iter().map(|(revision, _)| *revision).collect();
        assert_eq!(revisions, [3, 4, 5, 6]);
        // And the live events after it continue from there, without repeats.
        put(&follower, "/k/b", 6);
        assert_eq!(next_values(&mut watch, 1).await, [(7, "/k/b".to_string())]);
    }

    /// An install whose history was compacted past the watcher ends the watch with a clear
    /// error instead of skipping.
    #[tokio::test]
    async fn a_snapshot_install_past_compacted_history_ends_the_watch() {
        let (_directories, leader, follower) = leader_and_follower();
        put(&leader, "/k/a", 0);
        put(&follower, "/k/a", 0);
        let mut watch = Watch::start(&follower, b"/k/", Some(b"/k0"), 1).unwrap();
        for i in 1..5 {
            put(&leader, "/k/a", i);
        }
        let revision = leader.read().kv.revision();
        leader.apply_for_test(&Operation::Compact { revision });
        follower.restore_for_test(leader.read().kv.clone());
        let ended = tokio::time::timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("the install ends the watch without another write");
        assert_eq!(ended.unwrap_err(), WatchError::Restored);
    }

    #[tokio::test]
    async fn a_watcher_behind_compacted_history_is_told_to_restart() {
        let directory = tempfile::tempdir().unwrap();
        let machine = StateMachine::open(directory.path()).unwrap();
        let mut watch = Watch::start(&machine, b"/k/", Some(b"/k0"), 0).unwrap();
        for i in 0..2 * WATCH_CHANNEL_CAPACITY {
            put(&machine, "/k/a", i);
        }
        let revision = machine.read().kv.revision();
        machine.apply_for_test(&Operation::Compact { revision });
        assert!(matches!(watch.next().await, Err(WatchError::Lagged(_))));
    }
}
