//! Which pods go first when a ReplicaSet scales down, in upstream's order
//! (ActivePodsWithRanks): unscheduled before scheduled, Pending before Unknown before Running,
//! not ready before ready, lower pod-deletion-cost first, pods doubled up on a node first,
//! recently ready first, more restarts first, newer first. Times compare on a logarithmic
//! scale (upstream's LogarithmicScaleDown), so pods of similar age are picked by uid rather
//! than always the very newest.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

use super::PodRef;
use crate::pod_states;

const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The `count` pods of `pods` to delete first.
pub fn pods_to_delete(pods: &[&Pod], count: usize, now: Timestamp) -> Vec<PodRef> {
    let colocated = colocated_counts(pods);
    let mut ranked: Vec<(&Pod, usize)> = pods
        .iter()
        .map(|pod| (*pod, colocated.get(node_name(pod)).copied().unwrap_or(0)))
        .collect();
    ranked.sort_by(|(left, left_rank), (right, right_rank)| {
        deletion_order(left, *left_rank, right, *right_rank, now)
    });
    ranked
        .into_iter()
        .take(count)
        .map(|(pod, _)| pod_ref(pod))
        .collect()
}

/// Upstream ranks a pod by how many related active pods share its node; the related pods here
/// are the ReplicaSet's own (upstream also counts its sibling ReplicaSets' pods).
fn colocated_counts<'a>(pods: &[&'a Pod]) -> BTreeMap<&'a str, usize> {
    let mut counts = BTreeMap::new();
    for pod in pods {
        *counts.entry(node_name(pod)).or_insert(0) += 1;
    }
    counts
}

/// `Less` when `left` should be deleted before `right`; `rank` is the number of the
/// controller's pods on the same node.
pub(super) fn deletion_order(
    left: &Pod,
    left_rank: usize,
    right: &Pod,
    right_rank: usize,
    now: Timestamp,
) -> Ordering {
    scheduled_order(left, right)
        .then_with(|| phase_ordinal(left).cmp(&phase_ordinal(right)))
        .then_with(|| pod_states::is_ready(left).cmp(&pod_states::is_ready(right)))
        .then_with(|| deletion_cost(left).cmp(&deletion_cost(right)))
        .then_with(|| right_rank.cmp(&left_rank))
        .then_with(|| ready_time_order(left, right, now))
        .then_with(|| pod_states::max_restarts(right).cmp(&pod_states::max_restarts(left)))
        .then_with(|| {
            let created = |pod: &Pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0);
            newer_first(created(left), created(right), now, left, right)
        })
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.node_name.as_deref())
        .unwrap_or_default()
}

fn scheduled_order(left: &Pod, right: &Pod) -> Ordering {
    let (left_node, right_node) = (node_name(left), node_name(right));
    if left_node == right_node || (!left_node.is_empty() && !right_node.is_empty()) {
        return Ordering::Equal;
    }
    // Exactly one is unscheduled: it goes first.
    if left_node.is_empty() {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod_states::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    let annotations = pod.metadata.annotations.as_ref();
    let cost = annotations.and_then(|annotations| annotations.get(DELETION_COST_ANNOTATION));
    cost.and_then(|cost| cost.parse().ok()).unwrap_or(0)
}

/// Of two ready pods, the one ready more recently first, by age bucket only: pods of one
/// bucket fall through to the next criteria (restarts, then age and uid).
fn ready_time_order(left: &Pod, right: &Pod, now: Timestamp) -> Ordering {
    if !(pod_states::is_ready(left) && pod_states::is_ready(right)) {
        return Ordering::Equal;
    }
    let bucket = |pod: &Pod| pod_states::ready_since(pod).map(|time| age_bucket(time, now));
    // `None` (no ready time) orders first.
    bucket(left).cmp(&bucket(right))
}

/// A missing time first, then the newer one, on a log2 scale of age, then by uid.
///
/// This is the last criterion and a key per pod, so the whole order is total. Upstream
/// compares the uids only when the times differ within one bucket and calls equal times
/// equal (at both the ready-time and the creation-time step); mixing the two is not
/// transitive, which Rust's sort rejects with a panic (it took the controllers down).
fn newer_first(
    left: Option<Timestamp>,
    right: Option<Timestamp>,
    now: Timestamp,
    left_pod: &Pod,
    right_pod: &Pod,
) -> Ordering {
    let key = |time: Option<Timestamp>, pod: &Pod| {
        time.map(|time| (age_bucket(time, now), pod.metadata.uid.clone()))
    };
    key(left, left_pod).cmp(&key(right, right_pod))
}

/// floor(log2(age in nanoseconds)), -1 for no age: upstream's logarithmic rank.
fn age_bucket(time: Timestamp, now: Timestamp) -> i64 {
    let age = now.duration_since(time).as_nanos();
    if age <= 0 {
        return -1;
    }
    // Nanosecond ages fit in u128; ilog2 is floor(log2) exactly.
    i64::from(age.unsigned_abs().ilog2())
}

fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}
