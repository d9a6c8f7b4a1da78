//! The Progressing condition's reasons and times, and the hash collision path.

use super::world::{World, deployment};
use crate::deployments::conditions::{PROGRESSING, get};
use crate::deployments::reconcile;
use crate::test_objects::{at, replica_set};
use hakube_kinds::k8s_openapi::api::apps::v1::ReplicaSetCondition;
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

#[test]
fn a_rollout_that_stops_progressing_exceeds_its_deadline() {
    let mut world = World::new(deployment(2, "nginx:1"));
    world.deployment.spec.progress_deadline_seconds = Some(60);
    world.settle(|_| {});
    world.broken_image = Some("nginx:broken".into());
    world.set_image("nginx:broken");
    world.settle(|_| {});
    let second = world.new_replica_set_name();
    let status = world.deployment.status.clone().unwrap();
    let progressing = get(&status, PROGRESSING).unwrap().clone();
    assert_eq!(
        progressing.status.as_deref(),
        Some("True"),
        "still within the deadline"
    );
    let last_update = progressing.last_update_time.clone().unwrap().0;
    let plan = reconcile(
        &world.deployment,
        &world.replica_sets,
        &world.pods,
        world.now,
    );
    let recheck = plan.recheck_at.expect("a round is due at the deadline");
    assert_eq!(
        recheck,
        last_update
            .checked_add(jiff::SignedDuration::from_secs(61))
            .unwrap()
    );
    world.now = recheck;
    world.deployment_round();
    let status = world.deployment.status.clone().unwrap();
    let progressing = get(&status, PROGRESSING).unwrap();
    assert_eq!(
        (progressing.status.as_deref(), progressing.reason.as_deref()),
        (Some("False"), Some("ProgressDeadlineExceeded"))
    );
    assert_eq!(
        progressing.message,
        Some(format!(
            "ReplicaSet \"{second}\" has timed out progressing."
        ))
    );
    assert_eq!(
        world.deployment_round().status,
        None,
        "the timeout is reported once"
    );
}

#[test]
fn progress_refreshes_the_update_time_and_keeps_the_transition_time() {
    let mut world = World::new(deployment(4, "nginx:1"));
    world.settle(|_| {});
    world.set_image("nginx:2");
    world.deployment_round();
    let created = get(world.deployment.status.as_ref().unwrap(), PROGRESSING)
        .unwrap()
        .clone();
    world.replica_set_rounds();
    world.kubelet();
    world.advance(5);
    world.replica_set_rounds();
    world.deployment_round();
    let updated = get(world.deployment.status.as_ref().unwrap(), PROGRESSING)
        .unwrap()
        .clone();
    assert_eq!(updated.reason.as_deref(), Some("ReplicaSetUpdated"));
    let name = world.new_replica_set_name();
    assert_eq!(
        updated.message,
        Some(format!("ReplicaSet \"{name}\" is progressing."))
    );
    assert_eq!(updated.last_transition_time, created.last_transition_time);
    assert!(updated.last_update_time > created.last_update_time);
}

#[test]
fn an_existing_new_replica_set_is_reported_as_found() {
    let mut world = World::new(deployment(2, "nginx:broken"));
    world.broken_image = Some("nginx:broken".into());
    world.settle(|_| {});
    // A Deployment without a Progressing condition (as one from before deadlines existed).
    let mut status = world.deployment.status.clone().unwrap();
    status
        .conditions
        .as_mut()
        .unwrap()
        .retain(|condition| condition.type_.as_deref() != Some(PROGRESSING));
    world.deployment.status = Some(status);
    world.advance(30);
    let plan = world.deployment_round();
    let progressing = get(plan.status.as_ref().unwrap(), PROGRESSING).unwrap();
    assert_eq!(
        (progressing.status.as_deref(), progressing.reason.as_deref()),
        (Some("True"), Some("FoundNewReplicaSet"))
    );
    let name = world.new_replica_set_name();
    assert_eq!(
        progressing.message,
        Some(format!("Found new replica set \"{name}\""))
    );
    assert_eq!(
        progressing.last_update_time,
        Some(Time(world.now)),
        "the deadline counts from now"
    );
}

#[test]
fn a_replica_set_failure_is_reported_on_the_deployment() {
    let mut world = World::new(deployment(1, "nginx:1"));
    world.settle(|_| {});
    let failure = ReplicaSetCondition {
        type_: Some("ReplicaFailure".into()),
        status: Some("True".into()),
        reason: Some("FailedCreate".into()),
        message: Some("pods \"web-\" is forbidden: exceeded quota".into()),
        last_transition_time: Some(Time(world.now)),
    };
    world.replica_sets[0].status.as_mut().unwrap().conditions = Some(vec![failure]);
    world.deployment_round();
    let status = world.deployment.status.clone().unwrap();
    let reported = get(&status, "ReplicaFailure").unwrap();
    assert_eq!(reported.reason.as_deref(), Some("FailedCreate"));
    world.replica_sets[0].status.as_mut().unwrap().conditions = None;
    world.deployment_round();
    assert!(get(world.deployment.status.as_ref().unwrap(), "ReplicaFailure").is_none());
}

#[test]
fn a_name_taken_by_another_replica_set_raises_the_collision_count() {
    let web = deployment(1, "nginx:1");
    let hash = crate::deployments::pod_template_hash(&web.spec.template, None);
    let mut squatter = replica_set(&format!("web-{hash}"), 1, "other");
    squatter.metadata.creation_timestamp = Some(Time(at(0)));
    let plan = reconcile(&web, std::slice::from_ref(&squatter), &[], at(0));
    assert!(plan.create_replica_set.is_none());
    let status = plan.status.unwrap();
    assert_eq!(status.collision_count, Some(1));
    let mut web = web;
    web.status = Some(status);
    let plan = reconcile(&web, &[squatter], &[], at(1));
    let created = plan.create_replica_set.unwrap();
    let rehashed = crate::deployments::pod_template_hash(&web.spec.template, Some(1));
    assert_eq!(created.metadata.name, Some(format!("web-{rehashed}")));
}
