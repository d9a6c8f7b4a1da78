//! When to probe and what the results mean, without doing any probing (pure; `probe_run.rs`
//! runs them): liveness, readiness and startup probes per running container, each on its own
//! period after its initial delay, counted against its success and failure thresholds. The
//! startup probe holds the other two back until it succeeds. State is per container ID, so a
//! restarted container starts over.

use crate::back_off::ContainerKey;
use crate::runtime_view::{ObservedContainerState, RuntimeView};
use hakube_kinds::k8s_openapi::api::core::v1::{Pod, Probe};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

/// A probe that is due now.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRequest {
    pub key: ContainerKey,
    pub kind: ProbeKind,
    pub container_id: String,
    pub probe: Probe,
    pub pod_ip: String,
    /// The container's named ports, for probes that name their port.
    pub named_ports: BTreeMap<String, i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ProbeState {
    container_id: String,
    next_at: Timestamp,
    successes: i32,
    failures: i32,
    /// The settled result once a threshold was reached.
    result: Option<bool>,
}

/// Probe states; bounded by the running containers (others are dropped each round).
#[derive(Debug, Clone, Default)]
pub struct ProbeScheduler {
    states: BTreeMap<(ContainerKey, ProbeKind), ProbeState>,
}

fn seconds(value: Option<i32>, default: i32) -> SignedDuration {
    SignedDuration::from_secs(i64::from(
        value.filter(|value| *value > 0).unwrap_or(default),
    ))
}

impl ProbeScheduler {
    /// The probes due at `now` for the running containers of `pods`.
    pub fn due(
        &mut self,
        pods: &[&Pod],
        runtime: &RuntimeView,
        now: Timestamp,
    ) -> Vec<ProbeRequest> {
        let mut live = BTreeSet::new();
        let mut due = Vec::new();
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let pod_ip = runtime
                .current_sandbox(&uid)
                .and_then(|sandbox| sandbox.ip.clone())
                .unwrap_or_default();
            for container in pod.spec.iter().flat_map(|spec| spec.containers.iter()) {
                let Some(observed) = runtime.latest_container(&uid, &container.name) else {
                    continue;
                };
                if observed.state != ObservedContainerState::Running {
                    continue;
                }
                let key = ContainerKey::new(&uid, &container.name);
                let started_at = observed.started_at.unwrap_or(now);
                let probes = [
                    (ProbeKind::Startup, &container.startup_probe),
                    (ProbeKind::Liveness, &container.liveness_probe),
                    (ProbeKind::Readiness, &container.readiness_probe),
                ];
                let startup_pending = container.startup_probe.is_some() && !self.started(&key);
                for (kind, probe) in probes {
                    let Some(probe) = probe else { continue };
                    live.insert((key.clone(), kind));
                    if kind != ProbeKind::Startup && startup_pending {
                        continue;
                    }
                    let state =
                        self.states
                            .entry((key.clone(), kind))
                            .or_insert_with(|| ProbeState {
                                container_id: observed.id.clone(),
                                next_at: started_at + seconds(probe.initial_delay_seconds, 0),
                                successes: 0,
                                failures: 0,
                                result: None,
                            });
                    if state.container_id != observed.id {
                        *state = ProbeState {
                            container_id: observed.id.clone(),
                            next_at: started_at + seconds(probe.initial_delay_seconds, 0),
                            successes: 0,
                            failures: 0,
                            result: None,
                        };
                    }
                    if state.next_at <= now {
                        state.next_at = now + seconds(probe.period_seconds, 10);
                        due.push(ProbeRequest {
                            key: key.clone(),
                            kind,
                            container_id: observed.id.clone(),
                            probe: probe.clone(),
                            pod_ip: pod_ip.clone(),
                            named_ports: container
                                .ports
                                .iter()
                                .flatten()
                                .filter_map(|port| Some((port.name.clone()?, port.container_port)))
                                .collect(),
                        });
                    }
                }
            }
        }
        self.states.retain(|key, _| live.contains(key));
        due
    }

    /// Counts one result against the probe's thresholds.
    pub fn record(&mut self, request: &ProbeRequest, success: bool) {
        let Some(state) = self.states.get_mut(&(request.key.clone(), request.kind)) else {
            return;
        };
        if state.container_id != request.container_id {
            return;
        }
        if success {
            state.successes += 1;
            state.failures = 0;
            if state.successes >= request.probe.success_threshold.unwrap_or(1).max(1) {
                state.result = Some(true);
            }
        } else {
            state.failures += 1;
            state.successes = 0;
            if state.failures >= request.probe.failure_threshold.unwrap_or(3).max(1) {
                state.result = Some(false);
            }
        }
    }

    fn result(&self, key: &ContainerKey, kind: ProbeKind) -> Option<bool> {
        self.states
            .get(&(key.clone(), kind))
            .and_then(|state| state.result)
    }

    fn started(&self, key: &ContainerKey) -> bool {
        self.result(key, ProbeKind::Startup) == Some(true)
    }

    /// Readiness of containers that have a readiness or startup probe (others are ready while
    /// running): not ready until the probes say so.
    pub fn readiness(&self, pods: &[&Pod]) -> BTreeMap<ContainerKey, bool> {
        let mut readiness = BTreeMap::new();
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            for container in pod.spec.iter().flat_map(|spec| spec.containers.iter()) {
                let key = ContainerKey::new(&uid, &container.name);
                let started = container.startup_probe.is_none() || self.started(&key);
                let ready = match &container.readiness_probe {
                    Some(_) => started && self.result(&key, ProbeKind::Readiness) == Some(true),
                    None => started,
                };
                if container.readiness_probe.is_some() || container.startup_probe.is_some() {
                    readiness.insert(key, ready);
                }
            }
        }
        readiness
    }

    /// Containers with a startup probe that has not passed yet.
    pub fn startup_pending(&self, pods: &[&Pod]) -> BTreeSet<ContainerKey> {
        let mut pending = BTreeSet::new();
        for pod in pods {
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            for container in pod.spec.iter().flat_map(|spec| spec.containers.iter()) {
                let key = ContainerKey::new(&uid, &container.name);
                if container.startup_probe.is_some() && !self.started(&key) {
                    pending.insert(key);
                }
            }
        }
        pending
    }

    /// Containers whose liveness or startup probe failed for good: they are to be restarted.
    pub fn unhealthy_containers(&self) -> BTreeSet<String> {
        self.states
            .iter()
            .filter(|((_, kind), state)| {
                *kind != ProbeKind::Readiness && state.result == Some(false)
            })
            .map(|(_, state)| state.container_id.clone())
            .collect()
    }
}

#[cfg(test)]
#[path = "probes_tests.rs"]
mod tests;
