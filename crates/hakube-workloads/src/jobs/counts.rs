//! What a Job's pods add up to this round: the active ones, ready and terminating counts,
//! succeeded and failed counts (and completed indexes for an Indexed Job). Upstream counts
//! each finished pod once through a tracking finalizer; hakube has no pod writes for that, so
//! it counts the finished pods present (hakube removes none while their Job exists) and never
//! reports less than the status already does, so a finished pod deleted by hand still counts.

use std::collections::BTreeSet;

use hakube_kinds::k8s_openapi::api::batch::v1::{JobSpec, JobStatus};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;

use super::failure_policy::{self, Verdict};
use super::indexes;
use crate::pod_states;

pub struct Counts<'a> {
    pub active: Vec<&'a Pod>,
    pub succeeded_pods: Vec<&'a Pod>,
    /// Pods that failed by themselves (for the back-off).
    pub failed_pods: Vec<&'a Pod>,
    pub ready: i32,
    pub terminating: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// Indexed Jobs: the completed indexes, from the status and the succeeded pods.
    pub succeeded_indexes: Option<BTreeSet<u32>>,
}

/// `failing`: the Job already decided to fail, so its deleted pods count as failed as
/// upstream counts them (pods it deletes for suspension or scale-down do not count).
pub fn count<'a>(
    spec: &JobSpec,
    status: &JobStatus,
    pods: &[&'a Pod],
    failing: bool,
) -> Counts<'a> {
    let phase_is = |pod: &&&Pod, phase: &str| pod_states::phase(pod) == phase;
    let active: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|pod| pod_states::is_active(pod))
        .collect();
    let succeeded_pods: Vec<&Pod> = pods
        .iter()
        .filter(|pod| phase_is(pod, "Succeeded"))
        .copied()
        .collect();
    // A failure the podFailurePolicy ignores is neither counted nor backed off from.
    let ignored = |pod: &Pod| {
        spec.pod_failure_policy
            .as_ref()
            .is_some_and(|policy| failure_policy::judge(policy, pod) == Verdict::Ignore)
    };
    let failed_pods: Vec<&Pod> = pods
        .iter()
        .filter(|pod| phase_is(pod, "Failed") && pod.metadata.deletion_timestamp.is_none())
        .filter(|pod| !ignored(pod))
        .copied()
        .collect();
    let deleted_unsucceeded = pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_some() && !phase_is(pod, "Succeeded"))
        .count();
    let failed_now = failed_pods.len() + if failing { deleted_unsucceeded } else { 0 };
    let terminating = pods
        .iter()
        .filter(|pod| pod_states::is_terminating(pod))
        .count();
    let ready = active
        .iter()
        .filter(|pod| pod_states::is_ready(pod))
        .count();
    let succeeded_indexes = indexed_completions(spec).map(|completions| {
        let recorded = status.completed_indexes.as_deref().unwrap_or_default();
        let mut indexes = indexes::parse(recorded, completions);
        let finished = succeeded_pods
            .iter()
            .filter_map(|pod| indexes::completion_index(pod));
        indexes.extend(finished.filter(|index| *index < completions));
        indexes
    });
    let succeeded = match &succeeded_indexes {
        Some(indexes) => number(indexes.len()),
        None => number(succeeded_pods.len()).max(status.succeeded.unwrap_or(0)),
    };
    Counts {
        ready: number(ready),
        terminating: number(terminating),
        succeeded,
        failed: number(failed_now).max(status.failed.unwrap_or(0)),
        active,
        succeeded_pods,
        failed_pods,
        succeeded_indexes,
    }
}

/// spec.completions of an Indexed Job (which validation requires), `None` for NonIndexed.
pub fn indexed_completions(spec: &JobSpec) -> Option<u32> {
    if spec.completion_mode.as_deref() != Some("Indexed") {
        return None;
    }
    Some(u32::try_from(spec.completions.unwrap_or(0)).unwrap_or(0))
}

pub fn number(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
