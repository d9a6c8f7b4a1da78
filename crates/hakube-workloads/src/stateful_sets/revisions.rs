//! A StatefulSet's revisions: the update revision is named after the hash of the current
//! template (its ControllerRevision's name, see [`crate::controller_revisions`]), the current revision is the one the status
//! reports (the update revision for a new set), and a pod's revision is its label.

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSet;
use hakube_kinds::k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};

use super::identity::{self, REVISION_HASH_LABEL, set_name};
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

/// Which revision, and so which template, a new pod of each ordinal is made from.
pub struct Versions<'a> {
    stateful_set: &'a StatefulSet,
    revisions: &'a Revisions,
    /// The set with its current revision's template, when pods below the partition are made
    /// from it (a partitioned rolling update under way), and the first ordinal at or above
    /// the partition (it counts from spec.ordinals.start, as upstream's).
    current: Option<(StatefulSet, i64)>,
}

impl<'a> Versions<'a> {
    pub fn new(
        stateful_set: &'a StatefulSet,
        current_template: Option<&PodTemplateSpec>,
        revisions: &'a Revisions,
    ) -> Self {
        let strategy = stateful_set.spec.update_strategy.as_ref();
        let rolling =
            strategy.filter(|s| s.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate");
        let partition = rolling
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0)
            .max(0);
        let current = current_template
            .filter(|_| partition > 0 && revisions.current != revisions.update)
            .map(|template| {
                let mut older = stateful_set.clone();
                older.spec.template = template.clone();
                let first = i64::from(super::ordering::first_ordinal(stateful_set));
                (older, first + i64::from(partition))
            });
        Self {
            stateful_set,
            revisions,
            current,
        }
    }

    /// The new pod of `ordinal`: below the partition at the current revision, else at the
    /// update revision.
    pub fn new_pod(&self, ordinal: i32) -> Pod {
        match &self.current {
            Some((older, updated_from)) if i64::from(ordinal) < *updated_from => {
                identity::new_pod(older, ordinal, &self.revisions.current)
            }
            _ => identity::new_pod(self.stateful_set, ordinal, &self.revisions.update),
        }
    }
}
