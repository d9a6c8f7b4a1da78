//! Suspension and resumption, and the TTL after a Job finished.

use super::world::{World, job};
use crate::test_objects::at;

#[test]
fn a_job_created_suspended_starts_nothing_until_resumed() {
    let mut work = job(Some(2), 2);
    work.spec.as_mut().unwrap().suspend = Some(true);
    let mut world = World::new(work);
    let plan = world.round();
    assert!(plan.create.is_empty());
    let suspended = (
        "True".to_string(),
        "JobSuspended".to_string(),
        "Job suspended".to_string(),
    );
    assert_eq!(world.condition("Suspended"), Some(suspended));
    assert_eq!(world.job.status.as_ref().unwrap().start_time, None);
    // Nothing changes while suspended.
    world.advance(30);
    assert_eq!(world.round().status, None);
    world.spec().suspend = Some(false);
    let plan = world.round();
    assert_eq!(plan.create.len(), 2);
    let resumed = (
        "False".to_string(),
        "JobResumed".to_string(),
        "Job resumed".to_string(),
    );
    assert_eq!(world.condition("Suspended"), Some(resumed));
    let status = world.job.status.clone().unwrap();
    assert_eq!(status.start_time.unwrap().0, at(30));
}

#[test]
fn suspending_a_running_job_deletes_its_pods_without_counting_failures() {
    let mut work = job(Some(2), 2);
    work.spec.as_mut().unwrap().active_deadline_seconds = Some(100);
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    world.advance(60);
    world.spec().suspend = Some(true);
    let plan = world.round();
    assert_eq!(plan.delete.len(), 2);
    assert_eq!(plan.recheck_at, None, "the deadline clock is stopped");
    assert_eq!(world.counts(), (0, 0, 2, 0, 0));
    assert_eq!(world.job.status.as_ref().unwrap().start_time, None);
    world.kubelet();
    world.advance(60);
    world.round();
    assert_eq!(world.counts(), (0, 0, 0, 0, 0));
    // Resuming restarts the deadline clock: 100 s from now, not from the first start.
    world.spec().suspend = Some(false);
    let plan = world.round();
    assert_eq!(plan.create.len(), 2);
    assert_eq!(plan.recheck_at, Some(at(220)));
    assert_eq!(world.condition("FailureTarget"), None);
}

#[test]
fn a_finished_job_is_deleted_once_its_ttl_passed() {
    let mut work = job(Some(1), 1);
    work.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(60);
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    world.advance(10);
    world.finish(1, "Succeeded");
    let plan = world.round();
    assert_eq!(world.condition("Complete").unwrap().0, "True");
    assert_eq!(plan.recheck_at, Some(at(70)));
    assert!(!plan.delete_job);
    world.advance(59);
    let plan = world.round();
    assert!(!plan.delete_job);
    assert_eq!(plan.recheck_at, Some(at(70)));
    world.advance(1);
    assert!(world.round().delete_job);
    assert!(world.job_deleted);
}

#[test]
fn a_job_without_ttl_or_managed_elsewhere_is_left_alone() {
    let mut world = World::new(job(Some(1), 1));
    world.spec().managed_by = Some("example.com/other".into());
    assert_eq!(world.round(), Default::default());
    world.spec().managed_by = Some("kubernetes.io/job-controller".into());
    assert_eq!(world.round().create.len(), 1);
}
