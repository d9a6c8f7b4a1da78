//! StatefulSet controller decisions: which pods a StatefulSet owns (members named
//! "<set>-<ordinal>", adoption and release by selector), which ordinals to create (with their
//! volume claims first) and which pods to delete this round (finished ones to recreate,
//! ordinals beyond the replica count from the top, old revisions in a rolling update), and
//! the status. Mirrors upstream's pkg/controller/statefulset (stateful_set_control.go): with
//! OrderedReady one step at a time waiting for the predecessors to be Running and Ready,
//! with Parallel everything at once; RollingUpdate from the highest ordinal down to the
//! partition within maxUnavailable, or OnDelete.
//!
//! Differences from upstream, all for want of state outside the objects given:
//! - A revision is "<set>-<hash of the template>", the name of its ControllerRevision (kept
//!   by [`crate::controller_revisions`]). A pod below a rolling update's partition is
//!   recreated from the current revision's template when the caller passes it, as upstream's
//!   newVersionedStatefulSetPod; every other new pod from the set's template.
//! - persistentVolumeClaimRetentionPolicy is ignored: claims are never deleted, and carry no
//!   owner reference.
//! - Pods whose identity or volumes drifted from the spec are not repaired in place.

mod claims;
mod health;
mod identity;
mod ordering;
mod revisions;
mod rolling;
mod status;
#[cfg(test)]
mod tests;
mod volume_claims;

use hakube_kinds::k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use hakube_kinds::k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use jiff::Timestamp;

pub use crate::replica_sets::PodRef;
pub use identity::{POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_HASH_LABEL};

use ordering::Sequence;
use revisions::{Revisions, Versions};

/// What one round of the StatefulSet controller writes. A pod appears in at most one list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatefulSetPlan {
    /// New pods "<set>-<ordinal>", in ordinal order. With OrderedReady at most one.
    pub create: Vec<Pod>,
    /// Missing claims "<claim template>-<set>-<ordinal>" of the pods created this round or
    /// still pending: write them before the pods.
    pub create_claims: Vec<PersistentVolumeClaim>,
    /// Pods to delete, in the order to delete them.
    pub delete: Vec<PodRef>,
    /// Orphans the selector matches, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Owned pods the selector no longer matches, with the controller reference removed.
    pub release: Vec<Pod>,
    /// The new status, only when it differs from the current one.
    pub status: Option<StatefulSetStatus>,
    /// When a ready pod becomes available (minReadySeconds): the status and the next step
    /// may move then even if nothing in the store does.
    pub recheck_at: Option<Timestamp>,
}

/// One round of the StatefulSet controller over the pods and claims of its namespace.
/// `current_template` is the template of the set's current revision (status.currentRevision's
/// ControllerRevision), which pods below a rolling update's partition are made from.
pub fn reconcile(
    stateful_set: &StatefulSet,
    current_template: Option<&PodTemplateSpec>,
    pods: &[Pod],
    claims: &[PersistentVolumeClaim],
    now: Timestamp,
) -> StatefulSetPlan {
    let mut plan = StatefulSetPlan::default();
    if stateful_set
        .metadata
        .uid
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        return plan;
    }
    let claimed = claims::claim_pods(stateful_set, pods);
    let revisions = Revisions::of(stateful_set);
    let sequence = Sequence::new(stateful_set, &claimed.members);
    // A StatefulSet being deleted only reports its status; the garbage collector does the rest.
    if stateful_set.metadata.deletion_timestamp.is_none() {
        let actions = ordering::run(stateful_set, &sequence, &revisions, now);
        let versions = Versions::new(stateful_set, current_template, &revisions);
        plan.create = actions
            .create
            .iter()
            .map(|ordinal| versions.new_pod(*ordinal))
            .collect();
        plan.create_claims = volume_claims::missing(stateful_set, &actions.needs_claims, claims);
        plan.delete = actions.delete;
    }
    let (status, recheck_at) = status::calculate(stateful_set, &claimed.members, &revisions, now);
    if stateful_set.status.as_ref() != Some(&status) {
        plan.status = Some(status);
    }
    plan.recheck_at = recheck_at;
    plan.adopt = claimed.adopt;
    plan.release = claimed.release;
    plan
}
