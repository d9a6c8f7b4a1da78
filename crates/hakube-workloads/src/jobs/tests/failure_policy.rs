//! A Job's podFailurePolicy: FailJob on an exit code fails the Job at once with upstream's
//! message, Ignore (on an exit code or a DisruptionTarget condition) neither counts the
//! failure nor waits before the replacement.

use hakube_kinds::k8s_openapi::api::batch::v1::{
    PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};

use super::world::{World, job};

fn on_exit_codes(action: &str, operator: &str, values: &[i32]) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: Some("main".into()),
            operator: operator.into(),
            values: values.to_vec(),
        }),
        on_pod_conditions: None,
    }
}

fn on_condition(action: &str, type_: &str) -> PodFailurePolicyRule {
    PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: None,
        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
            type_: type_.into(),
            status: Some("True".into()),
        }]),
    }
}

fn world(rules: Vec<PodFailurePolicyRule>) -> World {
    let mut work = job(Some(1), 1);
    let spec = work.spec.as_mut().unwrap();
    spec.backoff_limit = Some(6);
    spec.pod_failure_policy = Some(PodFailurePolicy { rules });
    let mut world = World::new(work);
    world.round();
    world.kubelet();
    world
}

#[test]
fn fail_job_on_an_exit_code_fails_the_job_at_once() {
    let mut world = world(vec![
        on_exit_codes("Ignore", "In", &[1]),
        on_exit_codes("FailJob", "In", &[42]),
    ]);
    world.fail_with(42, None);
    let plan = world.round();
    assert!(plan.create.is_empty());
    let expected = Some((
        "True".to_string(),
        "PodFailurePolicy".to_string(),
        "Container main for pod default/work-1 failed with exit code 42 matching FailJob rule at index 1"
            .to_string(),
    ));
    assert_eq!(world.condition("FailureTarget"), expected);
    assert_eq!(world.condition("Failed"), expected);
}

#[test]
fn ignored_failures_are_not_counted_and_replaced_at_once() {
    let mut world = world(vec![
        on_condition("Ignore", "DisruptionTarget"),
        on_exit_codes("Ignore", "In", &[137]),
        on_exit_codes("FailJob", "NotIn", &[1, 137]),
    ]);
    world.fail_with(137, None);
    assert_eq!(
        world.round().create.len(),
        1,
        "no back-off for an ignored failure"
    );
    world.kubelet();
    world.fail_with(3, Some("DisruptionTarget"));
    assert_eq!(world.round().create.len(), 1);
    assert_eq!(world.counts().4, 0, "ignored failures are not counted");
    world.kubelet();
    // Exit code 1 is not ignored: counted, with the back-off.
    world.fail_with(1, None);
    assert!(world.round().create.is_empty());
    assert_eq!(world.counts().4, 1);
    assert_eq!(world.condition("FailureTarget"), None);
}
