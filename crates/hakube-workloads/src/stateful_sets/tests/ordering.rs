//! OrderedReady and Parallel creation and scale-down.

use super::world::{World, parallel, running, stateful_set};
use crate::test_objects::set_phase;

fn created_names(plan: &crate::stateful_sets::StatefulSetPlan) -> Vec<&str> {
    plan.create
        .iter()
        .map(|pod| pod.metadata.name.as_deref().unwrap())
        .collect()
}

fn deleted_names(plan: &crate::stateful_sets::StatefulSetPlan) -> Vec<&str> {
    plan.delete.iter().map(|pod| pod.name.as_str()).collect()
}

#[test]
fn ordered_ready_creates_one_ordinal_at_a_time_after_its_predecessors_are_ready() {
    let mut world = World::new(stateful_set(3, "nginx:1"));
    assert_eq!(created_names(&world.round()), ["web-0"]);
    assert!(world.round().create.is_empty(), "web-0 has not started");
    world.pods[0] = set_phase(world.pods[0].clone(), "Running");
    assert!(
        world.round().create.is_empty(),
        "web-0 is running but not ready"
    );
    world.pods[0].status = None;
    world.kubelet();
    assert_eq!(created_names(&world.round()), ["web-1"]);
    world.settle(|world| assert!(world.unready() <= 1));
    assert_eq!(world.created, ["web-0", "web-1", "web-2"]);
    let status = world.stateful_set.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (3, Some(3), Some(3))
    );
}

#[test]
fn parallel_creates_and_deletes_all_at_once() {
    let mut world = World::new(parallel(stateful_set(3, "nginx:1")));
    assert_eq!(created_names(&world.round()), ["web-0", "web-1", "web-2"]);
    world.settle(|_| {});
    world.scale(1);
    assert_eq!(deleted_names(&world.round()), ["web-2", "web-1"]);
}

#[test]
fn scale_down_removes_the_highest_ordinal_first_one_at_a_time() {
    let mut world = World::new(stateful_set(4, "nginx:1"));
    world.settle(|_| {});
    world.scale(1);
    assert_eq!(deleted_names(&world.round()), ["web-3"]);
    assert!(
        world.round().delete.is_empty(),
        "web-3 is still terminating"
    );
    world.settle(|_| {});
    assert_eq!(world.deleted, ["web-3", "web-2", "web-1"]);
    assert_eq!(world.images(), running(&[("web-0", "nginx:1")]));
}

#[test]
fn scale_down_waits_for_an_unready_predecessor() {
    let mut world = World::new(stateful_set(3, "nginx:1"));
    world.settle(|_| {});
    world.pod_mut("web-0").status.as_mut().unwrap().conditions = None;
    world.scale(2);
    assert!(world.round().delete.is_empty());
    // The first unhealthy pod may go even though it is unhealthy.
    world.pod_mut("web-0").status = None;
    world.kubelet();
    world.pod_mut("web-2").status.as_mut().unwrap().conditions = None;
    assert_eq!(deleted_names(&world.round()), ["web-2"]);
}

#[test]
fn a_failed_pod_is_deleted_and_recreated_under_its_name() {
    let mut world = World::new(stateful_set(3, "nginx:1"));
    world.settle(|_| {});
    let failed = world.pod("web-1").unwrap().clone();
    *world.pod_mut("web-1") = set_phase(failed.clone(), "Failed");
    let plan = world.round();
    assert_eq!(deleted_names(&plan), ["web-1"]);
    assert!(plan.create.is_empty());
    world.settle(|_| {});
    let recreated = world.pod("web-1").unwrap();
    assert_ne!(recreated.metadata.uid, failed.metadata.uid);
    assert_eq!(world.created.len(), 4);
}

#[test]
fn ordinals_can_start_elsewhere() {
    let mut set = stateful_set(2, "nginx:1");
    set.spec.ordinals =
        Some(hakube_kinds::k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(5) });
    let mut world = World::new(set);
    world.settle(|_| {});
    assert_eq!(world.created, ["web-5", "web-6"]);
}
