//! A Job running to completion: parallelism, completions, a work queue, the pods it makes.

use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::world::{World, job};
use crate::jobs::{CONTROLLER_UID_LABEL, JOB_NAME_LABEL, reconcile};
use crate::test_objects::at;

#[test]
fn three_completions_two_at_a_time_run_two_then_one_and_complete() {
    let mut world = World::new(job(Some(3), 2));
    let plan = world.round();
    assert_eq!(plan.create.len(), 2);
    assert_eq!(world.counts(), (2, 0, 0, 0, 0));
    assert_eq!(
        world
            .job
            .status
            .as_ref()
            .unwrap()
            .start_time
            .as_ref()
            .unwrap()
            .0,
        at(0)
    );
    world.kubelet();
    world.advance(5);
    assert!(world.round().create.is_empty());
    assert_eq!(world.counts(), (2, 2, 0, 0, 0));
    world.finish(2, "Succeeded");
    world.advance(5);
    let plan = world.round();
    assert_eq!(plan.create.len(), 1, "only one completion is left");
    assert_eq!(world.counts(), (1, 0, 0, 2, 0));
    assert!(world.condition_types().is_empty());
    world.kubelet();
    world.finish(1, "Succeeded");
    world.advance(5);
    world.round();
    assert_eq!(world.counts(), (0, 0, 0, 3, 0));
    assert_eq!(world.pods_in("Succeeded"), 3, "finished pods are kept");
    let reached = (
        "True".to_string(),
        "CompletionsReached".to_string(),
        "Reached expected number of succeeded pods".to_string(),
    );
    assert_eq!(world.condition("SuccessCriteriaMet"), Some(reached.clone()));
    assert_eq!(world.condition("Complete"), Some(reached));
    let status = world.job.status.clone().unwrap();
    assert_eq!(status.completion_time.unwrap().0, at(15));
    assert_eq!(status.uncounted_terminated_pods, Some(Default::default()));
    // A finished Job is left alone.
    world.advance(5);
    assert_eq!(world.round(), Default::default());
}

#[test]
fn pods_carry_the_job_identity_and_controller_reference() {
    let work = job(Some(1), 1);
    let plan = reconcile(&work, &[], at(0));
    let pod = &plan.create[0];
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("work-"));
    let labels = pod.metadata.labels.clone().unwrap();
    for (key, value) in [
        ("app", "work"),
        (CONTROLLER_UID_LABEL, "uid-job-work"),
        (JOB_NAME_LABEL, "work"),
        ("controller-uid", "uid-job-work"),
        ("job-name", "work"),
    ] {
        assert_eq!(labels.get(key).map(String::as_str), Some(value), "{key}");
    }
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str()
        ),
        ("batch/v1", "Job", "work")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(pod.spec.as_ref().unwrap().hostname, None);
}

#[test]
fn a_work_queue_stops_starting_pods_after_one_success_and_completes_when_all_stop() {
    let mut world = World::new(job(None, 3));
    assert_eq!(world.round().create.len(), 3);
    world.kubelet();
    world.finish(1, "Succeeded");
    world.round();
    assert_eq!(world.pods.len(), 3, "no replacement once one succeeded");
    assert!(world.condition("Complete").is_none());
    world.finish(2, "Succeeded");
    world.round();
    assert_eq!(world.condition("Complete").unwrap().0, "True");
    assert_eq!(world.counts(), (0, 0, 0, 3, 0));
}

#[test]
fn lowering_parallelism_deletes_the_least_advanced_pods_first() {
    let mut world = World::new(job(Some(10), 3));
    world.round();
    world.kubelet();
    // A third pod that has not started yet.
    world.pods[2].status.as_mut().unwrap().phase = Some("Pending".into());
    world.pods[2].status.as_mut().unwrap().conditions = None;
    world.spec().parallelism = Some(2);
    let plan = world.round();
    let deleted: Vec<&str> = plan.delete.iter().map(|pod| pod.name.as_str()).collect();
    assert_eq!(deleted, ["work-3"]);
    assert!(plan.create.is_empty());
    assert_eq!(world.counts(), (2, 2, 1, 0, 0));
    world.kubelet();
    world.round();
    // Pods the controller deleted are not failures.
    assert_eq!(world.counts(), (2, 2, 0, 0, 0));
}

#[test]
fn orphans_matching_the_selector_are_adopted_and_counted() {
    let work = job(Some(2), 2);
    let mut world = World::new(work.clone());
    world.round();
    let mut orphan = world.pods[0].clone();
    world.pods.clear();
    orphan.metadata.owner_references = None;
    orphan.metadata.name = Some("stray".into());
    orphan.metadata.uid = Some("uid-stray".into());
    world.job.status = None;
    world.pods.push(orphan);
    let plan = world.round();
    assert_eq!(plan.adopt.len(), 1);
    let owner = &plan.adopt[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(owner.uid, "uid-job-work");
    assert_eq!(plan.create.len(), 1, "the adopted pod counts as active");
}

#[test]
fn pods_that_no_longer_match_the_selector_are_released_and_replaced() {
    let mut world = World::new(job(Some(1), 1));
    world.round();
    world.kubelet();
    let labels = world.pods[0].metadata.labels.as_mut().unwrap();
    labels.insert(CONTROLLER_UID_LABEL.into(), "someone-else".into());
    let plan = world.round();
    assert_eq!(plan.release.len(), 1);
    assert_eq!(plan.release[0].metadata.owner_references, None);
    assert_eq!(plan.create.len(), 1);
}

#[test]
fn a_job_being_deleted_creates_nothing() {
    let mut work = job(Some(2), 2);
    work.metadata.deletion_timestamp = Some(Time(at(0)));
    let plan = reconcile(&work, &[], at(1));
    assert!(plan.create.is_empty());
    assert_eq!(plan.status.unwrap().active, Some(0));
}

#[test]
fn replacement_policy_failed_waits_for_terminating_pods() {
    let mut work = job(Some(5), 2);
    work.spec.as_mut().unwrap().pod_replacement_policy = Some("Failed".into());
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    // Someone deletes a running pod: it terminates before it is replaced.
    world.pods[0].metadata.deletion_timestamp = Some(Time(at(0)));
    assert!(world.round().create.is_empty());
    assert_eq!(world.counts(), (1, 1, 1, 0, 0));
    world.kubelet();
    assert_eq!(world.round().create.len(), 1);
    // The default policy replaces it at once.
    let mut world = World::new(job(Some(5), 2));
    world.round();
    world.kubelet();
    world.pods[0].metadata.deletion_timestamp = Some(Time(at(0)));
    assert_eq!(world.round().create.len(), 1);
}
