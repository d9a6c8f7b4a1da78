//! A rolling update without surge, as upstream's rollingUpdate with maxSurge 0: old pods are
//! deleted (and replaced by the next round's manage step) while at most maxUnavailable of
//! the DaemonSet's nodes lack an available pod; an old pod that is not available anyway is
//! replaced without counting against the budget.

use hakube_kinds::k8s_openapi::api::apps::v1::DaemonSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use jiff::Timestamp;

use super::PodRef;
use super::claims::ClaimedPods;
use super::daemon_pods::Revision;
use super::node_fit::NodeFit;
use super::placement::pod_ref;
use crate::pod_states;

/// The old pods to delete this round.
pub fn old_pods_to_delete(
    daemon_set: &DaemonSet,
    fits: &[NodeFit],
    claimed: &ClaimedPods<'_>,
    revision: &Revision,
    now: Timestamp,
) -> Vec<PodRef> {
    let min_ready_seconds = daemon_set.spec.min_ready_seconds.unwrap_or(0);
    let available = |pod: &Pod| pod_states::is_available(pod, min_ready_seconds, now);
    let mut unavailable = 0;
    let mut replacements = Vec::new();
    let mut candidates = Vec::new();
    for pods in claimed.by_node.values() {
        match node_pods(pods, revision) {
            NodePods::Updated(pod) if available(pod) => {}
            NodePods::Old(pod) if !available(pod) => replacements.push(pod_ref(pod)),
            NodePods::Old(pod) => candidates.push(pod_ref(pod)),
            // Missing, doubled or not yet available: the manage step or time sorts it out,
            // and meanwhile the node counts as unavailable.
            _ => unavailable += 1,
        }
    }
    let desired = fits.iter().filter(|fit| fit.should_run).count();
    let budget = max_unavailable(daemon_set, desired).saturating_sub(unavailable);
    candidates.truncate(budget);
    replacements.extend(candidates);
    replacements
}

enum NodePods<'a> {
    Updated(&'a Pod),
    Old(&'a Pod),
    /// No pod, or more than one, or an old and a new one at once.
    Unsettled,
}

/// Upstream's findUpdatedPodsOnNode over the pods not being deleted.
fn node_pods<'a>(pods: &[&'a Pod], revision: &Revision) -> NodePods<'a> {
    let live: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .collect();
    match live.as_slice() {
        [pod] if revision.is_updated(pod) => NodePods::Updated(pod),
        [pod] => NodePods::Old(pod),
        _ => NodePods::Unsettled,
    }
}

/// maxUnavailable of the nodes that should run a pod, rounded up (default 1). Without surge
/// a zero would stall the update, so at least one node may be without its pod.
fn max_unavailable(daemon_set: &DaemonSet, desired: usize) -> usize {
    let strategy = daemon_set.spec.update_strategy.as_ref();
    let rolling = strategy.and_then(|strategy| strategy.rolling_update.as_ref());
    let value = rolling.and_then(|rolling| rolling.max_unavailable.as_ref());
    let scaled = match value {
        None => 1,
        Some(IntOrString::Int(count)) => usize::try_from(*count).unwrap_or(0),
        Some(IntOrString::String(text)) => percent_of(text, desired),
    };
    scaled.max(1)
}

/// `text` ("25%") of `total`, rounded up; an unreadable percentage counts as zero.
fn percent_of(text: &str, total: usize) -> usize {
    let percent = text
        .strip_suffix('%')
        .and_then(|digits| digits.parse::<usize>().ok());
    percent.map_or(0, |percent| (percent * total).div_ceil(100))
}
