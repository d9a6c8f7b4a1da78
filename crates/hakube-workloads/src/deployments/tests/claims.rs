//! Which ReplicaSets a Deployment takes, lets go of, or leaves alone.

use super::world::deployment;
use crate::deployments::reconcile;
use crate::test_objects::{at, replica_set, template};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

fn owned_by_web(
    mut replica_set: hakube_kinds::k8s_openapi::api::apps::v1::ReplicaSet,
) -> hakube_kinds::k8s_openapi::api::apps::v1::ReplicaSet {
    let web = deployment(1, "nginx:1");
    let reference =
        crate::controller_refs::controller_reference("apps/v1", "Deployment", &web.metadata);
    replica_set.metadata.owner_references = Some(vec![reference]);
    replica_set
}

#[test]
fn an_orphan_with_the_template_is_adopted_as_the_new_replica_set() {
    let web = deployment(2, "nginx:1");
    let mut orphan = replica_set("web-handmade", 2, "web");
    orphan.spec.template = Some(template(&[("app", "web")], "nginx:1"));
    orphan.metadata.labels = Some(crate::test_objects::labels(&[("app", "web")]));
    let plan = reconcile(&web, &[orphan], &[], at(0));
    assert!(
        plan.create_replica_set.is_none(),
        "the adopted ReplicaSet has the template"
    );
    assert_eq!(plan.adopt_replica_sets.len(), 1);
    let adopted = &plan.adopt_replica_sets[0];
    let owner = &adopted.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Deployment", "uid-deployment-web", Some(true))
    );
    let revision = adopted
        .metadata
        .annotations
        .as_ref()
        .unwrap()
        .get("deployment.kubernetes.io/revision");
    assert_eq!(revision.map(String::as_str), Some("1"));
    assert!(
        plan.update_replica_sets.is_empty(),
        "written once, as the adoption"
    );
}

#[test]
fn an_owned_replica_set_that_no_longer_matches_is_released_and_others_are_ignored() {
    let web = deployment(1, "nginx:1");
    let mut relabelled = owned_by_web(replica_set("web-old", 0, "db"));
    relabelled.metadata.labels = Some(crate::test_objects::labels(&[("app", "db")]));
    let mut foreign = replica_set("foreign", 1, "web");
    foreign.metadata.labels = Some(crate::test_objects::labels(&[("app", "web")]));
    foreign.metadata.owner_references = Some(vec![crate::controller_refs::controller_reference(
        "apps/v1",
        "Deployment",
        &replica_set("someone", 1, "x").metadata,
    )]);
    let plan = reconcile(&web, &[relabelled, foreign], &[], at(0));
    let released: Vec<_> = plan
        .release_replica_sets
        .iter()
        .map(|rs| rs.metadata.name.as_deref())
        .collect();
    assert_eq!(released, [Some("web-old")]);
    assert_eq!(plan.release_replica_sets[0].metadata.owner_references, None);
    assert!(plan.adopt_replica_sets.is_empty());
    assert!(
        plan.update_replica_sets.is_empty(),
        "the foreign ReplicaSet is left alone"
    );
    assert!(plan.create_replica_set.is_some());
}

#[test]
fn a_deployment_being_deleted_only_reports_status() {
    let mut web = deployment(2, "nginx:1");
    web.metadata.deletion_timestamp = Some(Time(at(0)));
    let mut orphan = replica_set("web-orphan", 1, "web");
    orphan.metadata.labels = Some(crate::test_objects::labels(&[("app", "web")]));
    let plan = reconcile(&web, &[orphan], &[], at(0));
    assert!(plan.create_replica_set.is_none() && plan.adopt_replica_sets.is_empty());
    assert_eq!(plan.status.unwrap().observed_generation, Some(1));
}

#[test]
fn a_deployment_selecting_everything_only_observes_its_generation() {
    let mut web = deployment(2, "nginx:1");
    web.spec.selector = LabelSelector::default();
    let orphan = replica_set("anything", 1, "web");
    let plan = reconcile(&web, &[orphan], &[], at(0));
    assert!(plan.create_replica_set.is_none() && plan.adopt_replica_sets.is_empty());
    assert_eq!(plan.status.unwrap().observed_generation, Some(1));
}
