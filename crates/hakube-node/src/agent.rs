//! The agent: runs the desired pods through CRI. Each `sync` observes the runtime, asks the
//! pure state machine (`sync.rs`) what to do, carries the actions out, and reports every desired
//! pod's status. Graceful stops run as background tasks so a long grace period does not hold up
//! other pods; the state machine is told which stops are in flight.

use crate::agent_config::AgentConfig;
use crate::back_off::ContainerKey;
use crate::cni::{CniError, CniNetwork};
use crate::container_start::{StartRequest, start_container};
use crate::cri::{CriClient, CriError};
use crate::desired_pod::DesiredPod;
use crate::environment::PodAddresses;
use crate::node_paths::NodePaths;
use crate::observe::Observer;
use crate::pod_cleanup::cleanup_pod;
use crate::pod_config::{SandboxContext, sandbox_config};
use crate::probe_run::run_probe;
use crate::probes::ProbeScheduler;
use crate::resolved_pod::{PodReport, ResolvedPod};
use crate::runtime_view::RuntimeView;
use crate::status::{StatusInputs, compute_pod_status};
use crate::sync::{Action, ContainerSignals, PodSyncer, Waiting};
use hakube_kinds::k8s_openapi::api::core::v1::{Container, PodStatus};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// Passes per sync: a new pod needs one for its sandbox and one for its containers.
const MAX_PASSES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Cni(#[from] CniError),
    #[error("creating {path}: {source}")]
    Directory {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("observing the runtime: {0}")]
    Observe(#[from] CriError),
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error(transparent)]
    Cri(#[from] CriError),
}

#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    paths: NodePaths,
    client: CriClient,
    syncer: PodSyncer,
    probes: ProbeScheduler,
    observer: Observer,
    /// Graceful stops in flight, by container ID (at most one per container).
    stops: BTreeMap<String, tokio::task::JoinHandle<()>>,
    /// The status last reported per pod UID: the "previous" of the next round.
    last_status: BTreeMap<String, PodStatus>,
    last_view: RuntimeView,
}

impl Agent {
    /// Writes the node's CNI network and takes over whatever already runs in containerd.
    pub fn new(config: AgentConfig, client: CriClient) -> Result<Self, AgentError> {
        let paths = NodePaths::new(&config.node_dir);
        let pods_dir = paths.pods_dir();
        std::fs::create_dir_all(&pods_dir).map_err(|source| AgentError::Directory {
            path: pods_dir,
            source,
        })?;
        CniNetwork {
            bridge_name: config.bridge_name.clone(),
            pod_cidr: config.pod_cidr.clone(),
        }
        .write(&paths)?;
        Ok(Self {
            config,
            paths,
            client,
            syncer: PodSyncer::default(),
            probes: ProbeScheduler::default(),
            observer: Observer::default(),
            stops: BTreeMap::new(),
            last_status: BTreeMap::new(),
            last_view: RuntimeView::default(),
        })
    }

    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub fn client(&self) -> &CriClient {
        &self.client
    }

    /// What the last sync observed.
    pub fn runtime_view(&self) -> &RuntimeView {
        &self.last_view
    }

    /// The log file of a pod's container: the newest run's, or with `previous` the one before.
    pub fn log_file(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        container_name: &str,
        previous: bool,
    ) -> Option<std::path::PathBuf> {
        crate::logs::find_log_file(
            &self.paths.pod_dir(namespace, name, uid),
            container_name,
            previous,
        )
    }

    /// Runs `command` in the pod's running container `container_name` (as of the last sync).
    pub async fn exec_sync(
        &self,
        uid: &str,
        container_name: &str,
        command: Vec<String>,
        timeout_seconds: i64,
    ) -> Result<k8s_cri::v1::ExecSyncResponse, ExecError> {
        let container = self
            .last_view
            .latest_container(uid, container_name)
            .filter(|container| {
                container.state == crate::runtime_view::ObservedContainerState::Running
            })
            .ok_or_else(|| ExecError::NotRunning(container_name.to_owned()))?;
        Ok(self
            .client
            .exec_sync(&container.id, command, timeout_seconds)
            .await?)
    }

    /// One round for `desired`, the complete set of pods bound to this node (anything else
    /// running is removed). Errors only when the runtime cannot be observed.
    pub async fn sync(&mut self, desired: &[ResolvedPod]) -> Result<Vec<PodReport>, AgentError> {
        self.stops.retain(|_, task| !task.is_finished());
        let desired_pods: Vec<DesiredPod> = desired
            .iter()
            .map(|resolved| self.desired_pod(resolved))
            .collect();
        let mut fresh_failures = BTreeMap::new();
        let mut view = self.observer.observe(&self.client).await?;
        self.run_due_probes(desired, &view).await;
        let mut waiting = BTreeMap::new();
        for _ in 0..MAX_PASSES {
            let signals = ContainerSignals {
                stopping: self.stops.keys().cloned().collect(),
                unhealthy: self.probes.unhealthy_containers(),
            };
            let plan = self
                .syncer
                .plan(&desired_pods, &view, &signals, Timestamp::now());
            waiting = plan.waiting;
            if plan.actions.is_empty() {
                break;
            }
            let starts_something = plan.actions.iter().any(|action| {
                matches!(
                    action,
                    Action::RunSandbox { .. } | Action::CreateContainer { .. }
                )
            });
            for action in plan.actions {
                self.execute(action, desired, &view, &mut fresh_failures)
                    .await;
            }
            view = self.observer.observe(&self.client).await?;
            if !starts_something {
                break;
            }
        }
        waiting.extend(fresh_failures);
        let reports = desired
            .iter()
            .map(|resolved| self.report(resolved, &view, &waiting))
            .collect();
        self.last_status
            .retain(|uid, _| desired.iter().any(|resolved| resolved.uid() == uid));
        self.last_view = view;
        Ok(reports)
    }

    /// Runs the probes due now, all at once (each bounded by its timeout).
    async fn run_due_probes(&mut self, desired: &[ResolvedPod], view: &RuntimeView) {
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
        }
    }

    fn desired_pod(&self, resolved: &ResolvedPod) -> DesiredPod {
        let mut pod = resolved.pod.clone();
        if let Some(status) = self.last_status.get(resolved.uid()) {
            pod.status = Some(status.clone());
        }
        DesiredPod::from_pod(&pod)
    }

    fn report(
        &mut self,
        resolved: &ResolvedPod,
        view: &RuntimeView,
        waiting: &BTreeMap<ContainerKey, Waiting>,
    ) -> PodReport {
        let uid = resolved.uid().to_owned();
        let mut pod = resolved.pod.clone();
        if let Some(status) = self.last_status.get(&uid) {
            pod.status = Some(status.clone());
        }
        let readiness = self.probes.readiness(&[&resolved.pod]);
        let inputs = StatusInputs {
            pod: &pod,
            runtime: view,
            waiting,
            readiness: &readiness,
            host_ip: &self.config.host_ip,
            now: Timestamp::now(),
        };
        let status = compute_pod_status(inputs);
        self.last_status.insert(uid.clone(), status.clone());
        let deleting = resolved.pod.metadata.deletion_timestamp.is_some();
        let nothing_left =
            view.sandboxes_of(&uid).next().is_none() && view.containers_of(&uid).next().is_none();
        PodReport {
            namespace: resolved.namespace().to_owned(),
            name: resolved.name().to_owned(),
            uid,
            status,
            fully_terminated: deleting && nothing_left,
        }
    }

    async fn execute(
        &mut self,
        action: Action,
        desired: &[ResolvedPod],
        view: &RuntimeView,
        fresh_failures: &mut BTreeMap<ContainerKey, Waiting>,
    ) {
        let find_pod = |uid: &str| desired.iter().find(|resolved| resolved.uid() == uid);
        let result = match action {
            Action::RunSandbox { pod_uid, attempt } => match find_pod(&pod_uid) {
                Some(resolved) => self.run_sandbox(resolved, attempt).await,
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
                let client = self.client.clone();
                let id = container_id.clone();
                let task = tokio::spawn(async move {
                    if let Err(error) = client.stop_container(&id, grace_period_seconds).await {
                        tracing::warn!(%error, container_id = %id, "stopping a container failed");
                    }
                });
                self.stops.insert(container_id, task);
                Ok(())
            }
            Action::RemoveContainer { container_id } => {
                self.client.remove_container(&container_id).await
            }
            Action::StopSandbox { sandbox_id } => self.client.stop_pod_sandbox(&sandbox_id).await,
            Action::RemoveSandbox { sandbox_id } => {
                self.client.remove_pod_sandbox(&sandbox_id).await
            }
            Action::CleanupPod { pod } => {
                cleanup_pod(&self.paths, &self.config.cgroup_root, &pod);
                Ok(())
            }
        };
        if let Err(error) = result {
            tracing::warn!(%error, "a pod action failed; the next sync retries it");
        }
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
        match start_container(request, resolved, &container, attempt).await {
            Ok(_) => self.syncer.clear_failure(&key),
            Err(failure) => {
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
