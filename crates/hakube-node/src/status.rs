//! A pod's status like the kubelet's: phase from its containers, the five conditions with
//! transition times kept from the previous status when unchanged, pod and host IPs, start time,
//! and init and app container statuses.

use crate::back_off::ContainerKey;
use crate::container_status::{ContainerContext, container_status};
use crate::runtime_view::RuntimeView;
use crate::sync::Waiting;
use hakube_kinds::k8s_openapi::api::core::v1::{
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Everything a status is computed from.
#[derive(Debug, Clone, Copy)]
pub struct StatusInputs<'a> {
    /// The pod, with the status last reported in `pod.status`.
    pub pod: &'a Pod,
    pub runtime: &'a RuntimeView,
    pub waiting: &'a BTreeMap<ContainerKey, Waiting>,
    pub readiness: &'a BTreeMap<ContainerKey, bool>,
    /// Running containers whose startup probe has not passed yet (`started: false`).
    pub startup_pending: &'a BTreeSet<ContainerKey>,
    pub host_ip: &'a str,
    pub now: Timestamp,
}

pub fn compute_pod_status(inputs: StatusInputs<'_>) -> PodStatus {
    let pod = inputs.pod;
    let previous = pod.status.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let init_statuses: Vec<ContainerStatus> = {
        let context = container_context(&inputs, &uid, false);
        spec.init_containers
            .iter()
            .flatten()
            .map(|container| container_status(container, true, context))
            .collect()
    };
    let initialized = init_statuses.iter().all(succeeded);
    let container_statuses: Vec<ContainerStatus> = {
        let context = container_context(&inputs, &uid, !initialized);
        spec.containers
            .iter()
            .map(|container| container_status(container, false, context))
            .collect()
    };
    let restart_policy = spec
        .restart_policy
        .clone()
        .unwrap_or_else(|| "Always".to_owned());
    let phase = pod_phase(
        &previous,
        &init_statuses,
        &container_statuses,
        &restart_policy,
    );
    let sandbox = inputs
        .runtime
        .current_sandbox(&uid)
        .or_else(|| inputs.runtime.newest_sandbox(&uid));
    // A hostNetwork pod has no address of its own: it is the node's, as the kubelet reports.
    let host_network_ip = (spec.host_network.unwrap_or(false) && !inputs.host_ip.is_empty())
        .then(|| inputs.host_ip.to_owned());
    let pod_ip = host_network_ip
        .or_else(|| sandbox.and_then(|sandbox| sandbox.ip.clone()))
        .or(previous.pod_ip.clone());
    let sandbox_ready = inputs.runtime.current_sandbox(&uid).is_some();
    let conditions = conditions(
        &previous,
        &phase,
        sandbox_ready,
        &init_statuses,
        &container_statuses,
        inputs.now,
    );
    PodStatus {
        phase: Some(phase),
        conditions: Some(conditions),
        host_ip: (!inputs.host_ip.is_empty()).then(|| inputs.host_ip.to_owned()),
        host_ips: (!inputs.host_ip.is_empty()).then(|| {
            vec![HostIP {
                ip: inputs.host_ip.to_owned(),
            }]
        }),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        start_time: previous.start_time.clone().or(Some(Time(inputs.now))),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(container_statuses),
        qos_class: previous.qos_class.clone(),
        ..PodStatus::default()
    }
}

fn container_context<'a>(
    inputs: &StatusInputs<'a>,
    uid: &'a str,
    initializing: bool,
) -> ContainerContext<'a> {
    ContainerContext {
        pod_uid: uid,
        runtime: inputs.runtime,
        waiting: inputs.waiting,
        readiness: inputs.readiness,
        startup_pending: inputs.startup_pending,
        initializing,
    }
}

fn terminated_exit_code(status: &ContainerStatus) -> Option<i32> {
    let state = status.state.as_ref()?;
    state
        .terminated
        .as_ref()
        .map(|terminated| terminated.exit_code)
}

fn succeeded(status: &ContainerStatus) -> bool {
    terminated_exit_code(status) == Some(0)
}

/// The kubelet's getPhase: waiting containers keep a pod Pending; running ones make it Running;
/// when all stopped, the restart policy decides between Running, Succeeded and Failed. A
/// terminal phase never changes again.
fn pod_phase(
    previous: &PodStatus,
    init_statuses: &[ContainerStatus],
    statuses: &[ContainerStatus],
    restart_policy: &str,
) -> String {
    if let Some(phase @ ("Succeeded" | "Failed")) = previous.phase.as_deref() {
        return phase.to_owned();
    }
    let init_failed = init_statuses
        .iter()
        .any(|status| terminated_exit_code(status).is_some_and(|code| code != 0));
    if init_failed && restart_policy == "Never" {
        return "Failed".to_owned();
    }
    if !init_statuses.iter().all(succeeded) {
        return "Pending".to_owned();
    }
    let (mut waiting, mut running, mut stopped, mut succeeded_count) = (0, 0, 0, 0);
    for status in statuses {
        let state = status.state.clone().unwrap_or_default();
        let restarted_before = status
            .last_state
            .as_ref()
            .is_some_and(|last| last.terminated.is_some());
        if state.running.is_some() {
            running += 1;
        } else if let Some(terminated) = &state.terminated {
            stopped += 1;
            if terminated.exit_code == 0 {
                succeeded_count += 1;
            }
        } else if restarted_before {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    let phase = match () {
        () if waiting > 0 => "Pending",
        () if running > 0 => "Running",
        () if stopped > 0 && restart_policy == "Always" => "Running",
        () if stopped > 0 && stopped == succeeded_count => "Succeeded",
        () if stopped > 0 && restart_policy == "Never" => "Failed",
        () if stopped > 0 => "Running",
        () => "Pending",
    };
    phase.to_owned()
}

/// The pod conditions the agent owns; others (DisruptionTarget from an eviction, readiness
/// gates) belong to whoever set them.
const AGENT_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// The agent's last status with the conditions others own taken from the API's `current`
/// status: the agent computes from what it last wrote, but must not undo a condition set
/// since (an eviction's DisruptionTarget), as the kubelet keeps them.
pub fn with_conditions_of_others(mut last: PodStatus, current: Option<&PodStatus>) -> PodStatus {
    let others = current
        .and_then(|status| status.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|condition| !AGENT_CONDITIONS.contains(&condition.type_.as_str()))
        .cloned();
    let mut conditions: Vec<PodCondition> = last
        .conditions
        .take()
        .into_iter()
        .flatten()
        .filter(|condition| AGENT_CONDITIONS.contains(&condition.type_.as_str()))
        .collect();
    conditions.extend(others);
    last.conditions = Some(conditions);
    last
}

fn conditions(
    previous: &PodStatus,
    phase: &str,
    sandbox_ready: bool,
    init_statuses: &[ContainerStatus],
    statuses: &[ContainerStatus],
    now: Timestamp,
) -> Vec<PodCondition> {
    let completed = phase == "Succeeded" || phase == "Failed";
    let incomplete: Vec<&str> = init_statuses
        .iter()
        .filter(|status| !succeeded(status))
        .map(|status| status.name.as_str())
        .collect();
    let unready: Vec<&str> = statuses
        .iter()
        .filter(|status| !status.ready)
        .map(|status| status.name.as_str())
        .collect();
    let initialized = if incomplete.is_empty() || completed && phase == "Succeeded" {
        (true, None)
    } else {
        (
            false,
            Some((
                "ContainersNotInitialized",
                format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                ),
            )),
        )
    };
    let ready = if unready.is_empty() {
        (true, None)
    } else if completed {
        (false, Some(("PodCompleted", String::new())))
    } else {
        (
            false,
            Some((
                "ContainersNotReady",
                format!("containers with unready status: [{}]", unready.join(" ")),
            )),
        )
    };
    let entries = [
        ("PodReadyToStartContainers", (sandbox_ready, None)),
        ("Initialized", initialized),
        ("Ready", ready.clone()),
        ("ContainersReady", ready),
        ("PodScheduled", (true, None)),
    ];
    debug_assert!(entries.iter().map(|(kind, _)| *kind).eq(AGENT_CONDITIONS));
    let owned = AGENT_CONDITIONS;
    let mut conditions: Vec<PodCondition> = entries
        .into_iter()
        .map(|(kind, (status, reason))| condition(previous, kind, status, reason, now))
        .collect();
    // Conditions others set (DisruptionTarget from an eviction, readiness gates) stay, as
    // the kubelet keeps them.
    let others = previous.conditions.iter().flatten();
    conditions.extend(
        others
            .filter(|condition| !owned.contains(&condition.type_.as_str()))
            .cloned(),
    );
    conditions
}

/// A condition whose transition time is the previous one's when its status did not change.
fn condition(
    previous: &PodStatus,
    kind: &str,
    status: bool,
    reason: Option<(&str, String)>,
    now: Timestamp,
) -> PodCondition {
    let status_text = if status { "True" } else { "False" };
    let earlier = previous
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == kind);
    let last_transition_time = match earlier {
        Some(earlier) if earlier.status == status_text => earlier.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let (reason, message) = match reason {
        Some((reason, message)) => (
            Some(reason.to_owned()),
            (!message.is_empty()).then_some(message),
        ),
        None => (None, None),
    };
    PodCondition {
        type_: kind.to_owned(),
        status: status_text.to_owned(),
        last_transition_time,
        reason,
        message,
        ..PodCondition::default()
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
