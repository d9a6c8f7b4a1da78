//! The status a DaemonSet reports, as upstream's updateDaemonSetStatus counts it: over the
//! nodes that should run a daemon pod, how many have one, and whether the oldest is ready,
//! available and of the current template; pods on nodes that should not run one are
//! misscheduled. Conditions and the collision count are kept as they are.

use hakube_kinds::k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::{SignedDuration, Timestamp};

use super::claims::ClaimedPods;
use super::daemon_pods::Revision;
use super::node_fit::NodeFit;
use super::placement::oldest_first;
use crate::pod_states;

/// The new status, and when a ready pod becomes available (to look again then).
pub fn calculate(
    daemon_set: &DaemonSet,
    fits: &[NodeFit],
    claimed: &ClaimedPods<'_>,
    revision: &Revision,
    now: Timestamp,
) -> (DaemonSetStatus, Option<Timestamp>) {
    let min_ready_seconds = daemon_set.spec.min_ready_seconds.unwrap_or(0);
    let mut counts = Counts::default();
    let mut recheck_at: Option<Timestamp> = None;
    for fit in fits {
        let pods = claimed.by_node.get(fit.node.as_str());
        let oldest = pods.and_then(|pods| pods.iter().copied().min_by(|l, r| oldest_first(l, r)));
        if !fit.should_run {
            counts.misscheduled += i32::from(oldest.is_some());
            continue;
        }
        counts.desired += 1;
        let Some(pod) = oldest else { continue };
        counts.current += 1;
        counts.updated += i32::from(revision.is_updated(pod));
        if !pod_states::is_ready(pod) {
            continue;
        }
        counts.ready += 1;
        if pod_states::is_available(pod, min_ready_seconds, now) {
            counts.available += 1;
        } else if let Some(next) = becomes_available(pod, min_ready_seconds) {
            recheck_at = Some(recheck_at.map_or(next, |earliest| earliest.min(next)));
        }
    }
    let status = DaemonSetStatus {
        desired_number_scheduled: counts.desired,
        current_number_scheduled: counts.current,
        number_misscheduled: counts.misscheduled,
        number_ready: counts.ready,
        updated_number_scheduled: Some(counts.updated),
        number_available: Some(counts.available),
        number_unavailable: Some(counts.desired - counts.available),
        observed_generation: daemon_set.metadata.generation,
        ..daemon_set.status.clone().unwrap_or_default()
    };
    (status, recheck_at)
}

/// Available once strictly past minReadySeconds: the next whole second is the first moment
/// it counts.
fn becomes_available(pod: &Pod, min_ready_seconds: i32) -> Option<Timestamp> {
    let after = pod_states::available_after(pod, min_ready_seconds)?;
    Some(
        after
            .saturating_add(SignedDuration::from_secs(1))
            .unwrap_or(after),
    )
}

#[derive(Default)]
struct Counts {
    desired: i32,
    current: i32,
    misscheduled: i32,
    ready: i32,
    updated: i32,
    available: i32,
}
