//! The supervised runtime: containerd killed under a running pod is restarted by the
//! supervisor, the pod keeps running (same container, no restart) and the agent carries on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{busybox_pod, phase, sync_until};
use hakube_node::agent_config::AgentConfig;
use hakube_node::node_runtime::NodeRuntime;
use hakube_node::resolved_pod::ResolvedPod;
use std::time::Duration;

#[tokio::test]
async fn a_killed_containerd_is_restarted_and_its_pods_keep_running() {
    common::ensure_blackhole_route();
    let directory = tempfile::Builder::new()
        .prefix("hkn-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut config = AgentConfig::new("sup", directory.path(), "127.0.0.1", "10.1.246.0/24");
    config.bridge_name = "hkn-t-sup".to_owned();
    config.cgroup_root = "hakube-test-hkn-t-sup".to_owned();
    let mut runtime = NodeRuntime::start(config).await.unwrap();
    let archive = directory.path().join("images/busybox.tar");
    common::write_busybox_image(&archive);
    runtime.import_image(&archive).await.unwrap();

    let desired = [ResolvedPod::new(busybox_pod(
        "steady",
        "uid-steady",
        "exec sleep 3600",
        "Always",
    ))];
    let report = sync_until(
        &mut runtime.agent,
        &desired,
        "uid-steady",
        Duration::from_secs(30),
        |report| phase(report) == "Running",
    )
    .await;
    let container_id = report.status.container_statuses.unwrap()[0]
        .container_id
        .clone();

    let pid = std::fs::read_to_string(directory.path().join("containerd.pid")).unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", pid.trim()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        runtime.agent.sync(&desired).await.is_err(),
        "the runtime is down"
    );

    let report = sync_until(
        &mut runtime.agent,
        &desired,
        "uid-steady",
        Duration::from_secs(20),
        |_| true,
    )
    .await;
    let status = report.status.container_statuses.unwrap()[0].clone();
    assert_eq!(status.container_id, container_id);
    assert_eq!(status.restart_count, 0);
    assert_ne!(
        std::fs::read_to_string(directory.path().join("containerd.pid")).unwrap(),
        pid
    );

    assert!(runtime.agent.sync(&[]).await.unwrap().is_empty());
    runtime.agent.settle().await;
    runtime.stop().await;
    let _ = std::process::Command::new("ip")
        .args(["link", "del", "hkn-t-sup"])
        .output();
    hakube_node::pod_cleanup::remove_node_cgroups("hakube-test-hkn-t-sup");
}
