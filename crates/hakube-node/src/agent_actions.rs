//! Carrying out the state machine's actions against CRI: sandboxes, container starts (with
//! their failures recorded for status and back-off), background graceful stops, removals and
//! pod cleanup. Each notable step is also recorded as a pod event, as the kubelet reports them.

use super::Agent;
use crate::back_off::ContainerKey;
use crate::container_start::{StartRequest, start_container};
use crate::cri::CriError;
use crate::environment::PodAddresses;
use crate::pod_config::{SandboxContext, sandbox_config};
use crate::resolved_pod::ResolvedPod;
use crate::runtime_view::RuntimeView;
use crate::sync::{Action, Waiting};
use hakube_kinds::k8s_openapi::api::core::v1::Container;
use jiff::Timestamp;
use std::collections::BTreeMap;

impl Agent {
    pub(super) async fn execute(
        &mut self,
        action: Action,
        desired: &[ResolvedPod],
        view: &RuntimeView,
        fresh_failures: &mut BTreeMap<ContainerKey, Waiting>,
    ) {
        let find_pod = |uid: &str| desired.iter().find(|resolved| resolved.uid() == uid);
        let started = std::time::Instant::now();
        let kind = action.kind();
        let result = match action {
            Action::RunSandbox { pod_uid, attempt } => match find_pod(&pod_uid) {
                Some(resolved) => {
                    let result = self.run_sandbox(resolved, attempt).await;
                    match &result {
                        Ok(()) => self.syncer.clear_sandbox_failure(&pod_uid),
                        Err(_) => self
                            .syncer
                            .record_sandbox_failure(&pod_uid, Timestamp::now()),
                    }
                    if let Err(error) = &result {
                        let message = format!("Failed to create pod sandbox: {}", error.message());
                        self.events
                            .warning(&pod_uid, "FailedCreatePodSandBox", message);
                    }
                    result
                }
                None => Ok(()),
            },
            Action::CreateContainer {
                pod_uid,
                sandbox_id,
                container_name,
                attempt,
            } => {
                if let Some(resolved) = find_pod(&pod_uid) {
                    self.create_container(
                        resolved,
                        view,
                        &sandbox_id,
                        &container_name,
                        attempt,
                        fresh_failures,
                    )
                    .await;
                }
                Ok(())
            }
            Action::StartContainer { container_id } => {
                self.client.start_container(&container_id).await
            }
            Action::StopContainer {
                container_id,
                grace_period_seconds,
            } => {
                self.record_stop_event(view, &container_id);
                let client = self.client.clone();
                let id = container_id.clone();
                let wake = self.wake.clone();
                let task = tokio::spawn(async move {
                    if let Err(error) = client.stop_container(&id, grace_period_seconds).await {
                        tracing::warn!(%error, container_id = %id, "stopping a container failed");
                    }
                    wake.notify_one();
                });
                self.stops.insert(container_id, task);
                Ok(())
            }
            Action::RemoveContainer { container_id } => {
                self.client.remove_container(&container_id).await
            }
            // Carried out in the background (`agent_teardown.rs`), never here.
            Action::StopSandbox { .. }
            | Action::RemoveSandbox { .. }
            | Action::CleanupPod { .. } => Ok(()),
        };
        log_outcome(kind, started, &result);
    }

    /// Killing, worded by why: a failed liveness probe or the pod's deletion.
    fn record_stop_event(&mut self, view: &RuntimeView, container_id: &str) {
        let Some(container) = view
            .containers
            .iter()
            .find(|container| container.id == container_id)
        else {
            return;
        };
        let message = if self.probes.unhealthy_containers().contains(container_id) {
            format!(
                "Container {} failed liveness probe, will be restarted",
                container.name
            )
        } else {
            format!("Stopping container {}", container.name)
        };
        self.events.normal(&container.pod_uid, "Killing", message);
    }

    async fn run_sandbox(&self, resolved: &ResolvedPod, attempt: u32) -> Result<(), CriError> {
        let pod_dir = self
            .paths
            .pod_dir(resolved.namespace(), resolved.name(), resolved.uid());
        if let Err(error) = std::fs::create_dir_all(&pod_dir) {
            tracing::warn!(%error, pod_dir = %pod_dir.display(), "creating the pod directory failed");
        }
        let config = sandbox_config(&resolved.pod, attempt, &pod_dir, &self.sandbox_context());
        self.client.run_pod_sandbox(config).await.map(drop)
    }

    fn sandbox_context(&self) -> SandboxContext {
        SandboxContext {
            cgroup_root: self.config.cgroup_root.clone(),
            cluster_dns: self.config.cluster_dns.clone(),
        }
    }

    async fn create_container(
        &mut self,
        resolved: &ResolvedPod,
        view: &RuntimeView,
        sandbox_id: &str,
        container_name: &str,
        attempt: u32,
        fresh_failures: &mut BTreeMap<ContainerKey, Waiting>,
    ) {
        let Some(container) = find_container(resolved, container_name) else {
            return;
        };
        let Some(sandbox) = view
            .sandboxes
            .iter()
            .find(|sandbox| sandbox.id == sandbox_id)
        else {
            return;
        };
        let pod_dir = self
            .paths
            .pod_dir(resolved.namespace(), resolved.name(), resolved.uid());
        let sandbox_config = sandbox_config(
            &resolved.pod,
            sandbox.attempt,
            &pod_dir,
            &self.sandbox_context(),
        );
        let addresses = PodAddresses {
            pod_ip: sandbox.ip.clone().unwrap_or_default(),
            host_ip: self.config.host_ip.clone(),
        };
        let request = StartRequest {
            client: &self.client,
            sandbox_id,
            sandbox_config: &sandbox_config,
            pod_dir: &pod_dir,
            addresses: &addresses,
            memory_capacity_bytes: self.config.memory_capacity_bytes,
        };
        let key = ContainerKey::new(resolved.uid(), container_name);
        let image = container.image.clone().unwrap_or_default();
        let uid = resolved.uid();
        match start_container(request, resolved, &container, attempt).await {
            Ok(started) => {
                self.syncer.clear_failure(&key);
                let image_event = if started.image_pulled {
                    ("Pulled", format!("Successfully pulled image \"{image}\""))
                } else {
                    (
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    )
                };
                self.events.normal(uid, image_event.0, image_event.1);
                self.events.normal(
                    uid,
                    "Created",
                    format!("Created container: {container_name}"),
                );
                self.events.normal(
                    uid,
                    "Started",
                    format!("Started container {container_name}"),
                );
            }
            Err(failure) => {
                let waiting = crate::sync::Failure {
                    kind: failure.kind.clone(),
                    message: failure.message.clone(),
                    at: Timestamp::now(),
                }
                .fresh_waiting();
                self.events.warning(uid, "Failed", failure.message.clone());
                self.events
                    .warning(uid, "Failed", format!("Error: {}", waiting.reason));
                tracing::info!(container = container_name, message = %failure.message, "starting a container failed");
                self.syncer
                    .record_failure(&key, failure.kind, failure.message, Timestamp::now());
                if let Some(recorded) = self.syncer.failure(&key) {
                    fresh_failures.insert(key, recorded.fresh_waiting());
                }
            }
        }
    }
}

fn find_container(resolved: &ResolvedPod, name: &str) -> Option<Container> {
    let spec = resolved.pod.spec.as_ref()?;
    let init = spec.init_containers.iter().flatten();
    init.chain(spec.containers.iter())
        .find(|container| container.name == name)
        .cloned()
}

/// Logs how long an action took (where a pod's start-up time goes: RUST_LOG=hakube_node=debug)
/// and why it failed; the next sync plans a failed action again.
pub(super) fn log_outcome(kind: &str, started: std::time::Instant, result: &Result<(), CriError>) {
    tracing::debug!(
        action = kind,
        elapsed_ms = started.elapsed().as_millis(),
        "pod action"
    );
    if let Err(error) = result {
        tracing::warn!(%error, "a pod action failed; the next sync retries it");
    }
}
