//! The pod lifecycle as a pure state machine: desired pods, the observed runtime, in-flight
//! stops, back-off and failure records and the time go in; CRI actions and the waiting reasons
//! of held-back containers come out. No I/O, so every rule is unit-tested.
//!
//! Rules (the kubelet's): one ready sandbox per pod, a new one (next attempt) when it is gone;
//! init containers one at a time in order, app containers after them; restarts by policy with
//! back-off (CrashLoopBackOff); a deleted pod's containers stopped with its grace period, then
//! its sandboxes removed; sandboxes of pods nobody wants removed at once.

use crate::back_off::{BackOff, ContainerKey};
use crate::desired_pod::{DesiredPod, RestartPolicy};
use crate::runtime_view::{ObservedContainer, ObservedContainerState, RuntimeView};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// A pod's identity, enough to find its directory and cgroups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    RunSandbox {
        pod_uid: String,
        attempt: u32,
    },
    /// Ensure the image, create and start the container in the sandbox.
    CreateContainer {
        pod_uid: String,
        sandbox_id: String,
        container_name: String,
        attempt: u32,
    },
    /// Start a container left created (e.g. by an agent that stopped in between).
    StartContainer {
        container_id: String,
    },
    StopContainer {
        container_id: String,
        grace_period_seconds: i64,
    },
    RemoveContainer {
        container_id: String,
    },
    StopSandbox {
        sandbox_id: String,
    },
    RemoveSandbox {
        sandbox_id: String,
    },
    /// Remove the pod's directory (logs, volumes) and cgroups: nothing of it runs any more.
    CleanupPod {
        pod: PodRef,
    },
}

impl Action {
    /// The action's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RunSandbox { .. } => "RunSandbox",
            Action::CreateContainer { .. } => "CreateContainer",
            Action::StartContainer { .. } => "StartContainer",
            Action::StopContainer { .. } => "StopContainer",
            Action::RemoveContainer { .. } => "RemoveContainer",
            Action::StopSandbox { .. } => "StopSandbox",
            Action::RemoveSandbox { .. } => "RemoveSandbox",
            Action::CleanupPod { .. } => "CleanupPod",
        }
    }
}

/// Why a container is not running, as its status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// What failed the last time the agent tried to create a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    ImagePull { image: String },
    CreateContainerConfig,
    CreateContainer,
    RunContainer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub at: Timestamp,
}

impl Failure {
    /// The waiting reason right after the failure (before any back-off).
    pub fn fresh_waiting(&self) -> Waiting {
        let reason = match self.kind {
            FailureKind::ImagePull { .. } => "ErrImagePull",
            FailureKind::CreateContainerConfig => "CreateContainerConfigError",
            FailureKind::CreateContainer => "CreateContainerError",
            FailureKind::RunContainer => "RunContainerError",
        };
        Waiting {
            reason: reason.to_owned(),
            message: self.message.clone(),
        }
    }

    fn backing_off_waiting(&self) -> Waiting {
        match &self.kind {
            FailureKind::ImagePull { image } => Waiting {
                reason: "ImagePullBackOff".to_owned(),
                message: format!("Back-off pulling image \"{image}\": {}", self.message),
            },
            _ => self.fresh_waiting(),
        }
    }
}

/// What the agent knows about running containers beyond the runtime's view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSignals {
    /// Containers whose graceful stop is in flight.
    pub stopping: BTreeSet<String>,
    /// Containers whose liveness or startup probe failed: to be stopped and restarted.
    pub unhealthy: BTreeSet<String>,
}

/// One round's output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub waiting: BTreeMap<ContainerKey, Waiting>,
}

/// The state machine's memory between rounds: restart back-off and creation failures.
#[derive(Debug, Clone, Default)]
pub struct PodSyncer {
    crash_back_off: BackOff,
    failure_back_off: BackOff,
    failures: BTreeMap<ContainerKey, Failure>,
    /// When each pod's last RunPodSandbox failed.
    sandbox_failures: BTreeMap<String, Timestamp>,
}

/// The back-off key of a pod's sandbox: no container has an empty name.
fn sandbox_key(pod_uid: &str) -> ContainerKey {
    ContainerKey::new(pod_uid, "")
}

impl PodSyncer {
    /// Decides this round's actions.
    pub fn plan(
        &mut self,
        desired: &[DesiredPod],
        runtime: &RuntimeView,
        signals: &ContainerSignals,
        now: Timestamp,
    ) -> Plan {
        let known: BTreeSet<&str> = desired.iter().map(|pod| pod.uid.as_str()).collect();
        self.crash_back_off.retain(now, |uid| known.contains(uid));
        self.failure_back_off.retain(now, |uid| known.contains(uid));
        self.failures
            .retain(|key, _| known.contains(key.pod_uid.as_str()));
        self.sandbox_failures
            .retain(|uid, _| known.contains(uid.as_str()));
        let mut plan = Plan::default();
        for pod in desired {
            self.plan_pod(pod, runtime, signals, now, &mut plan);
        }
        plan_orphans(&known, runtime, &mut plan.actions);
        plan
    }

    /// The agent failed to create a container: remembered for the status and the back-off.
    pub fn record_failure(
        &mut self,
        key: &ContainerKey,
        kind: FailureKind,
        message: String,
        now: Timestamp,
    ) {
        self.failure_back_off.next(key, now);
        self.failures.insert(
            key.clone(),
            Failure {
                kind,
                message,
                at: now,
            },
        );
    }

    /// RunPodSandbox failed (e.g. CNI): the pod's next attempt waits, 10 s doubling to 5 min.
    pub fn record_sandbox_failure(&mut self, pod_uid: &str, now: Timestamp) {
        let key = sandbox_key(pod_uid);
        self.failure_back_off.next(&key, now);
        self.sandbox_failures.insert(pod_uid.to_owned(), now);
    }

    /// The sandbox runs: earlier sandbox failures no longer apply.
    pub fn clear_sandbox_failure(&mut self, pod_uid: &str) {
        self.failure_back_off.reset(&sandbox_key(pod_uid));
        self.sandbox_failures.remove(pod_uid);
    }

    fn sandbox_backing_off(&self, pod_uid: &str, now: Timestamp) -> bool {
        self.sandbox_failures.get(pod_uid).is_some_and(|failed_at| {
            self.failure_back_off
                .is_in_back_off_since(&sandbox_key(pod_uid), *failed_at, now)
        })
    }

    /// The container was created: earlier failures no longer apply.
    pub fn clear_failure(&mut self, key: &ContainerKey) {
        self.failures.remove(key);
        self.failure_back_off.reset(key);
    }

    pub fn failure(&self, key: &ContainerKey) -> Option<&Failure> {
        self.failures.get(key)
    }

    fn plan_pod(
        &mut self,
        pod: &DesiredPod,
        runtime: &RuntimeView,
        signals: &ContainerSignals,
        now: Timestamp,
        plan: &mut Plan,
    ) {
        if let Some(grace_period_seconds) = pod.deletion_grace_period_seconds {
            plan_termination(
                pod,
                runtime,
                &signals.stopping,
                grace_period_seconds,
                &mut plan.actions,
            );
            return;
        }
        if pod.previously_terminal || pod_has_finished(pod, runtime) {
            for sandbox in runtime
                .sandboxes_of(&pod.uid)
                .filter(|sandbox| sandbox.ready)
            {
                plan.actions.push(Action::StopSandbox {
                    sandbox_id: sandbox.id.clone(),
                });
            }
            return;
        }
        let Some(sandbox) = runtime.current_sandbox(&pod.uid) else {
            let attempt = runtime
                .sandboxes_of(&pod.uid)
                .map(|sandbox| sandbox.attempt + 1)
                .max()
                .unwrap_or(0);
            if !self.sandbox_backing_off(&pod.uid, now) {
                plan.actions.push(Action::RunSandbox {
                    pod_uid: pod.uid.clone(),
                    attempt,
                });
            }
            return;
        };
        // Sandboxes replaced by a newer one only hold dead containers: remove them.
        for old in runtime
            .sandboxes_of(&pod.uid)
            .filter(|old| old.id != sandbox.id)
        {
            if old.ready {
                plan.actions.push(Action::StopSandbox {
                    sandbox_id: old.id.clone(),
                });
            }
            plan.actions.push(Action::RemoveSandbox {
                sandbox_id: old.id.clone(),
            });
        }
        if !self.plan_init_containers(pod, runtime, &sandbox.id, now, plan) {
            return;
        }
        for name in &pod.containers {
            self.plan_container(pod, runtime, &sandbox.id, name, now, plan);
        }
        // Failed liveness: stop with the pod's grace period; the restart policy does the rest.
        for container in runtime.containers_of(&pod.uid) {
            let unhealthy = signals.unhealthy.contains(&container.id)
                && !signals.stopping.contains(&container.id);
            if unhealthy && container.state == ObservedContainerState::Running {
                plan.actions.push(Action::StopContainer {
                    container_id: container.id.clone(),
                    grace_period_seconds: pod.termination_grace_period_seconds,
                });
            }
        }
    }

    /// Runs init containers one at a time; returns whether all of them have succeeded.
    fn plan_init_containers(
        &mut self,
        pod: &DesiredPod,
        runtime: &RuntimeView,
        sandbox_id: &str,
        now: Timestamp,
        plan: &mut Plan,
    ) -> bool {
        for name in &pod.init_containers {
            let latest = latest_in_sandbox(runtime, &pod.uid, sandbox_id, name);
            let succeeded = latest.is_some_and(|container| {
                container.state == ObservedContainerState::Exited && container.exit_code == 0
            });
            if !succeeded {
                self.plan_container(pod, runtime, sandbox_id, name, now, plan);
                return false;
            }
        }
        true
    }

    /// Brings one container towards running: create, start, or restart after back-off.
    fn plan_container(
        &mut self,
        pod: &DesiredPod,
        runtime: &RuntimeView,
        sandbox_id: &str,
        name: &str,
        now: Timestamp,
        plan: &mut Plan,
    ) {
        let key = ContainerKey::new(&pod.uid, name);
        let next_attempt = runtime
            .latest_container(&pod.uid, name)
            .map_or(0, |container| container.attempt + 1);
        let create = Action::CreateContainer {
            pod_uid: pod.uid.clone(),
            sandbox_id: sandbox_id.to_owned(),
            container_name: name.to_owned(),
            attempt: next_attempt,
        };
        let Some(latest) = latest_in_sandbox(runtime, &pod.uid, sandbox_id, name) else {
            self.create_unless_failing(&key, create, now, plan);
            return;
        };
        match latest.state {
            ObservedContainerState::Created => {
                plan.actions.push(Action::StartContainer {
                    container_id: latest.id.clone(),
                });
            }
            ObservedContainerState::Running | ObservedContainerState::Unknown => {}
            ObservedContainerState::Exited => {
                if !pod.restart_policy.restarts(latest.exit_code) {
                    return;
                }
                let exited_at = latest.finished_at.unwrap_or(now);
                if self
                    .crash_back_off
                    .is_in_back_off_since(&key, exited_at, now)
                {
                    let seconds = self
                        .crash_back_off
                        .current(&key)
                        .map_or(0, |duration| duration.as_secs());
                    let message = format!(
                        "back-off {seconds}s restarting failed container={name} pod={}_{}({})",
                        pod.name, pod.namespace, pod.uid
                    );
                    plan.waiting.insert(
                        key,
                        Waiting {
                            reason: "CrashLoopBackOff".to_owned(),
                            message,
                        },
                    );
                    return;
                }
                self.crash_back_off.next(&key, now);
                // Keep the run that just exited (lastState, previous logs); drop older ones.
                for older in runtime.containers_of(&pod.uid) {
                    if older.name == name && older.attempt < latest.attempt && !older.is_active() {
                        plan.actions.push(Action::RemoveContainer {
                            container_id: older.id.clone(),
                        });
                    }
                }
                plan.actions.push(create);
            }
        }
    }

    fn create_unless_failing(
        &mut self,
        key: &ContainerKey,
        create: Action,
        now: Timestamp,
        plan: &mut Plan,
    ) {
        if let Some(failure) = self.failures.get(key)
            && self
                .failure_back_off
                .is_in_back_off_since(key, failure.at, now)
        {
            plan.waiting
                .insert(key.clone(), failure.backing_off_waiting());
            return;
        }
        plan.actions.push(create);
    }
}

fn latest_in_sandbox<'a>(
    runtime: &'a RuntimeView,
    pod_uid: &str,
    sandbox_id: &str,
    name: &str,
) -> Option<&'a ObservedContainer> {
    runtime
        .containers_of(pod_uid)
        .filter(|container| container.sandbox_id == sandbox_id && container.name == name)
        .max_by_key(|container| (container.attempt, container.created_at))
}

/// Whether the pod has run to its end: a failed init container under Never, or every app
/// container exited for good under its restart policy.
pub fn pod_has_finished(pod: &DesiredPod, runtime: &RuntimeView) -> bool {
    if pod.restart_policy == RestartPolicy::Always {
        return false;
    }
    let exited_code = |name: &String| {
        runtime
            .latest_container(&pod.uid, name)
            .filter(|container| container.state == ObservedContainerState::Exited)
            .map(|container| container.exit_code)
    };
    let init_failed = pod.restart_policy == RestartPolicy::Never
        && pod
            .init_containers
            .iter()
            .any(|name| exited_code(name).is_some_and(|code| code != 0));
    let all_done = !pod.containers.is_empty()
        && pod
            .containers
            .iter()
            .all(|name| exited_code(name).is_some_and(|code| !pod.restart_policy.restarts(code)));
    init_failed || all_done
}

/// Graceful termination: stop active containers with the grace period; once none is active,
/// stop and remove the sandboxes and clean the pod up.
fn plan_termination(
    pod: &DesiredPod,
    runtime: &RuntimeView,
    stopping: &BTreeSet<String>,
    grace_period_seconds: i64,
    actions: &mut Vec<Action>,
) {
    // Only running containers have something to stop: one merely created stays "created"
    // after StopContainer and goes with its sandbox.
    let active: Vec<&ObservedContainer> = runtime
        .containers_of(&pod.uid)
        .filter(|container| container.state == ObservedContainerState::Running)
        .collect();
    if !active.is_empty() {
        for container in active
            .into_iter()
            .filter(|container| !stopping.contains(&container.id))
        {
            let container_id = container.id.clone();
            actions.push(Action::StopContainer {
                container_id,
                grace_period_seconds: grace_period_seconds.max(0),
            });
        }
        return;
    }
    for sandbox in runtime.sandboxes_of(&pod.uid) {
        if sandbox.ready {
            actions.push(Action::StopSandbox {
                sandbox_id: sandbox.id.clone(),
            });
        }
        actions.push(Action::RemoveSandbox {
            sandbox_id: sandbox.id.clone(),
        });
    }
    let pod = PodRef {
        namespace: pod.namespace.clone(),
        name: pod.name.clone(),
        uid: pod.uid.clone(),
    };
    actions.push(Action::CleanupPod { pod });
}

/// Sandboxes of pods no longer desired: stopped, removed and cleaned up at once.
fn plan_orphans(known: &BTreeSet<&str>, runtime: &RuntimeView, actions: &mut Vec<Action>) {
    let mut orphans = BTreeSet::new();
    for sandbox in runtime
        .sandboxes
        .iter()
        .filter(|sandbox| !known.contains(sandbox.pod_uid.as_str()))
    {
        actions.push(Action::StopSandbox {
            sandbox_id: sandbox.id.clone(),
        });
        actions.push(Action::RemoveSandbox {
            sandbox_id: sandbox.id.clone(),
        });
        orphans.insert(PodRef {
            namespace: sandbox.namespace.clone(),
            name: sandbox.name.clone(),
            uid: sandbox.pod_uid.clone(),
        });
    }
    actions.extend(orphans.into_iter().map(|pod| Action::CleanupPod { pod }));
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
