//! A StatefulSet's revisions: the update revision is named after the hash of the current
//! template (its ControllerRevision's name, see [`crate::controller_revisions`]), the current revision is the one the status
//! reports (the update revision for a new set), and a pod's revision is its label.

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::identity::{REVISION_HASH_LABEL, set_name};
use crate::deployments::pod_template_hash;

pub struct Revisions {
    /// The revision the pods are being moved away from.
    pub current: String,
    /// The revision of the current template.
    pub update: String,
}

impl Revisions {
    pub fn of(stateful_set: &StatefulSet) -> Self {
        let hash = pod_template_hash(&stateful_set.spec.template, None);
        let update = format!("{}-{hash}", set_name(stateful_set));
        let status = stateful_set.status.as_ref();
        let reported = status.and_then(|status| status.current_revision.clone());
        let current = reported
            .filter(|revision| !revision.is_empty())
            .unwrap_or_else(|| update.clone());
        Self { current, update }
    }
}

pub fn pod_revision(pod: &Pod) -> &str {
    let labels = pod.metadata.labels.as_ref();
    let revision = labels.and_then(|labels| labels.get(REVISION_HASH_LABEL));
    revision.map(String::as_str).unwrap_or_default()
}
