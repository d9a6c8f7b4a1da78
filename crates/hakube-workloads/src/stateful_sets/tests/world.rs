//! An in-memory namespace for the tests: a StatefulSet, its pods and claims. Plans are applied
//! as the API server would (claims before pods, uids, no duplicate names), and a "kubelet"
//! finishes deletions and makes new pods Running and Ready.

use hakube_kinds::k8s_openapi::api::apps::v1::{
    RollingUpdateStatefulSetStrategy, StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy,
};
use std::collections::BTreeMap;

use hakube_kinds::k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, Pod, PodStatus, PodTemplateSpec,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use jiff::{SignedDuration, Timestamp};

use crate::stateful_sets::revisions::Revisions;
use crate::stateful_sets::{StatefulSetPlan, reconcile};
use crate::test_objects::{NAMESPACE, at, ready, selector, template};

/// A StatefulSet "web" of `replicas` running `image`, governed by the Service "web".
pub fn stateful_set(replicas: i32, image: &str) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            name: Some("web".into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some("uid-web".into()),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..ObjectMeta::default()
        },
        spec: StatefulSetSpec {
            replicas: Some(replicas),
            selector: selector(&[("app", "web")]),
            service_name: Some("web".into()),
            template: template(&[("app", "web")], image),
            ..StatefulSetSpec::default()
        },
        status: None,
    }
}

pub fn parallel(mut stateful_set: StatefulSet) -> StatefulSet {
    stateful_set.spec.pod_management_policy = Some("Parallel".into());
    stateful_set
}

pub fn with_partition(mut stateful_set: StatefulSet, partition: i32) -> StatefulSet {
    stateful_set.spec.update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateStatefulSetStrategy {
            partition: Some(partition),
            max_unavailable: None,
        }),
    });
    stateful_set
}

pub fn claim_template(name: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        ..PersistentVolumeClaim::default()
    }
}

pub struct World {
    pub stateful_set: StatefulSet,
    pub pods: Vec<Pod>,
    pub claims: Vec<PersistentVolumeClaim>,
    pub now: Timestamp,
    /// Every pod created and deleted so far, by name, in order.
    pub created: Vec<String>,
    pub deleted: Vec<String>,
    /// Every template the set has had, by revision name (its ControllerRevisions).
    templates: BTreeMap<String, PodTemplateSpec>,
    next_id: u64,
}

impl World {
    pub fn new(stateful_set: StatefulSet) -> Self {
        Self {
            stateful_set,
            pods: Vec::new(),
            claims: Vec::new(),
            now: at(0),
            created: Vec::new(),
            deleted: Vec::new(),
            templates: BTreeMap::new(),
            next_id: 0,
        }
    }

    /// Changes the StatefulSet's spec as a user would (the generation moves).
    pub fn edit(&mut self, change: impl FnOnce(&mut StatefulSet)) {
        change(&mut self.stateful_set);
        let generation = self.stateful_set.metadata.generation.unwrap_or(0);
        self.stateful_set.metadata.generation = Some(generation + 1);
    }

    pub fn set_image(&mut self, image: &str) {
        self.edit(|set| set.spec.template = template(&[("app", "web")], image));
    }

    pub fn scale(&mut self, replicas: i32) {
        self.edit(|set| set.spec.replicas = Some(replicas));
    }

    /// One controller round, applied.
    pub fn round(&mut self) -> StatefulSetPlan {
        let revisions = Revisions::of(&self.stateful_set);
        let template = self.stateful_set.spec.template.clone();
        self.templates.insert(revisions.update, template);
        let current = self.templates.get(&revisions.current);
        let plan = reconcile(
            &self.stateful_set,
            current,
            &self.pods,
            &self.claims,
            self.now,
        );
        for claim in &plan.create_claims {
            assert!(
                self.claim(claim.metadata.name.as_deref().unwrap())
                    .is_none()
            );
            self.claims.push(claim.clone());
        }
        for pod in &plan.create {
            let name = pod.metadata.name.clone().unwrap();
            assert!(self.pod(&name).is_none(), "{name} exists");
            for volume in pod.spec.as_ref().unwrap().volumes.iter().flatten() {
                let claim = &volume.persistent_volume_claim.as_ref().unwrap().claim_name;
                assert!(self.claim(claim).is_some(), "{name} needs {claim} first");
            }
            let mut pod = pod.clone();
            self.next_id += 1;
            pod.metadata.uid = Some(format!("pod-{}", self.next_id));
            pod.metadata.creation_timestamp = Some(Time(self.now));
            self.created.push(name);
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
            self.deleted.push(deleted.name.clone());
        }
        for written in plan.adopt.iter().chain(&plan.release) {
            let pod = self.pod_mut(written.metadata.name.as_deref().unwrap());
            *pod = written.clone();
        }
        if let Some(status) = &plan.status {
            self.stateful_set.status = Some(status.clone());
        }
        plan
    }

    /// A user deletes the pod `name`.
    pub fn delete_pod(&mut self, name: &str) {
        let now = self.now;
        self.pod_mut(name).metadata.deletion_timestamp = Some(Time(now));
    }

    /// Deleted pods go away, new pods become Running and Ready. Whether anything changed.
    pub fn kubelet(&mut self) -> bool {
        let before = self.pods.clone();
        self.pods
            .retain(|pod| pod.metadata.deletion_timestamp.is_none());
        let now = self.now;
        for pod in &mut self.pods {
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
        for round in 0..60 {
            let plan = self.round();
            check(self);
            let changed = self.kubelet();
            check(self);
            self.advance(1);
            let idle = StatefulSetPlan {
                recheck_at: plan.recheck_at,
                ..StatefulSetPlan::default()
            };
            if plan == idle && !changed {
                // Nothing to do until a pod becomes available: skip ahead to then.
                match plan.recheck_at {
                    Some(recheck_at) => self.now = self.now.max(recheck_at),
                    None => return round,
                }
            }
        }
        panic!("the controller did not settle in 60 rounds");
    }

    pub fn pod(&self, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|pod| pod.metadata.name.as_deref() == Some(name))
    }

    pub fn pod_mut(&mut self, name: &str) -> &mut Pod {
        self.pods
            .iter_mut()
            .find(|pod| pod.metadata.name.as_deref() == Some(name))
            .unwrap()
    }

    pub fn claim(&self, name: &str) -> Option<&PersistentVolumeClaim> {
        self.claims
            .iter()
            .find(|claim| claim.metadata.name.as_deref() == Some(name))
    }

    /// (name, image) of the pods not being deleted, sorted.
    pub fn images(&self) -> Vec<(String, String)> {
        let mut images: Vec<_> = self
            .pods
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none())
            .map(|pod| {
                let image = pod.spec.as_ref().unwrap().containers[0].image.clone();
                (pod.metadata.name.clone().unwrap(), image.unwrap())
            })
            .collect();
        images.sort();
        images
    }

    /// Pods not being deleted that are not Ready.
    pub fn unready(&self) -> usize {
        let live = self
            .pods
            .iter()
            .filter(|pod| pod.metadata.deletion_timestamp.is_none());
        live.filter(|pod| !crate::pod_states::is_ready(pod)).count()
    }
}

/// (name, image) pairs for the assertions.
pub fn running(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, image)| (name.to_string(), image.to_string()))
        .collect()
}

/// Controlled by `owner`.
pub fn owned_by(mut pod: Pod, owner: &StatefulSet) -> Pod {
    let reference =
        crate::controller_refs::controller_reference("apps/v1", "StatefulSet", &owner.metadata);
    pod.metadata.owner_references = Some(vec![reference]);
    pod
}
