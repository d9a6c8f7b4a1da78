//! Which pods a DaemonSet counts, grouped by the node each is for: the pods it controls and
//! still selects (finished ones too, so they can be replaced), plus the orphans it adopts
//! this round; and the ones it releases.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::apps::v1::DaemonSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::daemon_pods::target_node;
use crate::controller_refs::{self, Claim, Claimant};
use crate::label_selectors::selector_matches;
use crate::pod_states;

/// The pods of one DaemonSet as this round sees them.
pub struct ClaimedPods<'a> {
    /// Owned pods by node name (adopted ones included, as they were before adoption). A
    /// pod with no node at all is not listed: nothing can be decided about it.
    pub by_node: BTreeMap<&'a str, Vec<&'a Pod>>,
    /// Adopted pods, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Released pods, with the controller reference removed.
    pub release: Vec<Pod>,
}

pub fn claim_pods<'a>(daemon_set: &DaemonSet, pods: &'a [Pod]) -> ClaimedPods<'a> {
    let uid = daemon_set.metadata.uid.as_deref().unwrap_or_default();
    let claimant = Claimant {
        uid,
        deleting: daemon_set.metadata.deletion_timestamp.is_some(),
    };
    let mut claimed = ClaimedPods {
        by_node: BTreeMap::new(),
        adopt: Vec::new(),
        release: Vec::new(),
    };
    for pod in pods {
        // A finished pod already being deleted only waits for its finalizers: upstream
        // leaves it out.
        if pod_states::is_terminal(pod) && pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let selected = selector_matches(&daemon_set.spec.selector, pod.metadata.labels.as_ref());
        let owned = match controller_refs::claim(claimant, &pod.metadata, selected) {
            Claim::Owned => true,
            Claim::Adopt => {
                claimed.adopt.push(adopted(daemon_set, pod));
                true
            }
            Claim::Release => {
                let mut released = pod.clone();
                controller_refs::remove_owner(&mut released.metadata, uid);
                claimed.release.push(released);
                false
            }
            Claim::Ignore => false,
        };
        if let Some(node) = target_node(pod).filter(|_| owned) {
            claimed.by_node.entry(node).or_default().push(pod);
        }
    }
    claimed
}

fn adopted(daemon_set: &DaemonSet, pod: &Pod) -> Pod {
    let mut pod = pod.clone();
    let reference =
        controller_refs::controller_reference("apps/v1", "DaemonSet", &daemon_set.metadata);
    controller_refs::add_owner(&mut pod.metadata, reference);
    pod
}
