//! Resizing without rolling (upstream's sync/scale): a paused Deployment or one whose size
//! changed. A single active ReplicaSet takes the whole size; a saturated new ReplicaSet sends
//! the old ones to 0; otherwise, during a rolling update, the difference is shared among the
//! active ReplicaSets in proportion to their size, so a resize mid-rollout keeps the ratio.

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::annotations::{desired_replicas_annotation, max_replicas_annotation};
use super::fenceposts::{desired_replicas, is_rolling_update, max_surge};
use super::rollout::{Rollout, available_replicas, creation_order, spec_replicas};

/// Whether an active ReplicaSet recorded another Deployment size than the current one.
pub fn is_scaling_event(rollout: &Rollout<'_>) -> bool {
    let desired = desired_replicas(&rollout.deployment);
    rollout
        .replica_sets
        .iter()
        .filter(|replica_set| spec_replicas(replica_set) > 0)
        .any(|replica_set| {
            desired_replicas_annotation(replica_set).is_some_and(|recorded| recorded != desired)
        })
}

/// Upstream's scale.
pub fn scale(rollout: &mut Rollout<'_>) {
    let desired = desired_replicas(&rollout.deployment);
    if let Some(index) = active_or_latest(rollout) {
        if spec_replicas(&rollout.replica_sets[index]) != desired {
            rollout.scale(index, desired);
        }
        return;
    }
    if let Some(new_index) = rollout.new_index
        && is_saturated(&rollout.deployment, &rollout.replica_sets[new_index])
    {
        for index in rollout.active_old_indexes() {
            rollout.scale(index, 0);
        }
        return;
    }
    if is_rolling_update(&rollout.deployment) {
        scale_proportionally(rollout);
    }
}

/// The only active ReplicaSet, or with none active the new one (else the newest old one);
/// `None` when several are active.
fn active_or_latest(rollout: &Rollout<'_>) -> Option<usize> {
    let active: Vec<usize> = (0..rollout.replica_sets.len())
        .filter(|index| spec_replicas(&rollout.replica_sets[*index]) > 0)
        .collect();
    match active.as_slice() {
        [only] => Some(*only),
        [] => rollout.new_index.or_else(|| {
            let old = rollout.old_indexes();
            old.into_iter().max_by(|left, right| {
                creation_order(&rollout.replica_sets[*left], &rollout.replica_sets[*right])
            })
        }),
        _ => None,
    }
}

/// The new ReplicaSet has the full size, was scaled for it, and all its pods are available.
fn is_saturated(deployment: &Deployment, replica_set: &ReplicaSet) -> bool {
    let desired = desired_replicas(deployment);
    spec_replicas(replica_set) == desired
        && desired_replicas_annotation(replica_set) == Some(desired)
        && available_replicas(replica_set) == desired
}

fn scale_proportionally(rollout: &mut Rollout<'_>) {
    let deployment = &rollout.deployment;
    let desired = desired_replicas(deployment);
    let mut active: Vec<usize> = (0..rollout.replica_sets.len())
        .filter(|index| spec_replicas(&rollout.replica_sets[*index]) > 0)
        .collect();
    let allowed = if desired > 0 {
        desired + max_surge(deployment)
    } else {
        0
    };
    let to_add = allowed - rollout.wanted(&active);
    // Larger first; on equal sizes the newer grows first and the older shrinks first.
    active.sort_by(|left, right| {
        let (left_set, right_set) = (&rollout.replica_sets[*left], &rollout.replica_sets[*right]);
        let by_age = if to_add > 0 {
            creation_order(right_set, left_set)
        } else {
            creation_order(left_set, right_set)
        };
        spec_replicas(right_set)
            .cmp(&spec_replicas(left_set))
            .then(by_age)
    });
    let mut added = 0;
    let mut sizes: Vec<i32> = Vec::with_capacity(active.len());
    for index in &active {
        let replica_set = &rollout.replica_sets[*index];
        let proportion = proportion(replica_set, deployment, to_add, added);
        sizes.push(spec_replicas(replica_set) + proportion);
        added += proportion;
    }
    // Rounding leftovers go to the largest ReplicaSet.
    if let Some(first) = sizes.first_mut()
        && to_add != 0
    {
        *first = (*first + to_add - added).max(0);
    }
    for (index, size) in active.into_iter().zip(sizes) {
        rollout.scale(index, size);
    }
}

/// Upstream's GetReplicaSetProportion: the ReplicaSet's share of `to_add`, bounded by what is
/// left to add (or remove).
fn proportion(replica_set: &ReplicaSet, deployment: &Deployment, to_add: i32, added: i32) -> i32 {
    if spec_replicas(replica_set) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = fraction(replica_set, deployment);
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// How much the ReplicaSet would change if it kept its share of the Deployment's previous
/// maximum size (from its max-replicas annotation) in the new one.
fn fraction(replica_set: &ReplicaSet, deployment: &Deployment) -> i32 {
    let replicas = spec_replicas(replica_set);
    let desired = desired_replicas(deployment);
    if desired == 0 {
        return -replicas;
    }
    let new_maximum = desired + max_surge(deployment);
    let old_maximum = match max_replicas_annotation(replica_set) {
        Some(maximum) if maximum != 0 => maximum,
        // Edited by hand: assume the current size, as upstream does.
        _ => desired,
    };
    let scaled = f64::from(replicas) * f64::from(new_maximum) / f64::from(old_maximum);
    // Rounded half away from zero like Go's math.Round; sizes are far inside i32.
    scaled.round() as i32 - replicas
}
