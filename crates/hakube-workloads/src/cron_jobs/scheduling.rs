//! The second half of upstream's syncCronJob: whether the most recent unmet scheduled time
//! starts a Job now (time zone, suspension, schedule, starting deadline, a time already
//! handled, concurrency policy), what it replaces, and when to look again.

use hakube_kinds::k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::active::{reference_to, refers_to};
use super::job_templates::{job_from_template, job_name};
use super::missed::{self, Missed};
use super::schedule::{self, Schedule};
use super::{CronJobPlan, JobRef};
use crate::controller_refs;

/// Decides this round's Job; `status` is the working copy the plan reports.
pub fn schedule(
    cron_job: &CronJob,
    jobs: &[Job],
    status: &mut CronJobStatus,
    now: Timestamp,
    plan: &mut CronJobPlan,
) {
    let spec = &cron_job.spec;
    let time_zone = match spec.time_zone.as_deref().map(schedule::time_zone_named) {
        None => TimeZone::UTC,
        Some(Ok(time_zone)) => time_zone,
        Some(Err(error)) => {
            let name = spec.time_zone.as_deref().unwrap_or_default();
            plan.warnings
                .push(format!("invalid timeZone: {name:?}: {error}"));
            return;
        }
    };
    if spec.suspend == Some(true) {
        return;
    }
    if spec.schedule.contains("TZ") {
        plan.warnings.push(format!(
            "CRON_TZ or TZ used in schedule {:?} is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details",
            spec.schedule
        ));
    }
    let schedule = match Schedule::parse(&spec.schedule, time_zone.clone()) {
        Ok(schedule) => schedule,
        Err(error) => {
            let text = &spec.schedule;
            plan.warnings
                .push(format!("unparseable schedule: {text:?} : {error}"));
            return;
        }
    };
    start_due_job(cron_job, jobs, status, &schedule, &time_zone, now, plan);
    let earliest = earliest_time(cron_job, status);
    plan.next_run_at = missed::next_look(&schedule, earliest, now);
}

/// The last schedule time, else the CronJob's creation.
fn earliest_time(cron_job: &CronJob, status: &CronJobStatus) -> Timestamp {
    let created = cron_job.metadata.creation_timestamp.as_ref();
    let last = status.last_schedule_time.as_ref().or(created);
    last.map_or(Timestamp::UNIX_EPOCH, |time| time.0)
}

fn start_due_job(
    cron_job: &CronJob,
    jobs: &[Job],
    status: &mut CronJobStatus,
    schedule: &Schedule,
    time_zone: &TimeZone,
    now: Timestamp,
    plan: &mut CronJobPlan,
) {
    let Some(scheduled) = due_time(cron_job, status, schedule, now, plan) else {
        return;
    };
    let spec = &cron_job.spec;
    if let Some(deadline) = spec.starting_deadline_seconds {
        let latest = scheduled.checked_add(SignedDuration::from_secs(deadline));
        if latest.is_ok_and(|latest| latest < now) {
            let when = scheduled.strftime("%a, %d %b %Y %H:%M:%S %z");
            plan.warnings
                .push(format!("Missed scheduled time to start a job: {when}"));
            return;
        }
    }
    let name = job_name(cron_job, scheduled);
    let active = status.active.as_deref().unwrap_or_default();
    let already_active = active
        .iter()
        .any(|reference| reference.name.as_deref() == Some(&name));
    let already_scheduled = status
        .last_schedule_time
        .as_ref()
        .is_some_and(|time| time.0 == scheduled);
    if already_active || already_scheduled {
        return;
    }
    let policy = spec.concurrency_policy.as_deref();
    if policy == Some("Forbid") && !active.is_empty() {
        return;
    }
    if policy == Some("Replace") {
        replace_active(status, jobs, plan);
    }
    let uid = cron_job.metadata.uid.as_deref().unwrap_or_default();
    let existing = jobs
        .iter()
        .find(|job| job.metadata.name.as_deref() == Some(&name));
    let reference = match existing {
        // Made by a round whose status write was lost: record it now.
        Some(job) if controller_refs::is_controlled_by(&job.metadata, uid) => {
            let active = status.active.as_deref().unwrap_or_default();
            if active.iter().any(|reference| refers_to(reference, job)) {
                return;
            }
            reference_to(job)
        }
        // Someone else's Job holds the name: leave it to them.
        Some(_) => return,
        None => {
            let job = job_from_template(cron_job, scheduled, time_zone);
            let reference = reference_to(&job);
            plan.create_jobs.push(job);
            reference
        }
    };
    status.active.get_or_insert_with(Vec::new).push(reference);
    status.last_schedule_time = Some(Time(scheduled));
}

/// The most recent unmet scheduled time within the starting deadline, with upstream's warnings.
fn due_time(
    cron_job: &CronJob,
    status: &CronJobStatus,
    schedule: &Schedule,
    now: Timestamp,
    plan: &mut CronJobPlan,
) -> Option<Timestamp> {
    let mut earliest = earliest_time(cron_job, status);
    let spec = &cron_job.spec;
    if let Some(deadline) = spec.starting_deadline_seconds {
        // Nothing before the deadline's edge will be started, so do not count it as missed.
        let edge = now.checked_sub(SignedDuration::from_secs(deadline));
        earliest = edge.map_or(earliest, |edge| edge.max(earliest));
    }
    match missed::most_recent_schedule_time(schedule, earliest, now) {
        Err(error) => {
            let text = &spec.schedule;
            plan.warnings
                .push(format!("invalid schedule: {text} : {error}"));
            None
        }
        Ok(unmet) => {
            let most_recent = unmet.most_recent.filter(|time| *time <= now)?;
            if unmet.missed == Missed::Many {
                plan.warnings.push(missed::TOO_MANY_MISSED.to_string());
            }
            Some(most_recent)
        }
    }
}

/// Concurrency policy Replace: the active Jobs go before the new one starts.
fn replace_active(status: &mut CronJobStatus, jobs: &[Job], plan: &mut CronJobPlan) {
    let active = status.active.take().unwrap_or_default();
    for reference in &active {
        let job = jobs.iter().find(|job| refers_to(reference, job));
        if let Some(job) = job {
            plan.delete_jobs.push(JobRef::of(job));
        }
    }
}
