//! Whether a Job is over, as the CronJob controller reads it: a Complete or Failed condition
//! that is True.

use hakube_kinds::k8s_openapi::api::batch::v1::Job;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    Complete,
    Failed,
}

pub fn finished(job: &Job) -> Option<Finished> {
    let status = job.status.as_ref()?;
    status
        .conditions
        .iter()
        .flatten()
        .filter(|condition| condition.status == "True")
        .find_map(|condition| match condition.type_.as_str() {
            "Complete" => Some(Finished::Complete),
            "Failed" => Some(Finished::Failed),
            _ => None,
        })
}
