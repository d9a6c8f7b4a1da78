//! A fresh Deployment: its first ReplicaSet, then the status once the pods are up.

use super::world::{World, deployment};
use crate::deployments::conditions::{AVAILABLE, PROGRESSING, get};
use crate::deployments::{POD_TEMPLATE_HASH_LABEL, reconcile};
use crate::test_objects::{at, labels};

#[test]
fn a_fresh_deployment_creates_one_replica_set_named_by_its_template_hash() {
    let mut web = deployment(4, "nginx:1");
    web.metadata.annotations = Some(labels(&[
        ("kubernetes.io/change-cause", "first release"),
        ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
    ]));
    let plan = reconcile(&web, &[], &[], at(0));
    let created = plan.create_replica_set.expect("a new ReplicaSet");
    let hash = crate::deployments::pod_template_hash(&web.spec.template, None);
    assert_eq!(created.metadata.name, Some(format!("web-{hash}")));
    assert_eq!(created.metadata.namespace.as_deref(), Some("default"));
    let hashed = labels(&[("app", "web"), (POD_TEMPLATE_HASH_LABEL, &hash)]);
    assert_eq!(created.metadata.labels.as_ref(), Some(&hashed));
    assert_eq!(created.spec.selector.match_labels.as_ref(), Some(&hashed));
    let template_metadata = created
        .spec
        .template
        .as_ref()
        .unwrap()
        .metadata
        .as_ref()
        .unwrap();
    assert_eq!(template_metadata.labels.as_ref(), Some(&hashed));
    assert_eq!(created.spec.replicas, Some(4));
    let expected_annotations = labels(&[
        ("deployment.kubernetes.io/revision", "1"),
        ("deployment.kubernetes.io/desired-replicas", "4"),
        ("deployment.kubernetes.io/max-replicas", "5"),
        ("kubernetes.io/change-cause", "first release"),
    ]);
    assert_eq!(created.metadata.annotations, Some(expected_annotations));
    let owner = &created.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("Deployment", "web", "uid-deployment-web")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    let revision = plan.deployment.unwrap().metadata.annotations.unwrap();
    assert_eq!(
        revision
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );
    let status = plan.status.unwrap();
    let progressing = get(&status, PROGRESSING).unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetCreated"));
    assert_eq!(
        progressing.message,
        Some(format!("Created new replica set \"web-{hash}\""))
    );
    let available = get(&status, AVAILABLE).unwrap();
    assert_eq!(
        (available.status.as_deref(), available.reason.as_deref()),
        (Some("False"), Some("MinimumReplicasUnavailable"))
    );
    assert_eq!(
        available.message.as_deref(),
        Some("Deployment does not have minimum availability.")
    );
}

#[test]
fn the_status_follows_the_pods_until_the_rollout_is_complete() {
    let mut world = World::new(deployment(3, "nginx:1"));
    world.deployment_round();
    world.replica_set_rounds();
    assert_eq!(world.pods.len(), 3, "the ReplicaSet creates the pods");
    // The ReplicaSet counts its pods in the round after creating them.
    world.replica_set_rounds();
    world.deployment_round();
    let status = world.deployment.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.updated_replicas,
            status.ready_replicas
        ),
        (Some(3), Some(3), Some(0))
    );
    assert_eq!(status.unavailable_replicas, Some(3));
    world.settle(|_| {});
    let status = world.deployment.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        (status.replicas, status.updated_replicas),
        (Some(3), Some(3))
    );
    assert_eq!(
        (
            status.ready_replicas,
            status.available_replicas,
            status.unavailable_replicas
        ),
        (Some(3), Some(3), Some(0))
    );
    let progressing = get(&status, PROGRESSING).unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );
    let name = world.new_replica_set_name();
    assert_eq!(
        progressing.message,
        Some(format!(
            "ReplicaSet \"{name}\" has successfully progressed."
        ))
    );
    let available = get(&status, AVAILABLE).unwrap();
    assert_eq!(
        (available.status.as_deref(), available.reason.as_deref()),
        (Some("True"), Some("MinimumReplicasAvailable"))
    );
    assert_eq!(
        available.message.as_deref(),
        Some("Deployment has minimum availability.")
    );
    let settled = reconcile(
        &world.deployment,
        &world.replica_sets,
        &world.pods,
        world.now,
    );
    assert_eq!(
        settled,
        Default::default(),
        "a settled Deployment writes nothing"
    );
}
