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
        for (pod_uid, actions) in by_pod(actions, view) {
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

/// `actions` grouped by the pod they belong to, each group in plan order.
fn by_pod(actions: Vec<Action>, view: &RuntimeView) -> BTreeMap<String, Vec<Action>> {
    let mut groups: BTreeMap<String, Vec<Action>> = BTreeMap::new();
    for action in actions {
        groups
            .entry(pod_of(&action, view))
            .or_default()
            .push(action);
    }
    groups
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_view::ObservedSandbox;

    fn sandbox(id: &str, pod_uid: &str) -> ObservedSandbox {
        ObservedSandbox {
            id: id.into(),
            namespace: "default".into(),
            name: format!("pod-{pod_uid}"),
            pod_uid: pod_uid.into(),
            attempt: 0,
            ready: true,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            ip: None,
        }
    }

    #[test]
    fn a_pods_teardown_stays_together_and_in_order() {
        let view = RuntimeView {
            sandboxes: vec![sandbox("s1", "a"), sandbox("s2", "b")],
            containers: Vec::new(),
        };
        let stop = |id: &str| Action::StopSandbox {
            sandbox_id: id.into(),
        };
        let remove = |id: &str| Action::RemoveSandbox {
            sandbox_id: id.into(),
        };
        let cleanup = |uid: &str| Action::CleanupPod {
            pod: PodRef {
                namespace: "default".into(),
                name: format!("pod-{uid}"),
                uid: uid.into(),
            },
        };
        let actions = vec![
            stop("s1"),
            stop("s2"),
            remove("s1"),
            cleanup("a"),
            remove("gone"),
        ];
        let groups = by_pod(actions, &view);
        let kinds = |uid: &str| -> Vec<&str> { groups[uid].iter().map(Action::kind).collect() };
        assert_eq!(kinds("a"), ["StopSandbox", "RemoveSandbox", "CleanupPod"]);
        assert_eq!(kinds("b"), ["StopSandbox"]);
        // A sandbox the view does not show is its own group.
        assert_eq!(kinds("gone"), ["RemoveSandbox"]);
        assert!(
            stop("x").is_teardown()
                && !Action::RemoveContainer {
                    container_id: "c".into()
                }
                .is_teardown()
        );
    }
}
