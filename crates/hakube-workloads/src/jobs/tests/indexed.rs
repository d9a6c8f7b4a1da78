//! Indexed completion: one pod per index, completed indexes in the status.

use super::world::{World, job};
use crate::jobs::COMPLETION_INDEX;

fn indexed(completions: i32, parallelism: i32) -> World {
    let mut work = job(Some(completions), parallelism);
    work.spec.as_mut().unwrap().completion_mode = Some("Indexed".into());
    World::new(work)
}

fn index_of(world: &World, position: usize) -> String {
    let annotations = world.pods[position].metadata.annotations.as_ref().unwrap();
    annotations[COMPLETION_INDEX].clone()
}

#[test]
fn each_index_gets_a_pod_and_the_job_completes_when_all_succeeded() {
    let mut world = indexed(3, 2);
    let plan = world.round();
    assert_eq!(plan.create.len(), 2);
    let pod = &plan.create[1];
    assert_eq!(pod.metadata.generate_name.as_deref(), Some("work-1-"));
    assert_eq!(pod.metadata.labels.as_ref().unwrap()[COMPLETION_INDEX], "1");
    assert_eq!(
        pod.metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX],
        "1"
    );
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.hostname.as_deref(), Some("work-1"));
    let env = spec.containers[0].env.as_ref().unwrap();
    assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    let field = env[0]
        .value_from
        .as_ref()
        .unwrap()
        .field_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        field.field_path,
        "metadata.labels['batch.kubernetes.io/job-completion-index']"
    );
    world.kubelet();
    // Index 1 finishes first: index 2 is the next pending one.
    world.pods.swap(0, 1);
    world.finish(1, "Succeeded");
    let plan = world.round();
    assert_eq!(plan.create.len(), 1);
    assert_eq!(
        plan.create[0].metadata.annotations.as_ref().unwrap()[COMPLETION_INDEX],
        "2"
    );
    let status = world.job.status.clone().unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("1"));
    assert_eq!(status.succeeded, Some(1));
    world.kubelet();
    world.finish(2, "Succeeded");
    world.round();
    let status = world.job.status.clone().unwrap();
    assert_eq!(status.completed_indexes.as_deref(), Some("0-2"));
    assert_eq!(status.succeeded, Some(3));
    assert_eq!(world.condition("Complete").unwrap().0, "True");
}

#[test]
fn a_failed_index_is_retried_with_the_same_index() {
    let mut world = indexed(2, 2);
    world.round();
    world.kubelet();
    world.finish(1, "Failed");
    assert!(world.round().create.is_empty(), "back-off first");
    world.advance(10);
    let plan = world.round();
    assert_eq!(plan.create.len(), 1);
    assert_eq!(index_of(&world, 2), index_of(&world, 0));
}

#[test]
fn duplicate_indexes_are_deleted_down_to_one() {
    let mut world = indexed(2, 2);
    world.round();
    world.kubelet();
    let mut duplicate = world.pods[0].clone();
    duplicate.metadata.name = Some("work-0-extra".into());
    duplicate.metadata.uid = Some("uid-extra".into());
    duplicate.metadata.creation_timestamp = None;
    world.pods.push(duplicate);
    let plan = world.round();
    assert_eq!(plan.delete.len(), 1);
    assert!(plan.create.is_empty());
}
