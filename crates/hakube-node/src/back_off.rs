//! Upstream's restart back-off (client-go `flowcontrol.Backoff` as the kubelet uses it): the
//! first restart is immediate, then 10 s doubling to 5 min; an entry not touched for twice the
//! maximum (10 min, e.g. a container that ran that long) starts over. Pure: time is an input.

use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

pub const INITIAL_BACK_OFF: SignedDuration = SignedDuration::from_secs(10);
pub const MAX_BACK_OFF: SignedDuration = SignedDuration::from_secs(300);

/// A container of a pod: the key of back-off and failure records.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerKey {
    pub pod_uid: String,
    pub container_name: String,
}

impl ContainerKey {
    pub fn new(pod_uid: &str, container_name: &str) -> Self {
        Self {
            pod_uid: pod_uid.to_owned(),
            container_name: container_name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    back_off: SignedDuration,
    last_update: Timestamp,
}

/// Back-off entries by container; bounded by `retain` (pods that are gone) and expiry.
#[derive(Debug, Clone, Default)]
pub struct BackOff {
    entries: BTreeMap<ContainerKey, Entry>,
}

impl BackOff {
    /// The current back-off of `key`, if it has one.
    pub fn current(&self, key: &ContainerKey) -> Option<SignedDuration> {
        self.entries.get(key).map(|entry| entry.back_off)
    }

    /// Whether `now` is still within the back-off counted from `event_time` (an exit or a
    /// failure); an expired entry does not hold anything back.
    pub fn is_in_back_off_since(
        &self,
        key: &ContainerKey,
        event_time: Timestamp,
        now: Timestamp,
    ) -> bool {
        let Some(entry) = self.entries.get(key) else {
            return false;
        };
        if has_expired(entry, now) {
            return false;
        }
        now.duration_since(event_time) < entry.back_off
    }

    /// Records an attempt now: starts at 10 s, or doubles up to 5 min.
    pub fn next(&mut self, key: &ContainerKey, now: Timestamp) {
        let back_off = match self.entries.get(key) {
            Some(entry) if !has_expired(entry, now) => (entry.back_off * 2).min(MAX_BACK_OFF),
            _ => INITIAL_BACK_OFF,
        };
        self.entries.insert(
            key.clone(),
            Entry {
                back_off,
                last_update: now,
            },
        );
    }

    pub fn reset(&mut self, key: &ContainerKey) {
        self.entries.remove(key);
    }

    /// Forgets pods that are no longer on the node and entries that expired.
    pub fn retain(&mut self, now: Timestamp, pod_is_known: impl Fn(&str) -> bool) {
        self.entries
            .retain(|key, entry| pod_is_known(&key.pod_uid) && !has_expired(entry, now));
    }
}

fn has_expired(entry: &Entry, now: Timestamp) -> bool {
    now.duration_since(entry.last_update) > MAX_BACK_OFF * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn back_off_doubles_to_five_minutes() {
        let key = ContainerKey::new("u", "c");
        let mut back_off = BackOff::default();
        let mut seen = Vec::new();
        for step in 0..8 {
            back_off.next(&key, at(step));
            seen.push(back_off.current(&key).map(|duration| duration.as_secs()));
        }
        let expected = [10, 20, 40, 80, 160, 300, 300, 300].map(Some);
        assert_eq!(seen, expected);
    }

    #[test]
    fn an_exit_is_held_back_for_the_current_back_off_only() {
        let key = ContainerKey::new("u", "c");
        let mut back_off = BackOff::default();
        assert!(
            !back_off.is_in_back_off_since(&key, at(0), at(0)),
            "first restart is immediate"
        );
        back_off.next(&key, at(0));
        assert!(back_off.is_in_back_off_since(&key, at(5), at(10)));
        assert!(!back_off.is_in_back_off_since(&key, at(5), at(15)));
    }

    #[test]
    fn ten_quiet_minutes_start_the_back_off_over() {
        let key = ContainerKey::new("u", "c");
        let mut back_off = BackOff::default();
        back_off.next(&key, at(0));
        back_off.next(&key, at(1));
        back_off.next(&key, at(602));
        assert_eq!(back_off.current(&key), Some(INITIAL_BACK_OFF));
    }
}
