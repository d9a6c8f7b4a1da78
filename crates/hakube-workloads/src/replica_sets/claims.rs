//! Which pods a ReplicaSet counts: the active pods it controls and still selects, plus the
//! orphans it adopts this round; the ones it releases; and its terminating pods.

use hakube_kinds::k8s_openapi::api::apps::v1::ReplicaSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::controller_refs::{self, Claim, Claimant};
use crate::label_selectors::selector_matches;
use crate::pod_states;

/// The pods of one ReplicaSet as this round sees them.
pub struct ClaimedPods<'a> {
    /// Active pods it owns, adopted ones included (as they were before adoption).
    pub active: Vec<&'a Pod>,
    /// Adopted pods, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Released pods, with the controller reference removed.
    pub release: Vec<Pod>,
    /// Owned pods being deleted that have not stopped yet.
    pub terminating: usize,
}

/// Upstream only claims active pods: a finished or deleted pod is neither adopted nor
/// released, and only counts as terminating when it is still controlled and selected.
pub fn claim_pods<'a>(
    replica_set: &ReplicaSet,
    selector: &LabelSelector,
    pods: &'a [Pod],
) -> ClaimedPods<'a> {
    let uid = replica_set.metadata.uid.as_deref().unwrap_or_default();
    let claimant = Claimant {
        uid,
        deleting: replica_set.metadata.deletion_timestamp.is_some(),
    };
    let mut claimed = ClaimedPods {
        active: Vec::new(),
        adopt: Vec::new(),
        release: Vec::new(),
        terminating: 0,
    };
    for pod in pods {
        let selected = selector_matches(selector, pod.metadata.labels.as_ref());
        if pod_states::is_terminating(pod) {
            if selected && controller_refs::is_controlled_by(&pod.metadata, uid) {
                claimed.terminating += 1;
            }
            continue;
        }
        if !pod_states::is_active(pod) {
            continue;
        }
        match controller_refs::claim(claimant, &pod.metadata, selected) {
            Claim::Owned => claimed.active.push(pod),
            Claim::Adopt => {
                claimed.active.push(pod);
                claimed.adopt.push(adopted(replica_set, pod));
            }
            Claim::Release => claimed.release.push(released(pod, uid)),
            Claim::Ignore => {}
        }
    }
    claimed
}

fn adopted(replica_set: &ReplicaSet, pod: &Pod) -> Pod {
    let mut pod = pod.clone();
    let reference =
        controller_refs::controller_reference("apps/v1", "ReplicaSet", &replica_set.metadata);
    controller_refs::add_owner(&mut pod.metadata, reference);
    pod
}

fn released(pod: &Pod, uid: &str) -> Pod {
    let mut pod = pod.clone();
    controller_refs::remove_owner(&mut pod.metadata, uid);
    pod
}
