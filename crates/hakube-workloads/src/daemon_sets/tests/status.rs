//! The status a DaemonSet reports.

use hakube_kinds::k8s_openapi::api::apps::v1::DaemonSetStatus;

use super::world::{World, daemon_set, node, owned_by};
use crate::daemon_sets::reconcile;
use crate::test_objects::{at, pod, ready};

#[test]
fn status_counts_scheduled_ready_available_and_misscheduled_pods() {
    let mut agent = daemon_set("agent:1");
    agent.spec.min_ready_seconds = Some(10);
    let spec = agent.spec.template.spec.as_mut().unwrap();
    spec.node_selector = Some(crate::test_objects::labels(&[("role", "worker")]));
    let worker = |name: &str| node(name, &[("role", "worker")]);
    let nodes = vec![
        worker("w1"),
        worker("w2"),
        worker("w3"),
        node("control", &[]),
    ];
    let app = [("app", "agent")];
    let pods = vec![
        ready(owned_by(pod("old-ready", &app, "w1"), &agent), at(0)),
        ready(owned_by(pod("just-ready", &app, "w2"), &agent), at(95)),
        owned_by(pod("stray", &app, "control"), &agent),
    ];
    let plan = reconcile(&agent, &nodes, &pods, at(100));
    let status = plan.status.clone().unwrap();
    assert_eq!(
        status,
        DaemonSetStatus {
            desired_number_scheduled: 3,
            current_number_scheduled: 2,
            number_misscheduled: 1,
            number_ready: 2,
            // Made by hand, without the revision labels.
            updated_number_scheduled: Some(0),
            number_available: Some(1),
            number_unavailable: Some(2),
            observed_generation: Some(1),
            ..DaemonSetStatus::default()
        }
    );
    assert_eq!(
        plan.recheck_at,
        Some(at(106)),
        "w2's pod becomes available then"
    );
    agent.status = Some(status);
    assert_eq!(
        reconcile(&agent, &nodes, &pods, at(100)).status,
        None,
        "unchanged"
    );
    let later = reconcile(&agent, &nodes, &pods, at(106)).status.unwrap();
    assert_eq!(later.number_available, Some(2));
}

#[test]
fn a_settled_daemon_set_reports_every_node_updated_and_available() {
    let mut world = World::new(
        daemon_set("agent:1"),
        vec![node("n1", &[]), node("n2", &[])],
    );
    world.settle(|_| {});
    let status = world.daemon_set.status.clone().unwrap();
    assert_eq!(
        (
            status.desired_number_scheduled,
            status.current_number_scheduled,
            status.number_ready,
            status.updated_number_scheduled,
            status.number_available,
            status.number_unavailable
        ),
        (2, 2, 2, Some(2), Some(2), Some(0))
    );
}
