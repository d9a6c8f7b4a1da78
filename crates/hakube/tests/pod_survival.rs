//! Pods outlive hakube: a node's daemon restarted (containerd keeps the containers, the agent
//! adopts them: same container, no restart), and a cluster without quorum (two of three
//! daemons down: the containers keep running and serving, the API still answers reads, and
//! once quorum is back nothing was replaced).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::images::{guard_cluster_cidr, import_images};
use common::kubectl::{Kubectl, contains};
use common::pods::{pods, wget};
use common::{Cluster, wait_until};

/// `pod name → (container ID, restart count)` of the `app=web` pods.
fn containers(kubectl: &Kubectl) -> Vec<(String, String, String)> {
    let template = "{range .items[*]}{.metadata.name} {.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}{\"\\n\"}{end}";
    let out = kubectl.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        &format!("jsonpath={template}"),
    ]);
    let mut all: Vec<(String, String, String)> = out
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|f| f.len() == 3)
        .map(|f| (f[0].clone(), f[1].clone(), f[2].clone()))
        .collect();
    all.sort();
    all
}

fn node_ready(kubectl: &Kubectl, node: &str) -> bool {
    let jsonpath = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
    kubectl.run(&["get", "node", node, "-o", jsonpath]).stdout == "True"
}

fn every_pod_serves(running: &[(String, String, String, String)]) {
    for (name, _, ip, node) in running {
        contains(&wget(&format!("http://{ip}/")), "hello from nginx");
        assert!(!node.is_empty(), "{name} has no node");
    }
}

#[test]
fn pods_keep_running_through_a_daemon_restart_and_a_quorum_loss() {
    let cidr = "10.174.0.0/16";
    guard_cluster_cidr(cidr);
    let cluster = Cluster::up(
        "127.21.74",
        3,
        &[
            "--cluster-cidr",
            cidr,
            "--node-lease-duration",
            "4",
            "--node-monitor-grace-period",
            "8",
        ],
    );
    import_images(&cluster);
    let kubectl = Kubectl::new(&cluster, "1.33");
    kubectl.ok(&[
        "create",
        "deployment",
        "web",
        "--image=hakube.local/nginx:1.27",
        "--replicas=3",
    ]);
    contains(
        &kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=120s"]),
        "successfully rolled out",
    );
    let running = pods(&kubectl, "app=web");
    assert_eq!(running.len(), 3, "{running:?}");
    every_pod_serves(&running);
    let before = containers(&kubectl);
    assert!(
        before
            .iter()
            .all(|(_, id, restarts)| id.starts_with("containerd://") && restarts == "0"),
        "{before:?}"
    );

    // node2's daemon restarts: its pod keeps its container and serves throughout.
    let on_node2 = running.iter().find(|p| p.3 == "node2").unwrap().clone();
    cluster.signal(2, "TERM");
    assert!(
        wait_until(Duration::from_secs(30), || cluster.pid(2).is_none_or(
            |pid| { !std::path::Path::new(&format!("/proc/{pid}")).exists() }
        )),
        "node2's daemon did not stop"
    );
    contains(
        &wget(&format!("http://{}/", on_node2.2)),
        "hello from nginx",
    );
    cluster.start(2);
    assert!(
        wait_until(Duration::from_secs(60), || node_ready(&kubectl, "node2")),
        "node2 did not come back Ready"
    );
    // A few agent rounds after adoption: nothing was restarted or replaced.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        containers(&kubectl),
        before,
        "after node2's daemon restarted"
    );
    every_pod_serves(&pods(&kubectl, "app=web"));

    // Quorum lost: node2 and node3 stop. Every container keeps serving, reads still answer.
    cluster.signal(2, "KILL");
    cluster.signal(3, "KILL");
    every_pod_serves(&running);
    let stale = kubectl.run(&["get", "pods", "-l", "app=web"]);
    assert!(stale.ok(), "reads without quorum: {}", stale.stderr);
    contains(&stale.stdout, "web-");
    let refused = kubectl.fails(&["scale", "deployment/web", "--replicas=4"]);
    contains(&refused, "quorum");
    // node1's agent, cut off from the majority, keeps its pod as it is.
    std::thread::sleep(Duration::from_secs(10));
    every_pod_serves(&running);

    // Quorum back: the same containers, none restarted, none replaced.
    cluster.start(2);
    cluster.start(3);
    assert!(
        wait_until(Duration::from_secs(90), || {
            node_ready(&kubectl, "node2") && node_ready(&kubectl, "node3")
        }),
        "nodes did not come back Ready"
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(containers(&kubectl), before, "after the quorum came back");
    every_pod_serves(&pods(&kubectl, "app=web"));
}
