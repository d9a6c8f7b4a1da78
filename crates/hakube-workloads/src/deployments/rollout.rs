//! The working state of one Deployment round: copies of the Deployment and of its
//! ReplicaSets that the steps (revision sync, scaling, rollout, cleanup, status) change in
//! place, as upstream's controller changes the objects it writes one after another. The plan
//! is the difference between this state and the input.

use std::cmp::Ordering;

use hakube_kinds::k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

use super::ReplicaSetRef;
use super::annotations;

pub struct Rollout<'a> {
    /// The Deployment's metadata and spec as this round leaves them (annotations change).
    pub deployment: Deployment,
    /// Its status as this round leaves it.
    pub status: DeploymentStatus,
    /// The ReplicaSets the Deployment owns; a ReplicaSet created this round comes last.
    pub replica_sets: Vec<ReplicaSet>,
    /// Which of them has the Deployment's current template.
    pub new_index: Option<usize>,
    /// Whether the new ReplicaSet is created this round.
    pub created: bool,
    /// Every ReplicaSet of the namespace (a new name must not collide with any of them).
    pub namespace_replica_sets: &'a [ReplicaSet],
    /// Every pod of the namespace (Recreate waits for the old ones to be gone).
    pub pods: &'a [Pod],
    pub now: Timestamp,
    pub deletions: Vec<ReplicaSetRef>,
    /// When the Deployment should be looked at again although nothing changes.
    pub recheck_at: Option<Timestamp>,
}

impl<'a> Rollout<'a> {
    pub fn new(
        deployment: &Deployment,
        replica_sets: Vec<ReplicaSet>,
        namespace_replica_sets: &'a [ReplicaSet],
        pods: &'a [Pod],
        now: Timestamp,
    ) -> Self {
        Self {
            deployment: deployment.clone(),
            status: deployment.status.clone().unwrap_or_default(),
            replica_sets,
            new_index: None,
            created: false,
            namespace_replica_sets,
            pods,
            now,
            deletions: Vec::new(),
            recheck_at: None,
        }
    }

    pub fn status(&self) -> &DeploymentStatus {
        &self.status
    }

    pub fn status_mut(&mut self) -> &mut DeploymentStatus {
        &mut self.status
    }

    pub fn new_replica_set(&self) -> Option<&ReplicaSet> {
        self.new_index.map(|index| &self.replica_sets[index])
    }

    /// Indexes of the old ReplicaSets (all but the new one).
    pub fn old_indexes(&self) -> Vec<usize> {
        (0..self.replica_sets.len())
            .filter(|index| Some(*index) != self.new_index)
            .collect()
    }

    /// Indexes of the old ReplicaSets that still want pods.
    pub fn active_old_indexes(&self) -> Vec<usize> {
        let mut old = self.old_indexes();
        old.retain(|index| spec_replicas(&self.replica_sets[*index]) > 0);
        old
    }

    /// Upstream's scaleReplicaSet: sets the size and records the Deployment's size on the
    /// ReplicaSet; true when the size changed.
    pub fn scale(&mut self, index: usize, size: i32) -> bool {
        let replica_set = &self.replica_sets[index];
        let resized = spec_replicas(replica_set) != size;
        if resized || annotations::replicas_annotations_need_update(replica_set, &self.deployment) {
            let replica_set = &mut self.replica_sets[index];
            replica_set.spec.replicas = Some(size);
            annotations::set_replicas_annotations(replica_set, &self.deployment);
        }
        resized
    }

    /// Sum of spec.replicas over `indexes`.
    pub fn wanted(&self, indexes: &[usize]) -> i32 {
        indexes
            .iter()
            .map(|index| spec_replicas(&self.replica_sets[*index]))
            .sum()
    }

    /// Sum of status.availableReplicas over `indexes`.
    pub fn available(&self, indexes: &[usize]) -> i32 {
        indexes
            .iter()
            .map(|index| available_replicas(&self.replica_sets[*index]))
            .sum()
    }

    /// Orders `indexes` oldest first (creation time, then name), upstream's
    /// ReplicaSetsByCreationTimestamp.
    pub fn sort_oldest_first(&self, indexes: &mut [usize]) {
        indexes.sort_by(|left, right| {
            creation_order(&self.replica_sets[*left], &self.replica_sets[*right])
        });
    }
}

/// spec.replicas (the API defaults it to 1).
pub fn spec_replicas(replica_set: &ReplicaSet) -> i32 {
    replica_set.spec.replicas.unwrap_or(1)
}

pub fn available_replicas(replica_set: &ReplicaSet) -> i32 {
    replica_set
        .status
        .as_ref()
        .and_then(|status| status.available_replicas)
        .unwrap_or(0)
}

pub fn status_replicas(replica_set: &ReplicaSet) -> i32 {
    replica_set
        .status
        .as_ref()
        .map_or(0, |status| status.replicas)
}

pub fn ready_replicas(replica_set: &ReplicaSet) -> i32 {
    replica_set
        .status
        .as_ref()
        .and_then(|status| status.ready_replicas)
        .unwrap_or(0)
}

pub fn terminating_replicas(replica_set: &ReplicaSet) -> Option<i32> {
    replica_set
        .status
        .as_ref()
        .and_then(|status| status.terminating_replicas)
}

/// Older first; a ReplicaSet not created yet (no timestamp) is the newest.
pub fn creation_order(left: &ReplicaSet, right: &ReplicaSet) -> Ordering {
    let created = |replica_set: &ReplicaSet| {
        replica_set
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Timestamp::MAX, |time| time.0)
    };
    created(left)
        .cmp(&created(right))
        .then_with(|| left.metadata.name.cmp(&right.metadata.name))
}
