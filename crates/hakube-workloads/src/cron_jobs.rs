//! CronJob controller decisions: which Job a CronJob starts for its most recent unmet
//! scheduled time (under its concurrency policy, starting deadline and suspension), which of
//! its Jobs are deleted (replaced, or finished beyond the history limits), and the status it
//! reports (active Jobs, last schedule, last success). Mirrors upstream's
//! pkg/controller/cronjob (the v2 controller); the schedule is parsed here (schedule.rs).
//! A schedule without spec.timeZone runs in UTC (upstream uses the controller's local zone).

mod active;
mod cron_fields;
mod finished;
mod history;
mod job_templates;
mod missed;
mod schedule;
mod scheduling;
#[cfg(test)]
mod tests;

use hakube_kinds::k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use jiff::Timestamp;

pub use job_templates::{SCHEDULED_TIMESTAMP_ANNOTATION, job_name};
pub use schedule::Schedule;

use crate::controller_refs;

/// What one round of the CronJob controller writes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CronJobPlan {
    /// The Job for the scheduled time, "<cronjob>-<minutes since the epoch>"; an AlreadyExists
    /// answer means a previous round made it.
    pub create_jobs: Vec<Job>,
    /// Jobs to delete with background propagation: finished ones beyond the history limits,
    /// and active ones replaced under concurrencyPolicy Replace.
    pub delete_jobs: Vec<JobRef>,
    /// The new status, only when it differs from the current one. The active entry of a Job
    /// created this round has no uid yet; the next round fills it in.
    pub status: Option<CronJobStatus>,
    /// When the next scheduled time comes (plus upstream's 100 ms): run a round then.
    pub next_run_at: Option<Timestamp>,
    /// Upstream's warning events, in its words.
    pub warnings: Vec<String>,
}

/// A Job to delete, with its uid as a precondition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRef {
    pub name: String,
    pub uid: String,
}

impl JobRef {
    fn of(job: &Job) -> JobRef {
        JobRef {
            name: job.metadata.name.clone().unwrap_or_default(),
            uid: job.metadata.uid.clone().unwrap_or_default(),
        }
    }
}

/// One round of the CronJob controller over the Jobs of the CronJob's namespace.
pub fn reconcile(cron_job: &CronJob, jobs: &[Job], now: Timestamp) -> CronJobPlan {
    let mut plan = CronJobPlan::default();
    let uid = cron_job.metadata.uid.as_deref().unwrap_or_default();
    if uid.is_empty() {
        return plan;
    }
    let children: Vec<&Job> = jobs
        .iter()
        .filter(|job| controller_refs::is_controlled_by(&job.metadata, uid))
        .collect();
    let mut status = cron_job.status.clone().unwrap_or_default();
    plan.delete_jobs = history::jobs_beyond_limits(cron_job, &children);
    let remaining: Vec<&Job> = children
        .iter()
        .copied()
        .filter(|job| !plan.delete_jobs.contains(&JobRef::of(job)))
        .collect();
    plan.warnings = active::reconcile(&mut status, &remaining);
    if cron_job.metadata.deletion_timestamp.is_none() {
        scheduling::schedule(cron_job, jobs, &mut status, now, &mut plan);
    }
    if cron_job.status.clone().unwrap_or_default() != status {
        plan.status = Some(status);
    }
    plan
}
