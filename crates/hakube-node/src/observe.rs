//! Observing the runtime through CRI: List calls for sandboxes and containers, plus the status
//! calls that carry what the lists do not (pod IP, exit code, start and finish times). What a
//! status call says about a container does not change while the list still shows it in the
//! same state (a running container keeps its start time; an exited one is final), and sandbox
//! IPs never change, so both are cached by ID and a container's status is asked for only when
//! its state moved: a round on a node with many running pods makes two list calls, not one
//! status call per container (bounded: entries of IDs no longer listed are dropped every round).

use crate::cri::{CriClient, CriError};
use crate::pod_config::{CONTAINER_NAME_LABEL, POD_UID_LABEL};
use crate::runtime_view::{
    ObservedContainer, ObservedContainerState, ObservedSandbox, RuntimeView,
};
use jiff::Timestamp;
use k8s_cri::v1 as cri;
use std::collections::{BTreeMap, BTreeSet};

/// Caches of facts that do not change while a container keeps its state.
#[derive(Debug, Default)]
pub struct Observer {
    sandbox_ips: BTreeMap<String, Option<String>>,
    containers: BTreeMap<String, ObservedContainer>,
}

impl Observer {
    pub async fn observe(&mut self, client: &CriClient) -> Result<RuntimeView, CriError> {
        let sandboxes = client.list_pod_sandboxes().await?;
        let containers = client.list_containers().await?;
        let sandbox_ids: BTreeSet<&str> = sandboxes
            .iter()
            .map(|sandbox| sandbox.id.as_str())
            .collect();
        let container_ids: BTreeSet<&str> = containers
            .iter()
            .map(|container| container.id.as_str())
            .collect();
        self.sandbox_ips
            .retain(|id, _| sandbox_ids.contains(id.as_str()));
        self.containers
            .retain(|id, _| container_ids.contains(id.as_str()));
        let mut view = RuntimeView::default();
        for sandbox in &sandboxes {
            view.sandboxes
                .push(self.observe_sandbox(client, sandbox).await?);
        }
        let pod_of_sandbox: BTreeMap<&str, &str> = view
            .sandboxes
            .iter()
            .map(|sandbox| (sandbox.id.as_str(), sandbox.pod_uid.as_str()))
            .collect();
        for container in &containers {
            let pod_uid = container
                .labels
                .get(POD_UID_LABEL)
                .map(String::as_str)
                .or_else(|| {
                    pod_of_sandbox
                        .get(container.pod_sandbox_id.as_str())
                        .copied()
                })
                .unwrap_or_default()
                .to_owned();
            if let Some(observed) = self.observe_container(client, container, pod_uid).await? {
                view.containers.push(observed);
            }
        }
        Ok(view)
    }

    async fn observe_sandbox(
        &mut self,
        client: &CriClient,
        sandbox: &cri::PodSandbox,
    ) -> Result<ObservedSandbox, CriError> {
        let metadata = sandbox.metadata.clone().unwrap_or_default();
        let ready = sandbox.state == cri::PodSandboxState::SandboxReady as i32;
        let ip = match self.sandbox_ips.get(&sandbox.id) {
            Some(ip) => ip.clone(),
            None => {
                let status = client.pod_sandbox_status(&sandbox.id).await?;
                let ip = status
                    .and_then(|status| status.network)
                    .map(|network| network.ip)
                    .filter(|ip| !ip.is_empty());
                // A sandbox keeps its address for life; one without an address may still get one.
                if ip.is_some() {
                    self.sandbox_ips.insert(sandbox.id.clone(), ip.clone());
                }
                ip
            }
        };
        Ok(ObservedSandbox {
            id: sandbox.id.clone(),
            namespace: metadata.namespace,
            name: metadata.name,
            pod_uid: metadata.uid,
            attempt: metadata.attempt,
            ready,
            created_at: timestamp(sandbox.created_at).unwrap_or(Timestamp::UNIX_EPOCH),
            ip,
        })
    }

    async fn observe_container(
        &mut self,
        client: &CriClient,
        container: &cri::Container,
        pod_uid: String,
    ) -> Result<Option<ObservedContainer>, CriError> {
        let listed_state = container_state(container.state);
        if let Some(cached) = self.containers.get(&container.id)
            && cached.state == listed_state
            && listed_state != ObservedContainerState::Unknown
        {
            return Ok(Some(cached.clone()));
        }
        let status = match client.container_status(&container.id).await {
            Ok(Some(status)) => status,
            // Removed between the list and the status call: it is simply gone.
            Ok(None) => return Ok(None),
            Err(error) if error.code() == tonic::Code::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let metadata = status.metadata.clone().unwrap_or_default();
        let name = container
            .labels
            .get(CONTAINER_NAME_LABEL)
            .cloned()
            .unwrap_or(metadata.name);
        let observed = ObservedContainer {
            id: container.id.clone(),
            sandbox_id: container.pod_sandbox_id.clone(),
            pod_uid,
            name,
            attempt: metadata.attempt,
            state: container_state(status.state),
            created_at: timestamp(status.created_at).unwrap_or(Timestamp::UNIX_EPOCH),
            started_at: timestamp(status.started_at),
            finished_at: timestamp(status.finished_at),
            exit_code: status.exit_code,
            reason: status.reason.clone(),
            message: status.message.clone(),
            image: status.image.map(|image| image.image).unwrap_or_default(),
            image_ref: status.image_ref.clone(),
        };
        self.containers
            .insert(container.id.clone(), observed.clone());
        Ok(Some(observed))
    }
}

fn container_state(state: i32) -> ObservedContainerState {
    match cri::ContainerState::try_from(state) {
        Ok(cri::ContainerState::ContainerCreated) => ObservedContainerState::Created,
        Ok(cri::ContainerState::ContainerRunning) => ObservedContainerState::Running,
        Ok(cri::ContainerState::ContainerExited) => ObservedContainerState::Exited,
        _ => ObservedContainerState::Unknown,
    }
}

/// CRI times are Unix nanoseconds, 0 meaning "not set".
fn timestamp(nanoseconds: i64) -> Option<Timestamp> {
    (nanoseconds > 0)
        .then(|| Timestamp::from_nanosecond(i128::from(nanoseconds)).ok())
        .flatten()
}
