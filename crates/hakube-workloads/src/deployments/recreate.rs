//! The Recreate strategy (upstream's recreate.go): scale every old ReplicaSet to 0, wait until
//! none of their pods runs, and only then create and scale up the new ReplicaSet, so old and
//! new pods never run together.

use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::fenceposts::desired_replicas;
use super::history;
use super::new_replica_set::{NewReplicaSet, sync_revision};
use super::progress::{deployment_complete, sync_rollout_status};
use super::rollout::{Rollout, status_replicas};
use crate::controller_refs::controller_of;
use crate::label_selectors::selector_matches;
use crate::pod_states;

pub fn rollout_recreate(rollout: &mut Rollout<'_>) {
    // The new ReplicaSet is not created yet: scaling it up must wait for the old pods.
    if sync_revision(rollout, false) == NewReplicaSet::Collision {
        return;
    }
    let mut scaled_down = false;
    for index in rollout.active_old_indexes() {
        scaled_down |= rollout.scale(index, 0);
    }
    if scaled_down || old_pods_running(rollout) {
        sync_rollout_status(rollout);
        return;
    }
    if rollout.new_index.is_none() && sync_revision(rollout, true) == NewReplicaSet::Collision {
        return;
    }
    if let Some(new_index) = rollout.new_index {
        rollout.scale(new_index, desired_replicas(&rollout.deployment));
    }
    let current_status = rollout.status().clone();
    if deployment_complete(&rollout.deployment, &current_status) {
        history::clean_up(rollout);
    }
    sync_rollout_status(rollout);
}

/// Whether an old ReplicaSet still reports pods, or any pod it controls is not finished
/// (terminating pods included: they may still be running).
fn old_pods_running(rollout: &Rollout<'_>) -> bool {
    let old = rollout.old_indexes();
    if old
        .iter()
        .any(|index| status_replicas(&rollout.replica_sets[*index]) > 0)
    {
        return true;
    }
    let old_uids: Vec<&str> = old
        .iter()
        .filter_map(|index| rollout.replica_sets[*index].metadata.uid.as_deref())
        .collect();
    let selector = &rollout.deployment.spec.selector;
    let is_old_pod = |pod: &&Pod| {
        selector_matches(selector, pod.metadata.labels.as_ref())
            && controller_of(&pod.metadata)
                .is_some_and(|owner| old_uids.contains(&owner.uid.as_str()))
    };
    rollout
        .pods
        .iter()
        .filter(is_old_pod)
        .any(|pod| !pod_states::is_terminal(pod))
}
