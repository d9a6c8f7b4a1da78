//! What the agent is given and what it gives back: a pod together with the objects its env and
//! volumes refer to (resolved by the caller from the API, so the agent does no API reads), and
//! the pod's computed status.

use hakube_kinds::k8s_openapi::api::core::v1::{ConfigMap, Pod, PodStatus, Secret};
use std::collections::BTreeMap;

/// A pod bound to this node, with the ConfigMaps and Secrets it references (by name, in its
/// namespace) and its service account token when it mounts one.
#[derive(Debug, Clone, Default)]
pub struct ResolvedPod {
    pub pod: Pod,
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    pub service_account_token: Option<String>,
}

impl ResolvedPod {
    pub fn new(pod: Pod) -> Self {
        Self {
            pod,
            ..Self::default()
        }
    }

    pub fn uid(&self) -> &str {
        self.pod.metadata.uid.as_deref().unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }
}

/// One pod's status after a sync round.
#[derive(Debug, Clone, PartialEq)]
pub struct PodReport {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub status: PodStatus,
    /// The pod was being deleted and nothing of it runs or remains on the node any more: the
    /// caller may now remove the object from the API (grace period 0).
    pub fully_terminated: bool,
    /// What happened to the pod this round, for the caller to publish as Events.
    pub events: Vec<crate::pod_events::PodEvent>,
}
