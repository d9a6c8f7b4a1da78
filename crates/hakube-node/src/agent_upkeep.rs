//! Per-round upkeep beside the pod lifecycle: running the probes that are due and rotating
//! container logs that outgrew their limit.

use super::Agent;
use crate::probe_run::run_probe;
use crate::probes::ProbeKind;
use crate::resolved_pod::ResolvedPod;
use crate::runtime_view::RuntimeView;
use jiff::Timestamp;

impl Agent {
    /// Rotates the log files of running containers that outgrew the limit.
    pub(super) async fn rotate_logs(&self, desired: &[ResolvedPod], view: &RuntimeView) {
        let running = view.containers.iter().filter(|container| {
            container.state == crate::runtime_view::ObservedContainerState::Running
        });
        for container in running {
            let Some(resolved) = desired
                .iter()
                .find(|resolved| resolved.uid() == container.pod_uid)
            else {
                continue;
            };
            let pod_dir = self
                .paths
                .pod_dir(resolved.namespace(), resolved.name(), resolved.uid());
            let path = crate::logs::log_file(&pod_dir, &container.name, container.attempt);
            if !crate::log_rotation::rotation_due(&path, self.config.container_log_max_bytes) {
                continue;
            }
            if let Err(error) = crate::log_rotation::rotate(&path, Timestamp::now()) {
                tracing::warn!(%error, path = %path.display(), "rotating a container log failed");
                continue;
            }
            if let Err(error) = self.client.reopen_container_log(&container.id).await {
                tracing::warn!(%error, container_id = %container.id, "reopening a container log failed");
            }
            let keep = self.config.container_log_max_files.saturating_sub(1);
            crate::log_rotation::prune_rotated(&path, keep);
        }
    }

    /// Runs the probes due now, all at once (each bounded by its timeout).
    pub(super) async fn run_due_probes(&mut self, desired: &[ResolvedPod], view: &RuntimeView) {
        let pods: Vec<&hakube_kinds::k8s_openapi::api::core::v1::Pod> = desired
            .iter()
            .filter(|resolved| resolved.pod.metadata.deletion_timestamp.is_none())
            .map(|resolved| &resolved.pod)
            .collect();
        let due = self.probes.due(&pods, view, Timestamp::now());
        let client = &self.client;
        let results =
            futures::future::join_all(due.iter().map(|request| run_probe(client, request))).await;
        for (request, success) in due.iter().zip(results) {
            self.probes.record(request, success);
            if !success {
                let kind = match request.kind {
                    ProbeKind::Startup => "Startup",
                    ProbeKind::Liveness => "Liveness",
                    ProbeKind::Readiness => "Readiness",
                };
                let message = format!("{kind} probe failed");
                self.events
                    .warning(&request.key.pod_uid, "Unhealthy", message);
            }
        }
    }
}
