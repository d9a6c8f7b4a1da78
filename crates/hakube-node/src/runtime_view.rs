//! What runs on the node, as the agent observed it through CRI in one round: sandboxes and
//! containers reduced to the facts the sync and status logic decide on. Plain data, so the
//! state machine can be tested without a runtime.

use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservedContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedSandbox {
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub pod_uid: String,
    pub attempt: u32,
    pub ready: bool,
    pub created_at: Timestamp,
    /// The pod IP, when the sandbox has one.
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub sandbox_id: String,
    pub pod_uid: String,
    pub name: String,
    /// The restart number: 0 for the first run.
    pub attempt: u32,
    pub state: ObservedContainerState,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: i32,
    pub reason: String,
    pub message: String,
    pub image: String,
    pub image_ref: String,
}

impl ObservedContainer {
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            ObservedContainerState::Created | ObservedContainerState::Running
        )
    }
}

/// One round's observation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeView {
    pub sandboxes: Vec<ObservedSandbox>,
    pub containers: Vec<ObservedContainer>,
}

impl RuntimeView {
    pub fn sandboxes_of<'a>(
        &'a self,
        pod_uid: &str,
    ) -> impl Iterator<Item = &'a ObservedSandbox> + use<'a> {
        let pod_uid = pod_uid.to_owned();
        self.sandboxes
            .iter()
            .filter(move |sandbox| sandbox.pod_uid == pod_uid)
    }

    pub fn containers_of<'a>(
        &'a self,
        pod_uid: &str,
    ) -> impl Iterator<Item = &'a ObservedContainer> + use<'a> {
        let pod_uid = pod_uid.to_owned();
        self.containers
            .iter()
            .filter(move |container| container.pod_uid == pod_uid)
    }

    /// The pod's current sandbox: the ready one with the highest attempt.
    pub fn current_sandbox(&self, pod_uid: &str) -> Option<&ObservedSandbox> {
        self.sandboxes_of(pod_uid)
            .filter(|sandbox| sandbox.ready)
            .max_by_key(|sandbox| sandbox.attempt)
    }

    /// The pod's newest sandbox, ready or not (for the status after a pod has stopped).
    pub fn newest_sandbox(&self, pod_uid: &str) -> Option<&ObservedSandbox> {
        self.sandboxes_of(pod_uid)
            .max_by_key(|sandbox| (sandbox.attempt, sandbox.created_at))
    }

    /// The newest run of a container of the pod (highest attempt), in any sandbox.
    pub fn latest_container(&self, pod_uid: &str, name: &str) -> Option<&ObservedContainer> {
        self.containers_of(pod_uid)
            .filter(|container| container.name == name)
            .max_by_key(|container| (container.attempt, container.created_at))
    }

    /// The run before the newest, for `lastState` and `logs --previous`.
    pub fn previous_container(&self, pod_uid: &str, name: &str) -> Option<&ObservedContainer> {
        let latest = self.latest_container(pod_uid, name)?;
        self.containers_of(pod_uid)
            .filter(|container| container.name == name && container.id != latest.id)
            .max_by_key(|container| (container.attempt, container.created_at))
    }
}
