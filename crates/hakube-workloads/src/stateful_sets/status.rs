//! The status a StatefulSet reports, as upstream's computeReplicaStatus and
//! completeRollingUpdate: counts over its members (Running and Ready, available, at the
//! current or the update revision), the revisions, the generation observed; once every pod
//! is updated and ready under RollingUpdate, the update revision becomes the current one.
//! Conditions are kept as they are.

use hakube_kinds::k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use jiff::{SignedDuration, Timestamp};

use super::claims::Member;
use super::health::{is_running_and_available, is_running_and_ready, is_terminating};
use super::revisions::{Revisions, pod_revision};
use crate::pod_states;

/// The new status, and when a ready pod becomes available (to look again then).
pub fn calculate(
    stateful_set: &StatefulSet,
    members: &[Member<'_>],
    revisions: &Revisions,
    now: Timestamp,
) -> (StatefulSetStatus, Option<Timestamp>) {
    let min_ready_seconds = stateful_set.spec.min_ready_seconds.unwrap_or(0);
    let previous = stateful_set.status.clone().unwrap_or_default();
    let mut status = StatefulSetStatus {
        observed_generation: stateful_set.metadata.generation,
        current_revision: Some(revisions.current.clone()),
        update_revision: Some(revisions.update.clone()),
        collision_count: Some(previous.collision_count.unwrap_or(0)),
        conditions: previous.conditions,
        ..StatefulSetStatus::default()
    };
    let (mut ready, mut available, mut current, mut updated) = (0, 0, 0, 0);
    let mut recheck_at: Option<Timestamp> = None;
    for Member { pod, .. } in members {
        status.replicas += 1;
        if is_running_and_ready(pod) {
            ready += 1;
            if is_running_and_available(pod, min_ready_seconds, now) {
                available += 1;
            } else if let Some(after) = pod_states::available_after(pod, min_ready_seconds) {
                // Available once strictly past `after`: the next whole second.
                let next = after
                    .saturating_add(SignedDuration::from_secs(1))
                    .unwrap_or(after);
                recheck_at = Some(recheck_at.map_or(next, |earliest| earliest.min(next)));
            }
        }
        if !is_terminating(pod) {
            current += i32::from(pod_revision(pod) == revisions.current);
            updated += i32::from(pod_revision(pod) == revisions.update);
        }
    }
    status.ready_replicas = Some(ready);
    status.available_replicas = Some(available);
    status.current_replicas = Some(current);
    status.updated_replicas = Some(updated);
    complete_rolling_update(stateful_set, &mut status);
    (status, recheck_at)
}

fn complete_rolling_update(stateful_set: &StatefulSet, status: &mut StatefulSetStatus) {
    let strategy = stateful_set.spec.update_strategy.as_ref();
    let kind = strategy.and_then(|strategy| strategy.type_.as_deref());
    let rolling = kind.is_none_or(|kind| kind == "RollingUpdate");
    let replicas = Some(status.replicas);
    if rolling && status.updated_replicas == replicas && status.ready_replicas == replicas {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
}
