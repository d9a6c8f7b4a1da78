//! Rolling updates from the highest ordinal down to the partition, and OnDelete.

use hakube_kinds::k8s_openapi::api::apps::v1::StatefulSetUpdateStrategy;
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::world::{World, parallel, running, stateful_set, with_partition};

#[test]
fn a_rolling_update_goes_from_the_highest_ordinal_down_to_the_partition() {
    let mut world = World::new(with_partition(stateful_set(4, "nginx:1"), 2));
    world.settle(|_| {});
    let first_revision = world.stateful_set.status.clone().unwrap().update_revision;
    world.set_image("nginx:2");
    world.settle(|world| assert!(world.unready() <= 1, "one pod at a time"));
    assert_eq!(world.deleted, ["web-3", "web-2"]);
    assert_eq!(
        world.images(),
        running(&[
            ("web-0", "nginx:1"),
            ("web-1", "nginx:1"),
            ("web-2", "nginx:2"),
            ("web-3", "nginx:2")
        ])
    );
    let status = world.stateful_set.status.clone().unwrap();
    assert_eq!(
        status.current_revision, first_revision,
        "not every pod is updated"
    );
    assert_ne!(status.update_revision, first_revision);
    assert_eq!(
        (status.current_replicas, status.updated_replicas),
        (Some(2), Some(2))
    );
    // A pod below the partition comes back at its revision, from that revision's template.
    world.delete_pod("web-0");
    world.settle(|_| {});
    assert_eq!(
        world.images()[0],
        ("web-0".to_string(), "nginx:1".to_string())
    );
    let web_0 = world.pod("web-0").unwrap();
    assert_eq!(
        web_0.metadata.labels.as_ref().unwrap()["controller-revision-hash"],
        first_revision.clone().unwrap()
    );
    world.edit(|set| {
        let strategy = set.spec.update_strategy.as_mut().unwrap();
        strategy.rolling_update.as_mut().unwrap().partition = Some(0);
    });
    world.settle(|_| {});
    assert_eq!(world.deleted, ["web-3", "web-2", "web-1", "web-0"]);
    let status = world.stateful_set.status.clone().unwrap();
    assert_eq!(
        status.current_revision, status.update_revision,
        "the update completed"
    );
    assert_eq!(
        (status.current_replicas, status.updated_replicas),
        (Some(4), Some(4))
    );
}

#[test]
fn max_unavailable_replaces_several_pods_at_once() {
    let mut set = parallel(with_partition(stateful_set(4, "nginx:1"), 0));
    let rolling = set
        .spec
        .update_strategy
        .as_mut()
        .unwrap()
        .rolling_update
        .as_mut()
        .unwrap();
    rolling.max_unavailable = Some(IntOrString::String("50%".into()));
    let mut world = World::new(set);
    world.settle(|_| {});
    world.set_image("nginx:2");
    let plan = world.round();
    let deleted: Vec<_> = plan.delete.iter().map(|pod| pod.name.as_str()).collect();
    assert_eq!(deleted, ["web-3", "web-2"]);
    assert!(
        world.round().delete.is_empty(),
        "two are already unavailable"
    );
}

#[test]
fn on_delete_updates_a_pod_only_when_it_is_deleted() {
    let mut set = stateful_set(3, "nginx:1");
    set.spec.update_strategy = Some(StatefulSetUpdateStrategy {
        type_: Some("OnDelete".into()),
        rolling_update: None,
    });
    let mut world = World::new(set);
    world.settle(|_| {});
    world.set_image("nginx:2");
    world.settle(|_| {});
    assert!(world.deleted.is_empty());
    world
        .pods
        .retain(|pod| pod.metadata.name.as_deref() != Some("web-1"));
    world.settle(|_| {});
    assert_eq!(
        world.images(),
        running(&[
            ("web-0", "nginx:1"),
            ("web-1", "nginx:2"),
            ("web-2", "nginx:1")
        ])
    );
    let status = world.stateful_set.status.clone().unwrap();
    assert_eq!(status.updated_replicas, Some(1));
}

#[test]
fn the_partition_counts_from_the_first_ordinal() {
    let mut set = with_partition(stateful_set(3, "nginx:1"), 1);
    set.spec.ordinals =
        Some(hakube_kinds::k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(5) });
    let mut world = World::new(set);
    world.settle(|_| {});
    world.set_image("nginx:2");
    world.settle(|_| {});
    // web-5 is below the partition: recreated, it keeps the old template; web-6 is not.
    world.delete_pod("web-5");
    world.delete_pod("web-6");
    world.settle(|_| {});
    assert_eq!(
        world.images(),
        running(&[
            ("web-5", "nginx:1"),
            ("web-6", "nginx:2"),
            ("web-7", "nginx:2")
        ])
    );
}
