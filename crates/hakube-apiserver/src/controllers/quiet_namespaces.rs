//! Which namespaces the workload controllers can leave alone this round: those whose objects
//! are exactly as they were when a round last planned them and decided nothing, until a plan's
//! recheck time or a periodic resync. Upstream's controllers work from change notifications
//! and sleep while nothing changes; without this, every round (one a second while anything in
//! the cluster is written, a node's Lease renewal included) typed every pod of every namespace
//! with a workload, which cost a thousand-pod namespace its whole decoded size again in memory
//! each second and most of a round's CPU.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use jiff::{SignedDuration, Timestamp};

/// How long a quiet namespace may go unplanned even though nothing in it changed: a safety
/// net for time-driven decisions no plan announced (upstream's informers resync too, every
/// 12 to 24 hours). Each resync types the namespace's pods again, a burst of their decoded
/// size in memory, so not much more often than compaction runs.
pub const RESYNC: SignedDuration = SignedDuration::from_secs(300);

/// A summary of a namespace's objects: equal fingerprints mean (but for a 2⁻⁶⁴ chance) the
/// same objects at the same revisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    sum: u64,
    count: u64,
}

impl Fingerprint {
    /// Adds one object. Order does not matter: a snapshot's order is not part of what it says.
    pub fn add(&mut self, key: &[u8], revision: u64) {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        revision.hash(&mut hasher);
        self.sum = self.sum.wrapping_add(hasher.finish());
        self.count += 1;
    }

    /// Both summaries together (a namespace's objects and the nodes its DaemonSets read).
    pub fn with(mut self, other: Fingerprint) -> Self {
        self.sum = self.sum.wrapping_add(other.sum.rotate_left(17));
        self.count += other.count;
        self
    }
}

/// What a namespace's round decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decided {
    /// A plan asked for a write (done or not).
    pub wanted: bool,
    /// The earliest time a plan asked to be looked at again although nothing changes.
    pub recheck_at: Option<Timestamp>,
    /// The namespace has decisions driven by the clock alone (CronJob schedules): never quiet.
    pub clock_driven: bool,
}

impl Decided {
    /// Adds one plan's recheck time.
    pub fn recheck(&mut self, at: Option<Timestamp>) {
        self.recheck_at = match (self.recheck_at, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Quiet namespaces by name: their fingerprint when last planned, and until when they may be
/// left alone.
#[derive(Debug, Default)]
pub struct QuietNamespaces {
    namespaces: HashMap<String, Quiet>,
}

#[derive(Debug)]
struct Quiet {
    fingerprint: Fingerprint,
    until: Timestamp,
}

impl QuietNamespaces {
    /// Whether the namespace can be left alone this round.
    pub fn is_quiet(&self, namespace: &str, fingerprint: Fingerprint, now: Timestamp) -> bool {
        self.namespaces
            .get(namespace)
            .is_some_and(|quiet| quiet.fingerprint == fingerprint && now < quiet.until)
    }

    /// Records a round of the namespace, planned over objects of `fingerprint`.
    pub fn record(
        &mut self,
        namespace: &str,
        fingerprint: Fingerprint,
        decided: Decided,
        now: Timestamp,
    ) {
        if decided.wanted || decided.clock_driven {
            self.namespaces.remove(namespace);
            return;
        }
        let resync = now.saturating_add(RESYNC).unwrap_or(now);
        let until = decided.recheck_at.map_or(resync, |at| at.min(resync));
        let quiet = Quiet { fingerprint, until };
        self.namespaces.insert(namespace.to_owned(), quiet);
    }

    /// Forgets namespaces no longer in the snapshot.
    pub fn keep_only<V>(&mut self, present: &BTreeMap<&str, V>) {
        self.namespaces
            .retain(|name, _| present.contains_key(name.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(objects: &[(&str, u64)]) -> Fingerprint {
        let mut fingerprint = Fingerprint::default();
        for (key, revision) in objects {
            fingerprint.add(key.as_bytes(), *revision);
        }
        fingerprint
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("in range")
    }

    const PODS: &[(&str, u64)] = &[
        ("/registry/core/pods/a/x", 5),
        ("/registry/core/pods/a/y", 7),
    ];

    #[test]
    fn a_fingerprint_changes_with_any_revision_key_or_count_but_not_order() {
        let same = fingerprint(&[PODS[1], PODS[0]]);
        assert_eq!(fingerprint(PODS), same);
        assert_ne!(
            fingerprint(PODS),
            fingerprint(&[PODS[0], ("/registry/core/pods/a/y", 8)])
        );
        assert_ne!(
            fingerprint(PODS),
            fingerprint(&[PODS[0], ("/registry/core/pods/a/z", 7)])
        );
        assert_ne!(fingerprint(PODS), fingerprint(&PODS[..1]));
        let nodes = fingerprint(&[("/registry/core/nodes/n1", 3)]);
        assert_ne!(fingerprint(PODS).with(nodes), fingerprint(PODS));
    }

    #[test]
    fn a_namespace_that_decided_nothing_is_quiet_until_it_changes_or_the_resync() {
        let mut quiet = QuietNamespaces::default();
        assert!(
            !quiet.is_quiet("a", fingerprint(PODS), at(0)),
            "never planned"
        );
        quiet.record("a", fingerprint(PODS), Decided::default(), at(0));
        assert!(quiet.is_quiet("a", fingerprint(PODS), at(1)));
        assert!(
            !quiet.is_quiet("a", fingerprint(&PODS[..1]), at(1)),
            "a pod went"
        );
        assert!(
            !quiet.is_quiet("b", fingerprint(PODS), at(1)),
            "another namespace"
        );
        assert!(quiet.is_quiet("a", fingerprint(PODS), at(299)));
        assert!(
            !quiet.is_quiet("a", fingerprint(PODS), at(300)),
            "the resync"
        );
    }

    #[test]
    fn a_namespace_is_planned_again_at_its_recheck_time() {
        let mut quiet = QuietNamespaces::default();
        let mut decided = Decided::default();
        decided.recheck(Some(at(20)));
        decided.recheck(None);
        decided.recheck(Some(at(10)));
        quiet.record("a", fingerprint(PODS), decided, at(0));
        assert!(quiet.is_quiet("a", fingerprint(PODS), at(9)));
        assert!(!quiet.is_quiet("a", fingerprint(PODS), at(10)));
    }

    #[test]
    fn a_namespace_whose_plan_wanted_a_write_or_runs_by_the_clock_is_never_quiet() {
        let mut quiet = QuietNamespaces::default();
        quiet.record("a", fingerprint(PODS), Decided::default(), at(0));
        let wanted = Decided {
            wanted: true,
            ..Decided::default()
        };
        // A write that failed changed nothing: the same objects must be planned again.
        quiet.record("a", fingerprint(PODS), wanted, at(1));
        assert!(!quiet.is_quiet("a", fingerprint(PODS), at(2)));
        let cron = Decided {
            clock_driven: true,
            ..Decided::default()
        };
        quiet.record("b", fingerprint(PODS), cron, at(1));
        assert!(!quiet.is_quiet("b", fingerprint(PODS), at(2)));
    }

    #[test]
    fn namespaces_gone_from_the_snapshot_are_forgotten() {
        let mut quiet = QuietNamespaces::default();
        quiet.record("a", fingerprint(PODS), Decided::default(), at(0));
        quiet.record("b", fingerprint(PODS), Decided::default(), at(0));
        let present: BTreeMap<&str, ()> = [("b", ())].into();
        quiet.keep_only(&present);
        assert!(!quiet.is_quiet("a", fingerprint(PODS), at(1)));
        assert!(quiet.is_quiet("b", fingerprint(PODS), at(1)));
    }
}
