//! The RollingUpdate strategy (upstream's rolling.go): grow the new ReplicaSet within
//! maxSurge, then shrink the old ones within maxUnavailable, their unhealthy pods first.

use super::fenceposts::{desired_replicas, max_surge, max_unavailable};
use super::history;
use super::new_replica_set::{NewReplicaSet, scale_up_target, sync_revision};
use super::progress::{deployment_complete, sync_rollout_status};
use super::rollout::{Rollout, available_replicas, spec_replicas};

pub fn rollout_rolling(rollout: &mut Rollout<'_>) {
    if sync_revision(rollout, true) == NewReplicaSet::Collision {
        return;
    }
    let Some(new_index) = rollout.new_index else {
        return;
    };
    if reconcile_new(rollout, new_index) || reconcile_old(rollout, new_index) {
        sync_rollout_status(rollout);
        return;
    }
    let current_status = rollout.status().clone();
    if deployment_complete(&rollout.deployment, &current_status) {
        history::clean_up(rollout);
    }
    sync_rollout_status(rollout);
}

/// Scales the new ReplicaSet toward the desired count; true when its size changed.
fn reconcile_new(rollout: &mut Rollout<'_>, new_index: usize) -> bool {
    let desired = desired_replicas(&rollout.deployment);
    let new_replicas = spec_replicas(&rollout.replica_sets[new_index]);
    if new_replicas == desired {
        return false;
    }
    if new_replicas > desired {
        return rollout.scale(new_index, desired);
    }
    let all: Vec<usize> = (0..rollout.replica_sets.len()).collect();
    let target = scale_up_target(
        desired,
        max_surge(&rollout.deployment),
        rollout.wanted(&all),
        new_replicas,
    );
    rollout.scale(new_index, target)
}

/// Scales old ReplicaSets down as far as availability allows; true when any size changed.
fn reconcile_old(rollout: &mut Rollout<'_>, new_index: usize) -> bool {
    let old = rollout.active_old_indexes();
    if rollout.wanted(&old) == 0 {
        return false;
    }
    let all: Vec<usize> = (0..rollout.replica_sets.len()).collect();
    let min_available =
        desired_replicas(&rollout.deployment) - max_unavailable(&rollout.deployment);
    let new_replica_set = &rollout.replica_sets[new_index];
    let new_unavailable = spec_replicas(new_replica_set) - available_replicas(new_replica_set);
    // Never go below minAvailable, counting the new ReplicaSet's unavailable pods as missing.
    let max_scaled_down = rollout.wanted(&all) - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let cleaned = clean_up_unhealthy(rollout, &old, max_scaled_down);
    let scaled = scale_down_available(rollout, &old, new_index);
    cleaned + scaled > 0
}

/// Removes the old ReplicaSets' unavailable pods first (oldest ReplicaSet first): deleting
/// them costs no availability, and they would otherwise block the rollout.
fn clean_up_unhealthy(rollout: &mut Rollout<'_>, old: &[usize], max_cleanup: i32) -> i32 {
    let mut old = old.to_vec();
    rollout.sort_oldest_first(&mut old);
    let mut cleaned = 0;
    for index in old {
        if cleaned >= max_cleanup {
            break;
        }
        let replica_set = &rollout.replica_sets[index];
        let (replicas, available) = (spec_replicas(replica_set), available_replicas(replica_set));
        if replicas == 0 || replicas <= available {
            continue;
        }
        let count = (max_cleanup - cleaned).min(replicas - available);
        rollout.scale(index, replicas - count);
        cleaned += count;
    }
    cleaned
}

/// Scales old ReplicaSets down (oldest first) by the available pods above minAvailable.
fn scale_down_available(rollout: &mut Rollout<'_>, old: &[usize], new_index: usize) -> i32 {
    let min_available =
        desired_replicas(&rollout.deployment) - max_unavailable(&rollout.deployment);
    let mut counted = old.to_vec();
    counted.push(new_index);
    let available = rollout.available(&counted);
    if available <= min_available {
        return 0;
    }
    let mut old = old.to_vec();
    rollout.sort_oldest_first(&mut old);
    let allowed = available - min_available;
    let mut scaled = 0;
    for index in old {
        if scaled >= allowed {
            break;
        }
        let replicas = spec_replicas(&rollout.replica_sets[index]);
        if replicas == 0 {
            continue;
        }
        let count = replicas.min(allowed - scaled);
        rollout.scale(index, replicas - count);
        scaled += count;
    }
    scaled
}
