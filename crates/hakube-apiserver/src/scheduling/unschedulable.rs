//! The pods the scheduler found unschedulable, set aside like upstream's unschedulable queue:
//! deciding them again gives the same answer until a node or the set of placed pods changes,
//! and with thousands of them waiting every round would re-decide them all on every pod
//! created. They are decided again when the round's inputs differ (a node written; a pod
//! bound, removed, finished or relabelled), when the pod itself changed, and at least every
//! [`RETRY_INTERVAL`] (a safety net for inputs this does not see, as upstream flushes its
//! queue).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use crate::objects::At as _;
use crate::tree::Tree;

/// How long a pod may be set aside without being decided again.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// Pods set aside, by uid, with the revision they had when found unschedulable.
#[derive(Debug, Default)]
pub struct Unschedulable {
    inputs: u64,
    since: Option<Instant>,
    pods: HashMap<String, u64>,
}

impl Unschedulable {
    /// Starts a round whose inputs have `fingerprint`: forgets every pod set aside when they
    /// differ from the last round's or the set is older than [`RETRY_INTERVAL`].
    pub fn begin(&mut self, fingerprint: u64, now: Instant) {
        let expired = self
            .since
            .is_none_or(|since| now.duration_since(since) >= RETRY_INTERVAL);
        if fingerprint != self.inputs || expired {
            self.pods.clear();
            self.inputs = fingerprint;
            self.since = Some(now);
        }
    }

    /// Whether the pod `uid` at `revision` was found unschedulable with the same inputs.
    pub fn skips(&self, uid: &str, revision: u64) -> bool {
        self.pods.get(uid) == Some(&revision)
    }

    /// Sets the pod `uid` aside at `revision` (the revision its Unschedulable condition has).
    pub fn remember(&mut self, uid: &str, revision: u64) {
        self.pods.insert(uid.to_string(), revision);
    }
}

/// A fingerprint of what decides whether a pending pod fits: each node's labels, spec
/// (taints, unschedulable), allocatable and condition statuses (not its heartbeat times), and
/// each placed pod's uid, node and labels (labels for pod affinity; not its status).
pub fn fingerprint<'a>(
    nodes: impl Iterator<Item = &'a Tree>,
    placed: impl Iterator<Item = &'a Tree>,
) -> u64 {
    let mut hasher = DefaultHasher::new();
    for node in nodes {
        for pointer in [
            "/metadata/name",
            "/metadata/labels",
            "/spec",
            "/status/allocatable",
        ] {
            hash_value(node.at(pointer), &mut hasher);
        }
        if let Some(Tree::Array(conditions)) = node.at("/status/conditions") {
            for condition in conditions {
                hash_value(condition.get("type"), &mut hasher);
                hash_value(condition.get("status"), &mut hasher);
            }
        }
    }
    for pod in placed {
        for pointer in ["/metadata/uid", "/spec/nodeName", "/metadata/labels"] {
            hash_value(pod.at(pointer), &mut hasher);
        }
    }
    hasher.finish()
}

fn hash_value(value: Option<&Tree>, hasher: &mut DefaultHasher) {
    match value {
        None | Some(Tree::Null) => 0u8.hash(hasher),
        Some(Tree::Bool(b)) => (1u8, b).hash(hasher),
        Some(Tree::Number(n)) => (2u8, n.to_string()).hash(hasher),
        Some(Tree::String(s)) => (3u8, s).hash(hasher),
        Some(Tree::Array(items)) => {
            (4u8, items.len()).hash(hasher);
            for item in items {
                hash_value(Some(item), hasher);
            }
        }
        Some(Tree::Object(fields)) => {
            (5u8, fields.len()).hash(hasher);
            for (key, item) in fields {
                key.hash(hasher);
                hash_value(Some(item), hasher);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_pod_is_set_aside_while_the_inputs_and_the_pod_stay_the_same() {
        let start = Instant::now();
        let mut unschedulable = Unschedulable::default();
        unschedulable.begin(7, start);
        unschedulable.remember("a", 10);
        unschedulable.begin(7, start + Duration::from_secs(1));
        assert!(unschedulable.skips("a", 10));
        assert!(!unschedulable.skips("a", 11), "the pod changed");
        assert!(!unschedulable.skips("b", 10), "never found unschedulable");
        unschedulable.begin(8, start + Duration::from_secs(2));
        assert!(
            !unschedulable.skips("a", 10),
            "a node or a placed pod changed"
        );
    }

    #[test]
    fn pods_set_aside_are_decided_again_after_the_retry_interval() {
        let start = Instant::now();
        let mut unschedulable = Unschedulable::default();
        unschedulable.begin(7, start);
        unschedulable.remember("a", 10);
        unschedulable.begin(7, start + RETRY_INTERVAL - Duration::from_millis(1));
        assert!(unschedulable.skips("a", 10));
        unschedulable.begin(7, start + RETRY_INTERVAL);
        assert!(!unschedulable.skips("a", 10));
    }

    #[test]
    fn the_fingerprint_follows_nodes_placements_and_labels_not_statuses() {
        let node = json!({"metadata": {"name": "n1", "labels": {"zone": "a"}},
            "spec": {}, "status": {"allocatable": {"pods": "110"}, "conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}]}});
        let pod = json!({"metadata": {"uid": "u1", "labels": {"app": "web"}},
            "spec": {"nodeName": "n1"}, "status": {"phase": "Pending"}});
        let of = |node: &Value, pods: &[&Value]| {
            let node = Tree::from(node);
            let pods: Vec<Tree> = pods.iter().map(|pod| Tree::from(*pod)).collect();
            fingerprint([&node].into_iter(), pods.iter())
        };
        let base = of(&node, &[&pod]);

        let mut running = pod.clone();
        running["status"]["phase"] = json!("Running");
        assert_eq!(base, of(&node, &[&running]), "a placed pod's status");
        let mut heartbeat = node.clone();
        heartbeat["status"]["conditions"][0]["lastHeartbeatTime"] = json!("t2");
        assert_eq!(base, of(&heartbeat, &[&pod]), "a node's heartbeat");

        let mut not_ready = node.clone();
        not_ready["status"]["conditions"][0]["status"] = json!("False");
        assert_ne!(base, of(&not_ready, &[&pod]));
        let mut tainted = node.clone();
        tainted["spec"]["taints"] = json!([{"key": "k", "effect": "NoSchedule"}]);
        assert_ne!(base, of(&tainted, &[&pod]));
        let mut labelled = node.clone();
        labelled["metadata"]["labels"]["open"] = json!("true");
        assert_ne!(base, of(&labelled, &[&pod]));
        let mut relabelled = pod.clone();
        relabelled["metadata"]["labels"]["app"] = json!("db");
        assert_ne!(base, of(&node, &[&relabelled]));
        let mut moved = pod.clone();
        moved["spec"]["nodeName"] = json!("n2");
        assert_ne!(base, of(&node, &[&moved]));
        assert_ne!(base, of(&node, &[]), "a placed pod gone");
    }
}
