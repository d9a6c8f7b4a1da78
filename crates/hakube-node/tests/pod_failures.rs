//! Pods that cannot run: a crashing command ends in CrashLoopBackOff with its restarts counted
//! and its last exit shown; an image that does not exist gives ErrImagePull, then
//! ImagePullBackOff; a Never pod that fails is Failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{agent_for, busybox_pod, phase, sync_until_with_events, waiting_reason};
use hakube_node::logs::{LogOptions, read_log};
use hakube_node::resolved_pod::ResolvedPod;
use std::time::Duration;

#[tokio::test]
async fn crash_loops_missing_images_and_failed_pods_are_reported_like_the_kubelet() {
    let node = common::TestNode::start("hkn-t-fail", "10.1.251.0/24").await;
    node.import_busybox().await;
    let mut agent = agent_for(&node);
    let crashing = ResolvedPod::new(busybox_pod(
        "crash",
        "uid-crash",
        "echo boom; exit 3",
        "Always",
    ));
    let mut missing_pod = busybox_pod("missing", "uid-missing", "true", "Always");
    // A registry on a closed loopback port: the pull fails at once, nothing leaves the machine.
    missing_pod.spec.as_mut().unwrap().containers[0].image = Some("127.0.0.1:9/nope:1".to_owned());
    let missing = ResolvedPod::new(missing_pod);
    let failing = ResolvedPod::new(busybox_pod("once", "uid-once", "exit 4", "Never"));
    let desired = vec![crashing, missing, failing];

    let first = agent.sync(&desired).await.unwrap();
    let missing_report = first
        .iter()
        .find(|report| report.uid == "uid-missing")
        .unwrap();
    assert_eq!(
        waiting_reason(missing_report).as_deref(),
        Some("ErrImagePull"),
        "{:#?}",
        missing_report.status
    );
    let message = missing_report.status.container_statuses.as_ref().unwrap()[0]
        .state
        .clone()
        .unwrap();
    let message = message.waiting.unwrap().message.unwrap();
    assert!(
        message.starts_with("Failed to pull image \"127.0.0.1:9/nope:1\""),
        "{message}"
    );

    let reasons: Vec<&str> = missing_report
        .events
        .iter()
        .map(|event| event.reason.as_str())
        .collect();
    assert_eq!(reasons, ["Failed", "Failed"], "{:?}", missing_report.events);
    assert_eq!(missing_report.events[1].message, "Error: ErrImagePull");
    let mut events = std::collections::BTreeMap::new();
    let report = sync_until_with_events(
        &mut agent,
        &desired,
        "uid-missing",
        Duration::from_secs(10),
        |report| waiting_reason(report).as_deref() == Some("ImagePullBackOff"),
        &mut events,
    )
    .await;
    assert_eq!(phase(&report), "Pending");

    let report = sync_until_with_events(
        &mut agent,
        &desired,
        "uid-once",
        Duration::from_secs(20),
        |report| phase(report) == "Failed",
        &mut events,
    )
    .await;
    let terminated = report.status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (4, Some("Error"))
    );

    // Exit, immediate restart, exit again: then CrashLoopBackOff with the 10 s back-off.
    let report = sync_until_with_events(
        &mut agent,
        &desired,
        "uid-crash",
        Duration::from_secs(30),
        |report| waiting_reason(report).as_deref() == Some("CrashLoopBackOff"),
        &mut events,
    )
    .await;
    let status = report.status.container_statuses.as_ref().unwrap()[0].clone();
    assert!(status.restart_count >= 1, "{status:#?}");
    let last = status.last_state.unwrap().terminated.unwrap();
    assert_eq!(last.exit_code, 3);
    assert_eq!(phase(&report), "Running");
    let back_off = events["uid-crash"]
        .iter()
        .find(|event| event.reason == "BackOff")
        .unwrap();
    assert_eq!(
        back_off.message,
        "Back-off restarting failed container main in pod crash_default(uid-crash)"
    );
    let previous = agent
        .log_file("default", "crash", "uid-crash", "main", true)
        .unwrap();
    assert_eq!(
        read_log(&previous, &LogOptions::default()).unwrap(),
        ["boom"]
    );

    // Removing every pod from the desired set removes them from the node.
    assert!(agent.sync(&[]).await.unwrap().is_empty());
    agent.settle().await;
    assert!(node.client().list_pod_sandboxes().await.unwrap().is_empty());
    assert!(
        std::fs::read_dir(node.path().join("pods"))
            .unwrap()
            .next()
            .is_none()
    );
    node.cleanup().await;
}
