//! The pod printer: upstream's `printPod`, whose Status column condenses the
//! phase, init containers, container states and deletion into one word
//! ("Running", "Init:0/2", "CrashLoopBackOff", "Terminating", ...), and whose
//! Restarts column adds how long ago the last restart happened.

use std::collections::HashSet;

use jiff::Timestamp;
use serde_json::Value;

use super::columns::{AGE, NAME, column, wide_column};
use super::duration::{human_duration, parse_timestamp, seconds_since};
use super::fields::{
    age_cell, array, boolean, field, integer, is_being_deleted, name_cell, optional_boolean,
    or_none, text,
};
use super::{Column, Printer};

/// Pod status reason the node lifecycle controller sets on pods of an
/// unreachable node (upstream's `node.NodeUnreachablePodReason`).
const NODE_LOST_REASON: &str = "NodeLost";

static POD_COLUMNS: [Column; 9] = [
    NAME,
    column(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    column(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    column(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE,
    wide_column(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
    ),
    wide_column(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName.",
    ),
    wide_column(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
    ),
    wide_column(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\"",
    ),
];

pub(super) const POD_PRINTER: Printer = Printer {
    columns: &POD_COLUMNS,
    cells: pod_cells,
};

fn pod_cells(pod: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let summary = summarize(pod);
    vec![
        name_cell(pod),
        Value::from(format!("{}/{}", summary.ready, summary.total)),
        Value::from(summary.reason.clone()),
        Value::from(restarts_text(&summary.restarts, now_unix_seconds)),
        age_cell(pod, now_unix_seconds),
        Value::from(or_none(pod_ip(pod))),
        Value::from(or_none(text(pod, &["spec", "nodeName"]))),
        Value::from(or_none(text(pod, &["status", "nominatedNodeName"]))),
        Value::from(readiness_gates(pod)),
    ]
}

/// Restart count plus the latest `lastState.terminated.finishedAt` seen.
#[derive(Debug, Clone, Default)]
struct Restarts {
    count: i64,
    last_finished: Option<Timestamp>,
}

impl Restarts {
    fn add(&mut self, container_status: &Value) {
        self.count += integer(container_status, &["restartCount"]);
        let finished = field(container_status, &["lastState", "terminated"])
            .map(|terminated| text(terminated, &["finishedAt"]))
            .and_then(parse_timestamp);
        if finished > self.last_finished {
            self.last_finished = finished;
        }
    }
}

/// What the Ready, Status and Restarts cells are computed from.
#[derive(Debug)]
struct PodSummary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: Restarts,
}

/// "2", or "2 (5m ago)" when the time of the last restart is known.
fn restarts_text(restarts: &Restarts, now_unix_seconds: i64) -> String {
    match restarts.last_finished {
        Some(finished) if restarts.count != 0 => {
            let ago = human_duration(seconds_since(finished, now_unix_seconds));
            format!("{} ({ago} ago)", restarts.count)
        }
        _ => restarts.count.to_string(),
    }
}

fn summarize(pod: &Value) -> PodSummary {
    let sidecars = restartable_init_containers(pod);
    let mut summary = PodSummary {
        ready: 0,
        total: array(pod, &["spec", "containers"]).len() + sidecars.len(),
        reason: initial_reason(pod),
        restarts: Restarts::default(),
    };
    let init = apply_init_containers(pod, &sidecars, &mut summary);
    if !init.blocked || has_true_condition(pod, "Initialized") {
        // Once initialised, only sidecar restarts stay in the count: plain
        // init containers ran to completion and are no longer interesting.
        summary.restarts = init.sidecar_restarts;
        apply_containers(pod, &mut summary);
    }
    summary.reason = deletion_reason(pod).unwrap_or(summary.reason);
    summary
}

/// The phase, overridden by `status.reason`, overridden by a scheduling gate.
fn initial_reason(pod: &Value) -> String {
    let scheduling_gated = array(pod, &["status", "conditions"])
        .iter()
        .any(|condition| {
            text(condition, &["type"]) == "PodScheduled"
                && text(condition, &["reason"]) == "SchedulingGated"
        });
    if scheduling_gated {
        return "SchedulingGated".to_string();
    }
    let status_reason = text(pod, &["status", "reason"]);
    if status_reason.is_empty() {
        text(pod, &["status", "phase"]).to_string()
    } else {
        status_reason.to_string()
    }
}

/// Names of init containers with `restartPolicy: Always` (sidecars), which
/// keep running and so count towards Ready like regular containers.
fn restartable_init_containers(pod: &Value) -> HashSet<&str> {
    array(pod, &["spec", "initContainers"])
        .iter()
        .filter(|container| text(container, &["restartPolicy"]) == "Always")
        .map(|container| text(container, &["name"]))
        .collect()
}

/// What walking the init container statuses found.
#[derive(Debug)]
struct InitOutcome {
    /// An init container is still running, waiting or failed.
    blocked: bool,
    /// Restarts of sidecar (restartable) init containers only.
    sidecar_restarts: Restarts,
}

/// Walks init container statuses until the first one still blocking the pod,
/// setting an "Init:..." reason for it.
fn apply_init_containers(
    pod: &Value,
    sidecars: &HashSet<&str>,
    summary: &mut PodSummary,
) -> InitOutcome {
    let init_container_count = array(pod, &["spec", "initContainers"]).len();
    let mut outcome = InitOutcome {
        blocked: false,
        sidecar_restarts: Restarts::default(),
    };
    for (index, status) in array(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        summary.restarts.add(status);
        let is_sidecar = sidecars.contains(text(status, &["name"]));
        if is_sidecar {
            outcome.sidecar_restarts.add(status);
        }
        let terminated = field(status, &["state", "terminated"]);
        if terminated.is_some_and(|terminated| integer(terminated, &["exitCode"]) == 0) {
            continue;
        }
        if is_sidecar && optional_boolean(status, &["started"]) == Some(true) {
            if boolean(status, &["ready"]) {
                summary.ready += 1;
            }
            continue;
        }
        summary.reason = blocking_init_reason(status, index, init_container_count);
        outcome.blocked = true;
        break;
    }
    outcome
}

/// The "Init:..." reason for the init container that blocks the pod.
fn blocking_init_reason(status: &Value, index: usize, init_container_count: usize) -> String {
    if let Some(terminated) = field(status, &["state", "terminated"]) {
        return format!("Init:{}", termination_reason(terminated));
    }
    let waiting_reason = text(status, &["state", "waiting", "reason"]);
    if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
        return format!("Init:{waiting_reason}");
    }
    format!("Init:{index}/{init_container_count}")
}

/// A terminated state's reason, else "Signal:N", else "ExitCode:N".
fn termination_reason(terminated: &Value) -> String {
    let reason = text(terminated, &["reason"]);
    if !reason.is_empty() {
        return reason.to_string();
    }
    let signal = integer(terminated, &["signal"]);
    if signal != 0 {
        return format!("Signal:{signal}");
    }
    format!("ExitCode:{}", integer(terminated, &["exitCode"]))
}

/// Folds regular container statuses into the summary. Upstream walks them in
/// reverse so the first container's state wins the Status cell.
fn apply_containers(pod: &Value, summary: &mut PodSummary) {
    let mut has_running = false;
    let mut error_reason: Option<String> = None;
    for status in array(pod, &["status", "containerStatuses"]).iter().rev() {
        summary.restarts.add(status);
        let waiting_reason = text(status, &["state", "waiting", "reason"]);
        if !waiting_reason.is_empty() {
            summary.reason = waiting_reason.to_string();
        } else if let Some(terminated) = field(status, &["state", "terminated"]) {
            summary.reason = termination_reason(terminated);
            if integer(terminated, &["exitCode"]) != 0 {
                error_reason = Some(summary.reason.clone());
            }
        } else if boolean(status, &["ready"]) && field(status, &["state", "running"]).is_some() {
            has_running = true;
            summary.ready += 1;
        }
    }
    if summary.reason == "Completed" {
        summary.reason = completed_reason(pod, has_running, error_reason);
    }
}

/// A "Completed" container does not make the pod completed while others run.
fn completed_reason(pod: &Value, has_running: bool, error_reason: Option<String>) -> String {
    if has_running && has_true_condition(pod, "Ready") {
        return "Running".to_string();
    }
    if let Some(error_reason) = error_reason {
        return error_reason;
    }
    if has_running {
        return "NotReady".to_string();
    }
    "Completed".to_string()
}

/// "Unknown" for pods of a lost node being deleted, "Terminating" for other
/// pods being deleted that have not reached a terminal phase.
fn deletion_reason(pod: &Value) -> Option<String> {
    if !is_being_deleted(pod) {
        return None;
    }
    if text(pod, &["status", "reason"]) == NODE_LOST_REASON {
        return Some("Unknown".to_string());
    }
    let phase = text(pod, &["status", "phase"]);
    if phase == "Succeeded" || phase == "Failed" {
        return None;
    }
    Some("Terminating".to_string())
}

/// Whether the pod condition `condition_type` is present with status "True"
/// (only the first condition of that type counts, as upstream).
fn has_true_condition(pod: &Value, condition_type: &str) -> bool {
    array(pod, &["status", "conditions"])
        .iter()
        .find(|condition| text(condition, &["type"]) == condition_type)
        .is_some_and(|condition| text(condition, &["status"]) == "True")
}

/// The primary pod IP: `status.podIPs[0]`, else the legacy `status.podIP`.
fn pod_ip(pod: &Value) -> &str {
    array(pod, &["status", "podIPs"])
        .first()
        .map(|address| text(address, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| text(pod, &["status", "podIP"]))
}

/// "true/total" over `spec.readinessGates`, or "<none>" without gates.
fn readiness_gates(pod: &Value) -> String {
    let gates = array(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".to_string();
    }
    let satisfied = gates
        .iter()
        .filter(|gate| has_true_condition(pod, text(gate, &["conditionType"])))
        .count();
    format!("{satisfied}/{}", gates.len())
}
