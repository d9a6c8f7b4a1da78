//! Job controller decisions: which pods a Job owns (adoption and release by selector), which
//! pods it creates (parallelism, completions, NonIndexed or Indexed completion, the failure
//! back-off) or deletes (excess, suspended, ended), when it fails (backoffLimit, container
//! restarts under restartPolicy OnFailure, activeDeadlineSeconds) or completes, the status it
//! reports, and when a finished Job's ttlSecondsAfterFinished has passed. Mirrors upstream's
//! pkg/controller/job and the TTL-after-finished controller, without the expectations cache
//! (the caller reads a consistent store) and without successPolicy, backoffLimitPerIndex and
//! the tracking finalizer (counts.rs says how pods are counted). A podFailurePolicy's rules
//! decide what each failed pod means (failure_policy.rs).

mod backoff;
mod claims;
mod conditions;
mod counts;
mod failure_policy;
mod indexes;
mod manage;
mod pod_templates;
mod ranking;
mod sync;
#[cfg(test)]
mod tests;
mod ttl;

use hakube_kinds::k8s_openapi::api::batch::v1::{Job, JobStatus};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

pub use crate::replica_sets::PodRef;
pub use indexes::COMPLETION_INDEX;
pub use pod_templates::{CONTROLLER_UID_LABEL, JOB_NAME_LABEL};

/// Upstream's job controller name: a Job whose spec.managedBy names another is left alone.
const JOB_CONTROLLER_NAME: &str = "kubernetes.io/job-controller";

/// What one round of the Job controller writes. A pod appears in at most one list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobPlan {
    /// New pods from the template (generateName "<job>-", or "<job>-<index>-" for an Indexed
    /// Job). Write them in [`crate::replica_sets::slow_start_batches`], as upstream.
    pub create: Vec<Pod>,
    /// Active pods to delete: excess ones, all of them when the Job is suspended or ending.
    pub delete: Vec<PodRef>,
    /// Orphans the selector matches, with the controller reference added.
    pub adopt: Vec<Pod>,
    /// Owned pods the selector no longer matches, with the controller reference removed.
    pub release: Vec<Pod>,
    /// The new status, only when it differs from the current one.
    pub status: Option<JobStatus>,
    /// When to run a round even if nothing changes: the active deadline, the end of the
    /// failure back-off, the TTL after finishing.
    pub recheck_at: Option<Timestamp>,
    /// The Job finished more than ttlSecondsAfterFinished ago: delete it (foreground
    /// propagation, as upstream's TTL controller).
    pub delete_job: bool,
}

/// One round of the Job controller over the pods of the Job's namespace.
pub fn reconcile(job: &Job, pods: &[Pod], now: Timestamp) -> JobPlan {
    // Stored times have whole seconds: conditions written with them read back unchanged.
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    let mut plan = JobPlan::default();
    let Some(spec) = job.spec.as_ref() else {
        return plan;
    };
    let uid = job.metadata.uid.as_deref().unwrap_or_default();
    let managed_elsewhere = spec
        .managed_by
        .as_deref()
        .is_some_and(|manager| manager != JOB_CONTROLLER_NAME);
    let known_mode = matches!(
        spec.completion_mode.as_deref(),
        None | Some("NonIndexed" | "Indexed")
    );
    let current = job.status.clone().unwrap_or_default();
    if conditions::is_finished(&current) {
        // A finished Job is never synced again; only its TTL matters (upstream's TTL
        // controller expires Jobs whoever manages them).
        expire(job, &current, now, &mut plan);
        return plan;
    }
    if uid.is_empty() || managed_elsewhere || !known_mode {
        return plan;
    }
    let claimed = claims::claim_pods(job, pods);
    let outcome = sync::sync(job, spec, &claimed.pods, now);
    plan.create = outcome.create;
    plan.delete = outcome.delete;
    plan.recheck_at = outcome.recheck_at;
    plan.adopt = claimed.adopt;
    plan.release = claimed.release;
    expire(job, &outcome.status, now, &mut plan);
    if outcome.status != current {
        plan.status = Some(outcome.status);
    }
    plan
}

fn expire(job: &Job, status: &JobStatus, now: Timestamp, plan: &mut JobPlan) {
    let Some(expires_at) = ttl::expires_at(job, status) else {
        return;
    };
    if now >= expires_at {
        plan.delete_job = true;
    } else {
        plan.recheck_at = Some(plan.recheck_at.map_or(expires_at, |at| at.min(expires_at)));
    }
}
