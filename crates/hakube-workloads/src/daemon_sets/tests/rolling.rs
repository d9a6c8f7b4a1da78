//! Rolling updates replace old pods node by node within maxUnavailable; OnDelete waits.

use hakube_kinds::k8s_openapi::api::apps::v1::{DaemonSetUpdateStrategy, RollingUpdateDaemonSet};
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::world::{World, daemon_set, node, on};
use crate::pod_states;

fn three_nodes() -> Vec<hakube_kinds::k8s_openapi::api::core::v1::Node> {
    vec![node("n1", &[]), node("n2", &[]), node("n3", &[])]
}

/// Nodes with a ready pod not being deleted.
fn ready_nodes(world: &World) -> usize {
    let live = world
        .pods
        .iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none() && pod_states::is_ready(pod));
    live.count()
}

#[test]
fn a_template_change_replaces_one_node_at_a_time() {
    let mut world = World::new(daemon_set("agent:1"), three_nodes());
    world.settle(|_| {});
    world.set_image("agent:2");
    let mut mixed_steps = 0;
    let rounds = world.settle(|world| {
        assert!(
            ready_nodes(world) >= 2,
            "more than one node lost its daemon"
        );
        let images: Vec<_> = world
            .placements()
            .into_iter()
            .map(|(_, image)| image)
            .collect();
        if images.contains(&"agent:1".to_string()) && images.contains(&"agent:2".to_string()) {
            mixed_steps += 1;
        }
    });
    assert!(
        rounds >= 6,
        "three deletions and three creations ({rounds} rounds)"
    );
    assert!(mixed_steps > 0);
    assert_eq!(
        world.placements(),
        on(&[("n1", "agent:2"), ("n2", "agent:2"), ("n3", "agent:2")])
    );
    let status = world.daemon_set.status.clone().unwrap();
    assert_eq!(
        (status.updated_number_scheduled, status.observed_generation),
        (Some(3), Some(2))
    );
}

#[test]
fn max_unavailable_lets_several_nodes_go_at_once() {
    let mut agent = daemon_set("agent:1");
    agent.spec.update_strategy = Some(DaemonSetUpdateStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDaemonSet {
            max_unavailable: Some(IntOrString::String("50%".into())),
            max_surge: None,
        }),
    });
    let mut world = World::new(agent, three_nodes());
    world.settle(|_| {});
    world.set_image("agent:2");
    // 50% of 3 rounded up: two nodes.
    assert_eq!(world.round().delete.len(), 2);
}

#[test]
fn an_old_pod_that_is_not_available_is_replaced_outside_the_budget() {
    let mut nodes = three_nodes();
    nodes.push(node("n4", &[]));
    let mut world = World::new(daemon_set("agent:1"), nodes);
    world.settle(|_| {});
    for pod in &mut world.pods[..2] {
        pod.status.as_mut().unwrap().conditions = None;
    }
    world.set_image("agent:2");
    let plan = world.round();
    // As upstream: the broken old pods are replaced without using the budget of one, which
    // goes to one healthy old pod; the fourth stays.
    assert_eq!(plan.delete.len(), 3);
    let deleted: Vec<_> = plan.delete.iter().map(|pod| pod.name.as_str()).collect();
    let broken: Vec<_> = world.pods[..2]
        .iter()
        .map(|pod| pod.metadata.name.as_deref().unwrap())
        .collect();
    assert!(broken.iter().all(|name| deleted.contains(name)));
}

#[test]
fn on_delete_keeps_old_pods_until_they_are_deleted() {
    let mut agent = daemon_set("agent:1");
    agent.spec.update_strategy = Some(DaemonSetUpdateStrategy {
        type_: Some("OnDelete".into()),
        rolling_update: None,
    });
    let mut world = World::new(agent, three_nodes());
    world.settle(|_| {});
    world.set_image("agent:2");
    world.settle(|_| {});
    assert_eq!(
        world
            .placements()
            .iter()
            .filter(|(_, image)| image == "agent:1")
            .count(),
        3
    );
    world.pods.remove(0);
    world.settle(|_| {});
    assert_eq!(
        world
            .placements()
            .iter()
            .filter(|(_, image)| image == "agent:2")
            .count(),
        1
    );
    let status = world.daemon_set.status.clone().unwrap();
    assert_eq!(status.updated_number_scheduled, Some(1));
}
