//! A chatty container's log is rotated past the size limit: containerd goes on writing to a
//! fresh file after ReopenContainerLog, and only the newest rotated files are kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{busybox_pod, phase, sync_until};
use hakube_node::agent::Agent;
use hakube_node::agent_config::AgentConfig;
use hakube_node::logs::{LogOptions, read_log};
use hakube_node::resolved_pod::ResolvedPod;
use std::time::Duration;

#[tokio::test]
async fn large_container_logs_are_rotated_and_writing_goes_on() {
    let node = common::TestNode::start("hkn-t-rot", "10.1.245.0/24").await;
    node.import_busybox().await;
    let mut config = AgentConfig::new("test", node.path(), "127.0.0.1", &node.pod_cidr);
    config.bridge_name = node.bridge.clone();
    config.cgroup_root = node.cgroup_root();
    config.container_log_max_bytes = 64 * 1024;
    config.container_log_max_files = 2;
    let mut agent = Agent::new(config, node.client()).unwrap();
    let script = "yes line-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -n 3000; \
                  while :; do echo tick; sleep 0.2; done";
    let desired = [ResolvedPod::new(busybox_pod(
        "chatty",
        "uid-chatty",
        script,
        "Always",
    ))];
    sync_until(
        &mut agent,
        &desired,
        "uid-chatty",
        Duration::from_secs(30),
        |report| phase(report) == "Running",
    )
    .await;
    let container_dir = node.path().join("pods/default_chatty_uid-chatty/main");
    let rotated = |directory: &std::path::Path| {
        std::fs::read_dir(directory)
            .unwrap()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("0.log."))
            .count()
    };
    // Under load the first rotation may come in the middle of the burst, leaving the rest of
    // it in the new file: that file is rotated in turn, so wait for a current file that is
    // small and has the ticks, and check at every step that only one rotated file is kept.
    for _ in 0..80 {
        agent.sync(&desired).await.unwrap();
        assert!(
            rotated(&container_dir) <= 1,
            "at most max_files - 1 rotated files"
        );
        let current =
            read_log(&container_dir.join("0.log"), &LogOptions::default()).unwrap_or_default();
        let size = std::fs::metadata(container_dir.join("0.log"))
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        if rotated(&container_dir) == 1
            && current.iter().any(|line| line == "tick")
            && size < 64 * 1024
        {
            node.cleanup().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!(
        "no rotation; files: {:?}",
        std::fs::read_dir(&container_dir)
            .unwrap()
            .flatten()
            .collect::<Vec<_>>()
    );
}
