//! Upstream's syncJob for a Job that is not finished yet: the counts, the start time, whether
//! the Job now fails (backoffLimit, activeDeadlineSeconds) or completes, its pods' creation and
//! deletion, and the conditions. A decided end is first recorded as SuccessCriteriaMet or
//! FailureTarget; Complete or Failed follows once no pod of the Job is terminating (upstream
//! 1.31+).

use hakube_kinds::k8s_openapi::api::batch::v1::{Job, JobSpec, JobStatus, UncountedTerminatedPods};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use jiff::{SignedDuration, Timestamp};

use super::conditions::{
    self as job_conditions, BACKOFF_LIMIT_EXCEEDED, BACKOFF_LIMIT_EXCEEDED_MESSAGE, COMPLETE,
    COMPLETIONS_REACHED, COMPLETIONS_REACHED_MESSAGE, DEADLINE_EXCEEDED, DEADLINE_EXCEEDED_MESSAGE,
    FAILED, FAILURE_TARGET, SUCCESS_CRITERIA_MET, SUSPENDED, find, is_true,
};
use super::counts::{self, Counts, number};
use super::failure_policy::{self, POD_FAILURE_POLICY, Verdict};
use super::manage::{self, Managed};
use super::{backoff, indexes, pod_templates};
use crate::pod_states;
use crate::replica_sets::PodRef;

/// What the round decided.
pub struct Outcome {
    pub status: JobStatus,
    pub create: Vec<Pod>,
    pub delete: Vec<PodRef>,
    pub recheck_at: Option<Timestamp>,
}

/// How the Job ends, once decided.
struct Finish {
    success: bool,
    reason: String,
    message: String,
}

impl Finish {
    fn new(success: bool, reason: &str, message: &str) -> Finish {
        Finish {
            success,
            reason: reason.to_string(),
            message: message.to_string(),
        }
    }
}

/// The counts the status reports, as this round's writes leave them.
struct Tally {
    active: usize,
    ready: i32,
    terminating: i32,
    failed: i32,
}

pub fn sync(job: &Job, spec: &JobSpec, pods: &[&Pod], now: Timestamp) -> Outcome {
    let mut status = job.status.clone().unwrap_or_default();
    let failing = is_true(&status, FAILURE_TARGET);
    let counts = counts::count(spec, &status, pods, failing);
    if status.start_time.is_none() && spec.suspend != Some(true) {
        status.start_time = Some(Time(now));
    }
    let mut outcome = Outcome {
        status,
        create: Vec::new(),
        delete: Vec::new(),
        recheck_at: None,
    };
    let mut tally = Tally {
        active: counts.active.len(),
        ready: counts.ready,
        terminating: counts.terminating,
        failed: counts.failed,
    };
    let mut finish = recorded_finish(&outcome.status)
        .or_else(|| failure(spec, &counts, pods, &mut outcome, now));
    if finish.is_some() {
        stop_all(&counts, failing, &mut tally, &mut outcome);
    } else {
        finish = run(job, spec, &counts, pods, &mut tally, &mut outcome, now);
    }
    if let Some(finish) = finish {
        record_finish(&mut outcome.status, &finish, tally.terminating, now);
    }
    let status = &mut outcome.status;
    status.active = Some(number(tally.active));
    status.ready = Some(tally.ready);
    status.terminating = Some(tally.terminating);
    status.succeeded = Some(counts.succeeded);
    status.failed = Some(tally.failed);
    status.completed_indexes = counts.succeeded_indexes.as_ref().map(indexes::format);
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods::default());
    outcome
}

/// An ending Job deletes all its active pods; upstream counts them as failed.
fn stop_all(counts: &Counts<'_>, failing: bool, tally: &mut Tally, outcome: &mut Outcome) {
    let deleted = number(counts.active.len());
    if !failing {
        tally.failed = tally.failed.saturating_add(deleted);
    }
    tally.terminating = tally.terminating.saturating_add(deleted);
    (tally.active, tally.ready) = (0, 0);
    outcome.delete = counts.active.iter().map(|pod| pod_ref(pod)).collect();
}

/// A running Job: its pods are managed (unless it is being deleted), then it completes or
/// records whether it is suspended.
fn run(
    job: &Job,
    spec: &JobSpec,
    counts: &Counts<'_>,
    pods: &[&Pod],
    tally: &mut Tally,
    outcome: &mut Outcome,
    now: Timestamp,
) -> Option<Finish> {
    let deleting = job.metadata.deletion_timestamp.is_some();
    if !deleting {
        let terminating: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|pod| pod_states::is_terminating(pod))
            .collect();
        let managed = manage::manage(spec, counts, &terminating, now);
        let deleted_ready = managed
            .delete
            .iter()
            .filter(|pod| pod_states::is_ready(pod));
        tally.ready -= number(deleted_ready.count());
        tally.active = (tally.active + managed.create.len()).saturating_sub(managed.delete.len());
        tally.terminating = tally
            .terminating
            .saturating_add(number(managed.delete.len()));
        apply_managed(job, managed, outcome);
    }
    let complete = tally.active == 0
        && match spec.completions {
            None => counts.succeeded > 0,
            Some(completions) => counts.succeeded >= completions,
        };
    if complete {
        return Some(Finish::new(
            true,
            COMPLETIONS_REACHED,
            COMPLETIONS_REACHED_MESSAGE,
        ));
    }
    if !deleting {
        record_suspension(&mut outcome.status, spec.suspend == Some(true), now);
    }
    None
}

/// An end decided in an earlier round.
fn recorded_finish(status: &JobStatus) -> Option<Finish> {
    let (success, type_) = if is_true(status, SUCCESS_CRITERIA_MET) {
        (true, SUCCESS_CRITERIA_MET)
    } else if is_true(status, FAILURE_TARGET) {
        (false, FAILURE_TARGET)
    } else {
        return None;
    };
    let condition = find(status, type_)?;
    let reason = condition.reason.as_deref().unwrap_or_default();
    let message = condition.message.as_deref().unwrap_or_default();
    Some(Finish::new(success, reason, message))
}

/// Whether the Job fails now; otherwise when its active deadline passes.
fn failure(
    spec: &JobSpec,
    counts: &Counts<'_>,
    pods: &[&Pod],
    outcome: &mut Outcome,
    now: Timestamp,
) -> Option<Finish> {
    if let Some(policy) = &spec.pod_failure_policy {
        let verdicts = counts
            .failed_pods
            .iter()
            .map(|pod| failure_policy::judge(policy, pod));
        for verdict in verdicts {
            if let Verdict::FailJob(message) = verdict {
                return Some(Finish::new(false, POD_FAILURE_POLICY, &message));
            }
        }
    }
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let restart_policy = spec
        .template
        .spec
        .as_ref()
        .and_then(|spec| spec.restart_policy.as_deref());
    let restarts_exceed = restart_policy == Some("OnFailure")
        && backoff::past_backoff_limit_on_failure(pods, backoff_limit);
    if counts.failed > backoff_limit || restarts_exceed {
        return Some(Finish::new(
            false,
            BACKOFF_LIMIT_EXCEEDED,
            BACKOFF_LIMIT_EXCEEDED_MESSAGE,
        ));
    }
    let deadline = active_deadline(spec, &outcome.status)?;
    if now >= deadline {
        return Some(Finish::new(
            false,
            DEADLINE_EXCEEDED,
            DEADLINE_EXCEEDED_MESSAGE,
        ));
    }
    outcome.recheck_at = Some(deadline);
    None
}

/// startTime + activeDeadlineSeconds; a suspended Job's clock is stopped.
fn active_deadline(spec: &JobSpec, status: &JobStatus) -> Option<Timestamp> {
    if spec.suspend == Some(true) {
        return None;
    }
    let seconds = spec.active_deadline_seconds?;
    let started = status.start_time.as_ref()?.0;
    started.checked_add(SignedDuration::from_secs(seconds)).ok()
}

fn apply_managed(job: &Job, managed: Managed<'_>, outcome: &mut Outcome) {
    outcome.create = pod_templates::pods_to_create(job, &managed.create);
    outcome.delete = managed.delete.iter().map(|pod| pod_ref(pod)).collect();
    outcome.recheck_at = match (outcome.recheck_at, managed.recheck_at) {
        (Some(left), Some(right)) => Some(left.min(right)),
        (left, right) => left.or(right),
    };
}

/// Suspended True while suspended, which clears startTime (the template may change then, and
/// the active deadline's clock stops); False once resumed, which restarts that clock.
fn record_suspension(status: &mut JobStatus, suspended: bool, now: Timestamp) {
    if suspended {
        if job_conditions::ensure(
            status,
            SUSPENDED,
            "True",
            "JobSuspended",
            "Job suspended",
            now,
        ) {
            status.start_time = None;
        }
    } else if job_conditions::ensure(status, SUSPENDED, "False", "JobResumed", "Job resumed", now) {
        status.start_time = Some(Time(now));
    }
}

/// The interim condition now; the terminal one once no pod is terminating.
fn record_finish(status: &mut JobStatus, finish: &Finish, terminating: i32, now: Timestamp) {
    let (interim, terminal) = if finish.success {
        (SUCCESS_CRITERIA_MET, COMPLETE)
    } else {
        (FAILURE_TARGET, FAILED)
    };
    if !is_true(status, interim) {
        job_conditions::ensure(
            status,
            interim,
            "True",
            &finish.reason,
            &finish.message,
            now,
        );
    }
    if terminating > 0 {
        return;
    }
    job_conditions::ensure(
        status,
        terminal,
        "True",
        &finish.reason,
        &finish.message,
        now,
    );
    if finish.success {
        status.completion_time = Some(Time(now));
    }
}

fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}
