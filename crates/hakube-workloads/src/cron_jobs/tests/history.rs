//! Finished Jobs kept within successfulJobsHistoryLimit and failedJobsHistoryLimit.

use super::world::{World, cron_job, name_at, time};

#[test]
fn finished_jobs_beyond_the_history_limits_are_deleted_oldest_first() {
    let mut world = World::new(cron_job("* * * * *", time(0)));
    let minutes: Vec<_> = (1..=7).map(|minute| time(minute * 60)).collect();
    world.rounds_at(&minutes);
    for minute in 1..=5 {
        world.finish(&name_at(time(minute * 60)), "Complete");
    }
    for minute in 6..=7 {
        world.finish(&name_at(time(minute * 60)), "Failed");
    }
    world.advance(10);
    let plan = world.round();
    let mut deleted: Vec<&str> = plan
        .delete_jobs
        .iter()
        .map(|job| job.name.as_str())
        .collect();
    deleted.sort();
    let expected = [name_at(time(60)), name_at(time(120)), name_at(time(360))];
    assert_eq!(
        deleted,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(world.jobs.len(), 4);
    assert!(world.round().delete_jobs.is_empty());
}

#[test]
fn unset_limits_keep_every_job_of_that_kind() {
    let mut tick = cron_job("* * * * *", time(0));
    tick.spec.successful_jobs_history_limit = None;
    let mut world = World::new(tick);
    let minutes: Vec<_> = (1..=5).map(|minute| time(minute * 60)).collect();
    world.rounds_at(&minutes);
    for minute in 1..=5 {
        world.finish(&name_at(time(minute * 60)), "Complete");
    }
    assert!(world.round().delete_jobs.is_empty());
}
