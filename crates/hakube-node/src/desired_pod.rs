//! The facts of a desired pod that the sync state machine decides on, taken from the typed Pod:
//! identity, container names in order, restart policy, deletion, and whether it already ended.

use hakube_kinds::k8s_openapi::api::core::v1::Pod;

/// The kubelet's default grace period when neither the deletion nor the spec gives one.
pub const DEFAULT_GRACE_PERIOD_SECONDS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `exit_code` runs again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPod {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub init_containers: Vec<String>,
    pub containers: Vec<String>,
    pub restart_policy: RestartPolicy,
    /// Set when the pod has a deletionTimestamp: the grace period its containers get.
    pub deletion_grace_period_seconds: Option<i64>,
    /// The spec's grace period, for containers stopped while the pod lives (failed liveness).
    pub termination_grace_period_seconds: i64,
    /// The pod's last reported phase was Succeeded or Failed: nothing starts again.
    pub previously_terminal: bool,
}

impl DesiredPod {
    pub fn from_pod(pod: &Pod) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let deletion_grace_period_seconds = pod.metadata.deletion_timestamp.as_ref().map(|_| {
            pod.metadata
                .deletion_grace_period_seconds
                .or(spec.termination_grace_period_seconds)
                .unwrap_or(DEFAULT_GRACE_PERIOD_SECONDS)
        });
        let phase = pod
            .status
            .as_ref()
            .and_then(|status| status.phase.as_deref());
        Self {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            init_containers: spec
                .init_containers
                .iter()
                .flatten()
                .map(|container| container.name.clone())
                .collect(),
            containers: spec
                .containers
                .iter()
                .map(|container| container.name.clone())
                .collect(),
            restart_policy: RestartPolicy::parse(spec.restart_policy.as_deref()),
            deletion_grace_period_seconds,
            termination_grace_period_seconds: spec
                .termination_grace_period_seconds
                .unwrap_or(DEFAULT_GRACE_PERIOD_SECONDS),
            previously_terminal: matches!(phase, Some("Succeeded") | Some("Failed")),
        }
    }
}
