//! Concurrency policies, and what the CronJob records of finished Jobs.

use super::world::{World, cron_job, name_at, time};

#[test]
fn forbid_skips_while_a_job_runs() {
    let mut tick = cron_job("* * * * *", time(0));
    tick.spec.concurrency_policy = Some("Forbid".into());
    let mut world = World::new(tick);
    let created = world.rounds_at(&[time(60), time(120), time(150)]);
    assert_eq!(created, [name_at(time(60))]);
    assert_eq!(world.active_names(), [name_at(time(60))]);
    world.finish(&name_at(time(60)), "Complete");
    // Once it finished, the skipped 10:02 still starts (no starting deadline), late.
    let plan = world.round();
    assert_eq!(plan.create_jobs.len(), 1);
    assert_eq!(world.active_names(), [name_at(time(120))]);
    // And it blocks 10:03 in turn.
    let created = world.rounds_at(&[time(180), time(200)]);
    assert!(created.is_empty());
}

#[test]
fn replace_deletes_the_running_job_and_starts_a_new_one() {
    let mut tick = cron_job("* * * * *", time(0));
    tick.spec.concurrency_policy = Some("Replace".into());
    let mut world = World::new(tick);
    world.rounds_at(&[time(60), time(65)]);
    let plan = world.at(time(120)).round();
    let deleted: Vec<&str> = plan
        .delete_jobs
        .iter()
        .map(|job| job.name.as_str())
        .collect();
    assert_eq!(deleted, [name_at(time(60))]);
    assert_eq!(plan.delete_jobs[0].uid, "job-1");
    assert_eq!(plan.create_jobs.len(), 1);
    assert_eq!(world.active_names(), [name_at(time(120))]);
    assert_eq!(world.job_names(), [name_at(time(120))]);
}

#[test]
fn the_latest_completion_is_the_last_successful_time_and_missing_jobs_leave_the_list() {
    let mut world = World::new(cron_job("* * * * *", time(0)));
    world.rounds_at(&[time(60), time(65), time(120), time(125)]);
    world.advance(10);
    world.finish(&name_at(time(120)), "Complete");
    world.round();
    let status = world.cron_job.status.clone().unwrap();
    assert_eq!(status.last_successful_time.unwrap().0, time(135));
    assert_eq!(world.active_names(), [name_at(time(60))]);
    // Someone deletes the other Job.
    world
        .jobs
        .retain(|job| job.metadata.name.as_deref() != Some(&name_at(time(60))));
    world.round();
    assert!(world.active_names().is_empty());
}
