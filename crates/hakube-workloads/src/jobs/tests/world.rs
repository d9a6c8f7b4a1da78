//! An in-memory namespace for the tests: one Job and its pods; plans are applied as the API
//! server would (names, uids, deletion), and a "kubelet" starts pods, finishes the ones the
//! test says and removes deleted ones.

use hakube_kinds::k8s_openapi::api::batch::v1::{Job, JobSpec};
use hakube_kinds::k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodCondition, PodStatus,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use jiff::{SignedDuration, Timestamp};

use crate::jobs::conditions::find;
use crate::jobs::{JobPlan, reconcile};
use crate::test_objects::{NAMESPACE, at, template};

/// A Job "work" of `completions` (None: a work queue) run `parallelism` at a time.
pub fn job(completions: Option<i32>, parallelism: i32) -> Job {
    let mut pod_template = template(&[("app", "work")], "busybox:1");
    if let Some(spec) = pod_template.spec.as_mut() {
        spec.restart_policy = Some("Never".into());
    }
    Job {
        metadata: ObjectMeta {
            name: Some("work".into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some("uid-job-work".into()),
            generation: Some(1),
            creation_timestamp: Some(Time(at(0))),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            completions,
            parallelism: Some(parallelism),
            backoff_limit: Some(6),
            template: pod_template,
            ..JobSpec::default()
        }),
        status: None,
    }
}

pub struct World {
    pub job: Job,
    pub pods: Vec<Pod>,
    pub now: Timestamp,
    pub job_deleted: bool,
    next_id: u64,
}

impl World {
    pub fn new(job: Job) -> Self {
        Self {
            job,
            pods: Vec::new(),
            now: at(0),
            job_deleted: false,
            next_id: 0,
        }
    }

    pub fn spec(&mut self) -> &mut JobSpec {
        self.job.spec.as_mut().unwrap()
    }

    pub fn advance(&mut self, seconds: i64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_secs(seconds))
            .unwrap();
    }

    /// One Job round, applied.
    pub fn round(&mut self) -> JobPlan {
        let plan = reconcile(&self.job, &self.pods, self.now);
        for mut pod in plan.create.clone() {
            self.next_id += 1;
            let prefix = pod.metadata.generate_name.clone().unwrap();
            pod.metadata.name = Some(format!("{prefix}{}", self.next_id));
            pod.metadata.uid = Some(format!("pod-{}", self.next_id));
            pod.metadata.creation_timestamp = Some(Time(self.now));
            pod.status = Some(PodStatus {
                phase: Some("Pending".into()),
                ..PodStatus::default()
            });
            self.pods.push(pod);
        }
        let now = self.now;
        for deleted in &plan.delete {
            let pod = self.pod_mut(&deleted.uid);
            pod.metadata.deletion_timestamp = Some(Time(now));
        }
        for written in plan.adopt.iter().chain(&plan.release) {
            let uid = written.metadata.uid.clone().unwrap();
            *self.pod_mut(&uid) = written.clone();
        }
        if let Some(status) = &plan.status {
            self.job.status = Some(status.clone());
        }
        self.job_deleted |= plan.delete_job;
        plan
    }

    fn pod_mut(&mut self, uid: &str) -> &mut Pod {
        self.pods
            .iter_mut()
            .find(|pod| pod.metadata.uid.as_deref() == Some(uid))
            .unwrap()
    }

    /// The kubelet: deleted pods go away, pending ones run and become ready.
    pub fn kubelet(&mut self) {
        self.pods
            .retain(|pod| pod.metadata.deletion_timestamp.is_none());
        let now = self.now;
        for pod in &mut self.pods {
            if crate::pod_states::phase(pod) == "Pending" {
                let status = pod.status.get_or_insert_with(PodStatus::default);
                status.phase = Some("Running".into());
                status.conditions = Some(vec![ready_condition("True", now)]);
            }
        }
    }

    /// The first `count` running pods (oldest first) exit in `phase`.
    pub fn finish(&mut self, count: usize, phase: &str) {
        let now = self.now;
        let running = self
            .pods
            .iter_mut()
            .filter(|pod| crate::pod_states::phase(pod) == "Running")
            .take(count);
        let mut finished = 0;
        for pod in running {
            finish_pod(pod, phase, now);
            finished += 1;
        }
        assert_eq!(finished, count, "not enough running pods");
    }

    /// How many pods are in `phase`.
    /// Fails one running pod: its container "main" exits with `exit_code`, and the pod gets
    /// the extra `condition` (type, True) when given.
    pub fn fail_with(&mut self, exit_code: i32, condition: Option<&str>) {
        let now = self.now;
        let pod = self
            .pods
            .iter_mut()
            .find(|pod| crate::pod_states::phase(pod) == "Running")
            .expect("a running pod");
        finish_pod(pod, "Failed", now);
        let status = pod.status.get_or_insert_with(PodStatus::default);
        if let Some(terminated) = status
            .container_statuses
            .iter_mut()
            .flatten()
            .find_map(|container| container.state.as_mut()?.terminated.as_mut())
        {
            terminated.exit_code = exit_code;
        }
        if let Some(type_) = condition {
            status
                .conditions
                .get_or_insert_with(Vec::new)
                .push(PodCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    ..PodCondition::default()
                });
        }
    }

    pub fn pods_in(&self, phase: &str) -> usize {
        self.pods
            .iter()
            .filter(|pod| crate::pod_states::phase(pod) == phase)
            .count()
    }

    pub fn condition(&self, type_: &str) -> Option<(String, String, String)> {
        let status = self.job.status.as_ref()?;
        let condition = find(status, type_)?;
        Some((
            condition.status.clone(),
            condition.reason.clone().unwrap_or_default(),
            condition.message.clone().unwrap_or_default(),
        ))
    }

    pub fn condition_types(&self) -> Vec<String> {
        let status = self.job.status.as_ref();
        let conditions = status.and_then(|status| status.conditions.clone());
        conditions
            .unwrap_or_default()
            .into_iter()
            .map(|condition| format!("{}={}", condition.type_, condition.status))
            .collect()
    }

    /// (active, ready, terminating, succeeded, failed) from the Job's status.
    pub fn counts(&self) -> (i32, i32, i32, i32, i32) {
        let status = self.job.status.clone().unwrap_or_default();
        (
            status.active.unwrap_or(0),
            status.ready.unwrap_or(0),
            status.terminating.unwrap_or(0),
            status.succeeded.unwrap_or(0),
            status.failed.unwrap_or(0),
        )
    }
}

fn ready_condition(status: &str, since: Timestamp) -> PodCondition {
    PodCondition {
        type_: "Ready".into(),
        status: status.into(),
        last_transition_time: Some(Time(since)),
        ..PodCondition::default()
    }
}

pub fn finish_pod(pod: &mut Pod, phase: &str, now: Timestamp) {
    let status = pod.status.get_or_insert_with(PodStatus::default);
    status.phase = Some(phase.into());
    status.conditions = Some(vec![ready_condition("False", now)]);
    status.container_statuses = Some(vec![ContainerStatus {
        name: "main".into(),
        state: Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: if phase == "Succeeded" { 0 } else { 1 },
                finished_at: Some(Time(now)),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }]);
}
