//! How upstream's StatefulSet controller judges one pod: Running and Ready, available after
//! minReadySeconds, going away, finished.

use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

use crate::pod_states;

pub fn is_running_and_ready(pod: &Pod) -> bool {
    pod_states::phase(pod) == "Running" && pod_states::is_ready(pod)
}

pub fn is_running_and_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    pod_states::phase(pod) == "Running" && pod_states::is_available(pod, min_ready_seconds, now)
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Running, Ready and staying: a predecessor that lets the next step go ahead.
pub fn is_healthy(pod: &Pod) -> bool {
    is_running_and_ready(pod) && !is_terminating(pod)
}

/// Failed or Succeeded: either way the pod is recreated (an evicted or rebooted pod's
/// phase follows its exit code, not why it stopped).
pub fn is_finished(pod: &Pod) -> bool {
    pod_states::is_terminal(pod)
}
