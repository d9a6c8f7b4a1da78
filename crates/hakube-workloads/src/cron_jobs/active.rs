//! The CronJob's record of its Jobs (status.active, lastSuccessfulTime) brought in line with
//! the Jobs that exist, as the first half of upstream's syncCronJob does: finished Jobs leave
//! the active list, Jobs gone missing too, and the latest completion time is kept.

use hakube_kinds::k8s_openapi::api::batch::v1::{CronJobStatus, Job};
use hakube_kinds::k8s_openapi::api::core::v1::ObjectReference;

use super::finished::{Finished, finished};

/// Updates `status` from the CronJob's Jobs; returns upstream's warnings.
pub fn reconcile(status: &mut CronJobStatus, children: &[&Job]) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut active = status.active.take().unwrap_or_default();
    for job in children {
        let position = active
            .iter()
            .position(|reference| refers_to(reference, job));
        match (position, finished(job)) {
            (None, None) => warnings.push(format!(
                "Saw a job that the controller did not create or forgot: {}",
                job.metadata.name.as_deref().unwrap_or_default()
            )),
            (Some(position), Some(_)) => {
                active.remove(position);
            }
            (Some(position), None) => {
                // A Job created last round was recorded before it had a uid.
                active[position].uid = job.metadata.uid.clone();
            }
            (None, Some(_)) => {}
        }
        if finished(job) == Some(Finished::Complete) {
            record_success(status, job);
        }
    }
    active.retain(|reference| children.iter().any(|job| refers_to(reference, job)));
    status.active = (!active.is_empty()).then_some(active);
    warnings
}

/// A reference names a Job by uid; one written in the round that created the Job has no uid
/// yet and names it by name.
pub fn refers_to(reference: &ObjectReference, job: &Job) -> bool {
    match reference.uid.as_deref() {
        Some(uid) if !uid.is_empty() => job.metadata.uid.as_deref() == Some(uid),
        _ => reference.name.is_some() && reference.name == job.metadata.name,
    }
}

fn record_success(status: &mut CronJobStatus, job: &Job) {
    let completion = job
        .status
        .as_ref()
        .and_then(|status| status.completion_time.clone());
    let Some(completion) = completion else {
        return;
    };
    let later = status
        .last_successful_time
        .as_ref()
        .is_none_or(|last| completion.0 > last.0);
    if later {
        status.last_successful_time = Some(completion);
    }
}

/// The active-list entry for a Job.
pub fn reference_to(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}
