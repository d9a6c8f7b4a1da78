//! Rolling updates: the steps stay within maxSurge and maxUnavailable.

use super::world::{World, deployment};
use crate::deployments::conditions::{PROGRESSING, get};
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

#[test]
fn a_template_change_rolls_within_max_surge_and_max_unavailable() {
    let mut world = World::new(deployment(4, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    world.set_image("nginx:2");
    let second = world.new_replica_set_name();
    let mut mixed_steps = 0;
    let rounds = world.settle(|world| {
        // 25% of 4: one pod above, one pod below the desired count at most.
        let wanted: i32 = world
            .replica_sets
            .iter()
            .map(|replica_set| replica_set.spec.replicas.unwrap())
            .sum();
        assert!(wanted <= 5, "ReplicaSets want {wanted} pods");
        assert!(
            world.live_pods().len() <= 5,
            "{} pods run",
            world.live_pods().len()
        );
        assert!(
            world.ready_pods() >= 3,
            "only {} pods are ready",
            world.ready_pods()
        );
        let images = world.images();
        if images.contains(&"nginx:1".to_string()) && images.contains(&"nginx:2".to_string()) {
            mixed_steps += 1;
        }
    });
    assert!(rounds >= 3, "the rollout went in steps ({rounds} rounds)");
    assert!(mixed_steps > 0, "old and new pods ran side by side");
    assert_eq!(world.images(), ["nginx:2"; 4]);
    assert_eq!(world.replica_set_named(&second).spec.replicas, Some(4));
    assert_eq!(world.replica_set_named(&first).spec.replicas, Some(0));
    assert_eq!(world.revision_of(&first).as_deref(), Some("1"));
    assert_eq!(world.revision_of(&second).as_deref(), Some("2"));
    let annotations = world.deployment.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("2")
    );
    let status = world.deployment.status.clone().unwrap();
    assert_eq!(
        (
            status.observed_generation,
            status.updated_replicas,
            status.available_replicas
        ),
        (Some(2), Some(4), Some(4))
    );
    assert_eq!(
        get(&status, PROGRESSING).unwrap().reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
}

#[test]
fn the_first_step_surges_one_pod_and_scales_the_old_replica_set_down_by_one() {
    let mut world = World::new(deployment(4, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    world.set_image("nginx:2");
    let plan = world.deployment_round();
    let created = plan.create_replica_set.expect("the new ReplicaSet");
    assert_eq!(created.spec.replicas, Some(1), "maxSurge 1 above 4");
    let old = plan
        .update_replica_sets
        .iter()
        .find(|replica_set| replica_set.metadata.name.as_deref() == Some(&first));
    assert_eq!(
        old.unwrap().spec.replicas,
        Some(3),
        "maxUnavailable 1 below 4"
    );
    let progressing = get(plan.status.as_ref().unwrap(), PROGRESSING).unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
}

#[test]
fn unavailable_old_pods_are_scaled_away_first() {
    let mut world = World::new(deployment(4, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    // Two of the four old pods stopped being available.
    world.replica_sets[0]
        .status
        .as_mut()
        .unwrap()
        .available_replicas = Some(2);
    world.set_image("nginx:2");
    world.deployment_round();
    // Surge 1 makes 5; 3 must stay available and the new pod is not: one more may go, and
    // only an unavailable old pod can go without losing availability.
    assert_eq!(world.replica_set_named(&first).spec.replicas, Some(3));
    let second = world.new_replica_set_name();
    assert_eq!(world.replica_set_named(&second).spec.replicas, Some(1));
}

#[test]
fn a_rollout_without_unavailability_only_surges() {
    let mut web = deployment(4, "nginx:1");
    let strategy = web
        .spec
        .strategy
        .as_mut()
        .unwrap()
        .rolling_update
        .as_mut()
        .unwrap();
    strategy.max_surge = Some(IntOrString::Int(1));
    strategy.max_unavailable = Some(IntOrString::Int(0));
    let mut world = World::new(web);
    world.settle(|_| {});
    world.set_image("nginx:2");
    world.settle(|world| {
        assert!(world.live_pods().len() <= 5);
        assert!(
            world.ready_pods() >= 4,
            "only {} pods are ready",
            world.ready_pods()
        );
    });
    assert_eq!(world.images(), ["nginx:2"; 4]);
}
