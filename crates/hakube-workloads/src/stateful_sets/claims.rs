//! Which pods a StatefulSet counts: members (named "<set>-<ordinal>") it controls and still
//! selects, finished ones included so they can be recreated, plus the orphans it adopts this
//! round; and the members it releases.

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::identity::member_ordinal;
use crate::controller_refs::{self, Claim, Claimant};
use crate::label_selectors::selector_matches;

/// A member of the set and its ordinal.
pub struct Member<'a> {
    pub ordinal: i32,
    pub pod: &'a Pod,
}

pub struct ClaimedPods<'a> {
    /// Owned members, adopted ones included (as they were before adoption).
    pub members: Vec<Member<'a>>,
    pub adopt: Vec<Pod>,
    pub release: Vec<Pod>,
}

pub fn claim_pods<'a>(stateful_set: &StatefulSet, pods: &'a [Pod]) -> ClaimedPods<'a> {
    let uid = stateful_set.metadata.uid.as_deref().unwrap_or_default();
    let claimant = Claimant {
        uid,
        deleting: stateful_set.metadata.deletion_timestamp.is_some(),
    };
    let mut claimed = ClaimedPods {
        members: Vec::new(),
        adopt: Vec::new(),
        release: Vec::new(),
    };
    for pod in pods {
        let Some(ordinal) = member_ordinal(stateful_set, pod) else {
            continue;
        };
        let selected = selector_matches(&stateful_set.spec.selector, pod.metadata.labels.as_ref());
        match controller_refs::claim(claimant, &pod.metadata, selected) {
            Claim::Owned => claimed.members.push(Member { ordinal, pod }),
            Claim::Adopt => {
                let mut adopted = pod.clone();
                let reference = controller_refs::controller_reference(
                    "apps/v1",
                    "StatefulSet",
                    &stateful_set.metadata,
                );
                controller_refs::add_owner(&mut adopted.metadata, reference);
                claimed.adopt.push(adopted);
                claimed.members.push(Member { ordinal, pod });
            }
            Claim::Release => {
                let mut released = pod.clone();
                controller_refs::remove_owner(&mut released.metadata, uid);
                claimed.release.push(released);
            }
            Claim::Ignore => {}
        }
    }
    claimed
}
