//! Which active pods a Job deletes first when it has too many, in upstream's order
//! (activePodsForRemoval): for an Indexed Job, pods without a valid index and all but one pod
//! of a repeated index; then unscheduled before scheduled, Pending before Unknown before
//! Running, not ready before ready, recently ready first, more restarts first, newer first.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::indexes::completion_index;
use crate::pod_states;

/// At least `count` pods to delete (more when an Indexed Job has invalid or repeated indexes).
pub fn pods_to_delete<'a>(
    active: &[&'a Pod],
    count: usize,
    indexed_completions: Option<u32>,
) -> Vec<&'a Pod> {
    let (mut delete, mut remaining) = match indexed_completions {
        Some(completions) => invalid_and_repeated(active, completions),
        None => (Vec::new(), active.to_vec()),
    };
    if delete.len() < count {
        remaining.sort_by(|left, right| deletion_order(left, right));
        let more = count - delete.len();
        delete.extend(remaining.into_iter().take(more));
    }
    delete
}

/// Pods without an index or with one out of range, and for each repeated index all pods but
/// the one deleted last; and the pods kept.
fn invalid_and_repeated<'a>(active: &[&'a Pod], completions: u32) -> (Vec<&'a Pod>, Vec<&'a Pod>) {
    let mut delete = Vec::new();
    let mut by_index: BTreeMap<u32, Vec<&Pod>> = BTreeMap::new();
    for pod in active {
        match completion_index(pod).filter(|index| *index < completions) {
            Some(index) => by_index.entry(index).or_default().push(pod),
            None => delete.push(*pod),
        }
    }
    let mut keep = Vec::new();
    for (_, mut pods) in by_index {
        pods.sort_by(|left, right| deletion_order(left, right));
        keep.extend(pods.pop());
        delete.extend(pods);
    }
    (delete, keep)
}

/// `Less` when `left` should go before `right` (upstream's controller.ActivePods).
fn deletion_order(left: &Pod, right: &Pod) -> Ordering {
    scheduled(left)
        .cmp(&scheduled(right))
        .then_with(|| phase_rank(left).cmp(&phase_rank(right)))
        .then_with(|| pod_states::is_ready(left).cmp(&pod_states::is_ready(right)))
        .then_with(|| pod_states::ready_since(right).cmp(&pod_states::ready_since(left)))
        .then_with(|| pod_states::max_restarts(right).cmp(&pod_states::max_restarts(left)))
        .then_with(|| created(right).cmp(&created(left)))
}

fn scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.node_name.as_deref())
        .is_some_and(|node| !node.is_empty())
}

fn phase_rank(pod: &Pod) -> u8 {
    match pod_states::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn created(pod: &Pod) -> Option<jiff::Timestamp> {
    pod.metadata.creation_timestamp.as_ref().map(|time| time.0)
}
