//! The rolling update, as upstream's updateStatefulSetAfterInvariantEstablished: once every
//! ordinal is in place, pods of an old revision are deleted from the highest ordinal down to
//! the partition, as many as maxUnavailable leaves room for (pods not Running and available,
//! missing or going away all count as unavailable). The next rounds recreate them at the
//! update revision.

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use jiff::Timestamp;

use super::PodRef;
use super::health::{is_running_and_available, is_terminating};
use super::ordering::pod_ref;
use super::revisions::{Revisions, pod_revision};

/// The old pods to delete this round, highest ordinal first.
pub fn pods_to_update(
    stateful_set: &StatefulSet,
    replicas: &[(i32, Option<&Pod>)],
    revisions: &Revisions,
    now: Timestamp,
) -> Vec<PodRef> {
    let min_ready_seconds = stateful_set.spec.min_ready_seconds.unwrap_or(0);
    let unavailable = replicas
        .iter()
        .filter(|(_, pod)| {
            pod.is_none_or(|pod| {
                is_terminating(pod) || !is_running_and_available(pod, min_ready_seconds, now)
            })
        })
        .count();
    let (partition, max_unavailable) = bounds(stateful_set, replicas.len());
    let budget = max_unavailable.saturating_sub(unavailable);
    // The partition counts positions in the sequence, as upstream's does.
    let updatable = replicas.iter().skip(partition).rev();
    updatable
        .filter_map(|(_, pod)| *pod)
        .filter(|pod| pod_revision(pod) != revisions.update && !is_terminating(pod))
        .take(budget)
        .map(pod_ref)
        .collect()
}

/// The partition (0 by default) and maxUnavailable of `replicas` (1 by default, rounded
/// down, at least 1).
fn bounds(stateful_set: &StatefulSet, replicas: usize) -> (usize, usize) {
    let strategy = stateful_set.spec.update_strategy.as_ref();
    let rolling = strategy.and_then(|strategy| strategy.rolling_update.as_ref());
    let partition = rolling.and_then(|rolling| rolling.partition).unwrap_or(0);
    let max_unavailable = match rolling.and_then(|rolling| rolling.max_unavailable.as_ref()) {
        None => 1,
        Some(IntOrString::Int(count)) => usize::try_from(*count).unwrap_or(0),
        Some(IntOrString::String(text)) => {
            let percent = text
                .strip_suffix('%')
                .and_then(|digits| digits.parse().ok());
            percent.map_or(0, |percent: usize| percent * replicas / 100)
        }
    };
    (
        usize::try_from(partition).unwrap_or(0),
        max_unavailable.max(1),
    )
}
