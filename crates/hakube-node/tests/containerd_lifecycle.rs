//! containerd as the agent runs it: started in a node directory, answering CRI with the pause
//! image imported, adopted by a second start, restarted after a kill.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use hakube_node::containerd::{Containerd, ContainerdOptions};
use hakube_node::pause_image::PAUSE_IMAGE;

#[tokio::test]
async fn containerd_starts_with_the_pause_image_and_is_adopted_by_a_second_start() {
    let mut node = common::TestNode::start("hkn-t-life", "10.1.252.0/24").await;
    let client = node.client();
    assert_eq!(client.version().await.unwrap().runtime_name, "containerd");
    assert!(client.image_status(PAUSE_IMAGE).await.unwrap().is_some());
    let first_pid = node.containerd.as_ref().unwrap().pid();

    // A second start (a hakube restart) adopts the running process instead of starting another.
    let adopted = Containerd::start(ContainerdOptions::new(node.path()))
        .await
        .unwrap();
    assert_eq!(adopted.pid(), first_pid);
    drop(adopted);

    // A changed configuration restarts it instead (containerd reads its config only at start).
    let mut options = ContainerdOptions::new(node.path());
    options.insecure_registries = vec!["127.0.0.1:5999".to_owned()];
    let restarted = Containerd::start(options.clone()).await.unwrap();
    assert_ne!(restarted.pid(), first_pid);
    let restarted_pid = restarted.pid();
    drop(restarted);
    let adopted_again = Containerd::start(options).await.unwrap();
    assert_eq!(
        adopted_again.pid(),
        restarted_pid,
        "same configuration: adopted"
    );
    node.containerd = Some(adopted_again);

    // Killed: restarted, and the old client reconnects by itself.
    let mut containerd = node.containerd.take().unwrap();
    let pid = containerd.pid().unwrap();
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    for _ in 0..100 {
        if !containerd.is_running() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(containerd.restart_if_exited().await.unwrap());
    assert_ne!(containerd.pid().unwrap(), pid);
    assert!(client.version().await.is_ok());
    node.containerd = Some(containerd);
    node.cleanup().await;
}
