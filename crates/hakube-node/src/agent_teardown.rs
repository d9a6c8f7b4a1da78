//! Tearing pods down in the background: a pod's sandbox stop, sandbox removal and cleanup run
//! as one task per pod, so a round that starts a new pod does not wait the 150–300 ms that
//! stopping another pod's sandbox takes (the kubelet runs one worker per pod for the same
//! reason). A pod's teardown actions are skipped while its task runs; when it ends, the agent's
//! wake handle starts the next round, which sees what is left.

use super::Agent;
use crate::cri::CriClient;
use crate::node_paths::NodePaths;
use crate::runtime_view::RuntimeView;
use crate::sync::{Action, PodRef};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;

impl Action {
    /// Whether the action belongs to taking a pod (or a replaced sandbox) down.
    pub fn is_teardown(&self) -> bool {
        matches!(
            self,
            Action::StopSandbox { .. } | Action::RemoveSandbox { .. } | Action::CleanupPod { .. }
        )
    }
}

/// What a teardown task needs of the agent.
struct Teardown {
    client: CriClient,
    paths: NodePaths,
    cgroup_root: String,
    wake: Arc<Notify>,
}

impl Agent {
    /// Starts a task per pod for `actions` (all teardown actions, in plan order), unless that
    /// pod's previous teardown is still running.
    pub(super) fn tear_down_in_background(&mut self, actions: Vec<Action>, view: &RuntimeView) {
        self.teardowns.retain(|_, task| !task.is_finished());
        let mut by_pod: BTreeMap<String, Vec<Action>> = BTreeMap::new();
        for action in actions {
            by_pod
                .entry(pod_of(&action, view))
                .or_default()
                .push(action);
        }
        for (pod_uid, actions) in by_pod {
            if self.teardowns.contains_key(&pod_uid) {
                continue;
            }
            let teardown = Teardown {
                client: self.client.clone(),
                paths: self.paths.clone(),
                cgroup_root: self.config.cgroup_root.clone(),
                wake: self.wake.clone(),
            };
            let task = tokio::spawn(teardown.run(actions));
            self.teardowns.insert(pod_uid, task);
        }
    }

    /// Waits for every background stop and teardown to end (tests, and before a final sync).
    pub async fn settle(&mut self) {
        let tasks: Vec<_> = std::mem::take(&mut self.teardowns)
            .into_values()
            .chain(std::mem::take(&mut self.stops).into_values())
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// Notified whenever background work (a graceful stop, a teardown) ends: the caller runs a
    /// sync then instead of waiting for its next interval.
    pub fn wake_handle(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// The pod an action belongs to: its sandbox's pod, or the sandbox ID for one not observed.
fn pod_of(action: &Action, view: &RuntimeView) -> String {
    match action {
        Action::StopSandbox { sandbox_id } | Action::RemoveSandbox { sandbox_id } => view
            .sandboxes
            .iter()
            .find(|sandbox| &sandbox.id == sandbox_id)
            .map_or_else(|| sandbox_id.clone(), |sandbox| sandbox.pod_uid.clone()),
        Action::CleanupPod { pod } => pod.uid.clone(),
        _ => String::new(),
    }
}

impl Teardown {
    async fn run(self, actions: Vec<Action>) {
        for action in actions {
            let started = std::time::Instant::now();
            let kind = action.kind();
            let result = match action {
                Action::StopSandbox { sandbox_id } => {
                    self.client.stop_pod_sandbox(&sandbox_id).await
                }
                Action::RemoveSandbox { sandbox_id } => {
                    self.client.remove_pod_sandbox(&sandbox_id).await
                }
                Action::CleanupPod { pod } => {
                    self.clean_up(&pod).await;
                    Ok(())
                }
                _ => Ok(()),
            };
            super::actions::log_outcome(kind, started, &result);
            if result.is_err() {
                // The rest waits for the next round, which plans what is left again.
                break;
            }
        }
        self.wake.notify_one();
    }

    /// Removes the pod's directory and cgroups, waiting up to a second for the shim's exit to
    /// free the cgroups (orphans get no second round).
    async fn clean_up(&self, pod: &PodRef) {
        for _ in 0..20 {
            crate::pod_cleanup::cleanup_pod(&self.paths, &self.cgroup_root, pod);
            if crate::pod_cleanup::remaining_pod_cgroups(&self.cgroup_root, &pod.uid).is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        tracing::warn!(pod = %pod.name, "pod cgroups are still in use after the sandbox was removed");
    }
}
