//! The Deployment's status (upstream's progress.go and calculateStatus): replica counts summed
//! from its ReplicaSets' status, the Available condition, and the Progressing condition that
//! `kubectl rollout status` watches (created, progressing, complete, or past the deadline).

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus};
use jiff::{SignedDuration, Timestamp};

use super::conditions::{
    self, AVAILABLE, DEPLOYMENT_PAUSED, DEPLOYMENT_RESUMED, MINIMUM_REPLICAS_AVAILABLE,
    MINIMUM_REPLICAS_UNAVAILABLE, NEW_REPLICA_SET_AVAILABLE, PROGRESS_DEADLINE_EXCEEDED,
    PROGRESSING, REPLICA_FAILURE, REPLICA_SET_UPDATED,
};
use super::fenceposts::{desired_replicas, max_unavailable};
use super::rollout::{
    Rollout, available_replicas, ready_replicas, spec_replicas, status_replicas,
    terminating_replicas,
};

const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

fn progress_deadline_seconds(deployment: &Deployment) -> i32 {
    deployment
        .spec
        .progress_deadline_seconds
        .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
}

/// MaxInt32 is upstream's "no deadline".
pub fn has_progress_deadline(deployment: &Deployment) -> bool {
    progress_deadline_seconds(deployment) != i32::MAX
}

/// The counts and the Available condition, from the ReplicaSets' status.
pub fn calculate_status(rollout: &Rollout<'_>) -> DeploymentStatus {
    let deployment = &rollout.deployment;
    let all = &rollout.replica_sets;
    let available: i32 = all.iter().map(available_replicas).sum();
    let wanted: i32 = all.iter().map(spec_replicas).sum();
    let terminating = all
        .iter()
        .filter_map(terminating_replicas)
        .reduce(|sum, count| sum + count);
    let mut status = DeploymentStatus {
        observed_generation: deployment.metadata.generation,
        replicas: Some(all.iter().map(status_replicas).sum()),
        updated_replicas: Some(rollout.new_replica_set().map_or(0, status_replicas)),
        ready_replicas: Some(all.iter().map(ready_replicas).sum()),
        available_replicas: Some(available),
        // More available than wanted happens while scaling down: nothing is missing then.
        unavailable_replicas: Some((wanted - available).max(0)),
        terminating_replicas: terminating,
        collision_count: rollout.status().collision_count,
        conditions: rollout.status().conditions.clone(),
    };
    let condition = if available >= desired_replicas(deployment) - max_unavailable(deployment) {
        let message = "Deployment has minimum availability.".to_string();
        conditions::new_condition(
            AVAILABLE,
            "True",
            MINIMUM_REPLICAS_AVAILABLE,
            message,
            rollout.now,
        )
    } else {
        let message = "Deployment does not have minimum availability.".to_string();
        conditions::new_condition(
            AVAILABLE,
            "False",
            MINIMUM_REPLICAS_UNAVAILABLE,
            message,
            rollout.now,
        )
    };
    conditions::set(&mut status, condition);
    status
}

/// Upstream's syncDeploymentStatus: counts and Available only (scaling, paused, deleting).
pub fn sync_deployment_status(rollout: &mut Rollout<'_>) {
    rollout.status = calculate_status(rollout);
}

/// Everything is updated and available, and the spec was observed.
pub fn deployment_complete(deployment: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = desired_replicas(deployment);
    status.updated_replicas.unwrap_or(0) == desired
        && status.replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
        && status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0)
}

/// Progress since the last status: more updated, ready or available pods, or fewer old ones.
fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let count = |value: Option<i32>| value.unwrap_or(0);
    let old_old_pods = count(old.replicas) - count(old.updated_replicas);
    let new_old_pods = count(new.replicas) - count(new.updated_replicas);
    count(new.updated_replicas) > count(old.updated_replicas)
        || new_old_pods < old_old_pods
        || count(new.ready_replicas) > count(old.ready_replicas)
        || count(new.available_replicas) > count(old.available_replicas)
}

/// The moment the Progressing condition's deadline passes (strictly after it counts).
fn deadline(deployment: &Deployment, condition: &DeploymentCondition) -> Option<Timestamp> {
    let since = condition.last_update_time.as_ref()?.0;
    let seconds = SignedDuration::from_secs(i64::from(progress_deadline_seconds(deployment)));
    since.checked_add(seconds).ok()
}

fn timed_out(deployment: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(deployment) {
        return false;
    }
    let Some(condition) = conditions::get(status, PROGRESSING) else {
        return false;
    };
    match condition.reason.as_deref() {
        Some(NEW_REPLICA_SET_AVAILABLE) => false,
        Some(PROGRESS_DEADLINE_EXCEEDED) => true,
        _ => deadline(deployment, condition).is_some_and(|deadline| deadline < now),
    }
}

/// Upstream's syncRolloutStatus: the counts, then the Progressing condition, then the
/// ReplicaSets' failures; also when to look again for the deadline.
pub fn sync_rollout_status(rollout: &mut Rollout<'_>) {
    let mut status = calculate_status(rollout);
    let deployment = &rollout.deployment;
    let old_status = rollout.status();
    if !has_progress_deadline(deployment) {
        conditions::remove(&mut status, PROGRESSING);
    }
    let current = conditions::get(old_status, PROGRESSING);
    let already_complete = status.replicas == status.updated_replicas
        && current.and_then(|condition| condition.reason.as_deref())
            == Some(NEW_REPLICA_SET_AVAILABLE);
    if has_progress_deadline(deployment) && !already_complete {
        update_progressing(rollout, &mut status);
    }
    match replica_failure(rollout) {
        Some(failure) => conditions::set(&mut status, failure),
        None => conditions::remove(&mut status, REPLICA_FAILURE),
    }
    rollout.recheck_at = progress_recheck(&rollout.deployment, &status);
    rollout.status = status;
}

fn update_progressing(rollout: &Rollout<'_>, status: &mut DeploymentStatus) {
    let deployment = &rollout.deployment;
    let subject = match rollout.new_replica_set() {
        Some(replica_set) => format!(
            "ReplicaSet \"{}\"",
            replica_set.metadata.name.as_deref().unwrap_or_default()
        ),
        None => format!(
            "Deployment \"{}\"",
            deployment.metadata.name.as_deref().unwrap_or_default()
        ),
    };
    let now = rollout.now;
    if deployment_complete(deployment, status) {
        let message = format!("{subject} has successfully progressed.");
        conditions::set(
            status,
            conditions::new_condition(PROGRESSING, "True", NEW_REPLICA_SET_AVAILABLE, message, now),
        );
    } else if deployment_progressing(rollout.status(), status) {
        let message = format!("{subject} is progressing.");
        let mut condition =
            conditions::new_condition(PROGRESSING, "True", REPLICA_SET_UPDATED, message, now);
        // Progress refreshes lastUpdateTime even with an unchanged reason (the deadline counts
        // from it); lastTransitionTime stays while the status stays True.
        if let Some(current) = conditions::get(rollout.status(), PROGRESSING) {
            if current.status.as_deref() == Some("True") {
                condition.last_transition_time = current.last_transition_time.clone();
            }
            conditions::remove(status, PROGRESSING);
        }
        conditions::set(status, condition);
    } else if timed_out(deployment, status, now) {
        let message = format!("{subject} has timed out progressing.");
        conditions::set(
            status,
            conditions::new_condition(
                PROGRESSING,
                "False",
                PROGRESS_DEADLINE_EXCEEDED,
                message,
                now,
            ),
        );
    }
}

/// The new ReplicaSet's ReplicaFailure condition, else the first old one's.
fn replica_failure(rollout: &Rollout<'_>) -> Option<DeploymentCondition> {
    let new = rollout.new_replica_set().into_iter();
    let candidates = new.chain(rollout.replica_sets.iter());
    let failure = candidates
        .flat_map(|replica_set| {
            replica_set
                .status
                .iter()
                .flat_map(|status| status.conditions.iter().flatten())
        })
        .find(|condition| condition.type_.as_deref() == Some(REPLICA_FAILURE))?;
    Some(DeploymentCondition {
        type_: failure.type_.clone(),
        status: failure.status.clone(),
        reason: failure.reason.clone(),
        message: failure.message.clone(),
        last_update_time: failure.last_transition_time.clone(),
        last_transition_time: failure.last_transition_time.clone(),
    })
}

/// When the progress deadline of a rollout still under way passes: nothing in the store
/// changes then, so the caller must run a round at that time to report the timeout.
fn progress_recheck(deployment: &Deployment, status: &DeploymentStatus) -> Option<Timestamp> {
    if !has_progress_deadline(deployment) || deployment_complete(deployment, status) {
        return None;
    }
    let condition = conditions::get(status, PROGRESSING)?;
    let reason = condition.reason.as_deref();
    if reason == Some(PROGRESS_DEADLINE_EXCEEDED) || reason == Some(NEW_REPLICA_SET_AVAILABLE) {
        return None;
    }
    let deadline = deadline(deployment, condition)?;
    deadline.checked_add(SignedDuration::from_secs(1)).ok()
}

/// Upstream's checkPausedConditions: pausing and resuming show as an Unknown Progressing
/// condition, so time spent paused never counts toward the deadline.
pub fn check_paused_conditions(rollout: &mut Rollout<'_>) {
    if !has_progress_deadline(&rollout.deployment) {
        return;
    }
    let reason = conditions::reason(rollout.status(), PROGRESSING);
    if reason == Some(PROGRESS_DEADLINE_EXCEEDED) {
        return;
    }
    let paused_recorded = reason == Some(DEPLOYMENT_PAUSED);
    let paused = rollout.deployment.spec.paused.unwrap_or(false);
    let condition = match (paused, paused_recorded) {
        (true, false) => (DEPLOYMENT_PAUSED, "Deployment is paused"),
        (false, true) => (DEPLOYMENT_RESUMED, "Deployment is resumed"),
        _ => return,
    };
    let now = rollout.now;
    let condition = conditions::new_condition(
        PROGRESSING,
        "Unknown",
        condition.0,
        condition.1.to_string(),
        now,
    );
    conditions::set(rollout.status_mut(), condition);
}
