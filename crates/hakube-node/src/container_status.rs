//! One container's status as the kubelet reports it: state (waiting with a reason, running,
//! terminated), the previous run as lastState, restart count, readiness and identities.

use crate::back_off::ContainerKey;
use crate::runtime_view::{ObservedContainer, ObservedContainerState, RuntimeView};
use crate::sync::Waiting;
use hakube_kinds::k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::{BTreeMap, BTreeSet};

/// What the pod-level computation tells each container's status.
#[derive(Debug, Clone, Copy)]
pub struct ContainerContext<'a> {
    pub pod_uid: &'a str,
    pub runtime: &'a RuntimeView,
    pub waiting: &'a BTreeMap<ContainerKey, Waiting>,
    /// Readiness probe results; a running container without one counts as ready.
    pub readiness: &'a BTreeMap<ContainerKey, bool>,
    pub startup_pending: &'a BTreeSet<ContainerKey>,
    /// App containers wait with PodInitializing while init containers run.
    pub initializing: bool,
}

pub fn container_status(
    spec: &Container,
    is_init: bool,
    context: ContainerContext<'_>,
) -> ContainerStatus {
    let key = ContainerKey::new(context.pod_uid, &spec.name);
    let latest = context
        .runtime
        .latest_container(context.pod_uid, &spec.name);
    let previous = context
        .runtime
        .previous_container(context.pod_uid, &spec.name);
    let waiting = context.waiting.get(&key);
    let running =
        latest.is_some_and(|container| container.state == ObservedContainerState::Running);
    let (state, last_state) = match (waiting, latest) {
        (Some(waiting), Some(latest)) if latest.state == ObservedContainerState::Exited => (
            waiting_state(&waiting.reason, &waiting.message),
            Some(terminated_state(latest)),
        ),
        (Some(waiting), _) => (
            waiting_state(&waiting.reason, &waiting.message),
            previous.map(terminated_state),
        ),
        (None, Some(latest)) => (current_state(latest), previous.map(terminated_state)),
        (None, None) => {
            let reason = if context.initializing && !is_init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            };
            (waiting_state(reason, ""), None)
        }
    };
    let ready = !is_init && running && context.readiness.get(&key).copied().unwrap_or(true);
    ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        image_id: latest
            .map(|container| container.image_ref.clone())
            .unwrap_or_default(),
        container_id: latest.map(|container| format!("containerd://{}", container.id)),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ready,
        restart_count: latest.map_or(0, |container| {
            i32::try_from(container.attempt).unwrap_or(i32::MAX)
        }),
        started: Some(running && !context.startup_pending.contains(&key)),
        ..ContainerStatus::default()
    }
}

fn waiting_state(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_owned()),
            message: (!message.is_empty()).then(|| message.to_owned()),
        }),
        ..ContainerState::default()
    }
}

fn current_state(container: &ObservedContainer) -> ContainerState {
    match container.state {
        ObservedContainerState::Running => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: container.started_at.map(Time),
            }),
            ..ContainerState::default()
        },
        ObservedContainerState::Exited => terminated_state(container),
        ObservedContainerState::Created | ObservedContainerState::Unknown => {
            waiting_state("ContainerCreating", "")
        }
    }
}

/// The terminated state of an exited run; reason as containerd gives it, else by exit code.
fn terminated_state(container: &ObservedContainer) -> ContainerState {
    let reason = match container.reason.as_str() {
        "" if container.exit_code == 0 => "Completed".to_owned(),
        "" => "Error".to_owned(),
        reason => reason.to_owned(),
    };
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(format!("containerd://{}", container.id)),
            exit_code: container.exit_code,
            reason: Some(reason),
            message: (!container.message.is_empty()).then(|| container.message.clone()),
            started_at: container.started_at.map(Time),
            finished_at: container.finished_at.map(Time),
            signal: None,
        }),
        ..ContainerState::default()
    }
}
