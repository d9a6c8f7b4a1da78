//! Which pods a Job counts: those it controls and still selects, plus the orphans it adopts
//! this round (finished ones too: unlike a ReplicaSet, a Job counts its finished pods); the
//! ones it releases. A Job without a selector selects by its uid, as upstream's API server
//! would have defaulted it.

use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::batch::v1::Job;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::pod_templates::CONTROLLER_UID_LABEL;
use crate::controller_refs::{self, Claim, Claimant};
use crate::label_selectors::selector_matches;

pub struct ClaimedPods<'a> {
    /// Every pod the Job owns, adopted ones included (as they were before adoption).
    pub pods: Vec<&'a Pod>,
    /// Adopted pods, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Released pods, with the controller reference removed.
    pub release: Vec<Pod>,
}

pub fn claim_pods<'a>(job: &Job, pods: &'a [Pod]) -> ClaimedPods<'a> {
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let claimant = Claimant {
        uid,
        deleting: job.metadata.deletion_timestamp.is_some(),
    };
    let selector = selector_of(job);
    let mut claimed = ClaimedPods {
        pods: Vec::new(),
        adopt: Vec::new(),
        release: Vec::new(),
    };
    for pod in pods {
        let selected = selector_matches(&selector, pod.metadata.labels.as_ref());
        match controller_refs::claim(claimant, &pod.metadata, selected) {
            Claim::Owned => claimed.pods.push(pod),
            Claim::Adopt => {
                claimed.pods.push(pod);
                let mut adopted = pod.clone();
                let reference =
                    controller_refs::controller_reference("batch/v1", "Job", &job.metadata);
                controller_refs::add_owner(&mut adopted.metadata, reference);
                claimed.adopt.push(adopted);
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

fn selector_of(job: &Job) -> LabelSelector {
    let selector = job.spec.as_ref().and_then(|spec| spec.selector.clone());
    selector.unwrap_or_else(|| {
        let uid = job.metadata.uid.clone().unwrap_or_default();
        LabelSelector {
            match_labels: Some(BTreeMap::from([(CONTROLLER_UID_LABEL.to_string(), uid)])),
            match_expressions: None,
        }
    })
}
