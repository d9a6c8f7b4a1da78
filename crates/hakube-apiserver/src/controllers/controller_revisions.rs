//! The I/O of StatefulSets' and DaemonSets' ControllerRevisions: which revisions pods are
//! still made from, then the writes [`hakube_workloads::controller_revisions::plan`] decides
//! (a create through the API's write path; adoptions, releases, a renumbering and prunes
//! conditional on the revision read, so a lost race is decided again next round).

use std::collections::BTreeSet;

use hakube_kinds::k8s_openapi::api::apps::v1::ControllerRevision;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_workloads::controller_refs::is_controlled_by;
use hakube_workloads::controller_revisions::{self, Owner, revision_name};

use super::Stored;
use super::workload_writes::{Written, find, remove, replace};
use crate::ApiServer;
use crate::error::ApiResult;

const HASH_LABEL: &str = "controller-revision-hash";

/// The revisions the owner's pods carry: the label is the revision's name for a StatefulSet's
/// pods and the bare hash for a DaemonSet's (upstream's two conventions).
pub fn live_revisions(owner: &Owner<'_>, pods: &[Pod]) -> BTreeSet<String> {
    let uid = owner.metadata.uid.as_deref().unwrap_or_default();
    let prefix = format!("{}-", owner.metadata.name.as_deref().unwrap_or_default());
    pods.iter()
        .filter(|pod| is_controlled_by(&pod.metadata, uid))
        .filter_map(|pod| pod.metadata.labels.as_ref()?.get(HASH_LABEL))
        .map(|label| {
            if label.starts_with(&prefix) {
                label.clone()
            } else {
                revision_name(owner.metadata, label)
            }
        })
        .collect()
}

/// Brings the owner's revisions up to date.
pub async fn keep(
    server: &ApiServer,
    owner: &Owner<'_>,
    hash: &str,
    revisions: &[(ControllerRevision, &Stored)],
    live: &BTreeSet<String>,
    component: &str,
) -> ApiResult<Written> {
    let typed: Vec<ControllerRevision> = revisions
        .iter()
        .map(|(revision, _)| revision.clone())
        .collect();
    let plan = controller_revisions::plan(owner, hash, &typed, live);
    let wanted = !plan.is_empty();
    let mut writes = 0;
    for claimed in plan.adopt.iter().chain(&plan.release) {
        let uid = claimed.metadata.uid.as_deref().unwrap_or_default();
        if let Some(stored) = find(revisions, uid) {
            writes += usize::from(replace(server, stored, claimed).await?);
        }
    }
    if let Some(revision) = plan.create {
        let object = serde_json::to_value(&revision).unwrap_or_default();
        match crate::internal::create(server, object, component).await {
            Ok(_) => writes += 1,
            // Exists already (a round raced another): decided again next round.
            Err(error) => tracing::debug!(%error, "cannot create a ControllerRevision"),
        }
    }
    if let Some(revision) = plan.renumber {
        let uid = revision.metadata.uid.as_deref().unwrap_or_default();
        if let Some(stored) = find(revisions, uid) {
            writes += usize::from(replace(server, stored, &revision).await?);
        }
    }
    for uid in &plan.delete {
        if let Some(stored) = find(revisions, uid) {
            writes += usize::from(remove(server, stored).await?);
        }
    }
    Ok(Written::of(writes, wanted))
}
