//! A pod through its whole life on a real containerd: started with a pod IP, reachable from the
//! host, exec and logs, adopted by a new agent without a restart, deleted gracefully with its
//! directory and cgroups gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{agent_for, busybox_pod, phase, sync_until};
use hakube_kinds::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use hakube_node::logs::{LogOptions, read_log};
use hakube_node::pod_cleanup::remaining_pod_cgroups;
use hakube_node::resolved_pod::ResolvedPod;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_pod_runs_serves_logs_survives_an_agent_restart_and_terminates_gracefully() {
    let node = common::TestNode::start("hkn-t-pod", "10.1.250.0/24").await;
    node.import_busybox().await;
    let mut agent = agent_for(&node);
    let script = "echo started; echo to-stderr >&2; exec httpd -f -p 80 -h /www";
    let mut resolved = ResolvedPod::new(busybox_pod("web", "uid-web", script, "Always"));

    let started = Instant::now();
    let report = sync_until(
        &mut agent,
        std::slice::from_ref(&resolved),
        "uid-web",
        Duration::from_secs(30),
        |report| phase(report) == "Running",
    )
    .await;
    eprintln!("pod start latency: {:?}", started.elapsed());
    let pod_ip = report.status.pod_ip.clone().unwrap();
    let reasons: Vec<&str> = report
        .events
        .iter()
        .map(|event| event.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["Pulled", "Created", "Started"],
        "first round's events"
    );
    assert!(pod_ip.starts_with("10.1.250."), "{pod_ip}");
    let container_id = report.status.container_statuses.as_ref().unwrap()[0]
        .container_id
        .clone()
        .unwrap();

    // The host reaches the pod directly over the bridge.
    let page = common::fetch_page(&pod_ip).await;
    assert_eq!(page, "hello from busybox\n");

    // ExecSync in the container.
    let exec = agent
        .exec_sync(
            "uid-web",
            "main",
            vec!["cat".into(), "/www/index.html".into()],
            5,
        )
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&exec.stdout),
        "hello from busybox\n"
    );

    // Logs: the CRI file in the pod directory, read back as plain lines, both streams.
    let log_path = agent
        .log_file("default", "web", "uid-web", "main", false)
        .unwrap();
    assert_eq!(
        log_path,
        node.path().join("pods/default_web_uid-web/main/0.log")
    );
    let mut lines = read_log(&log_path, &LogOptions::default()).unwrap();
    // stdout and stderr are separate pipes: their relative order is not defined.
    lines.sort();
    assert_eq!(lines, ["started", "to-stderr"]);

    // A new agent (a hakube restart) adopts the running pod without restarting it.
    drop(agent);
    let mut agent = agent_for(&node);
    let adopted = agent
        .sync(std::slice::from_ref(&resolved))
        .await
        .unwrap()
        .remove(0);
    let status = adopted.status.container_statuses.as_ref().unwrap()[0].clone();
    assert_eq!(status.container_id.as_deref(), Some(container_id.as_str()));
    assert_eq!(status.restart_count, 0);
    assert_eq!(phase(&adopted), "Running");

    // Deletion with a 1 s grace period: httpd as PID 1 ignores SIGTERM, so it is killed after 1 s.
    resolved.pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
    resolved.pod.metadata.deletion_grace_period_seconds = Some(1);
    let deleting = Instant::now();
    sync_until(
        &mut agent,
        std::slice::from_ref(&resolved),
        "uid-web",
        Duration::from_secs(30),
        |report| report.fully_terminated,
    )
    .await;
    assert!(
        deleting.elapsed() >= Duration::from_secs(1),
        "stopped before the grace period"
    );
    assert!(!node.path().join("pods/default_web_uid-web").exists());
    assert!(remaining_pod_cgroups(&agent.config().cgroup_root, "uid-web").is_empty());
    node.cleanup().await;
}
