//! The images of scripts/build-test-images.sh run under the agent: nginx from Debian's
//! nginx-light serves its page on the pod IP and through a hostPort.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{agent_for, busybox_pod, phase, sync_until};
use hakube_kinds::k8s_openapi::api::core::v1::ContainerPort;
use hakube_node::resolved_pod::ResolvedPod;
use std::time::Duration;

/// A host port no other test uses.
const HOST_PORT: i32 = 30771;

#[tokio::test]
async fn nginx_from_the_test_images_serves_on_the_pod_ip_and_a_host_port() {
    let node = common::TestNode::start("hkn-t-img", "10.1.249.0/24").await;
    let images = node.path().join("images");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/build-test-images.sh"
    );
    let built = std::process::Command::new("bash")
        .arg(script)
        .arg(&images)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    node.containerd
        .as_ref()
        .unwrap()
        .import_image(&images.join("nginx.tar"))
        .await
        .unwrap();

    let mut pod = busybox_pod("nginx", "uid-nginx", "", "Always");
    let container = &mut pod.spec.as_mut().unwrap().containers[0];
    container.image = Some("docker.io/library/nginx:1.27".to_owned());
    container.command = None;
    container.ports = Some(vec![ContainerPort {
        container_port: 80,
        host_port: Some(HOST_PORT),
        ..ContainerPort::default()
    }]);
    let desired = [ResolvedPod::new(pod)];
    let report = sync_until(
        &mut agent_for(&node),
        &desired,
        "uid-nginx",
        Duration::from_secs(30),
        |report| phase(report) == "Running",
    )
    .await;
    let pod_ip = report.status.pod_ip.unwrap();
    assert_eq!(
        common::fetch_page(&format!("{pod_ip}:80")).await,
        "hello from nginx\n"
    );
    assert_eq!(
        common::fetch_page(&format!("127.0.0.1:{HOST_PORT}")).await,
        "hello from nginx\n"
    );
    node.cleanup().await;
}
