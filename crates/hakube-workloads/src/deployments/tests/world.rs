//! An in-memory namespace for the tests: a Deployment, ReplicaSets and pods; plans are applied
//! as the API server would (names, uids, generations), the ReplicaSet controller runs on each
//! ReplicaSet, and a "kubelet" step makes pods ready and finishes deletions.

use hakube_kinds::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, RollingUpdateDeployment,
};
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use jiff::{SignedDuration, Timestamp};

use crate::deployments::{DeploymentPlan, reconcile};
use crate::replica_sets;
use crate::test_objects::{NAMESPACE, at, ready, selector, template};

/// A Deployment "web" of `replicas` running `image`, rolling 25%/25%.
pub fn deployment(replicas: i32, image: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some("uid-deployment-web".into()),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..ObjectMeta::default()
        },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: selector(&[("app", "web")]),
            template: template(&[("app", "web")], image),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::String("25%".into())),
                }),
            }),
            ..DeploymentSpec::default()
        },
        status: None,
    }
}

pub fn recreate(mut deployment: Deployment) -> Deployment {
    deployment.spec.strategy = Some(DeploymentStrategy {
        type_: Some("Recreate".into()),
        rolling_update: None,
    });
    deployment
}

pub struct World {
    pub deployment: Deployment,
    pub replica_sets: Vec<ReplicaSet>,
    pub pods: Vec<Pod>,
    pub now: Timestamp,
    /// Pods running this image never become ready (a broken release).
    pub broken_image: Option<String>,
    next_id: u64,
}

impl World {
    pub fn new(deployment: Deployment) -> Self {
        Self {
            deployment,
            replica_sets: Vec::new(),
            pods: Vec::new(),
            now: at(0),
            broken_image: None,
            next_id: 0,
        }
    }

    /// Changes the Deployment's spec as a user would (the generation moves).
    pub fn edit(&mut self, change: impl FnOnce(&mut Deployment)) {
        change(&mut self.deployment);
        let generation = self.deployment.metadata.generation.unwrap_or(0);
        self.deployment.metadata.generation = Some(generation + 1);
    }

    pub fn set_image(&mut self, image: &str) {
        self.edit(|deployment| deployment.spec.template = template(&[("app", "web")], image));
    }

    pub fn advance(&mut self, seconds: i64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_secs(seconds))
            .unwrap();
    }

    fn uid(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}", self.next_id)
    }

    /// One Deployment round, applied.
    pub fn deployment_round(&mut self) -> DeploymentPlan {
        let plan = reconcile(&self.deployment, &self.replica_sets, &self.pods, self.now);
        self.apply_deployment_plan(&plan);
        plan
    }

    fn apply_deployment_plan(&mut self, plan: &DeploymentPlan) {
        if let Some(created) = &plan.create_replica_set {
            let mut created = created.clone();
            assert!(
                !self
                    .replica_sets
                    .iter()
                    .any(|existing| existing.metadata.name == created.metadata.name)
            );
            created.metadata.uid = Some(self.uid("rs"));
            created.metadata.generation = Some(1);
            created.metadata.creation_timestamp = Some(Time(self.now));
            self.replica_sets.push(created);
        }
        let written = plan
            .update_replica_sets
            .iter()
            .chain(&plan.adopt_replica_sets)
            .chain(&plan.release_replica_sets);
        for replica_set in written {
            let index = self.replica_set_index(replica_set.metadata.uid.as_deref().unwrap());
            let mut replica_set = replica_set.clone();
            if replica_set.spec != self.replica_sets[index].spec {
                replica_set.metadata.generation = replica_set
                    .metadata
                    .generation
                    .map(|generation| generation + 1);
            }
            self.replica_sets[index] = replica_set;
        }
        for deleted in &plan.delete_replica_sets {
            let index = self.replica_set_index(&deleted.uid);
            self.replica_sets.remove(index);
        }
        if let Some(updated) = &plan.deployment {
            assert_eq!(
                updated.spec, self.deployment.spec,
                "the plan changes metadata only"
            );
            self.deployment.metadata = updated.metadata.clone();
        }
        if let Some(status) = &plan.status {
            self.deployment.status = Some(status.clone());
        }
    }

    fn replica_set_index(&self, uid: &str) -> usize {
        self.replica_sets
            .iter()
            .position(|replica_set| replica_set.metadata.uid.as_deref() == Some(uid))
            .unwrap()
    }

    /// One round of the ReplicaSet controller on every ReplicaSet; whether anything changed.
    pub fn replica_set_rounds(&mut self) -> bool {
        let mut changed = false;
        for index in 0..self.replica_sets.len() {
            let plan = replica_sets::reconcile(&self.replica_sets[index], &self.pods, self.now);
            changed |= plan
                != replica_sets::ReplicaSetPlan {
                    recheck_at: plan.recheck_at,
                    ..Default::default()
                };
            self.apply_replica_set_plan(index, plan);
        }
        changed
    }

    fn apply_replica_set_plan(&mut self, index: usize, plan: replica_sets::ReplicaSetPlan) {
        for mut pod in plan.create {
            let name = format!(
                "{}{}",
                pod.metadata.generate_name.clone().unwrap(),
                self.next_id
            );
            pod.metadata.uid = Some(self.uid("pod"));
            pod.metadata.name = Some(name);
            pod.metadata.creation_timestamp = Some(Time(self.now));
            self.pods.push(pod);
        }
        for deleted in plan.delete {
            let pod = self
                .pods
                .iter_mut()
                .find(|pod| pod.metadata.uid.as_deref() == Some(&deleted.uid))
                .unwrap();
            pod.metadata.deletion_timestamp = Some(Time(self.now));
        }
        for written in plan.adopt.into_iter().chain(plan.release) {
            let pod = self
                .pods
                .iter_mut()
                .find(|pod| pod.metadata.uid == written.metadata.uid)
                .unwrap();
            *pod = written;
        }
        if let Some(status) = plan.status {
            self.replica_sets[index].status = Some(status);
        }
    }

    /// The kubelet: deleted pods go away, the others become ready; whether anything changed.
    pub fn kubelet(&mut self) -> bool {
        let before = self.pods.clone();
        self.pods
            .retain(|pod| pod.metadata.deletion_timestamp.is_none());
        let now = self.now;
        let broken = self.broken_image.clone();
        for pod in &mut self.pods {
            let image = pod
                .spec
                .as_ref()
                .and_then(|spec| spec.containers[0].image.clone());
            if !crate::pod_states::is_ready(pod) && (broken.is_none() || image != broken) {
                *pod = ready(pod.clone(), now);
            }
        }
        before != self.pods
    }

    /// Pods that are not being deleted.
    pub fn live_pods(&self) -> Vec<&Pod> {
        self.pods
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .collect()
    }

    pub fn ready_pods(&self) -> usize {
        self.live_pods()
            .into_iter()
            .filter(|pod| crate::pod_states::is_ready(pod))
            .count()
    }

    pub fn images(&self) -> Vec<String> {
        let mut images: Vec<String> = self
            .live_pods()
            .into_iter()
            .map(|pod| {
                pod.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap()
            })
            .collect();
        images.sort();
        images
    }

    pub fn replica_set_named(&self, name: &str) -> &ReplicaSet {
        self.replica_sets
            .iter()
            .find(|replica_set| replica_set.metadata.name.as_deref() == Some(name))
            .unwrap()
    }

    /// Runs the controllers and the kubelet until nothing changes, calling `check` after each
    /// step; returns the number of rounds.
    pub fn settle(&mut self, mut check: impl FnMut(&World)) -> usize {
        for round in 0..100 {
            let plan = self.deployment_round();
            check(self);
            let mut changed = self.replica_set_rounds();
            check(self);
            changed |= self.kubelet();
            self.advance(1);
            changed |= self.replica_set_rounds();
            check(self);
            let idle = DeploymentPlan {
                recheck_at: plan.recheck_at,
                ..DeploymentPlan::default()
            };
            if plan == idle && !changed {
                return round;
            }
        }
        panic!("the controllers did not settle in 100 rounds");
    }

    pub fn revision_of(&self, name: &str) -> Option<String> {
        let annotations = self.replica_set_named(name).metadata.annotations.as_ref()?;
        annotations.get(crate::deployments::REVISION).cloned()
    }

    pub fn new_replica_set_name(&self) -> String {
        let hash = crate::deployments::pod_template_hash(&self.deployment.spec.template, None);
        format!("web-{hash}")
    }
}
