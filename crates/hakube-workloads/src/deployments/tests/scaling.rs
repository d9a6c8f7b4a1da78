//! Resizing: proportional scaling mid-rollout, and a paused Deployment.

use super::world::{World, deployment};
use crate::deployments::conditions::{PROGRESSING, get};

fn annotation(world: &World, name: &str, key: &str) -> Option<String> {
    world
        .replica_set_named(name)
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .cloned()
}

#[test]
fn a_resize_mid_rollout_is_shared_in_proportion() {
    let mut world = World::new(deployment(10, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    world.set_image("nginx:2");
    world.deployment_round();
    let second = world.new_replica_set_name();
    // 10 desired, surge 3, unavailable 2: the new ReplicaSet starts at 3, the old goes to 8.
    assert_eq!(world.replica_set_named(&first).spec.replicas, Some(8));
    assert_eq!(world.replica_set_named(&second).spec.replicas, Some(3));
    world.edit(|deployment| deployment.spec.replicas = Some(20));
    let plan = world.deployment_round();
    assert!(plan.create_replica_set.is_none());
    // 25 allowed (20 + surge 5): the old 8 of 13 becomes 15 (+4 leftover, larger first), the
    // new 3 of 13 becomes 6.
    assert_eq!(world.replica_set_named(&first).spec.replicas, Some(19));
    assert_eq!(world.replica_set_named(&second).spec.replicas, Some(6));
    for name in [&first, &second] {
        assert_eq!(
            annotation(&world, name, "deployment.kubernetes.io/desired-replicas").as_deref(),
            Some("20")
        );
        assert_eq!(
            annotation(&world, name, "deployment.kubernetes.io/max-replicas").as_deref(),
            Some("25")
        );
    }
    world.settle(|world| {
        let wanted: i32 = world
            .replica_sets
            .iter()
            .map(|replica_set| replica_set.spec.replicas.unwrap())
            .sum();
        assert!(wanted <= 25);
    });
    assert_eq!(world.images(), ["nginx:2"; 20]);
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll() {
    let mut world = World::new(deployment(2, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    world.edit(|deployment| {
        deployment.spec.paused = Some(true);
        deployment.spec.template = crate::test_objects::template(&[("app", "web")], "nginx:2");
        deployment.spec.replicas = Some(5);
    });
    let plan = world.deployment_round();
    assert!(plan.create_replica_set.is_none(), "no rollout while paused");
    assert_eq!(world.replica_set_named(&first).spec.replicas, Some(5));
    let status = world.deployment.status.clone().unwrap();
    let progressing = get(&status, PROGRESSING).unwrap();
    assert_eq!(
        (progressing.status.as_deref(), progressing.reason.as_deref()),
        (Some("Unknown"), Some("DeploymentPaused"))
    );
    assert_eq!(progressing.message.as_deref(), Some("Deployment is paused"));
    world.settle(|_| {});
    assert_eq!(world.images(), ["nginx:1"; 5]);
    world.edit(|deployment| deployment.spec.paused = Some(false));
    let plan = world.deployment_round();
    assert!(
        plan.create_replica_set.is_some(),
        "resuming starts the rollout"
    );
    world.settle(|_| {});
    assert_eq!(world.images(), ["nginx:2"; 5]);
}

#[test]
fn a_resize_outside_a_rollout_scales_the_only_replica_set() {
    let mut world = World::new(deployment(3, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    world.edit(|deployment| deployment.spec.replicas = Some(1));
    let plan = world.deployment_round();
    assert!(plan.create_replica_set.is_none());
    assert_eq!(world.replica_set_named(&first).spec.replicas, Some(1));
    assert_eq!(
        annotation(&world, &first, "deployment.kubernetes.io/desired-replicas").as_deref(),
        Some("1")
    );
    world.settle(|_| {});
    assert_eq!(world.images(), ["nginx:1"]);
    assert_eq!(world.deployment.status.as_ref().unwrap().replicas, Some(1));
}
