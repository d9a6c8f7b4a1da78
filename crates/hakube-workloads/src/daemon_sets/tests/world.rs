//! An in-memory namespace for the tests: a DaemonSet, nodes and pods. Plans are applied as
//! the API server would (names, uids), a "scheduler" binds each pod to the node its affinity
//! names, and a "kubelet" finishes deletions and makes bound pods ready.

use hakube_kinds::k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use hakube_kinds::k8s_openapi::api::core::v1::{Node, NodeSpec, Pod, PodStatus, Taint};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use jiff::{SignedDuration, Timestamp};

use crate::daemon_sets::daemon_pods::target_node;
use crate::daemon_sets::{DaemonSetPlan, reconcile};
use crate::test_objects::{NAMESPACE, at, labels, ready, selector, template};

/// A DaemonSet "agent" running `image` with the default (rolling) strategy.
pub fn daemon_set(image: &str) -> DaemonSet {
    DaemonSet {
        metadata: ObjectMeta {
            name: Some("agent".into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some("uid-agent".into()),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..ObjectMeta::default()
        },
        spec: DaemonSetSpec {
            selector: selector(&[("app", "agent")]),
            template: template(&[("app", "agent")], image),
            ..DaemonSetSpec::default()
        },
        status: None,
    }
}

pub fn node(name: &str, pairs: &[(&str, &str)]) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels(pairs)),
            ..ObjectMeta::default()
        },
        ..Node::default()
    }
}

pub fn tainted(mut node: Node, key: &str, effect: &str) -> Node {
    let spec = node.spec.get_or_insert_with(NodeSpec::default);
    spec.taints.get_or_insert_with(Vec::new).push(Taint {
        key: key.into(),
        effect: effect.into(),
        ..Taint::default()
    });
    node
}

pub struct World {
    pub daemon_set: DaemonSet,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub now: Timestamp,
    next_id: u64,
}

impl World {
    pub fn new(daemon_set: DaemonSet, nodes: Vec<Node>) -> Self {
        Self {
            daemon_set,
            nodes,
            pods: Vec::new(),
            now: at(0),
            next_id: 0,
        }
    }

    /// Changes the DaemonSet's spec as a user would (the generation moves).
    pub fn edit(&mut self, change: impl FnOnce(&mut DaemonSet)) {
        change(&mut self.daemon_set);
        let generation = self.daemon_set.metadata.generation.unwrap_or(0);
        self.daemon_set.metadata.generation = Some(generation + 1);
    }

    pub fn set_image(&mut self, image: &str) {
        self.edit(|daemon_set| daemon_set.spec.template = template(&[("app", "agent")], image));
    }

    /// One controller round, applied.
    pub fn round(&mut self) -> DaemonSetPlan {
        let plan = reconcile(&self.daemon_set, &self.nodes, &self.pods, self.now);
        for mut pod in plan.create.clone() {
            self.next_id += 1;
            let prefix = pod.metadata.generate_name.clone().unwrap();
            pod.metadata.name = Some(format!("{prefix}{}", self.next_id));
            pod.metadata.uid = Some(format!("pod-{}", self.next_id));
            pod.metadata.creation_timestamp = Some(Time(self.now));
            self.pods.push(pod);
        }
        for deleted in &plan.delete {
            let pod = self
                .pods
                .iter_mut()
                .find(|pod| pod.metadata.uid.as_deref() == Some(&deleted.uid))
                .unwrap();
            assert!(pod.metadata.deletion_timestamp.is_none(), "deleted twice");
            pod.metadata.deletion_timestamp = Some(Time(self.now));
        }
        for written in plan.adopt.iter().chain(&plan.release) {
            let pod = self
                .pods
                .iter_mut()
                .find(|pod| pod.metadata.uid == written.metadata.uid)
                .unwrap();
            *pod = written.clone();
        }
        if let Some(status) = &plan.status {
            self.daemon_set.status = Some(status.clone());
        }
        plan
    }

    /// The scheduler and the kubelet: deleted pods go away, new pods are bound to the node
    /// their affinity names and become ready. Whether anything changed.
    pub fn kubelet(&mut self) -> bool {
        let before = self.pods.clone();
        self.pods
            .retain(|pod| pod.metadata.deletion_timestamp.is_none());
        let now = self.now;
        for pod in &mut self.pods {
            let node = target_node(pod).map(str::to_string);
            let spec = pod.spec.as_mut().unwrap();
            if spec.node_name.is_none() {
                spec.node_name = node;
            }
            let status = pod.status.get_or_insert_with(PodStatus::default);
            if status.phase.is_none() {
                status.phase = Some("Running".into());
                *pod = ready(pod.clone(), now);
            }
        }
        before != self.pods
    }

    pub fn advance(&mut self, seconds: i64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_secs(seconds))
            .unwrap();
    }

    /// Rounds and kubelet steps until nothing changes, calling `check` after each step;
    /// returns the number of rounds. Time moves a second per round, or on to the plan's
    /// recheck time when nothing else is left to do.
    pub fn settle(&mut self, mut check: impl FnMut(&World)) -> usize {
        for round in 0..50 {
            let plan = self.round();
            check(self);
            let changed = self.kubelet();
            check(self);
            self.advance(1);
            let idle = DaemonSetPlan {
                recheck_at: plan.recheck_at,
                ..DaemonSetPlan::default()
            };
            if plan == idle && !changed {
                // Nothing to do until a pod becomes available: skip ahead to then.
                match plan.recheck_at {
                    Some(recheck_at) => self.now = self.now.max(recheck_at),
                    None => return round,
                }
            }
        }
        panic!("the controller did not settle in 50 rounds");
    }

    /// (node, image) of the pods not being deleted, sorted.
    pub fn placements(&self) -> Vec<(String, String)> {
        let mut placements: Vec<_> = self
            .pods
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .map(|pod| {
                let spec = pod.spec.as_ref().unwrap();
                let node = target_node(pod).unwrap_or_default().to_string();
                (node, spec.containers[0].image.clone().unwrap())
            })
            .collect();
        placements.sort();
        placements
    }
}

/// (node, image) pairs for the assertions.
pub fn on(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(node, image)| (node.to_string(), image.to_string()))
        .collect()
}

/// Controlled by `owner`.
pub fn owned_by(mut pod: Pod, owner: &DaemonSet) -> Pod {
    let reference =
        crate::controller_refs::controller_reference("apps/v1", "DaemonSet", &owner.metadata);
    pod.metadata.owner_references = Some(vec![reference]);
    pod
}
