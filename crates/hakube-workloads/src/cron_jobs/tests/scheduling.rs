//! When a CronJob starts Jobs: every scheduled time once, the Job it makes, suspension, the
//! starting deadline, missed times, bad schedules and time zones.

use hakube_kinds::k8s_openapi::api::core::v1::ObjectReference;

use super::world::{World, cron_job, name_at, time};
use crate::cron_jobs::{SCHEDULED_TIMESTAMP_ANNOTATION, reconcile};

#[test]
fn an_every_minute_schedule_creates_one_job_per_minute() {
    let mut world = World::new(cron_job("* * * * *", time(0)));
    let plan = world.round();
    assert!(plan.create_jobs.is_empty());
    assert_eq!(
        plan.next_run_at,
        Some("2024-05-01T10:01:00.1Z".parse().unwrap())
    );
    let created = world.rounds_at(&[time(60), time(61), time(90), time(120), time(180)]);
    assert_eq!(
        created,
        [name_at(time(60)), name_at(time(120)), name_at(time(180))]
    );
    assert_eq!(created[0], "tick-28575961");
    let status = world.cron_job.status.clone().unwrap();
    assert_eq!(status.last_schedule_time.unwrap().0, time(180));
    assert_eq!(
        world.active_names().len(),
        3,
        "Allow runs them side by side"
    );
}

#[test]
fn the_job_comes_from_the_template_with_its_scheduled_time_and_owner() {
    let tick = cron_job("*/5 * * * *", time(0));
    let plan = reconcile(&tick, &[], time(300));
    let job = &plan.create_jobs[0];
    assert_eq!(job.metadata.name.as_deref(), Some("tick-28575965"));
    assert_eq!(job.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(job.metadata.labels.as_ref().unwrap()["app"], "tick");
    let annotations = job.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations["team"], "ops");
    assert_eq!(
        annotations[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2024-05-01T10:05:00Z"
    );
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        ("CronJob", "tick", "uid-cron-tick", Some(true))
    );
    assert_eq!(job.spec, tick.spec.job_template.spec);
    let status = plan.status.unwrap();
    let active = status.active.unwrap();
    let expected = ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: Some("tick-28575965".into()),
        namespace: Some("default".into()),
        ..ObjectReference::default()
    };
    assert_eq!(active, [expected]);
}

#[test]
fn the_active_reference_gets_the_uid_once_the_job_exists() {
    let mut world = World::new(cron_job("* * * * *", time(0)));
    world.at(time(60)).round();
    world.advance(5);
    let plan = world.round();
    let active = plan.status.unwrap().active.unwrap();
    assert_eq!(active[0].uid.as_deref(), Some("job-1"));
    assert!(plan.warnings.is_empty());
    assert_eq!(world.round().status, None, "nothing left to change");
}

#[test]
fn a_job_made_by_a_round_whose_status_was_lost_is_recorded_not_recreated() {
    let mut world = World::new(cron_job("* * * * *", time(0)));
    world.at(time(60)).round();
    world.cron_job.status = None;
    let plan = world.round();
    assert!(plan.create_jobs.is_empty());
    assert_eq!(
        plan.warnings,
        [format!(
            "Saw a job that the controller did not create or forgot: {}",
            name_at(time(60))
        )]
    );
    assert_eq!(world.active_names(), [name_at(time(60))]);
    assert_eq!(
        world
            .cron_job
            .status
            .clone()
            .unwrap()
            .last_schedule_time
            .unwrap()
            .0,
        time(60)
    );
}

#[test]
fn a_suspended_cron_job_starts_nothing_and_waits_for_a_change() {
    let mut tick = cron_job("* * * * *", time(0));
    tick.spec.suspend = Some(true);
    let mut world = World::new(tick);
    let plan = world.at(time(120)).round();
    assert!(plan.create_jobs.is_empty());
    assert_eq!(plan.next_run_at, None);
    world.cron_job.spec.suspend = Some(false);
    assert_eq!(world.round().create_jobs.len(), 1);
}

#[test]
fn the_starting_deadline_skips_times_too_late_to_start() {
    let mut tick = cron_job("0 * * * *", time(0));
    tick.spec.starting_deadline_seconds = Some(30);
    // The controller comes back 40 s after 11:00: too late for that run.
    let plan = reconcile(&tick, &[], time(3_640));
    assert!(plan.create_jobs.is_empty());
    assert_eq!(
        plan.next_run_at,
        Some("2024-05-01T12:00:00.1Z".parse().unwrap())
    );
    // 20 s after is still within the deadline.
    let plan = reconcile(&tick, &[], time(3_620));
    assert_eq!(plan.create_jobs.len(), 1);
}

#[test]
fn after_a_long_outage_only_the_latest_time_runs_with_a_warning_past_a_hundred() {
    let tick = cron_job("* * * * *", time(0));
    let plan = reconcile(&tick, &[], time(5 * 60 + 10));
    assert_eq!(
        plan.create_jobs[0].metadata.name.as_deref(),
        Some(name_at(time(300)).as_str())
    );
    assert!(plan.warnings.is_empty());
    let plan = reconcile(&tick, &[], time(3 * 3_600 + 10));
    assert_eq!(plan.create_jobs.len(), 1);
    assert_eq!(
        plan.warnings,
        [
            "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
        ]
    );
}

#[test]
fn bad_schedules_and_time_zones_are_reported_and_start_nothing() {
    let cases = [
        (
            "* * *",
            None,
            "unparseable schedule: \"* * *\" : expected exactly 5 fields, found 3: * * *",
        ),
        (
            "0 0 30 2 *",
            None,
            "invalid schedule: 0 0 30 2 * : time difference between two schedules is less than 1 second",
        ),
    ];
    for (schedule, zone, warning) in cases {
        let mut tick = cron_job(schedule, time(0));
        tick.spec.time_zone = zone;
        let plan = reconcile(&tick, &[], time(86_400));
        assert!(plan.create_jobs.is_empty(), "{schedule}");
        assert_eq!(plan.warnings, [warning]);
    }
    let mut tick = cron_job("* * * * *", time(0));
    tick.spec.time_zone = Some("Mars/Olympus_Mons".into());
    let plan = reconcile(&tick, &[], time(120));
    assert!(plan.create_jobs.is_empty());
    assert_eq!(plan.warnings.len(), 1);
    assert!(plan.warnings[0].starts_with("invalid timeZone: \"Mars/Olympus_Mons\": "));
}

#[test]
fn a_time_zone_moves_the_schedule_and_the_annotation_carries_its_offset() {
    // 9:00 in Tokyo (UTC+9) is 0:00 UTC.
    let mut tick = cron_job("0 9 * * *", time(0));
    tick.spec.time_zone = Some("Asia/Tokyo".into());
    let plan = reconcile(&tick, &[], time(14 * 3_600));
    let job = &plan.create_jobs[0];
    let annotations = job.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations[SCHEDULED_TIMESTAMP_ANNOTATION],
        "2024-05-02T09:00:00+09:00"
    );
    assert!(plan.warnings.is_empty());
    // A TZ prefix works but draws upstream's warning.
    let tick = cron_job("TZ=Asia/Tokyo 0 9 * * *", time(0));
    let plan = reconcile(&tick, &[], time(14 * 3_600));
    assert_eq!(plan.create_jobs.len(), 1);
    assert!(plan.warnings[0].starts_with("CRON_TZ or TZ used in schedule"));
}
