//! Volume claims: created once per template and ordinal, before the pod, never again.

use super::world::{World, claim_template, parallel, stateful_set};
use crate::test_objects::labels;

fn claim_names(world: &World) -> Vec<String> {
    let mut names: Vec<_> = world
        .claims
        .iter()
        .map(|claim| claim.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn claims_are_named_after_template_set_and_ordinal_and_made_once() {
    let mut set = parallel(stateful_set(2, "nginx:1"));
    let mut data = claim_template("data");
    data.metadata.labels = Some(labels(&[("tier", "storage")]));
    set.spec.volume_claim_templates = Some(vec![data, claim_template("logs")]);
    let mut world = World::new(set);
    let plan = world.round();
    assert_eq!(plan.create_claims.len(), 4);
    let claim = &plan.create_claims[0];
    assert_eq!(claim.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        claim.metadata.labels,
        Some(labels(&[("app", "web"), ("tier", "storage")])),
        "the selector's labels join the template's"
    );
    world.settle(|_| {});
    assert_eq!(
        claim_names(&world),
        ["data-web-0", "data-web-1", "logs-web-0", "logs-web-1"]
    );
    // A recreated pod finds its claims (the world refuses a claim made twice).
    world
        .pods
        .retain(|pod| pod.metadata.name.as_deref() != Some("web-1"));
    let plan = world.round();
    assert_eq!(plan.create.len(), 1);
    assert!(plan.create_claims.is_empty());
}

#[test]
fn a_claim_missing_under_a_pending_pod_is_made_again() {
    let mut set = stateful_set(1, "nginx:1");
    set.spec.volume_claim_templates = Some(vec![claim_template("data")]);
    let mut world = World::new(set);
    world.round();
    world.claims.clear();
    let status = world.pods[0].status.get_or_insert_with(Default::default);
    status.phase = Some("Pending".into());
    let plan = world.round();
    let names: Vec<_> = plan
        .create_claims
        .iter()
        .map(|claim| claim.metadata.name.clone())
        .collect();
    assert_eq!(names, [Some("data-web-0".to_string())]);
    assert!(plan.create.is_empty());
}
