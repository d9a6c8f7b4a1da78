//! Revisions: a rollback reuses the old ReplicaSet under a new revision; old ReplicaSets
//! beyond the history limit are deleted.

use super::world::{World, deployment};

#[test]
fn a_rollback_reuses_the_old_replica_set_with_a_new_revision() {
    let mut world = World::new(deployment(2, "nginx:1"));
    world.settle(|_| {});
    let first = world.new_replica_set_name();
    let first_uid = world.replica_set_named(&first).metadata.uid.clone();
    world.set_image("nginx:2");
    world.settle(|_| {});
    world.set_image("nginx:1");
    let plan = world.deployment_round();
    assert!(
        plan.create_replica_set.is_none(),
        "the old ReplicaSet is reused"
    );
    world.settle(|_| {});
    assert_eq!(world.replica_sets.len(), 2);
    let reused = world.replica_set_named(&first);
    assert_eq!(reused.metadata.uid, first_uid);
    assert_eq!(reused.spec.replicas, Some(2));
    assert_eq!(world.revision_of(&first).as_deref(), Some("3"));
    let history = reused
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .get("deployment.kubernetes.io/revision-history");
    assert_eq!(history.map(String::as_str), Some("1"));
    let annotations = world.deployment.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(world.images(), ["nginx:1"; 2]);
}

#[test]
fn old_replica_sets_beyond_the_history_limit_are_deleted_lowest_revision_first() {
    let mut world = World::new(deployment(1, "app:1"));
    world.deployment.spec.revision_history_limit = Some(2);
    world.settle(|_| {});
    for version in 2..=5 {
        world.set_image(&format!("app:{version}"));
        world.settle(|_| {});
    }
    let mut revisions: Vec<i64> = world
        .replica_sets
        .iter()
        .map(|replica_set| {
            replica_set.metadata.annotations.as_ref().unwrap()["deployment.kubernetes.io/revision"]
                .parse()
                .unwrap()
        })
        .collect();
    revisions.sort();
    assert_eq!(
        revisions,
        [3, 4, 5],
        "the new ReplicaSet and the two latest old ones are kept"
    );
}

#[test]
fn an_old_replica_set_with_pods_is_kept_beyond_the_history_limit() {
    let mut world = World::new(deployment(1, "app:1"));
    world.deployment.spec.revision_history_limit = Some(0);
    world.settle(|_| {});
    world.set_image("app:2");
    // Not yet scaled down: nothing to delete while the rollout runs.
    let plan = world.deployment_round();
    assert!(plan.delete_replica_sets.is_empty());
    world.settle(|_| {});
    assert_eq!(
        world.replica_sets.len(),
        1,
        "deleted once scaled to 0 with no pods"
    );
}
