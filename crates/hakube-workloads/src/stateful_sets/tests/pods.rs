//! The pods a StatefulSet makes, adopts and ignores, and its status.

use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::world::{World, claim_template, owned_by, stateful_set};
use crate::stateful_sets::{POD_INDEX_LABEL, POD_NAME_LABEL, REVISION_HASH_LABEL, reconcile};
use crate::test_objects::{at, pod, ready};

#[test]
fn a_pod_has_a_stable_name_host_name_labels_and_its_claims_mounted() {
    let mut set = stateful_set(1, "nginx:1");
    set.spec.volume_claim_templates = Some(vec![claim_template("data")]);
    let plan = reconcile(&set, None, &[], &[], at(0));
    let pod = &plan.create[0];
    assert_eq!(pod.metadata.name.as_deref(), Some("web-0"));
    let labels = pod.metadata.labels.as_ref().unwrap();
    let label = |key: &str| labels.get(key).map(String::as_str);
    assert_eq!(label(POD_NAME_LABEL), Some("web-0"));
    assert_eq!(label(POD_INDEX_LABEL), Some("0"));
    assert_eq!(label("app"), Some("web"));
    let revision = plan
        .status
        .as_ref()
        .unwrap()
        .update_revision
        .clone()
        .unwrap();
    assert!(revision.starts_with("web-") && revision.len() > 4);
    assert_eq!(label(REVISION_HASH_LABEL), Some(revision.as_str()));
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    assert_eq!(spec.subdomain.as_deref(), Some("web"));
    let volume = &spec.volumes.as_ref().unwrap()[0];
    assert_eq!(volume.name, "data");
    assert_eq!(
        volume.persistent_volume_claim.as_ref().unwrap().claim_name,
        "data-web-0"
    );
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("StatefulSet", Some(true))
    );
}

#[test]
fn orphan_members_are_adopted_and_non_members_ignored() {
    let set = stateful_set(2, "nginx:1");
    let app = [("app", "web")];
    let pods = vec![
        ready(pod("web-0", &app, "n1"), at(0)),
        pod("web-extra", &app, "n1"),
        pod("other-1", &app, "n1"),
        owned_by(pod("web-1", &[("app", "db")], "n1"), &set),
    ];
    let plan = reconcile(&set, None, &pods, &[], at(10));
    let adopted: Vec<_> = plan
        .adopt
        .iter()
        .map(|pod| pod.metadata.name.clone())
        .collect();
    assert_eq!(adopted, [Some("web-0".to_string())]);
    let released: Vec<_> = plan
        .release
        .iter()
        .map(|pod| pod.metadata.name.clone())
        .collect();
    assert_eq!(released, [Some("web-1".to_string())]);
    // web-1 is released, not owned: its ordinal is missing, but the API would refuse the
    // name while the released pod exists; upstream tries (and fails) the same way.
    let created: Vec<_> = plan
        .create
        .iter()
        .map(|pod| pod.metadata.name.clone())
        .collect();
    assert_eq!(created, [Some("web-1".to_string())]);
}

#[test]
fn status_counts_ready_and_available_members_after_min_ready_seconds() {
    let mut set = stateful_set(2, "nginx:1");
    set.spec.min_ready_seconds = Some(10);
    let mut world = World::new(set);
    world.settle(|_| {});
    let status = world.stateful_set.status.clone().unwrap();
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.available_replicas
        ),
        (2, Some(2), Some(2))
    );
    assert_eq!(status.current_revision, status.update_revision);
    assert_eq!(
        (status.current_replicas, status.updated_replicas),
        (Some(2), Some(2))
    );
    assert_eq!(
        (status.observed_generation, status.collision_count),
        (Some(1), Some(0))
    );
    // Made ready again just now: not available for another 10 s.
    let now = world.now;
    *world.pod_mut("web-1") = ready(world.pod("web-1").unwrap().clone(), now);
    let plan = world.round();
    assert_eq!(plan.status.unwrap().available_replicas, Some(1));
    assert_eq!(
        plan.recheck_at,
        Some(
            now.checked_add(jiff::SignedDuration::from_secs(11))
                .unwrap()
        )
    );
    assert_eq!(
        world.round().status,
        None,
        "an unchanged status is not written"
    );
}

#[test]
fn a_stateful_set_being_deleted_only_reports_status() {
    let mut set = stateful_set(3, "nginx:1");
    set.metadata.deletion_timestamp = Some(Time(at(0)));
    let plan = reconcile(&set, None, &[], &[], at(0));
    assert!(plan.create.is_empty() && plan.delete.is_empty());
    assert_eq!(plan.status.unwrap().replicas, 0);
}
