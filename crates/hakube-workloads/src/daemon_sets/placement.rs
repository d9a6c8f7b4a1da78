//! Upstream's manage step, node by node: a node that should run a daemon pod and has none
//! gets one; a node keeping its daemon loses finished pods and all but the oldest running
//! one; a node that no longer qualifies, or no longer exists, loses all of them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::PodRef;
use super::node_fit::NodeFit;
use crate::pod_states;

/// The pods to create (by node) and delete this round.
#[derive(Default)]
pub struct NodeChanges {
    pub create_on: Vec<String>,
    pub delete: Vec<PodRef>,
}

impl NodeChanges {
    pub fn is_empty(&self) -> bool {
        self.create_on.is_empty() && self.delete.is_empty()
    }
}

pub fn manage(fits: &[NodeFit], by_node: &BTreeMap<&str, Vec<&Pod>>) -> NodeChanges {
    let mut changes = NodeChanges::default();
    for fit in fits {
        let pods = by_node.get(fit.node.as_str()).map(Vec::as_slice);
        let pods = pods.unwrap_or_default();
        if fit.should_run && pods.is_empty() {
            changes.create_on.push(fit.node.clone());
        } else if fit.should_continue_running {
            changes.delete.extend(surplus(pods));
        } else {
            changes.delete.extend(not_deleting(pods).map(pod_ref));
        }
    }
    // Upstream leaves pods bound to a vanished node to the pod garbage collector; deleting
    // them here as well gets them out of the way without depending on it.
    let known: BTreeSet<&str> = fits.iter().map(|fit| fit.node.as_str()).collect();
    for (node, pods) in by_node {
        if !known.contains(node) {
            changes.delete.extend(not_deleting(pods).map(pod_ref));
        }
    }
    changes
}

/// Finished pods, and every running pod but the oldest. A pod being deleted is waited for
/// (no replacement until it is gone, since the node still has a pod).
fn surplus(pods: &[&Pod]) -> Vec<PodRef> {
    let (finished, mut running): (Vec<&Pod>, Vec<&Pod>) =
        not_deleting(pods).partition(|pod| pod_states::is_terminal(pod));
    running.sort_by(|left, right| oldest_first(left, right));
    let extra = running.into_iter().skip(1);
    finished.into_iter().chain(extra).map(pod_ref).collect()
}

fn not_deleting<'a>(pods: &'a [&'a Pod]) -> impl Iterator<Item = &'a Pod> {
    pods.iter()
        .copied()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
}

/// Upstream's podByCreationTimestampAndPhase: bound pods first, then the oldest, then by
/// name; the first is the one that stays and the one the status reports.
pub fn oldest_first(left: &Pod, right: &Pod) -> Ordering {
    let unbound = |pod: &Pod| {
        let spec = pod.spec.as_ref();
        spec.and_then(|spec| spec.node_name.as_deref())
            .is_none_or(str::is_empty)
    };
    let created = |pod: &Pod| pod.metadata.creation_timestamp.as_ref().map(|time| time.0);
    unbound(left)
        .cmp(&unbound(right))
        .then_with(|| created(left).cmp(&created(right)))
        .then_with(|| left.metadata.name.cmp(&right.metadata.name))
}

pub fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}
