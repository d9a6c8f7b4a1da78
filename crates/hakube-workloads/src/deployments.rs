//! Deployment controller decisions: which ReplicaSets a Deployment owns, which one carries
//! its current template (created when missing, named by the pod-template-hash), how the
//! ReplicaSets are scaled this round (rolling update within maxSurge/maxUnavailable,
//! Recreate, proportional resizing, paused), which old ones are deleted beyond the revision
//! history, and the status `kubectl rollout status` reads. Mirrors upstream's
//! pkg/controller/deployment; each round is one upstream sync.

mod annotations;
mod claims;
mod conditions;
mod fenceposts;
mod history;
mod new_replica_set;
mod progress;
mod recreate;
mod rolling;
mod rollout;
mod scaling;
mod template_hash;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

pub use annotations::{DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY};
pub use template_hash::{POD_TEMPLATE_HASH_LABEL, pod_template_hash};

use crate::label_selectors::selector_is_empty;
use rollout::Rollout;

/// What one round of the Deployment controller writes. A ReplicaSet appears in at most one
/// list (an adopted one that is also scaled is written once, as an adoption).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeploymentPlan {
    /// The new ReplicaSet "<deployment>-<pod-template-hash>", when missing.
    pub create_replica_set: Option<ReplicaSet>,
    /// Owned ReplicaSets with a changed spec.replicas, minReadySeconds or annotations.
    pub update_replica_sets: Vec<ReplicaSet>,
    /// Old ReplicaSets beyond revisionHistoryLimit (scaled to 0, no pods left).
    pub delete_replica_sets: Vec<ReplicaSetRef>,
    /// Orphans the selector matches, with the controller reference added.
    pub adopt_replica_sets: Vec<ReplicaSet>,
    /// Owned ReplicaSets the selector no longer matches, with the controller reference removed.
    pub release_replica_sets: Vec<ReplicaSet>,
    /// The Deployment with changed metadata (its revision annotation), status as given.
    pub deployment: Option<Deployment>,
    /// The new status, only when it differs from the current one.
    pub status: Option<DeploymentStatus>,
    /// When the progress deadline of a rollout under way passes: run a round then even if
    /// nothing in the store changes, to report ProgressDeadlineExceeded.
    pub recheck_at: Option<Timestamp>,
}

/// A ReplicaSet to delete, with its uid as a precondition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSetRef {
    pub name: String,
    pub uid: String,
}

/// One round of the Deployment controller over the ReplicaSets and pods of its namespace.
pub fn reconcile(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    pods: &[Pod],
    now: Timestamp,
) -> DeploymentPlan {
    // Stored times have whole seconds: conditions written with them read back unchanged.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    if selector_is_empty(&deployment.spec.selector) {
        return observe_only(deployment);
    }
    let claimed = claims::claim_replica_sets(deployment, replica_sets);
    let mut rollout = Rollout::new(deployment, claimed.owned, replica_sets, pods, now);
    run(&mut rollout);
    into_plan(
        deployment,
        replica_sets,
        rollout,
        claimed.adopted,
        claimed.released,
    )
}

/// Upstream's syncDeployment after the claims.
fn run(rollout: &mut Rollout<'_>) {
    if rollout.deployment.metadata.deletion_timestamp.is_some() {
        new_replica_set::sync_revision(rollout, false);
        progress::sync_deployment_status(rollout);
        return;
    }
    progress::check_paused_conditions(rollout);
    let paused = rollout.deployment.spec.paused.unwrap_or(false);
    if paused || is_scaling_event(rollout) {
        new_replica_set::sync_revision(rollout, false);
        scaling::scale(rollout);
        if paused {
            history::clean_up(rollout);
        }
        progress::sync_deployment_status(rollout);
        return;
    }
    if fenceposts::is_rolling_update(&rollout.deployment) {
        rolling::rollout_rolling(rollout);
    } else {
        recreate::rollout_recreate(rollout);
    }
}

fn is_scaling_event(rollout: &mut Rollout<'_>) -> bool {
    new_replica_set::sync_revision(rollout, false);
    scaling::is_scaling_event(rollout)
}

/// A Deployment selecting everything would fight every other controller: upstream refuses
/// to act on it and only records that it saw the spec.
fn observe_only(deployment: &Deployment) -> DeploymentPlan {
    let status = deployment.status.clone().unwrap_or_default();
    let generation = deployment.metadata.generation;
    if status.observed_generation >= generation {
        return DeploymentPlan::default();
    }
    DeploymentPlan {
        status: Some(DeploymentStatus {
            observed_generation: generation,
            ..status
        }),
        ..DeploymentPlan::default()
    }
}

fn into_plan(
    deployment: &Deployment,
    originals: &[ReplicaSet],
    rollout: Rollout<'_>,
    adopted: Vec<String>,
    released: Vec<ReplicaSet>,
) -> DeploymentPlan {
    let adopted: BTreeSet<String> = adopted.into_iter().collect();
    let mut plan = DeploymentPlan {
        release_replica_sets: released,
        delete_replica_sets: rollout.deletions,
        recheck_at: rollout.recheck_at,
        ..DeploymentPlan::default()
    };
    let created_index = rollout.created.then_some(rollout.new_index).flatten();
    for (index, mut replica_set) in rollout.replica_sets.into_iter().enumerate() {
        let uid = replica_set.metadata.uid.clone().unwrap_or_default();
        if Some(index) == created_index {
            plan.create_replica_set = Some(replica_set);
            continue;
        }
        let original = originals
            .iter()
            .find(|original| original.metadata.uid.as_deref() == Some(&uid));
        // The steps insert an annotation map before looking into it: an empty one is no change.
        if replica_set
            .metadata
            .annotations
            .as_ref()
            .is_some_and(BTreeMap::is_empty)
        {
            replica_set.metadata.annotations =
                original.and_then(|original| original.metadata.annotations.clone());
        }
        if adopted.contains(&uid) {
            plan.adopt_replica_sets.push(replica_set);
        } else if original != Some(&replica_set) {
            plan.update_replica_sets.push(replica_set);
        }
    }
    if deployment.status.as_ref() != Some(&rollout.status) {
        plan.status = Some(rollout.status);
    }
    if rollout.deployment.metadata != deployment.metadata {
        plan.deployment = Some(rollout.deployment);
    }
    plan
}
