//! ReplicaSet controller decisions: which pods a ReplicaSet owns (adoption and release by
//! selector), how many to create or delete this round and which ones, and the status it
//! reports. Mirrors upstream's pkg/controller/replicaset without its expectations cache: the
//! caller reads a consistent store, so each round sees the writes of the previous one.

mod claims;
mod pod_templates;
mod ranking;
mod status;
#[cfg(test)]
mod tests;

use hakube_kinds::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

/// Upstream's burstReplicas: at most this many creations or deletions per round, so a huge
/// scale step cannot flood the API at once.
pub const MAX_POD_CHANGES_PER_ROUND: usize = 500;

/// What one round of the ReplicaSet controller writes. A pod appears in at most one list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaSetPlan {
    /// New pods from the template (generateName "<replica set>-", controller reference set).
    /// Write them in [`slow_start_batches`] and stop at the first failing batch, as upstream.
    pub create: Vec<Pod>,
    /// Pods to delete, the best candidates first.
    pub delete: Vec<PodRef>,
    /// Orphans the selector matches, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Owned pods the selector no longer matches, with the controller reference removed.
    pub release: Vec<Pod>,
    /// The new status, only when it differs from the current one.
    pub status: Option<ReplicaSetStatus>,
    /// When a pod that is ready but not yet available (minReadySeconds) becomes available:
    /// the status changes then even if nothing in the store does, so run a round at that time.
    pub recheck_at: Option<Timestamp>,
}

/// A pod to delete, with its uid as a precondition (never delete a namesake).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub name: String,
    pub uid: String,
}

/// One round of the ReplicaSet controller over the pods of the ReplicaSet's namespace.
pub fn reconcile(replica_set: &ReplicaSet, pods: &[Pod], now: Timestamp) -> ReplicaSetPlan {
    let mut plan = ReplicaSetPlan::default();
    let spec = &replica_set.spec;
    if replica_set
        .metadata
        .uid
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        return plan;
    }
    let claimed = claims::claim_pods(replica_set, &spec.selector, pods);
    let deleting = replica_set.metadata.deletion_timestamp.is_some();
    if !deleting {
        let wanted = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
        let active = claimed.active.len();
        if active < wanted {
            let count = (wanted - active).min(MAX_POD_CHANGES_PER_ROUND);
            plan.create = pod_templates::pods_to_create(replica_set, count);
        } else if active > wanted {
            let count = (active - wanted).min(MAX_POD_CHANGES_PER_ROUND);
            plan.delete = ranking::pods_to_delete(&claimed.active, count, now);
        }
    }
    let (status, recheck_at) = status::calculate(replica_set, &claimed, now);
    if replica_set.status.as_ref() != Some(&status) {
        plan.status = Some(status);
    }
    plan.recheck_at = recheck_at;
    plan.adopt = claimed.adopt;
    plan.release = claimed.release;
    plan
}

/// Upstream's slow start: batch sizes 1, 2, 4, … summing to `count`, so a template that
/// cannot create pods fails after one attempt instead of `count`.
pub fn slow_start_batches(count: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut size = 1;
    while remaining > 0 {
        let batch = size.min(remaining);
        batches.push(batch);
        remaining -= batch;
        size *= 2;
    }
    batches
}
