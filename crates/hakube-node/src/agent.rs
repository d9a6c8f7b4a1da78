//! The agent: runs the desired pods through CRI. Each `sync` observes the runtime, asks the
//! pure state machine (`sync.rs`) what to do, carries the actions out, and reports every desired
//! pod's status. Graceful stops run as background tasks so a long grace period does not hold up
//! other pods; the state machine is told which stops are in flight.

use crate::agent_config::AgentConfig;
use crate::back_off::ContainerKey;
use crate::cni::{CniError, CniNetwork};
use crate::cri::{CriClient, CriError};
use crate::desired_pod::DesiredPod;
use crate::node_paths::NodePaths;
use crate::observe::Observer;
use crate::pod_events::PodEvents;
use crate::probes::ProbeScheduler;
use crate::resolved_pod::{PodReport, ResolvedPod};
use crate::runtime_view::RuntimeView;
use crate::status::{StatusInputs, compute_pod_status};
use crate::sync::{Action, ContainerSignals, PodSyncer, Waiting};
use hakube_kinds::k8s_openapi::api::core::v1::PodStatus;

#[path = "agent_actions.rs"]
mod actions;
#[path = "agent_teardown.rs"]
mod teardown;
#[path = "agent_upkeep.rs"]
mod upkeep;
use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// Events of the current round, handed out with the reports.
    events: PodEvents,
    /// Graceful stops in flight, by container ID (at most one per container).
    stops: BTreeMap<String, tokio::task::JoinHandle<()>>,
    /// Pod teardowns in flight, by pod UID (`agent_teardown.rs`).
    teardowns: BTreeMap<String, tokio::task::JoinHandle<()>>,
    /// Notified when a stop or teardown ends.
    wake: Arc<tokio::sync::Notify>,
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
            events: PodEvents::default(),
            observer: Observer::default(),
            stops: BTreeMap::new(),
            teardowns: BTreeMap::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
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
        self.events.clear();
        let desired_pods: Vec<DesiredPod> = desired
            .iter()
            .map(|resolved| self.desired_pod(resolved))
            .collect();
        let mut fresh_failures = BTreeMap::new();
        let mut view = self.observer.observe(&self.client).await?;
        self.run_due_probes(desired, &view).await;
        self.rotate_logs(desired, &view).await;
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
            let (teardown, actions): (Vec<Action>, Vec<Action>) =
                plan.actions.into_iter().partition(Action::is_teardown);
            self.tear_down_in_background(teardown, &view);
            if actions.is_empty() {
                break;
            }
            let starts_something = actions.iter().any(|action| {
                matches!(
                    action,
                    Action::RunSandbox { .. } | Action::CreateContainer { .. }
                )
            });
            for action in actions {
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
        self.events.clear();
        Ok(reports)
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
            let current = resolved.pod.status.as_ref();
            pod.status = Some(crate::status::with_conditions_of_others(
                status.clone(),
                current,
            ));
        }
        let readiness = self.probes.readiness(&[&resolved.pod]);
        let startup_pending = self.probes.startup_pending(&[&resolved.pod]);
        let inputs = StatusInputs {
            pod: &pod,
            runtime: view,
            waiting,
            readiness: &readiness,
            startup_pending: &startup_pending,
            host_ip: &self.config.host_ip,
            now: Timestamp::now(),
        };
        let status = compute_pod_status(inputs);
        self.record_back_off_events(resolved, pod.status.as_ref(), &status);
        self.last_status.insert(uid.clone(), status.clone());
        let deleting = resolved.pod.metadata.deletion_timestamp.is_some();
        let pod_dir = self
            .paths
            .pod_dir(resolved.namespace(), resolved.name(), &uid);
        // Cleanup is retried each round until the directory and cgroups are really gone.
        let nothing_left = view.sandboxes_of(&uid).next().is_none()
            && view.containers_of(&uid).next().is_none()
            && !pod_dir.exists()
            && crate::pod_cleanup::remaining_pod_cgroups(&self.config.cgroup_root, &uid).is_empty();
        PodReport {
            namespace: resolved.namespace().to_owned(),
            name: resolved.name().to_owned(),
            uid,
            status,
            fully_terminated: deleting && nothing_left,
            events: self.events.take(resolved.uid()),
        }
    }

    fn record_back_off_events(
        &mut self,
        resolved: &ResolvedPod,
        previous: Option<&PodStatus>,
        status: &PodStatus,
    ) {
        let uid = resolved.uid();
        for (container, reason, image) in crate::pod_events::entered_back_off(previous, status) {
            if reason == "CrashLoopBackOff" {
                let message = format!(
                    "Back-off restarting failed container {container} in pod {}_{}({uid})",
                    resolved.name(),
                    resolved.namespace()
                );
                self.events.warning(uid, "BackOff", message);
            } else {
                self.events.normal(
                    uid,
                    "BackOff",
                    format!("Back-off pulling image \"{image}\""),
                );
            }
        }
    }
}
