//! The Job's status conditions, with upstream's types, reasons and words, and its update rule
//! (ensureJobConditionStatus): a condition changes only when its status, reason or message
//! does, and a False condition is never added where none was.

use hakube_kinds::k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use jiff::Timestamp;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";

pub const BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
pub const BACKOFF_LIMIT_EXCEEDED_MESSAGE: &str = "Job has reached the specified backoff limit";
pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
pub const DEADLINE_EXCEEDED_MESSAGE: &str = "Job was active longer than specified deadline";
pub const COMPLETIONS_REACHED: &str = "CompletionsReached";
pub const COMPLETIONS_REACHED_MESSAGE: &str = "Reached expected number of succeeded pods";

pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> JobCondition {
    JobCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

pub fn find<'a>(status: &'a JobStatus, type_: &str) -> Option<&'a JobCondition> {
    status
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == type_)
}

pub fn is_true(status: &JobStatus, type_: &str) -> bool {
    find(status, type_).is_some_and(|condition| condition.status == "True")
}

/// Upstream's ensureJobConditionStatus; whether the conditions changed.
pub fn ensure(
    status: &mut JobStatus,
    type_: &str,
    condition_status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let wanted = new_condition(type_, condition_status, reason, message, now);
    let existing = conditions
        .iter_mut()
        .find(|condition| condition.type_ == type_);
    let changed = match existing {
        Some(existing) => {
            let same = existing.status == wanted.status
                && existing.reason == wanted.reason
                && existing.message == wanted.message;
            if !same {
                *existing = wanted;
            }
            !same
        }
        None if condition_status != "False" => {
            conditions.push(wanted);
            true
        }
        None => false,
    };
    if conditions.is_empty() {
        status.conditions = None;
    }
    changed
}

/// Whether the Job is over: a True Complete or Failed condition.
pub fn is_finished(status: &JobStatus) -> bool {
    is_true(status, COMPLETE) || is_true(status, FAILED)
}
