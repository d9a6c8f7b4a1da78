use super::*;
use crate::runtime_view::ObservedSandbox;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn pod(restart_policy: RestartPolicy) -> DesiredPod {
    DesiredPod {
        uid: "u1".to_owned(),
        namespace: "default".to_owned(),
        name: "web".to_owned(),
        init_containers: Vec::new(),
        containers: vec!["app".to_owned()],
        restart_policy,
        deletion_grace_period_seconds: None,
        termination_grace_period_seconds: 30,
        previously_terminal: false,
    }
}

fn sandbox(id: &str, attempt: u32, ready: bool) -> ObservedSandbox {
    ObservedSandbox {
        id: id.to_owned(),
        namespace: "default".to_owned(),
        name: "web".to_owned(),
        pod_uid: "u1".to_owned(),
        attempt,
        ready,
        created_at: at(0),
        ip: Some("10.1.0.2".to_owned()),
    }
}

fn container(
    id: &str,
    name: &str,
    attempt: u32,
    state: ObservedContainerState,
    exit_code: i32,
) -> ObservedContainer {
    ObservedContainer {
        id: id.to_owned(),
        sandbox_id: "s1".to_owned(),
        pod_uid: "u1".to_owned(),
        name: name.to_owned(),
        attempt,
        state,
        created_at: at(i64::from(attempt)),
        started_at: Some(at(i64::from(attempt))),
        finished_at: (state == ObservedContainerState::Exited).then(|| at(i64::from(attempt) + 1)),
        exit_code,
        reason: String::new(),
        message: String::new(),
        image: "img".to_owned(),
        image_ref: "sha256:1".to_owned(),
    }
}

fn view(containers: Vec<ObservedContainer>) -> RuntimeView {
    RuntimeView {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers,
    }
}

fn plan(
    syncer: &mut PodSyncer,
    pods: &[DesiredPod],
    runtime: &RuntimeView,
    now: Timestamp,
) -> Plan {
    syncer.plan(pods, runtime, &ContainerSignals::default(), now)
}

fn create(name: &str, attempt: u32) -> Action {
    Action::CreateContainer {
        pod_uid: "u1".to_owned(),
        sandbox_id: "s1".to_owned(),
        container_name: name.to_owned(),
        attempt,
    }
}

#[test]
fn a_new_pod_gets_a_sandbox_then_its_containers() {
    let mut syncer = PodSyncer::default();
    let pods = [pod(RestartPolicy::Always)];
    let first = plan(&mut syncer, &pods, &RuntimeView::default(), at(0));
    assert_eq!(
        first.actions,
        [Action::RunSandbox {
            pod_uid: "u1".to_owned(),
            attempt: 0
        }]
    );
    let second = plan(&mut syncer, &pods, &view(vec![]), at(1));
    assert_eq!(second.actions, [create("app", 0)]);
    let running = view(vec![container(
        "c1",
        "app",
        0,
        ObservedContainerState::Running,
        0,
    )]);
    assert!(plan(&mut syncer, &pods, &running, at(2)).actions.is_empty());
}

#[test]
fn a_created_container_is_started() {
    let mut syncer = PodSyncer::default();
    let runtime = view(vec![container(
        "c1",
        "app",
        0,
        ObservedContainerState::Created,
        0,
    )]);
    let actions = plan(&mut syncer, &[pod(RestartPolicy::Always)], &runtime, at(0)).actions;
    assert_eq!(
        actions,
        [Action::StartContainer {
            container_id: "c1".to_owned()
        }]
    );
}

#[test]
fn crashing_containers_restart_with_doubling_back_off() {
    let mut syncer = PodSyncer::default();
    let pods = [pod(RestartPolicy::Always)];
    // The first exit restarts at once.
    let exited0 = view(vec![container(
        "c0",
        "app",
        0,
        ObservedContainerState::Exited,
        1,
    )]);
    assert_eq!(
        plan(&mut syncer, &pods, &exited0, at(2)).actions,
        [create("app", 1)]
    );
    // The second exit (at 2 s) waits 10 s.
    let mut exited1 = exited0.clone();
    exited1
        .containers
        .push(container("c1", "app", 1, ObservedContainerState::Exited, 1));
    let held = plan(&mut syncer, &pods, &exited1, at(5));
    assert!(held.actions.is_empty());
    let waiting = &held.waiting[&ContainerKey::new("u1", "app")];
    assert_eq!(waiting.reason, "CrashLoopBackOff");
    assert!(
        waiting
            .message
            .starts_with("back-off 10s restarting failed container=app pod=web_default(u1)")
    );
    let restarted = plan(&mut syncer, &pods, &exited1, at(13));
    assert_eq!(
        restarted.actions,
        [
            Action::RemoveContainer {
                container_id: "c0".to_owned()
            },
            create("app", 2)
        ],
        "the run before the last is removed, the last kept for lastState"
    );
    // The next exit waits 20 s.
    let mut exited2 = exited1.clone();
    exited2
        .containers
        .push(container("c2", "app", 2, ObservedContainerState::Exited, 1));
    assert!(
        plan(&mut syncer, &pods, &exited2, at(20))
            .actions
            .is_empty()
    );
    assert!(
        !plan(&mut syncer, &pods, &exited2, at(24))
            .actions
            .is_empty()
    );
}

#[test]
fn restart_policy_decides_which_exits_restart() {
    let mut syncer = PodSyncer::default();
    let succeeded = view(vec![container(
        "c0",
        "app",
        0,
        ObservedContainerState::Exited,
        0,
    )]);
    let failed = view(vec![container(
        "c0",
        "app",
        0,
        ObservedContainerState::Exited,
        2,
    )]);
    let stop_sandbox = [Action::StopSandbox {
        sandbox_id: "s1".to_owned(),
    }];
    assert_eq!(
        plan(&mut syncer, &[pod(RestartPolicy::Never)], &failed, at(5)).actions,
        stop_sandbox
    );
    assert_eq!(
        plan(
            &mut syncer,
            &[pod(RestartPolicy::OnFailure)],
            &succeeded,
            at(5)
        )
        .actions,
        stop_sandbox
    );
    assert_eq!(
        plan(
            &mut syncer,
            &[pod(RestartPolicy::OnFailure)],
            &failed,
            at(5)
        )
        .actions,
        [create("app", 1)]
    );
}

#[test]
fn init_containers_run_in_order_before_app_containers() {
    let mut syncer = PodSyncer::default();
    let mut desired = pod(RestartPolicy::Always);
    desired.init_containers = vec!["first".to_owned(), "second".to_owned()];
    let pods = [desired];
    assert_eq!(
        plan(&mut syncer, &pods, &view(vec![]), at(0)).actions,
        [create("first", 0)]
    );
    let first_running = view(vec![container(
        "i1",
        "first",
        0,
        ObservedContainerState::Running,
        0,
    )]);
    assert!(
        plan(&mut syncer, &pods, &first_running, at(1))
            .actions
            .is_empty()
    );
    let first_done = view(vec![container(
        "i1",
        "first",
        0,
        ObservedContainerState::Exited,
        0,
    )]);
    assert_eq!(
        plan(&mut syncer, &pods, &first_done, at(2)).actions,
        [create("second", 0)]
    );
    let mut both_done = first_done.clone();
    both_done.containers.push(container(
        "i2",
        "second",
        0,
        ObservedContainerState::Exited,
        0,
    ));
    assert_eq!(
        plan(&mut syncer, &pods, &both_done, at(3)).actions,
        [create("app", 0)]
    );
}

#[test]
fn a_failed_init_container_fails_a_never_pod() {
    let mut syncer = PodSyncer::default();
    let mut desired = pod(RestartPolicy::Never);
    desired.init_containers = vec!["first".to_owned()];
    let failed = view(vec![container(
        "i1",
        "first",
        0,
        ObservedContainerState::Exited,
        1,
    )]);
    assert!(pod_has_finished(&desired, &failed));
    let actions = plan(&mut syncer, &[desired], &failed, at(3)).actions;
    assert_eq!(
        actions,
        [Action::StopSandbox {
            sandbox_id: "s1".to_owned()
        }]
    );
}

#[test]
fn deletion_stops_containers_gracefully_then_removes_the_sandbox() {
    let mut syncer = PodSyncer::default();
    let mut desired = pod(RestartPolicy::Always);
    desired.deletion_grace_period_seconds = Some(7);
    let pods = [desired];
    let running = view(vec![container(
        "c1",
        "app",
        0,
        ObservedContainerState::Running,
        0,
    )]);
    let stop = Action::StopContainer {
        container_id: "c1".to_owned(),
        grace_period_seconds: 7,
    };
    assert_eq!(plan(&mut syncer, &pods, &running, at(0)).actions, [stop]);
    let in_flight = ContainerSignals {
        stopping: BTreeSet::from(["c1".to_owned()]),
        ..ContainerSignals::default()
    };
    assert!(
        syncer
            .plan(&pods, &running, &in_flight, at(1))
            .actions
            .is_empty(),
        "no second stop"
    );
    let stopped = view(vec![container(
        "c1",
        "app",
        0,
        ObservedContainerState::Exited,
        137,
    )]);
    let actions = plan(&mut syncer, &pods, &stopped, at(8)).actions;
    assert_eq!(
        actions,
        [
            Action::StopSandbox {
                sandbox_id: "s1".to_owned()
            },
            Action::RemoveSandbox {
                sandbox_id: "s1".to_owned()
            },
            Action::CleanupPod {
                pod: PodRef {
                    namespace: "default".to_owned(),
                    name: "web".to_owned(),
                    uid: "u1".to_owned()
                }
            },
        ]
    );
}

#[test]
fn sandboxes_of_pods_nobody_wants_are_removed() {
    let mut syncer = PodSyncer::default();
    let actions = plan(&mut syncer, &[], &view(vec![]), at(0)).actions;
    assert_eq!(actions.len(), 3);
    assert_eq!(
        actions[1],
        Action::RemoveSandbox {
            sandbox_id: "s1".to_owned()
        }
    );
}

#[test]
fn a_dead_sandbox_is_replaced_with_the_next_attempt() {
    let mut syncer = PodSyncer::default();
    let runtime = RuntimeView {
        sandboxes: vec![sandbox("s1", 0, false)],
        containers: vec![],
    };
    let actions = plan(&mut syncer, &[pod(RestartPolicy::Always)], &runtime, at(0)).actions;
    assert_eq!(
        actions,
        [Action::RunSandbox {
            pod_uid: "u1".to_owned(),
            attempt: 1
        }]
    );
}

#[test]
fn image_pull_failures_back_off_as_image_pull_back_off() {
    let mut syncer = PodSyncer::default();
    let pods = [pod(RestartPolicy::Always)];
    let key = ContainerKey::new("u1", "app");
    let kind = FailureKind::ImagePull {
        image: "nope:1".to_owned(),
    };
    syncer.record_failure(&key, kind, "not found".to_owned(), at(0));
    assert_eq!(
        syncer
            .failure(&key)
            .map(|failure| failure.fresh_waiting().reason),
        Some("ErrImagePull".to_owned())
    );
    let held = plan(&mut syncer, &pods, &view(vec![]), at(5));
    assert!(held.actions.is_empty());
    assert_eq!(held.waiting[&key].reason, "ImagePullBackOff");
    assert!(
        held.waiting[&key]
            .message
            .starts_with("Back-off pulling image \"nope:1\"")
    );
    assert_eq!(
        plan(&mut syncer, &pods, &view(vec![]), at(11)).actions,
        [create("app", 0)]
    );
}

#[test]
fn an_unhealthy_container_is_stopped_with_the_pods_grace_period() {
    let mut syncer = PodSyncer::default();
    let runtime = view(vec![container(
        "c1",
        "app",
        0,
        ObservedContainerState::Running,
        0,
    )]);
    let signals = ContainerSignals {
        unhealthy: BTreeSet::from(["c1".to_owned()]),
        ..ContainerSignals::default()
    };
    let actions = syncer
        .plan(&[pod(RestartPolicy::Always)], &runtime, &signals, at(0))
        .actions;
    assert_eq!(
        actions,
        [Action::StopContainer {
            container_id: "c1".to_owned(),
            grace_period_seconds: 30
        }]
    );
}

#[test]
fn a_merely_created_container_goes_with_its_sandbox_on_deletion() {
    let mut syncer = PodSyncer::default();
    let mut desired = pod(RestartPolicy::Always);
    desired.deletion_grace_period_seconds = Some(30);
    let created = view(vec![container(
        "c1",
        "app",
        0,
        ObservedContainerState::Created,
        0,
    )]);
    let actions = plan(&mut syncer, &[desired], &created, at(0)).actions;
    assert_eq!(
        actions[0],
        Action::StopSandbox {
            sandbox_id: "s1".to_owned()
        }
    );
    assert_eq!(
        actions[1],
        Action::RemoveSandbox {
            sandbox_id: "s1".to_owned()
        }
    );
}

#[test]
fn a_failing_sandbox_is_retried_with_back_off() {
    let mut syncer = PodSyncer::default();
    let pods = [pod(RestartPolicy::Always)];
    let run = [Action::RunSandbox {
        pod_uid: "u1".to_owned(),
        attempt: 0,
    }];
    assert_eq!(
        plan(&mut syncer, &pods, &RuntimeView::default(), at(0)).actions,
        run
    );
    syncer.record_sandbox_failure("u1", at(0));
    assert!(
        plan(&mut syncer, &pods, &RuntimeView::default(), at(5))
            .actions
            .is_empty()
    );
    assert_eq!(
        plan(&mut syncer, &pods, &RuntimeView::default(), at(11)).actions,
        run
    );
}
