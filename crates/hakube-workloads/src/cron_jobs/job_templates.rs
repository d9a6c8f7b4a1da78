//! Jobs made from a CronJob's jobTemplate, as upstream's getJobFromTemplate2 makes them: the
//! template's labels, annotations and spec, a name fixed by the scheduled time (so a time is
//! never run twice, even if the status write after the creation is lost), the scheduled time
//! as an annotation, and the CronJob as controller.

use hakube_kinds::k8s_openapi::api::batch::v1::{CronJob, Job};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::controller_refs;

/// The annotation recording when the Job was scheduled, in the CronJob's time zone.
pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// "<cronjob>-<scheduled time in minutes since the epoch>".
pub fn job_name(cron_job: &CronJob, scheduled: Timestamp) -> String {
    let name = cron_job.metadata.name.as_deref().unwrap_or_default();
    format!("{name}-{}", scheduled.as_second().div_euclid(60))
}

pub fn job_from_template(cron_job: &CronJob, scheduled: Timestamp, time_zone: &TimeZone) -> Job {
    let template = &cron_job.spec.job_template;
    let metadata = template.metadata.clone().unwrap_or_default();
    let mut annotations = metadata.annotations.unwrap_or_default();
    annotations.insert(
        SCHEDULED_TIMESTAMP_ANNOTATION.to_string(),
        rfc3339_in(scheduled, time_zone),
    );
    let owner = controller_refs::controller_reference("batch/v1", "CronJob", &cron_job.metadata);
    Job {
        metadata: ObjectMeta {
            name: Some(job_name(cron_job, scheduled)),
            namespace: cron_job.metadata.namespace.clone(),
            labels: Some(metadata.labels.unwrap_or_default()),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Go's RFC 3339 layout: seconds, and "Z" for a zero offset.
fn rfc3339_in(time: Timestamp, time_zone: &TimeZone) -> String {
    let offset = time_zone.to_offset(time);
    if offset.seconds() == 0 {
        return time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    }
    time.to_zoned(time_zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}
