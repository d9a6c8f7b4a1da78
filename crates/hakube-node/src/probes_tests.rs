use super::*;
use crate::runtime_view::{ObservedContainer, ObservedSandbox};
use hakube_kinds::k8s_openapi::api::core::v1::{Container, ExecAction, PodSpec};

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_700_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn probe(initial_delay_seconds: i32, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec!["true".to_owned()]),
        }),
        initial_delay_seconds: Some(initial_delay_seconds),
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}

fn pod(container: Container) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.uid = Some("u1".to_owned());
    pod.spec = Some(PodSpec {
        containers: vec![container],
        ..PodSpec::default()
    });
    pod
}

fn running(container_id: &str) -> RuntimeView {
    RuntimeView {
        sandboxes: vec![ObservedSandbox {
            id: "s1".to_owned(),
            namespace: "default".to_owned(),
            name: "p".to_owned(),
            pod_uid: "u1".to_owned(),
            attempt: 0,
            ready: true,
            created_at: at(0),
            ip: Some("10.1.0.2".to_owned()),
        }],
        containers: vec![ObservedContainer {
            id: container_id.to_owned(),
            sandbox_id: "s1".to_owned(),
            pod_uid: "u1".to_owned(),
            name: "app".to_owned(),
            attempt: 0,
            state: ObservedContainerState::Running,
            created_at: at(0),
            started_at: Some(at(0)),
            finished_at: None,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            image: String::new(),
            image_ref: String::new(),
        }],
    }
}

#[test]
fn probes_wait_for_the_initial_delay_then_run_each_period() {
    let pod = pod(Container {
        name: "app".to_owned(),
        readiness_probe: Some(probe(5, 10, 3)),
        ..Container::default()
    });
    let mut scheduler = ProbeScheduler::default();
    let runtime = running("c1");
    assert!(scheduler.due(&[&pod], &runtime, at(1)).is_empty());
    let due = scheduler.due(&[&pod], &runtime, at(5));
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].pod_ip, "10.1.0.2");
    assert!(scheduler.due(&[&pod], &runtime, at(10)).is_empty());
    assert_eq!(scheduler.due(&[&pod], &runtime, at(15)).len(), 1);
}

#[test]
fn readiness_follows_the_probe_results() {
    let pod = pod(Container {
        name: "app".to_owned(),
        readiness_probe: Some(probe(0, 1, 2)),
        ..Container::default()
    });
    let key = ContainerKey::new("u1", "app");
    let mut scheduler = ProbeScheduler::default();
    let runtime = running("c1");
    assert_eq!(
        scheduler.readiness(&[&pod]).get(&key),
        Some(&false),
        "not ready before the first success"
    );
    let request = scheduler.due(&[&pod], &runtime, at(0)).remove(0);
    scheduler.record(&request, true);
    assert_eq!(scheduler.readiness(&[&pod]).get(&key), Some(&true));
    scheduler.record(&request, false);
    assert_eq!(
        scheduler.readiness(&[&pod]).get(&key),
        Some(&true),
        "one failure is below the threshold"
    );
    scheduler.record(&request, false);
    assert_eq!(scheduler.readiness(&[&pod]).get(&key), Some(&false));
    assert!(
        scheduler.unhealthy_containers().is_empty(),
        "readiness never restarts"
    );
}

#[test]
fn failed_liveness_marks_the_container_unhealthy_until_it_is_replaced() {
    let pod = pod(Container {
        name: "app".to_owned(),
        liveness_probe: Some(probe(0, 1, 1)),
        ..Container::default()
    });
    let mut scheduler = ProbeScheduler::default();
    let request = scheduler.due(&[&pod], &running("c1"), at(0)).remove(0);
    scheduler.record(&request, false);
    assert_eq!(
        scheduler.unhealthy_containers(),
        BTreeSet::from(["c1".to_owned()])
    );
    scheduler.due(&[&pod], &running("c2"), at(1));
    assert!(scheduler.unhealthy_containers().is_empty());
}

#[test]
fn the_startup_probe_holds_back_the_others() {
    let container = Container {
        name: "app".to_owned(),
        startup_probe: Some(probe(0, 1, 3)),
        liveness_probe: Some(probe(0, 1, 3)),
        ..Container::default()
    };
    let pod = pod(container);
    let mut scheduler = ProbeScheduler::default();
    let due = scheduler.due(&[&pod], &running("c1"), at(0));
    assert_eq!(
        due.iter().map(|request| request.kind).collect::<Vec<_>>(),
        [ProbeKind::Startup]
    );
    let key = ContainerKey::new("u1", "app");
    assert!(scheduler.startup_pending(&[&pod]).contains(&key));
    scheduler.record(&due[0], true);
    assert!(scheduler.startup_pending(&[&pod]).is_empty());
    let due = scheduler.due(&[&pod], &running("c1"), at(1));
    assert!(
        due.iter()
            .any(|request| request.kind == ProbeKind::Liveness)
    );
}
