//! Worker nodes: no datastore role, status through the control plane, leave.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Cluster, wait_until};

#[test]
fn a_worker_joins_without_a_datastore_role_and_can_leave() {
    let cluster = up_with_a_worker("127.21.11", &[]);
    let status = cluster.status(4);
    assert_eq!(status["node"], "node4");
    assert_eq!(status["quorum"], true, "{status}");
    let worker = common::node_entry(&status, "node4");
    assert_eq!(worker["datastoreRole"], "none");
    assert_eq!(worker["controlPlane"], false);
    assert_eq!(status["datastoreVoters"].as_array().unwrap().len(), 3);

    // Workers cannot mint tokens; they can leave.
    assert!(!cluster.on(4, &["add-node"]).ok());
    let left = cluster.on(4, &["leave"]);
    assert!(left.ok(), "{}\n{}", left.stderr, cluster.logs());
    assert!(wait_until(
        Duration::from_secs(10),
        || cluster.status(1)["nodes"].as_array().unwrap().len() == 3
    ));
}

const WORKER_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: NAME
  labels:
    app: on-worker
spec:
  nodeSelector:
    kubernetes.io/hostname: node4
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: hakube.local/nginx:1.27
";

/// `up --workers 1` as a cluster value (`Cluster::up` starts control-plane nodes only).
fn up_with_a_worker(base: &str, daemon_flags: &[&str]) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let mut args = vec![
        "up",
        "--nodes",
        "3",
        "--workers",
        "1",
        "--dir",
        &path,
        "--base-address",
        base,
    ];
    if !daemon_flags.is_empty() {
        args.push("--");
        args.extend_from_slice(daemon_flags);
    }
    let run = common::hakube(&args);
    let cluster = Cluster {
        dir,
        base: base.into(),
        nodes: 4,
    };
    assert!(
        run.ok(),
        "{}\n{}\n{}",
        run.stdout,
        run.stderr,
        cluster.logs()
    );
    cluster
}

/// Pods on a worker: images reach it, its agent runs the pod (served from the host, logs and
/// exec through the API), and when the control-plane node it talks to dies it fails over to
/// another and keeps running new pods.
#[test]
fn a_worker_runs_pods_and_fails_over_between_control_plane_nodes() {
    let cidr = "10.175.0.0/16";
    common::images::guard_cluster_cidr(cidr);
    let cluster = up_with_a_worker("127.21.75", &["--cluster-cidr", cidr]);
    common::images::import_images(&cluster);
    let kubectl = common::kubectl::Kubectl::new(&cluster, "1.33");
    let ready = |pod: &str| {
        kubectl
            .run(&[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{pod}"),
                "--timeout=120s",
            ])
            .ok()
    };
    kubectl.apply(&["apply"], &WORKER_POD.replace("NAME", "first"));
    assert!(ready("first"), "{}", cluster.logs());
    let ip = kubectl.ok(&["get", "pod", "first", "-o", "jsonpath={.status.podIP}"]);
    let node = kubectl.ok(&["get", "pod", "first", "-o", "jsonpath={.spec.nodeName}"]);
    assert_eq!(node, "node4");
    common::kubectl::contains(
        &common::pods::wget(&format!("http://{ip}/")),
        "hello from nginx",
    );
    // The nginx image has no shell tools; nginx itself answers (on stderr).
    let version = kubectl.run(&["exec", "first", "--", "nginx", "-v"]);
    assert!(version.ok(), "{}", version.stderr);
    common::kubectl::contains(&version.stderr, "nginx version");
    common::kubectl::contains(&kubectl.ok(&["logs", "first"]), "GET / HTTP");

    // The worker talks to node1's API first; node1 dies. The worker's agent turns to another
    // control-plane node: a new pod still starts on it, and the old one keeps serving.
    cluster.signal(1, "KILL");
    let survivor = common::kubectl::Kubectl {
        kubeconfig: {
            let path = cluster.dir.path().join("kubeconfig-node2");
            let text = std::fs::read_to_string(&kubectl.kubeconfig).unwrap();
            std::fs::write(
                &path,
                text.replace(&cluster.address(1), &cluster.address(2)),
            )
            .unwrap();
            path
        },
        binary: kubectl.binary.clone(),
        cache: tempfile::tempdir().unwrap(),
    };
    survivor.apply(&["apply"], &WORKER_POD.replace("NAME", "second"));
    let started = wait_until(Duration::from_secs(120), || {
        survivor
            .run(&["get", "pod", "second", "-o", "jsonpath={.status.phase}"])
            .stdout
            == "Running"
    });
    assert!(
        started,
        "the worker did not start a pod after node1 died: {}\n{}",
        survivor.run(&["get", "pod", "second", "-o", "yaml"]).stdout,
        cluster.logs()
    );
    common::kubectl::contains(
        &common::pods::wget(&format!("http://{ip}/")),
        "hello from nginx",
    );
}
