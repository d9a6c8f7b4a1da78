//! Revision history cleanup: old ReplicaSets beyond revisionHistoryLimit (default 10) are
//! deleted, lowest revision first, but only once they are scaled to 0, have no pods left and
//! their controller has seen their last change.

use std::cmp::Ordering;

use hakube_kinds::k8s_openapi::api::apps::v1::ReplicaSet;

use super::ReplicaSetRef;
use super::annotations::revision;
use super::rollout::{Rollout, creation_order, spec_replicas, status_replicas};

const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

pub fn clean_up(rollout: &mut Rollout<'_>) {
    let limit = rollout
        .deployment
        .spec
        .revision_history_limit
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT);
    // MaxInt32 is upstream's "keep everything".
    if limit == i32::MAX {
        return;
    }
    let mut candidates: Vec<usize> = rollout
        .old_indexes()
        .into_iter()
        .filter(|index| {
            rollout.replica_sets[*index]
                .metadata
                .deletion_timestamp
                .is_none()
        })
        .collect();
    let excess = candidates
        .len()
        .saturating_sub(usize::try_from(limit).unwrap_or(0));
    if excess == 0 {
        return;
    }
    candidates.sort_by(|left, right| {
        revision_order(&rollout.replica_sets[*left], &rollout.replica_sets[*right])
    });
    for index in candidates.into_iter().take(excess) {
        let replica_set = &rollout.replica_sets[index];
        if deletable(replica_set) {
            rollout.deletions.push(ReplicaSetRef {
                name: replica_set.metadata.name.clone().unwrap_or_default(),
                uid: replica_set.metadata.uid.clone().unwrap_or_default(),
            });
        }
    }
}

/// Lower revision first; equal or unreadable revisions by age.
fn revision_order(left: &ReplicaSet, right: &ReplicaSet) -> Ordering {
    match (revision(left), revision(right)) {
        (Some(left_revision), Some(right_revision)) if left_revision != right_revision => {
            left_revision.cmp(&right_revision)
        }
        _ => creation_order(left, right),
    }
}

fn deletable(replica_set: &ReplicaSet) -> bool {
    let observed = replica_set
        .status
        .as_ref()
        .and_then(|status| status.observed_generation)
        .unwrap_or(0);
    status_replicas(replica_set) == 0
        && spec_replicas(replica_set) == 0
        && replica_set.metadata.generation.unwrap_or(0) <= observed
}
