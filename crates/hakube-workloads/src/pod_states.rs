//! What the workload controllers read from a pod's status: whether it still counts (active),
//! is going away (terminating), is ready and since when, is available after minReadySeconds.

use hakube_kinds::k8s_openapi::api::core::v1::{Pod, PodCondition};
use jiff::{SignedDuration, Timestamp};

/// Succeeded or Failed: the pod will not run again.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// A pod that counts toward a controller's replicas: not terminal and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_none()
}

/// Being deleted but still running (status.terminatingReplicas).
pub fn is_terminating(pod: &Pod) -> bool {
    !is_terminal(pod) && pod.metadata.deletion_timestamp.is_some()
}

/// The pod's phase, empty when not reported yet.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
        .unwrap_or_default()
}

fn ready_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == "Ready")
}

/// The Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some_and(|condition| condition.status == "True")
}

/// When a ready pod became ready (the Ready condition's lastTransitionTime).
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let condition = ready_condition(pod).filter(|condition| condition.status == "True")?;
    condition.last_transition_time.as_ref().map(|time| time.0)
}

/// When a pod becomes available: `None` if it is not ready, or if it must wait
/// minReadySeconds and has no ready transition time to count from (upstream never counts
/// such a pod available). Available means strictly past this time.
pub fn available_after(pod: &Pod, min_ready_seconds: i32) -> Option<Timestamp> {
    if !is_ready(pod) {
        return None;
    }
    if min_ready_seconds <= 0 {
        return Some(Timestamp::MIN);
    }
    let delay = SignedDuration::from_secs(i64::from(min_ready_seconds));
    ready_since(pod)?.checked_add(delay).ok()
}

/// Ready for more than minReadySeconds at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    available_after(pod, min_ready_seconds).is_some_and(|after| after < now)
}

/// The highest restart count among the pod's containers (deletion ranking).
pub fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|status| {
            let containers = status.container_statuses.iter().flatten();
            let init_containers = status.init_container_statuses.iter().flatten();
            containers
                .chain(init_containers)
                .map(|container| container.restart_count)
                .max()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::core::v1::PodStatus;
    use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ready_pod(since: Timestamp) -> Pod {
        Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(since)),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn availability_waits_strictly_longer_than_min_ready_seconds() {
        let since = Timestamp::from_second(1_000).unwrap();
        let pod = ready_pod(since);
        assert!(is_available(&pod, 0, since));
        assert!(!is_available(
            &pod,
            10,
            Timestamp::from_second(1_010).unwrap()
        ));
        assert!(is_available(
            &pod,
            10,
            Timestamp::from_second(1_011).unwrap()
        ));
        assert!(!is_available(&Pod::default(), 0, since));
    }

    #[test]
    fn terminal_and_deleted_pods_are_not_active() {
        let mut pod = ready_pod(Timestamp::UNIX_EPOCH);
        assert!(is_active(&pod));
        pod.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!is_active(&pod) && is_terminating(&pod));
        if let Some(status) = pod.status.as_mut() {
            status.phase = Some("Failed".into());
        }
        assert!(!is_active(&pod) && !is_terminating(&pod));
    }
}
