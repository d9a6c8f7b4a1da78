//! ttlSecondsAfterFinished, as upstream's TTL-after-finished controller applies it: a finished
//! Job is deleted (with foreground propagation) once the TTL has passed since its Complete or
//! Failed condition became True.

use hakube_kinds::k8s_openapi::api::batch::v1::{Job, JobStatus};
use jiff::{SignedDuration, Timestamp};

use super::conditions::{COMPLETE, FAILED, find};

/// When the finished Job expires; `None` when it has no TTL, is not finished or is already
/// being deleted.
pub fn expires_at(job: &Job, status: &JobStatus) -> Option<Timestamp> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let finished = [COMPLETE, FAILED]
        .iter()
        .filter_map(|type_| find(status, type_))
        .find(|condition| condition.status == "True")?;
    let finished_at = finished.last_transition_time.as_ref()?.0;
    finished_at
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .ok()
}
