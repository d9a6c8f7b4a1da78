//! An in-memory namespace for the tests: one CronJob and its Jobs; plans are applied as the API
//! server would (uids, AlreadyExists on a taken name), and the test finishes Jobs by hand.

use hakube_kinds::k8s_openapi::api::batch::v1::{
    CronJob, CronJobSpec, Job, JobCondition, JobSpec, JobStatus, JobTemplateSpec,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use jiff::{SignedDuration, Timestamp};

use crate::cron_jobs::{CronJobPlan, reconcile};
use crate::test_objects::{NAMESPACE, labels, template};

/// A CronJob "tick" on `schedule`, created at `created`.
pub fn cron_job(schedule: &str, created: Timestamp) -> CronJob {
    CronJob {
        metadata: ObjectMeta {
            name: Some("tick".into()),
            namespace: Some(NAMESPACE.into()),
            uid: Some("uid-cron-tick".into()),
            creation_timestamp: Some(Time(created)),
            ..ObjectMeta::default()
        },
        spec: CronJobSpec {
            schedule: schedule.into(),
            concurrency_policy: Some("Allow".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(1),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(&[("app", "tick")])),
                    annotations: Some(labels(&[("team", "ops")])),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    template: template(&[("app", "tick")], "busybox:1"),
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        },
        status: None,
    }
}

/// 2024-05-01T10:00:00Z plus `seconds`.
pub fn time(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_714_557_600 + seconds).unwrap()
}

pub struct World {
    pub cron_job: CronJob,
    pub jobs: Vec<Job>,
    pub now: Timestamp,
    next_id: u64,
}

impl World {
    pub fn new(cron_job: CronJob) -> Self {
        let now = cron_job.metadata.creation_timestamp.clone().unwrap().0;
        Self {
            cron_job,
            jobs: Vec::new(),
            now,
            next_id: 0,
        }
    }

    pub fn at(&mut self, now: Timestamp) -> &mut Self {
        self.now = now;
        self
    }

    pub fn advance(&mut self, seconds: i64) {
        self.now = self
            .now
            .checked_add(SignedDuration::from_secs(seconds))
            .unwrap();
    }

    pub fn round(&mut self) -> CronJobPlan {
        let plan = reconcile(&self.cron_job, &self.jobs, self.now);
        for deleted in &plan.delete_jobs {
            let before = self.jobs.len();
            self.jobs
                .retain(|job| job.metadata.uid.as_deref() != Some(&deleted.uid));
            assert_eq!(self.jobs.len() + 1, before, "deleted {}", deleted.name);
        }
        for job in &plan.create_jobs {
            let taken = self
                .jobs
                .iter()
                .any(|existing| existing.metadata.name == job.metadata.name);
            if taken {
                continue;
            }
            self.next_id += 1;
            let mut job = job.clone();
            job.metadata.uid = Some(format!("job-{}", self.next_id));
            job.metadata.creation_timestamp = Some(Time(self.now));
            job.status = Some(JobStatus {
                start_time: Some(Time(self.now)),
                ..JobStatus::default()
            });
            self.jobs.push(job);
        }
        if let Some(status) = &plan.status {
            self.cron_job.status = Some(status.clone());
        }
        plan
    }

    /// Rounds at each of `times`, returning the names of the Jobs created.
    pub fn rounds_at(&mut self, times: &[Timestamp]) -> Vec<String> {
        let mut created = Vec::new();
        for now in times {
            self.now = *now;
            let plan = self.round();
            created.extend(
                plan.create_jobs
                    .iter()
                    .map(|job| job.metadata.name.clone().unwrap()),
            );
        }
        created
    }

    /// The Job `name` ends with a True `type_` condition now.
    pub fn finish(&mut self, name: &str, type_: &str) {
        let now = self.now;
        let job = self
            .jobs
            .iter_mut()
            .find(|job| job.metadata.name.as_deref() == Some(name))
            .unwrap();
        let status = job.status.get_or_insert_with(JobStatus::default);
        status.conditions = Some(vec![JobCondition {
            type_: type_.into(),
            status: "True".into(),
            last_transition_time: Some(Time(now)),
            ..JobCondition::default()
        }]);
        if type_ == "Complete" {
            status.completion_time = Some(Time(now));
        }
    }

    pub fn active_names(&self) -> Vec<String> {
        let status = self.cron_job.status.clone().unwrap_or_default();
        let active = status.active.unwrap_or_default();
        active
            .into_iter()
            .map(|reference| reference.name.unwrap_or_default())
            .collect()
    }

    pub fn job_names(&self) -> Vec<String> {
        self.jobs
            .iter()
            .map(|job| job.metadata.name.clone().unwrap())
            .collect()
    }
}

/// "tick-<minutes since the epoch>" for `time`.
pub fn name_at(time: Timestamp) -> String {
    format!("tick-{}", time.as_second() / 60)
}
