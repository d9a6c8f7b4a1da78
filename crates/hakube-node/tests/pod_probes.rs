//! Probes against real containers: an httpGet readiness probe makes the pod Ready, a passing
//! tcpSocket liveness probe leaves it alone, and a failing exec liveness probe restarts the
//! container.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{agent_for, busybox_pod, sync_until};
use hakube_kinds::k8s_openapi::api::core::v1::{
    ExecAction, HTTPGetAction, Pod, Probe, TCPSocketAction,
};
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use hakube_node::resolved_pod::{PodReport, ResolvedPod};
use std::time::Duration;

fn probe(period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        period_seconds: Some(period_seconds),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}

fn healthy_pod() -> Pod {
    let mut pod = busybox_pod(
        "healthy",
        "uid-healthy",
        "exec httpd -f -p 80 -h /www",
        "Always",
    );
    let container = &mut pod.spec.as_mut().unwrap().containers[0];
    container.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/index.html".to_owned()),
            port: IntOrString::Int(80),
            ..HTTPGetAction::default()
        }),
        ..probe(1, 3)
    });
    container.liveness_probe = Some(Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(80),
            host: None,
        }),
        ..probe(1, 1)
    });
    pod
}

fn sick_pod() -> Pod {
    let mut pod = busybox_pod("sick", "uid-sick", "exec sleep 3600", "Always");
    let spec = pod.spec.as_mut().unwrap();
    spec.termination_grace_period_seconds = Some(1);
    spec.containers[0].liveness_probe = Some(Probe {
        exec: Some(ExecAction {
            command: Some(vec!["false".to_owned()]),
        }),
        ..probe(1, 1)
    });
    pod
}

fn ready(report: &PodReport) -> bool {
    let conditions = report.status.conditions.iter().flatten();
    conditions
        .into_iter()
        .any(|condition| condition.type_ == "Ready" && condition.status == "True")
}

fn restart_count(report: &PodReport) -> i32 {
    report
        .status
        .container_statuses
        .as_ref()
        .map_or(0, |statuses| statuses[0].restart_count)
}

#[tokio::test]
async fn readiness_and_liveness_probes_drive_ready_and_restarts() {
    let node = common::TestNode::start("hkn-t-prb", "10.1.247.0/24").await;
    node.import_busybox().await;
    let mut agent = agent_for(&node);
    let desired = [
        ResolvedPod::new(healthy_pod()),
        ResolvedPod::new(sick_pod()),
    ];

    let first = agent.sync(&desired).await.unwrap();
    assert!(
        !ready(&first[0]),
        "not ready before the readiness probe passed"
    );
    let report = sync_until(
        &mut agent,
        &desired,
        "uid-healthy",
        Duration::from_secs(20),
        ready,
    )
    .await;
    assert_eq!(restart_count(&report), 0);

    let report = sync_until(
        &mut agent,
        &desired,
        "uid-sick",
        Duration::from_secs(30),
        |report| restart_count(report) >= 1,
    )
    .await;
    let last = report.status.container_statuses.unwrap()[0]
        .last_state
        .clone()
        .unwrap();
    assert_eq!(last.terminated.unwrap().exit_code, 137);
    let healthy = agent.sync(&desired).await.unwrap().remove(0);
    assert_eq!(
        restart_count(&healthy),
        0,
        "the passing liveness probe never restarted it"
    );
    node.cleanup().await;
}
