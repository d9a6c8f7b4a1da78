//! A Job failing: the back-off between replacements, backoffLimit, restarts under
//! restartPolicy OnFailure, activeDeadlineSeconds.

use hakube_kinds::k8s_openapi::api::core::v1::{ContainerStatus, PodStatus};

use super::world::{World, job};
use crate::test_objects::at;

fn backoff_limit_exceeded() -> Option<(String, String, String)> {
    Some((
        "True".into(),
        "BackoffLimitExceeded".into(),
        "Job has reached the specified backoff limit".into(),
    ))
}

#[test]
fn failed_pods_are_replaced_after_a_doubling_back_off_until_the_limit() {
    let mut work = job(Some(1), 1);
    work.spec.as_mut().unwrap().backoff_limit = Some(2);
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    // First failure at 10 s: the replacement waits 10 s.
    world.advance(10);
    world.finish(1, "Failed");
    let plan = world.round();
    assert!(plan.create.is_empty());
    assert_eq!(plan.recheck_at, Some(at(20)));
    assert_eq!(world.counts(), (0, 0, 0, 0, 1));
    world.advance(9);
    assert!(world.round().create.is_empty());
    world.advance(1);
    assert_eq!(world.round().create.len(), 1);
    world.kubelet();
    // Second failure at 20 s: 20 s this time.
    world.finish(1, "Failed");
    assert_eq!(world.round().recheck_at, Some(at(40)));
    world.advance(20);
    assert_eq!(world.round().create.len(), 1);
    world.kubelet();
    // The third failure is more than backoffLimit 2: the Job fails at once (nothing runs).
    world.finish(1, "Failed");
    let plan = world.round();
    assert!(plan.create.is_empty() && plan.delete.is_empty());
    assert_eq!(world.condition("FailureTarget"), backoff_limit_exceeded());
    assert_eq!(world.condition("Failed"), backoff_limit_exceeded());
    assert_eq!(world.counts(), (0, 0, 0, 0, 3));
    assert_eq!(world.job.status.as_ref().unwrap().completion_time, None);
}

#[test]
fn a_failing_job_deletes_its_active_pods_and_fails_once_they_are_gone() {
    let mut work = job(Some(4), 2);
    work.spec.as_mut().unwrap().backoff_limit = Some(0);
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    world.finish(1, "Failed");
    let plan = world.round();
    assert_eq!(plan.delete.len(), 1, "the other, still running pod");
    assert_eq!(world.condition("FailureTarget"), backoff_limit_exceeded());
    assert_eq!(
        world.condition("Failed"),
        None,
        "a pod is still terminating"
    );
    assert_eq!(world.counts(), (0, 0, 1, 0, 2));
    world.advance(3);
    world.round();
    assert_eq!(world.condition("Failed"), None);
    world.kubelet();
    world.round();
    assert_eq!(world.condition("Failed"), backoff_limit_exceeded());
    assert_eq!(world.counts(), (0, 0, 0, 0, 2));
}

#[test]
fn container_restarts_count_against_the_limit_under_restart_policy_on_failure() {
    let mut work = job(Some(1), 1);
    let spec = work.spec.as_mut().unwrap();
    spec.backoff_limit = Some(3);
    spec.template.spec.as_mut().unwrap().restart_policy = Some("OnFailure".into());
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    let restart = |world: &mut World, count: i32| {
        let status = world.pods[0].status.get_or_insert_with(PodStatus::default);
        status.container_statuses = Some(vec![ContainerStatus {
            name: "main".into(),
            restart_count: count,
            ..ContainerStatus::default()
        }]);
    };
    restart(&mut world, 2);
    world.round();
    assert_eq!(world.condition("FailureTarget"), None);
    restart(&mut world, 3);
    let plan = world.round();
    assert_eq!(world.condition("FailureTarget"), backoff_limit_exceeded());
    assert_eq!(plan.delete.len(), 1);
}

#[test]
fn the_active_deadline_ends_the_job() {
    let mut work = job(Some(1), 1);
    work.spec.as_mut().unwrap().active_deadline_seconds = Some(30);
    let mut world = World::new(work);
    assert_eq!(world.round().recheck_at, Some(at(30)));
    world.kubelet();
    world.advance(29);
    assert!(world.round().delete.is_empty());
    world.advance(1);
    let plan = world.round();
    assert_eq!(plan.delete.len(), 1);
    let deadline = Some((
        "True".to_string(),
        "DeadlineExceeded".to_string(),
        "Job was active longer than specified deadline".to_string(),
    ));
    assert_eq!(world.condition("FailureTarget"), deadline);
    world.kubelet();
    world.round();
    assert_eq!(world.condition("Failed"), deadline);
    assert_eq!(world.counts(), (0, 0, 0, 0, 1));
}

#[test]
fn failures_stay_counted_when_their_pods_are_deleted_by_hand() {
    let mut world = World::new(job(Some(1), 1));
    world.round();
    world.kubelet();
    world.finish(1, "Failed");
    world.round();
    assert_eq!(world.counts(), (0, 0, 0, 0, 1));
    world.pods.clear();
    world.advance(10);
    world.round();
    assert_eq!(world.counts(), (1, 0, 0, 0, 1));
}
