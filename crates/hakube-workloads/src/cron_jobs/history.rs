//! Finished Jobs beyond the CronJob's history limits (successfulJobsHistoryLimit,
//! failedJobsHistoryLimit), oldest first by start time as upstream's cleanupFinishedJobs
//! picks them. A limit left unset keeps every Job of that kind, as upstream.

use std::cmp::Ordering;

use hakube_kinds::k8s_openapi::api::batch::v1::{CronJob, Job};

use super::JobRef;
use super::finished::{Finished, finished};

/// The Jobs to delete.
pub fn jobs_beyond_limits(cron_job: &CronJob, children: &[&Job]) -> Vec<JobRef> {
    let spec = &cron_job.spec;
    let of_kind = |kind: Finished| -> Vec<&Job> {
        let matching = children.iter().filter(|job| finished(job) == Some(kind));
        matching.copied().collect()
    };
    let mut deletions = oldest_beyond(
        of_kind(Finished::Complete),
        spec.successful_jobs_history_limit,
    );
    deletions.extend(oldest_beyond(
        of_kind(Finished::Failed),
        spec.failed_jobs_history_limit,
    ));
    deletions
}

fn oldest_beyond(mut jobs: Vec<&Job>, limit: Option<i32>) -> Vec<JobRef> {
    let Some(limit) = limit else {
        return Vec::new();
    };
    let keep = usize::try_from(limit).unwrap_or(0);
    if jobs.len() <= keep {
        return Vec::new();
    }
    jobs.sort_by(|left, right| by_start_time(left, right));
    let excess = jobs.len() - keep;
    jobs.into_iter().take(excess).map(JobRef::of).collect()
}

/// Upstream's byJobStartTime: earlier start first, Jobs never started last, then by name.
fn by_start_time(left: &Job, right: &Job) -> Ordering {
    let start = |job: &Job| {
        let status = job.status.as_ref();
        status.and_then(|status| status.start_time.as_ref().map(|time| time.0))
    };
    let order = match (start(left), start(right)) {
        (Some(left), Some(right)) => left.cmp(&right),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    order.then_with(|| left.metadata.name.cmp(&right.metadata.name))
}
