//! The Deployment's new ReplicaSet (the one with its current template): finding it, keeping
//! its revision the highest (a rollback to an old template reuses that ReplicaSet with a new
//! revision), creating it when missing, and detecting a name collision (upstream then bumps
//! status.collisionCount so the next hash differs).

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::annotations::{self, REVISION};
use super::conditions::{self, FOUND_NEW_REPLICA_SET, NEW_REPLICA_SET_CREATED, PROGRESSING};
use super::fenceposts::{desired_replicas, is_rolling_update, max_surge};
use super::progress::has_progress_deadline;
use super::rollout::{Rollout, creation_order};
use super::template_hash::{
    POD_TEMPLATE_HASH_LABEL, pod_template_hash, templates_equal_ignoring_hash,
};
use crate::controller_refs::{self, is_controlled_by};

/// Whether the round can go on with a new ReplicaSet (when one was asked for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewReplicaSet {
    Ready,
    /// The name is taken by another ReplicaSet: collisionCount was raised, stop this round.
    Collision,
}

/// Upstream's getAllReplicaSetsAndSyncRevision: finds the new ReplicaSet, raises its revision
/// above the old ones, records it on the Deployment, and creates it if `create` and missing.
pub fn sync_revision(rollout: &mut Rollout<'_>, create: bool) -> NewReplicaSet {
    if rollout.new_index.is_none() {
        rollout.new_index = find_new(rollout);
    }
    let old = rollout.old_indexes();
    let new_revision =
        annotations::max_revision(old.iter().map(|index| &rollout.replica_sets[*index])) + 1;
    match rollout.new_index {
        Some(index) if !rollout.created => sync_existing(rollout, index, new_revision),
        Some(_) => {}
        None if create => return create_new(rollout, new_revision),
        None => {}
    }
    NewReplicaSet::Ready
}

/// The oldest owned ReplicaSet whose template is the Deployment's.
fn find_new(rollout: &Rollout<'_>) -> Option<usize> {
    let template = &rollout.deployment.spec.template;
    let mut candidates: Vec<usize> = (0..rollout.replica_sets.len())
        .filter(|index| {
            let replica_set = &rollout.replica_sets[*index];
            replica_set
                .spec
                .template
                .as_ref()
                .is_some_and(|own| templates_equal_ignoring_hash(own, template))
        })
        .collect();
    candidates.sort_by(|left, right| {
        creation_order(&rollout.replica_sets[*left], &rollout.replica_sets[*right])
    });
    candidates.first().copied()
}

fn sync_existing(rollout: &mut Rollout<'_>, index: usize, new_revision: i64) {
    let deployment = &rollout.deployment;
    let replica_set = &mut rollout.replica_sets[index];
    annotations::set_new_replica_set_annotations(deployment, replica_set, new_revision, true);
    // Unset and 0 mean the same: only a real difference is written.
    if replica_set.spec.min_ready_seconds.unwrap_or(0)
        != deployment.spec.min_ready_seconds.unwrap_or(0)
    {
        replica_set.spec.min_ready_seconds = deployment.spec.min_ready_seconds;
    }
    let revision = replica_set
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(REVISION))
        .cloned()
        .unwrap_or_default();
    let name = replica_set.metadata.name.clone().unwrap_or_default();
    annotations::set_deployment_revision(&mut rollout.deployment, &revision);
    // A Deployment that never had a Progressing condition starts its clock now.
    if has_progress_deadline(&rollout.deployment)
        && conditions::get(rollout.status(), PROGRESSING).is_none()
    {
        let message = format!("Found new replica set \"{name}\"");
        let condition = conditions::new_condition(
            PROGRESSING,
            "True",
            FOUND_NEW_REPLICA_SET,
            message,
            rollout.now,
        );
        conditions::set(rollout.status_mut(), condition);
    }
}

fn create_new(rollout: &mut Rollout<'_>, new_revision: i64) -> NewReplicaSet {
    let collision_count = rollout.status().collision_count;
    let hash = pod_template_hash(&rollout.deployment.spec.template, collision_count);
    let deployment_name = rollout.deployment.metadata.name.clone().unwrap_or_default();
    let name = format!("{deployment_name}-{hash}");
    if name_taken(rollout, &name) {
        let status = rollout.status_mut();
        status.collision_count = Some(status.collision_count.unwrap_or(0).saturating_add(1));
        return NewReplicaSet::Collision;
    }
    let mut replica_set = build(rollout, &name, &hash);
    replica_set.spec.replicas = Some(initial_replicas(rollout, &replica_set));
    annotations::set_new_replica_set_annotations(
        &rollout.deployment,
        &mut replica_set,
        new_revision,
        false,
    );
    rollout.replica_sets.push(replica_set);
    rollout.new_index = Some(rollout.replica_sets.len() - 1);
    rollout.created = true;
    if has_progress_deadline(&rollout.deployment) {
        let message = format!("Created new replica set \"{name}\"");
        let condition = conditions::new_condition(
            PROGRESSING,
            "True",
            NEW_REPLICA_SET_CREATED,
            message,
            rollout.now,
        );
        conditions::set(rollout.status_mut(), condition);
    }
    annotations::set_deployment_revision(&mut rollout.deployment, &new_revision.to_string());
    NewReplicaSet::Ready
}

/// A ReplicaSet of that name exists and is not this Deployment's with this template (that one
/// would have been found as the new ReplicaSet).
fn name_taken(rollout: &Rollout<'_>, name: &str) -> bool {
    let uid = rollout
        .deployment
        .metadata
        .uid
        .as_deref()
        .unwrap_or_default();
    rollout.namespace_replica_sets.iter().any(|existing| {
        let same_template = existing.spec.template.as_ref().is_some_and(|template| {
            templates_equal_ignoring_hash(template, &rollout.deployment.spec.template)
        });
        existing.metadata.name.as_deref() == Some(name)
            && !(is_controlled_by(&existing.metadata, uid) && same_template)
    })
}

fn build(rollout: &Rollout<'_>, name: &str, hash: &str) -> ReplicaSet {
    let deployment = &rollout.deployment;
    let mut template = deployment.spec.template.clone();
    let template_metadata = template.metadata.get_or_insert_with(ObjectMeta::default);
    let labels = template_metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    let labels = labels.clone();
    let mut selector = deployment.spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH_LABEL.to_string(), hash.to_string());
    let owner =
        controller_refs::controller_reference("apps/v1", "Deployment", &deployment.metadata);
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: deployment.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: deployment.spec.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    }
}

/// Upstream's NewRSNewReplicas for a ReplicaSet about to be created: Recreate starts at full
/// size (it is only created once the old pods are gone); RollingUpdate takes what the surge
/// leaves room for.
fn initial_replicas(rollout: &Rollout<'_>, new_replica_set: &ReplicaSet) -> i32 {
    let desired = desired_replicas(&rollout.deployment);
    if !is_rolling_update(&rollout.deployment) {
        return desired;
    }
    let all: Vec<usize> = (0..rollout.replica_sets.len()).collect();
    let current = rollout.wanted(&all) + new_replica_set.spec.replicas.unwrap_or(0);
    scale_up_target(
        desired,
        max_surge(&rollout.deployment),
        current,
        new_replica_set.spec.replicas.unwrap_or(0),
    )
}

/// How large the new ReplicaSet may grow: up to the surge above the desired count in total,
/// never beyond the desired count itself.
pub fn scale_up_target(desired: i32, max_surge: i32, current_total: i32, new_replicas: i32) -> i32 {
    let max_total = desired + max_surge;
    if current_total >= max_total {
        return new_replicas;
    }
    new_replicas + (max_total - current_total).min(desired - new_replicas)
}
