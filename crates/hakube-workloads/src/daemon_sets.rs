//! DaemonSet controller decisions: which nodes should run a daemon pod (node selector,
//! required node affinity, taints against the template's tolerations plus the ones upstream
//! adds to every daemon pod), which pods a DaemonSet owns, the pods to create (bound to their
//! node through node affinity, placed by the scheduler) and delete (nodes that no longer
//! qualify, extra or finished pods, old pods under a rolling update), and the status.
//! Mirrors upstream's pkg/controller/daemon without its expectations cache and failed-pod
//! backoff: the caller reads a consistent store, and a failed pod is deleted at once.
//! maxSurge is not implemented (a rolling update replaces pods in place, maxSurge 0).

mod claims;
mod daemon_pods;
mod node_fit;
mod placement;
mod rolling;
mod status;
#[cfg(test)]
mod tests;

use hakube_kinds::k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use hakube_kinds::k8s_openapi::api::core::v1::{Node, Pod};
use jiff::Timestamp;

pub use crate::replica_sets::PodRef;
pub use daemon_pods::{POD_TEMPLATE_GENERATION_LABEL, REVISION_HASH_LABEL};

use crate::label_selectors::selector_is_empty;

/// What one round of the DaemonSet controller writes. A pod appears in at most one list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DaemonSetPlan {
    /// New pods, one per node lacking one: generateName "<daemon set>-", required node
    /// affinity on the node's name, the controller reference set. Write them in
    /// [`crate::replica_sets::slow_start_batches`].
    pub create: Vec<Pod>,
    /// Pods to delete.
    pub delete: Vec<PodRef>,
    /// Orphans the selector matches, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Owned pods the selector no longer matches, with the controller reference removed.
    pub release: Vec<Pod>,
    /// The new status, only when it differs from the current one.
    pub status: Option<DaemonSetStatus>,
    /// When a ready pod becomes available (minReadySeconds): the status and a rolling update
    /// may move then even if nothing in the store does.
    pub recheck_at: Option<Timestamp>,
}

/// One round of the DaemonSet controller over the nodes and the pods of its namespace.
pub fn reconcile(
    daemon_set: &DaemonSet,
    nodes: &[Node],
    pods: &[Pod],
    now: Timestamp,
) -> DaemonSetPlan {
    let mut plan = DaemonSetPlan::default();
    let uid = daemon_set.metadata.uid.as_deref().unwrap_or_default();
    // A DaemonSet selecting everything would fight every other controller, and one being
    // deleted is left to the garbage collector: upstream does nothing for either.
    if uid.is_empty()
        || selector_is_empty(&daemon_set.spec.selector)
        || daemon_set.metadata.deletion_timestamp.is_some()
    {
        return plan;
    }
    let revision = daemon_pods::Revision::of(daemon_set);
    let daemon_spec = daemon_pods::daemon_pod_spec(daemon_set);
    let fits = node_fit::fits(&daemon_spec, nodes);
    let claimed = claims::claim_pods(daemon_set, pods);
    let changes = placement::manage(&fits, &claimed.by_node);
    if changes.is_empty() && is_rolling_update(daemon_set) {
        plan.delete = rolling::old_pods_to_delete(daemon_set, &fits, &claimed, &revision, now);
    } else {
        plan.delete = changes.delete;
        plan.create = changes
            .create_on
            .iter()
            .map(|node| daemon_pods::pod_for_node(daemon_set, &daemon_spec, &revision, node))
            .collect();
    }
    let (status, recheck_at) = status::calculate(daemon_set, &fits, &claimed, &revision, now);
    if daemon_set.status.as_ref() != Some(&status) {
        plan.status = Some(status);
    }
    plan.recheck_at = recheck_at;
    plan.adopt = claimed.adopt;
    plan.release = claimed.release;
    plan
}

/// RollingUpdate is the default strategy; OnDelete leaves old pods until someone deletes them.
fn is_rolling_update(daemon_set: &DaemonSet) -> bool {
    let strategy = daemon_set.spec.update_strategy.as_ref();
    strategy
        .and_then(|strategy| strategy.type_.as_deref())
        .is_none_or(|kind| kind == "RollingUpdate")
}
