//! Events about a pod gathered during one sync round (Pulled, Created, Started, Killing,
//! Failed, BackOff, Unhealthy, FailedCreatePodSandBox, worded like the kubelet's), handed back
//! in its report for the caller to publish. Bounded per pod and round.

use std::collections::BTreeMap;

/// More than this many events for one pod in one round are dropped.
const MAX_EVENTS_PER_POD: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEvent {
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

/// This round's events by pod UID.
#[derive(Debug, Default)]
pub struct PodEvents {
    by_pod: BTreeMap<String, Vec<PodEvent>>,
}

impl PodEvents {
    pub fn normal(&mut self, pod_uid: &str, reason: &str, message: String) {
        self.push(pod_uid, EventType::Normal, reason, message);
    }

    pub fn warning(&mut self, pod_uid: &str, reason: &str, message: String) {
        self.push(pod_uid, EventType::Warning, reason, message);
    }

    fn push(&mut self, pod_uid: &str, event_type: EventType, reason: &str, message: String) {
        let events = self.by_pod.entry(pod_uid.to_owned()).or_default();
        if events.len() < MAX_EVENTS_PER_POD {
            events.push(PodEvent {
                event_type,
                reason: reason.to_owned(),
                message,
            });
        }
    }

    /// The pod's events of this round, removed from the collection.
    pub fn take(&mut self, pod_uid: &str) -> Vec<PodEvent> {
        self.by_pod.remove(pod_uid).unwrap_or_default()
    }

    /// Drops what no report took (pods that are no longer desired).
    pub fn clear(&mut self) {
        self.by_pod.clear();
    }
}

/// Containers whose waiting reason became `CrashLoopBackOff` or `ImagePullBackOff` since the
/// previous status, with that reason and their image: a BackOff event each, once per entry
/// into back-off rather than every round.
pub fn entered_back_off(
    previous: Option<&hakube_kinds::k8s_openapi::api::core::v1::PodStatus>,
    current: &hakube_kinds::k8s_openapi::api::core::v1::PodStatus,
) -> Vec<(String, String, String)> {
    let reason_of = |status: &hakube_kinds::k8s_openapi::api::core::v1::ContainerStatus| {
        status.state.as_ref()?.waiting.as_ref()?.reason.clone()
    };
    let previous_reason = |name: &str| {
        let statuses = previous?.container_statuses.as_ref()?;
        statuses
            .iter()
            .find(|status| status.name == name)
            .and_then(reason_of)
    };
    let statuses = current.container_statuses.iter().flatten();
    statuses
        .filter_map(|status| {
            let reason = reason_of(status)?;
            let backing_off = reason == "CrashLoopBackOff" || reason == "ImagePullBackOff";
            (backing_off && previous_reason(&status.name).as_deref() != Some(reason.as_str()))
                .then(|| (status.name.clone(), reason, status.image.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_kinds::k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateWaiting, ContainerStatus, PodStatus,
    };

    fn status(reason: &str) -> PodStatus {
        PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "app".to_owned(),
                image: "img:1".to_owned(),
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.to_owned()),
                        message: None,
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }]),
            ..PodStatus::default()
        }
    }

    #[test]
    fn back_off_is_reported_once_when_entered() {
        let entered = entered_back_off(
            Some(&status("ContainerCreating")),
            &status("CrashLoopBackOff"),
        );
        let expected = (
            "app".to_owned(),
            "CrashLoopBackOff".to_owned(),
            "img:1".to_owned(),
        );
        assert_eq!(entered, [expected]);
        assert!(
            entered_back_off(
                Some(&status("CrashLoopBackOff")),
                &status("CrashLoopBackOff")
            )
            .is_empty()
        );
        assert_eq!(entered_back_off(None, &status("ImagePullBackOff")).len(), 1);
    }

    #[test]
    fn events_are_bounded_per_pod_and_round() {
        let mut events = PodEvents::default();
        for number in 0..40 {
            events.normal("u1", "Started", format!("{number}"));
        }
        assert_eq!(events.take("u1").len(), MAX_EVENTS_PER_POD);
        assert!(events.take("u1").is_empty());
    }
}
