//! The status a ReplicaSet reports: counts over the active pods it owns (with the template's
//! labels, ready, available after minReadySeconds), its terminating pods, the generation
//! observed. Conditions are kept as they are (ReplicaFailure needs the write errors, which
//! only the caller sees).

use hakube_kinds::k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use jiff::{SignedDuration, Timestamp};

use super::claims::ClaimedPods;
use crate::pod_states;

/// The new status, and when a ready pod becomes available (to look again then).
pub fn calculate(
    replica_set: &ReplicaSet,
    claimed: &ClaimedPods<'_>,
    now: Timestamp,
) -> (ReplicaSetStatus, Option<Timestamp>) {
    let spec = &replica_set.spec;
    let min_ready_seconds = spec.min_ready_seconds.unwrap_or(0);
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|template| template.metadata.as_ref())
        .and_then(|metadata| metadata.labels.clone())
        .unwrap_or_default();
    let mut status = replica_set.status.clone().unwrap_or_default();
    let mut counts = Counts::default();
    let mut recheck_at: Option<Timestamp> = None;
    for pod in &claimed.active {
        let labels = pod.metadata.labels.as_ref();
        let fully_labeled = template_labels
            .iter()
            .all(|(key, value)| labels.and_then(|labels| labels.get(key)) == Some(value));
        counts.fully_labeled += i32::from(fully_labeled);
        if !pod_states::is_ready(pod) {
            continue;
        }
        counts.ready += 1;
        if pod_states::is_available(pod, min_ready_seconds, now) {
            counts.available += 1;
        } else if let Some(after) = pod_states::available_after(pod, min_ready_seconds) {
            // Available once strictly past `after`: the next whole second is the first
            // moment it counts.
            let next = after
                .saturating_add(SignedDuration::from_secs(1))
                .unwrap_or(after);
            recheck_at = Some(recheck_at.map_or(next, |earliest| earliest.min(next)));
        }
    }
    status.replicas = count(claimed.active.len());
    status.fully_labeled_replicas = Some(counts.fully_labeled);
    status.ready_replicas = Some(counts.ready);
    status.available_replicas = Some(counts.available);
    status.terminating_replicas = Some(count(claimed.terminating));
    status.observed_generation = replica_set.metadata.generation;
    (status, recheck_at)
}

#[derive(Default)]
struct Counts {
    fully_labeled: i32,
    ready: i32,
    available: i32,
}

fn count(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
