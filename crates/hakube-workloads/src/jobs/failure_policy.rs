//! A Job's podFailurePolicy: the first rule a failed pod matches (a container's non-zero exit
//! code In or NotIn a list, or a pod condition such as DisruptionTarget) says whether the
//! failure fails the Job at once (FailJob), is not counted against backoffLimit (Ignore), or
//! counts as usual (Count). Upstream's matchPodFailurePolicy, with its messages.

use hakube_kinds::k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern,
};
use hakube_kinds::k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// What a failed pod means for its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Count,
    Ignore,
    /// The Job fails, with this message.
    FailJob(String),
}

/// The Job condition reason of a FailJob rule.
pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";

fn exit_code(status: &ContainerStatus) -> Option<i32> {
    let code = status.state.as_ref()?.terminated.as_ref()?.exit_code;
    (code != 0).then_some(code)
}

/// The first container (then init container) that failed with a code the rule names.
fn matching_container<'a>(
    pod: &'a Pod,
    requirement: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<(&'a ContainerStatus, i32)> {
    let status = pod.status.as_ref()?;
    let containers = status.container_statuses.iter().flatten();
    let init_containers = status.init_container_statuses.iter().flatten();
    containers.chain(init_containers).find_map(|container| {
        let named = requirement
            .container_name
            .as_ref()
            .is_none_or(|name| *name == container.name);
        let code = exit_code(container)?;
        let listed = requirement.values.contains(&code);
        let matches = match requirement.operator.as_str() {
            "In" => listed,
            "NotIn" => !listed,
            _ => false,
        };
        (named && matches).then_some((container, code))
    })
}

fn matching_condition(
    pod: &Pod,
    patterns: &[PodFailurePolicyOnPodConditionsPattern],
) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.iter().flatten();
    conditions
        .filter(|condition| {
            patterns.iter().any(|pattern| {
                let status = pattern.status.as_deref().filter(|s| !s.is_empty());
                let status = status.unwrap_or("True");
                pattern.type_ == condition.type_ && status == condition.status
            })
        })
        .map(|condition| condition.type_.clone())
        .next()
}

/// What the policy says of a failed pod.
pub fn judge(policy: &PodFailurePolicy, pod: &Pod) -> Verdict {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    for (index, rule) in policy.rules.iter().enumerate() {
        let cause = if let Some(requirement) = &rule.on_exit_codes {
            matching_container(pod, requirement).map(|(container, code)| {
                format!(
                    "Container {} for pod {namespace}/{name} failed with exit code {code} matching {} rule at index {index}",
                    container.name, rule.action
                )
            })
        } else if let Some(patterns) = &rule.on_pod_conditions {
            matching_condition(pod, patterns).map(|condition| {
                format!(
                    "Pod {namespace}/{name} has condition {condition} matching {} rule at index {index}",
                    rule.action
                )
            })
        } else {
            None
        };
        let Some(message) = cause else {
            continue;
        };
        return match rule.action.as_str() {
            "FailJob" => Verdict::FailJob(message),
            "Ignore" => Verdict::Ignore,
            // FailIndex needs backoffLimitPerIndex, which hakube does not run: counted.
            "Count" | "FailIndex" => Verdict::Count,
            // Upstream: an action a client does not know skips the rule.
            _ => continue,
        };
    }
    Verdict::Count
}
