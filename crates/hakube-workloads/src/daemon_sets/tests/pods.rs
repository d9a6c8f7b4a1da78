//! The pods a DaemonSet makes, keeps, replaces, adopts and releases.

use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::world::{World, daemon_set, node, owned_by};
use crate::daemon_sets::{POD_TEMPLATE_GENERATION_LABEL, REVISION_HASH_LABEL, reconcile};
use crate::deployments::pod_template_hash;
use crate::test_objects::{at, created, pod, set_phase};

#[test]
fn a_daemon_pod_carries_the_owner_the_revision_labels_and_the_daemon_tolerations() {
    let agent = daemon_set("agent:1");
    let plan = reconcile(&agent, &[node("n1", &[])], &[], at(0));
    let pod = &plan.create[0];
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("agent-"));
    let labels = pod.metadata.labels.as_ref().unwrap();
    let hash = pod_template_hash(&agent.spec.template, None);
    assert_eq!(labels.get(REVISION_HASH_LABEL), Some(&hash));
    assert_eq!(
        labels
            .get(POD_TEMPLATE_GENERATION_LABEL)
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(labels.get("app").map(String::as_str), Some("agent"));
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("DaemonSet", "uid-agent", Some(true))
    );
    let tolerations = pod.spec.as_ref().unwrap().tolerations.clone().unwrap();
    let described: Vec<_> = tolerations
        .iter()
        .map(|toleration| {
            (
                toleration.key.clone().unwrap(),
                toleration.effect.clone().unwrap(),
                toleration.toleration_seconds,
            )
        })
        .collect();
    let expected = [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]
    .map(|(key, effect)| (key.to_string(), effect.to_string(), None));
    assert_eq!(described, expected);
}

#[test]
fn extra_pods_on_a_node_go_and_the_oldest_bound_one_stays() {
    let agent = daemon_set("agent:1");
    let app = [("app", "agent")];
    let pods = vec![
        created(owned_by(pod("newer", &app, "n1"), &agent), at(20)),
        created(owned_by(pod("older", &app, "n1"), &agent), at(10)),
        created(owned_by(pod("unbound", &app, ""), &agent), at(0)),
    ];
    let plan = reconcile(&agent, &[node("n1", &[])], &pods, at(30));
    let deleted: Vec<_> = plan.delete.iter().map(|pod| pod.name.as_str()).collect();
    // "unbound" has no node at all: it is not counted for n1.
    assert_eq!(deleted, ["newer"]);
    assert!(plan.create.is_empty());
}

#[test]
fn a_failed_pod_is_deleted_then_replaced_once_gone() {
    let mut world = World::new(daemon_set("agent:1"), vec![node("n1", &[])]);
    world.settle(|_| {});
    world.pods[0] = set_phase(world.pods[0].clone(), "Failed");
    let failed = world.pods[0].metadata.name.clone().unwrap();
    let plan = world.round();
    assert_eq!(plan.delete[0].name, failed);
    assert!(plan.create.is_empty(), "not while the failed pod is there");
    world.kubelet();
    let plan = world.round();
    assert_eq!(plan.create.len(), 1);
}

#[test]
fn a_pod_being_deleted_is_waited_for() {
    let agent = daemon_set("agent:1");
    let mut leaving = owned_by(pod("leaving", &[("app", "agent")], "n1"), &agent);
    leaving.metadata.deletion_timestamp = Some(Time(at(0)));
    let plan = reconcile(&agent, &[node("n1", &[])], &[leaving], at(1));
    assert!(plan.create.is_empty() && plan.delete.is_empty());
}

#[test]
fn orphans_are_adopted_and_unselected_pods_released() {
    let agent = daemon_set("agent:1");
    let pods = vec![
        pod("orphan", &[("app", "agent")], "n1"),
        owned_by(pod("relabelled", &[("app", "other")], "n2"), &agent),
    ];
    let plan = reconcile(&agent, &[node("n1", &[]), node("n2", &[])], &pods, at(0));
    assert_eq!(plan.adopt[0].metadata.name.as_deref(), Some("orphan"));
    assert_eq!(plan.release[0].metadata.owner_references, None);
    let targets: Vec<_> = plan
        .create
        .iter()
        .map(|pod| crate::daemon_sets::daemon_pods::target_node(pod).unwrap())
        .collect();
    assert_eq!(targets, ["n2"], "the adopted orphan covers n1");
}

#[test]
fn a_daemon_set_being_deleted_or_selecting_everything_does_nothing() {
    let mut deleting = daemon_set("agent:1");
    deleting.metadata.deletion_timestamp = Some(Time(at(0)));
    let nodes = [node("n1", &[])];
    assert_eq!(reconcile(&deleting, &nodes, &[], at(0)), Default::default());
    let mut everything = daemon_set("agent:1");
    everything.spec.selector = Default::default();
    assert_eq!(
        reconcile(&everything, &nodes, &[], at(0)),
        Default::default()
    );
}
