//! The annotations a Deployment keeps on its ReplicaSets and on itself: the revision (what
//! `kubectl rollout history/undo` read), the revisions a reused ReplicaSet had before
//! (revision-history), the desired and maximum replicas at the last scaling (proportional
//! scaling reads them back), and the Deployment's own annotations copied onto the new
//! ReplicaSet (change-cause and the like).

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::fenceposts::{desired_replicas, max_surge};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// Annotations of the Deployment that stay off its ReplicaSets: the controller's own, and
/// kubectl's last applied configuration (it describes the Deployment, not the ReplicaSet).
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Upstream caps revision-history at this many characters, dropping the oldest entries.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

fn annotation<'a>(replica_set: &'a ReplicaSet, key: &str) -> Option<&'a str> {
    replica_set
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The ReplicaSet's revision, `None` when missing or not a number.
pub fn revision(replica_set: &ReplicaSet) -> Option<i64> {
    annotation(replica_set, REVISION)?.parse().ok()
}

/// The highest revision among `replica_sets` (0 for none).
pub fn max_revision<'a>(replica_sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    replica_sets
        .into_iter()
        .filter_map(revision)
        .max()
        .unwrap_or(0)
}

/// The Deployment size recorded at the ReplicaSet's last scaling.
pub fn desired_replicas_annotation(replica_set: &ReplicaSet) -> Option<i32> {
    annotation(replica_set, DESIRED_REPLICAS)?.parse().ok()
}

/// The Deployment's size plus surge recorded at the ReplicaSet's last scaling.
pub fn max_replicas_annotation(replica_set: &ReplicaSet) -> Option<i32> {
    annotation(replica_set, MAX_REPLICAS)?.parse().ok()
}

fn set(annotations: &mut BTreeMap<String, String>, key: &str, value: String) -> bool {
    if annotations.get(key) == Some(&value) {
        return false;
    }
    annotations.insert(key.to_string(), value);
    true
}

/// Records the Deployment's size (and size plus surge) on a ReplicaSet being scaled; whether
/// anything changed.
pub fn set_replicas_annotations(replica_set: &mut ReplicaSet, deployment: &Deployment) -> bool {
    let desired = desired_replicas(deployment);
    let annotations = replica_set
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    let desired_changed = set(annotations, DESIRED_REPLICAS, desired.to_string());
    let max_changed = set(
        annotations,
        MAX_REPLICAS,
        (desired + max_surge(deployment)).to_string(),
    );
    desired_changed || max_changed
}

/// Whether the replica annotations differ from what scaling would record now.
pub fn replicas_annotations_need_update(replica_set: &ReplicaSet, deployment: &Deployment) -> bool {
    let desired = desired_replicas(deployment);
    desired_replicas_annotation(replica_set) != Some(desired)
        || max_replicas_annotation(replica_set) != Some(desired + max_surge(deployment))
}

/// Brings the new ReplicaSet's annotations up to date: the Deployment's own annotations, the
/// revision raised to `new_revision` (keeping the previous one in revision-history when a
/// ReplicaSet is reused by a rollback), and on creation the replica annotations. Whether
/// anything changed.
pub fn set_new_replica_set_annotations(
    deployment: &Deployment,
    replica_set: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_deployment_annotations(deployment, replica_set);
    let annotations = replica_set
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    let old_revision = annotations.get(REVISION).cloned();
    let old_number = match old_revision.as_deref() {
        None | Some("") => 0,
        // A revision that is not a number is left alone, as upstream does.
        Some(text) => match text.parse::<i64>() {
            Ok(number) => number,
            Err(_) => return changed,
        },
    };
    if old_number < new_revision {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old_revision) = old_revision {
            record_revision_history(annotations, old_revision);
        }
    }
    if !exists {
        changed |= set_replicas_annotations(replica_set, deployment);
    }
    changed
}

fn copy_deployment_annotations(deployment: &Deployment, replica_set: &mut ReplicaSet) -> bool {
    let annotations = replica_set
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    let mut changed = false;
    for (key, value) in deployment.metadata.annotations.iter().flatten() {
        if NOT_COPIED.contains(&key.as_str()) {
            continue;
        }
        changed |= set(annotations, key, value.clone());
    }
    changed
}

fn record_revision_history(annotations: &mut BTreeMap<String, String>, old_revision: String) {
    let history = annotations
        .get(REVISION_HISTORY)
        .cloned()
        .unwrap_or_default();
    if history.is_empty() {
        annotations.insert(REVISION_HISTORY.to_string(), old_revision);
        return;
    }
    let mut entries: Vec<&str> = history.split(',').collect();
    let mut length = history.len() + old_revision.len() + 1;
    let mut start = 0;
    while length > MAX_REVISION_HISTORY_CHARS && start < entries.len() {
        length -= entries[start].len() + 1;
        start += 1;
    }
    if length <= MAX_REVISION_HISTORY_CHARS {
        entries.drain(..start);
        entries.push(&old_revision);
        let joined = entries.join(",");
        annotations.insert(REVISION_HISTORY.to_string(), joined);
    }
}

/// Records `revision` on the Deployment (upstream keeps the current revision there too);
/// whether it changed.
pub fn set_deployment_revision(deployment: &mut Deployment, revision: &str) -> bool {
    let annotations = deployment
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    set(annotations, REVISION, revision.to_string())
}
