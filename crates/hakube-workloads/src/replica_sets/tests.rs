//! Unit tests of the ReplicaSet controller's decisions.

use std::cmp::Ordering;

use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;
use crate::test_objects::*;

fn names(plan: &ReplicaSetPlan) -> Vec<&str> {
    plan.delete.iter().map(|pod| pod.name.as_str()).collect()
}

#[test]
fn a_new_replica_set_creates_its_pods_from_the_template() {
    let web = replica_set("web", 3, "web");
    let plan = reconcile(&web, &[], at(0));
    assert_eq!(plan.create.len(), 3);
    let pod = &plan.create[0];
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-"));
    assert_eq!(pod.metadata.name, None);
    assert_eq!(pod.metadata.namespace.as_deref(), Some(NAMESPACE));
    assert_eq!(pod.metadata.labels, Some(labels(&[("app", "web")])));
    let owner = &pod.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str()
        ),
        ("apps/v1", "ReplicaSet", "web", "uid-web")
    );
    assert_eq!(
        (owner.controller, owner.block_owner_deletion),
        (Some(true), Some(true))
    );
    assert_eq!(pod.spec, web.spec.template.as_ref().unwrap().spec);
    assert!(plan.delete.is_empty());
    let status = plan.status.unwrap();
    assert_eq!((status.replicas, status.observed_generation), (0, Some(1)));
}

#[test]
fn creations_and_deletions_are_capped_per_round() {
    let big = replica_set("big", 2_000, "big");
    assert_eq!(
        reconcile(&big, &[], at(0)).create.len(),
        MAX_POD_CHANGES_PER_ROUND
    );
    let small = replica_set("small", 0, "small");
    let pods: Vec<_> = (0..600)
        .map(|index| owned(pod(&format!("p{index}"), &[("app", "small")], "n"), &small))
        .collect();
    assert_eq!(
        reconcile(&small, &pods, at(0)).delete.len(),
        MAX_POD_CHANGES_PER_ROUND
    );
}

#[test]
fn slow_start_doubles_the_batches() {
    assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
    assert_eq!(slow_start_batches(1), [1]);
    assert!(slow_start_batches(0).is_empty());
}

#[test]
fn status_counts_ready_and_available_pods_after_min_ready_seconds() {
    let mut web = replica_set("web", 3, "web");
    web.spec.min_ready_seconds = Some(10);
    let template_labels = [("app", "web")];
    let pods = vec![
        ready(owned(pod("a", &template_labels, "n1"), &web), at(0)),
        ready(owned(pod("b", &template_labels, "n1"), &web), at(95)),
        owned(pod("c", &template_labels, "n1"), &web),
    ];
    let plan = reconcile(&web, &pods, at(100));
    assert!(plan.create.is_empty() && plan.delete.is_empty());
    let status = plan.status.clone().unwrap();
    assert_eq!(status.replicas, 3);
    assert_eq!(status.fully_labeled_replicas, Some(3));
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(status.available_replicas, Some(1));
    assert_eq!(status.terminating_replicas, Some(0));
    // "b" became ready at 95 s: available once more than 10 s have passed.
    assert_eq!(plan.recheck_at, Some(at(106)));
    web.status = Some(status);
    assert_eq!(
        reconcile(&web, &pods, at(100)).status,
        None,
        "an unchanged status is not written"
    );
    let later = reconcile(&web, &pods, at(106)).status.unwrap();
    assert_eq!(later.available_replicas, Some(2));
}

#[test]
fn terminal_and_terminating_pods_are_replaced_and_terminating_ones_counted() {
    let web = replica_set("web", 2, "web");
    let mut leaving = owned(pod("leaving", &[("app", "web")], "n1"), &web);
    leaving.metadata.deletion_timestamp = Some(Time(at(0)));
    let pods = vec![
        owned(pod("running", &[("app", "web")], "n1"), &web),
        set_phase(
            owned(pod("done", &[("app", "web")], "n1"), &web),
            "Succeeded",
        ),
        leaving,
    ];
    let plan = reconcile(&web, &pods, at(0));
    assert_eq!(plan.create.len(), 1);
    let status = plan.status.unwrap();
    assert_eq!((status.replicas, status.terminating_replicas), (1, Some(1)));
}

#[test]
fn orphans_are_adopted_and_unselected_pods_released() {
    let web = replica_set("web", 2, "web");
    let other = replica_set("other", 1, "web");
    let pods = vec![
        pod("orphan", &[("app", "web")], "n1"),
        owned(pod("relabelled", &[("app", "db")], "n1"), &web),
        owned(pod("someone-elses", &[("app", "web")], "n1"), &other),
        pod("unrelated", &[("app", "db")], "n1"),
    ];
    let plan = reconcile(&web, &pods, at(0));
    let adopted: Vec<_> = plan
        .adopt
        .iter()
        .map(|pod| pod.metadata.name.as_deref())
        .collect();
    assert_eq!(adopted, [Some("orphan")]);
    let adopted_owner = &plan.adopt[0].metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (adopted_owner.uid.as_str(), adopted_owner.controller),
        ("uid-web", Some(true))
    );
    let released: Vec<_> = plan
        .release
        .iter()
        .map(|pod| pod.metadata.name.as_deref())
        .collect();
    assert_eq!(released, [Some("relabelled")]);
    assert_eq!(plan.release[0].metadata.owner_references, None);
    // The adopted orphan counts: one more pod makes two.
    assert_eq!(plan.create.len(), 1);
}

#[test]
fn a_replica_set_being_deleted_creates_deletes_adopts_and_releases_nothing() {
    let mut web = replica_set("web", 3, "web");
    web.metadata.deletion_timestamp = Some(Time(at(0)));
    let pods = vec![
        pod("orphan", &[("app", "web")], "n1"),
        owned(pod("relabelled", &[("app", "db")], "n1"), &web),
    ];
    let plan = reconcile(&web, &pods, at(0));
    assert!(plan.create.is_empty() && plan.delete.is_empty());
    assert!(plan.adopt.is_empty() && plan.release.is_empty());
}

#[test]
fn deletions_follow_upstreams_ranking() {
    let web = replica_set("web", 0, "web");
    let app = [("app", "web")];
    let candidate = |name: &str, node: &str| owned(pod(name, &app, node), &web);
    let pods = vec![
        ready(candidate("old-ready", "n1"), at(0)),
        ready(candidate("recently-ready", "n2"), at(3_590)),
        restarted(ready(candidate("ready-restarting", "n3"), at(0)), 5),
        candidate("running-not-ready", "n4"),
        set_phase(candidate("unknown", "n5"), "Unknown"),
        set_phase(candidate("pending", "n6"), "Pending"),
        candidate("unscheduled", ""),
    ];
    let mut web_scaled = web.clone();
    web_scaled.spec.replicas = Some(1);
    let plan = reconcile(&web_scaled, &pods, at(3_600));
    assert_eq!(
        names(&plan),
        [
            "unscheduled",
            "pending",
            "unknown",
            "running-not-ready",
            "recently-ready",
            "ready-restarting"
        ]
    );
}

#[test]
fn deletion_prefers_low_cost_then_doubled_up_nodes_then_newer_pods() {
    let web = replica_set("web", 1, "web");
    let app = [("app", "web")];
    let candidate = |name: &str, node: &str| ready(owned(pod(name, &app, node), &web), at(0));
    let mut cheap = candidate("cheap", "alone");
    cheap.metadata.annotations = Some(labels(&[(
        "controller.kubernetes.io/pod-deletion-cost",
        "-10",
    )]));
    let pods = vec![
        candidate("crowded-1", "busy"),
        cheap,
        candidate("crowded-2", "busy"),
        created(candidate("spread-new", "quiet"), at(3_000)),
        candidate("spread-old", "quiet-2"),
    ];
    let mut scaled = web.clone();
    scaled.spec.replicas = Some(2);
    let plan = reconcile(&scaled, &pods, at(3_600));
    assert_eq!(names(&plan), ["cheap", "crowded-1", "crowded-2"]);
    scaled.spec.replicas = Some(1);
    let plan = reconcile(&scaled, &pods, at(3_600));
    assert_eq!(
        names(&plan)[3],
        "spread-new",
        "the newer of two otherwise equal pods goes first"
    );
}

#[test]
fn pods_of_about_the_same_age_are_ranked_by_uid_not_by_the_exact_time() {
    let web = replica_set("web", 1, "web");
    let app = [("app", "web")];
    // Ready 10 s and 9 s ago: the same power of two in nanoseconds, so the uid decides.
    let pods = vec![
        ready(owned(pod("b-newer", &app, "n1"), &web), at(3_591)),
        ready(owned(pod("a-older", &app, "n2"), &web), at(3_590)),
        ready(owned(pod("c-old", &app, "n3"), &web), at(0)),
    ];
    let plan = reconcile(&web, &pods, at(3_600));
    assert_eq!(names(&plan), ["a-older", "b-newer"]);
}

#[test]
fn the_deletion_order_is_total_when_times_repeat_within_an_age_bucket() {
    // Two pods created at the same instant and a third in the same power-of-two age bucket
    // whose uid falls between theirs: comparing the equal times as equal made the order
    // intransitive, and sorting such pods panicked the controllers.
    let web = replica_set("web", 0, "web");
    let app = [("app", "web")];
    let pods: Vec<Pod> = ["a", "c", "b", "e", "d", "f", "h", "g"]
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let time = if index % 2 == 0 { 3_590 } else { 3_591 };
            created(ready(owned(pod(name, &app, "n1"), &web), at(0)), at(time))
        })
        .collect();
    for count in [3, 5, 8] {
        let mut scaled = web.clone();
        scaled.spec.replicas = Some(8 - count);
        let plan = reconcile(&scaled, &pods, at(3_600));
        assert_eq!(plan.delete.len(), count as usize);
    }
    // A strict weak order: < is transitive, and pods that compare equal compare alike with
    // every other pod.
    let compare = |x: &Pod, y: &Pod| ranking::deletion_order(x, 0, y, 0, at(3_600));
    for x in &pods {
        for y in &pods {
            for z in &pods {
                let (xy, yz, xz) = (compare(x, y), compare(y, z), compare(x, z));
                let names = (&x.metadata.name, &y.metadata.name, &z.metadata.name);
                if xy == Ordering::Less && yz == Ordering::Less {
                    assert_eq!(xz, Ordering::Less, "{names:?}");
                }
                if xy == Ordering::Equal {
                    assert_eq!(xz, yz, "{names:?}");
                }
            }
        }
    }
    let refs: Vec<&Pod> = pods.iter().collect();
    let order: Vec<String> = ranking::pods_to_delete(&refs, 8, at(3_600))
        .into_iter()
        .map(|pod| pod.name)
        .collect();
    assert_eq!(
        order,
        ["a", "b", "c", "d", "e", "f", "g", "h"],
        "by uid within the bucket"
    );
}
