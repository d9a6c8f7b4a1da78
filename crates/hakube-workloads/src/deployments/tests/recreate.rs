//! Recreate: the old pods are gone before any new one starts.

use super::world::{World, deployment, recreate};

#[test]
fn recreate_scales_the_old_pods_away_before_creating_the_new_replica_set() {
    let mut world = World::new(recreate(deployment(3, "nginx:1")));
    world.settle(|_| {});
    world.set_image("nginx:2");
    let plan = world.deployment_round();
    assert!(
        plan.create_replica_set.is_none(),
        "no new ReplicaSet while old pods run"
    );
    assert_eq!(plan.update_replica_sets[0].spec.replicas, Some(0));
    world.replica_set_rounds();
    // The old pods are terminating, not gone: still no new ReplicaSet.
    let plan = world.deployment_round();
    assert!(plan.create_replica_set.is_none());
    assert_eq!(world.replica_sets.len(), 1);
    world.kubelet();
    world.replica_set_rounds();
    let plan = world.deployment_round();
    let created = plan
        .create_replica_set
        .expect("the new ReplicaSet once the old pods are gone");
    assert_eq!(
        created.spec.replicas,
        Some(3),
        "Recreate starts at full size"
    );
    world.settle(|world| {
        let images = world
            .pods
            .iter()
            .map(|pod| pod.spec.as_ref().unwrap().containers[0].image.clone());
        let images: Vec<_> = images.collect();
        let old = images.contains(&Some("nginx:1".into()));
        assert!(
            !(old && images.contains(&Some("nginx:2".into()))),
            "old and new pods together"
        );
    });
    assert_eq!(world.images(), ["nginx:2"; 3]);
}
