use super::*;
use crate::runtime_view::{ObservedContainer, ObservedContainerState, ObservedSandbox};
use hakube_kinds::k8s_openapi::api::core::v1::{Container, PodSpec};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn pod(restart_policy: &str) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.uid = Some("u1".to_owned());
    pod.spec = Some(PodSpec {
        containers: vec![Container {
            name: "app".to_owned(),
            image: Some("img:1".to_owned()),
            ..Container::default()
        }],
        restart_policy: Some(restart_policy.to_owned()),
        ..PodSpec::default()
    });
    pod
}

fn runtime(containers: Vec<(u32, ObservedContainerState, i32)>) -> RuntimeView {
    let sandbox = ObservedSandbox {
        id: "s1".to_owned(),
        namespace: "default".to_owned(),
        name: "web".to_owned(),
        pod_uid: "u1".to_owned(),
        attempt: 0,
        ready: true,
        created_at: at(0),
        ip: Some("10.1.250.2".to_owned()),
    };
    let containers = containers
        .into_iter()
        .map(|(attempt, state, exit_code)| ObservedContainer {
            id: format!("c{attempt}"),
            sandbox_id: "s1".to_owned(),
            pod_uid: "u1".to_owned(),
            name: "app".to_owned(),
            attempt,
            state,
            created_at: at(i64::from(attempt)),
            started_at: Some(at(i64::from(attempt))),
            finished_at: (state == ObservedContainerState::Exited)
                .then(|| at(i64::from(attempt) + 1)),
            exit_code,
            reason: String::new(),
            message: String::new(),
            image: "img:1".to_owned(),
            image_ref: "sha256:abc".to_owned(),
        })
        .collect();
    RuntimeView {
        sandboxes: vec![sandbox],
        containers,
    }
}

fn status(
    pod: &Pod,
    runtime: &RuntimeView,
    waiting: &BTreeMap<ContainerKey, Waiting>,
    now: Timestamp,
) -> PodStatus {
    let readiness = BTreeMap::new();
    let startup_pending = std::collections::BTreeSet::new();
    compute_pod_status(StatusInputs {
        pod,
        runtime,
        waiting,
        readiness: &readiness,
        startup_pending: &startup_pending,
        host_ip: "10.0.0.1",
        now,
    })
}

fn condition_status(status: &PodStatus, kind: &str) -> Option<String> {
    let conditions = status.conditions.iter().flatten();
    conditions
        .clone()
        .find(|condition| condition.type_ == kind)
        .map(|condition| condition.status.clone())
}

#[test]
fn a_running_container_makes_the_pod_running_and_ready() {
    let pod = pod("Always");
    let status = status(
        &pod,
        &runtime(vec![(0, ObservedContainerState::Running, 0)]),
        &BTreeMap::new(),
        at(5),
    );
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(status.pod_ip.as_deref(), Some("10.1.250.2"));
    assert_eq!(status.host_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(condition_status(&status, "Ready").as_deref(), Some("True"));
    let container = &status.container_statuses.unwrap_or_default()[0];
    assert!(container.ready);
    assert_eq!(container.container_id.as_deref(), Some("containerd://c0"));
    assert_eq!(container.image_id, "sha256:abc");
}

#[test]
fn condition_transition_times_survive_rounds_without_change() {
    let mut pod = pod("Always");
    let running = runtime(vec![(0, ObservedContainerState::Running, 0)]);
    pod.status = Some(status(&pod, &running, &BTreeMap::new(), at(5)));
    let later = status(&pod, &running, &BTreeMap::new(), at(50));
    let ready = later
        .conditions
        .iter()
        .flatten()
        .find(|condition| condition.type_ == "Ready")
        .cloned();
    assert_eq!(
        ready.and_then(|ready| ready.last_transition_time),
        Some(Time(at(5)))
    );
    assert_eq!(later.start_time, Some(Time(at(5))));
}

#[test]
fn conditions_others_set_are_kept() {
    let mut pod = pod("Always");
    let running = runtime(vec![(0, ObservedContainerState::Running, 0)]);
    let mut first = status(&pod, &running, &BTreeMap::new(), at(5));
    first
        .conditions
        .get_or_insert_with(Vec::new)
        .push(PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some("EvictionByEvictionAPI".into()),
            ..PodCondition::default()
        });
    pod.status = Some(first);
    let later = status(&pod, &running, &BTreeMap::new(), at(50));
    assert_eq!(
        condition_status(&later, "DisruptionTarget").as_deref(),
        Some("True")
    );
    let types = later
        .conditions
        .iter()
        .flatten()
        .filter(|c| c.type_ == "Ready");
    assert_eq!(
        types.count(),
        1,
        "the agent's own conditions are not repeated"
    );
}

#[test]
fn a_crash_looping_container_shows_back_off_and_its_last_exit() {
    let pod = pod("Always");
    let exits = runtime(vec![
        (0, ObservedContainerState::Exited, 1),
        (1, ObservedContainerState::Exited, 1),
    ]);
    let waiting = BTreeMap::from([(
        ContainerKey::new("u1", "app"),
        Waiting {
            reason: "CrashLoopBackOff".to_owned(),
            message: "back-off 10s".to_owned(),
        },
    )]);
    let status = status(&pod, &exits, &waiting, at(5));
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let container = status.container_statuses.unwrap_or_default()[0].clone();
    assert_eq!(container.restart_count, 1);
    let state = container.state.unwrap_or_default();
    assert_eq!(
        state.waiting.and_then(|waiting| waiting.reason).as_deref(),
        Some("CrashLoopBackOff")
    );
    let last = container
        .last_state
        .and_then(|last| last.terminated)
        .unwrap_or_default();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
}

#[test]
fn finished_pods_succeed_or_fail_by_exit_code() {
    let done = status(
        &pod("Never"),
        &runtime(vec![(0, ObservedContainerState::Exited, 0)]),
        &BTreeMap::new(),
        at(5),
    );
    assert_eq!(done.phase.as_deref(), Some("Succeeded"));
    let failed = status(
        &pod("Never"),
        &runtime(vec![(0, ObservedContainerState::Exited, 3)]),
        &BTreeMap::new(),
        at(5),
    );
    assert_eq!(failed.phase.as_deref(), Some("Failed"));
    let terminated = failed.container_statuses.unwrap_or_default()[0]
        .clone()
        .state
        .and_then(|state| state.terminated);
    assert_eq!(
        terminated
            .and_then(|terminated| terminated.reason)
            .as_deref(),
        Some("Error")
    );
}

#[test]
fn a_pod_without_containers_yet_is_pending_and_creating() {
    let status = status(&pod("Always"), &runtime(vec![]), &BTreeMap::new(), at(1));
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    assert_eq!(
        condition_status(&status, "PodReadyToStartContainers").as_deref(),
        Some("True")
    );
    let state = status.container_statuses.unwrap_or_default()[0]
        .clone()
        .state
        .unwrap_or_default();
    assert_eq!(
        state.waiting.and_then(|waiting| waiting.reason).as_deref(),
        Some("ContainerCreating")
    );
}

#[test]
fn the_agents_last_status_takes_conditions_others_set_since() {
    let pod = pod("Always");
    let running = runtime(vec![(0, ObservedContainerState::Running, 0)]);
    let last = status(&pod, &running, &BTreeMap::new(), at(5));
    let mut current = last.clone();
    current
        .conditions
        .get_or_insert_with(Vec::new)
        .push(PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            ..PodCondition::default()
        });
    let merged = crate::status::with_conditions_of_others(last.clone(), Some(&current));
    assert_eq!(
        condition_status(&merged, "DisruptionTarget").as_deref(),
        Some("True")
    );
    assert_eq!(
        condition_status(&merged, "Ready"),
        condition_status(&last, "Ready"),
        "the agent's own conditions stay its own"
    );
    let gone = crate::status::with_conditions_of_others(merged, Some(&last));
    assert_eq!(condition_status(&gone, "DisruptionTarget"), None);
}
