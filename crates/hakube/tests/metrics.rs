//! `kubectl top` on real containers: metrics.k8s.io/v1beta1 served by the API servers from
//! the node agents' usage (CRI stats and /proc), read by kubectl 1.28, 1.33 and 1.37. A pod
//! burning CPU shows clearly non-zero usage, an idle one shows up too, and selectors, named
//! objects and missing ones behave as with metrics-server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::images::{guard_cluster_cidr, import_images};
use common::kubectl::{Kubectl, contains};
use common::{Cluster, wait_until};

const PODS: &str = "apiVersion: v1
kind: Pod
metadata:
  name: busy
  labels:
    load: busy
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: burn
    image: hakube.local/busybox:1
    command: [\"sh\", \"-c\", \"while true; do :; done\"]
    resources:
      # A third of a core: clearly busy without starving a two-core test machine.
      limits:
        cpu: 300m
---
apiVersion: v1
kind: Pod
metadata:
  name: idle
  labels:
    load: idle
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: rest
    image: hakube.local/busybox:1
    command: [\"sleep\", \"3600\"]
";

/// The data rows of a `kubectl top` table, split into words.
fn rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .filter(|words: &Vec<String>| !words.is_empty())
        .collect()
}

/// Millicores from kubectl's `123m` (or whole cores).
fn millicores(text: &str) -> Option<u64> {
    match text.strip_suffix('m') {
        Some(milli) => milli.parse().ok(),
        None => text.parse::<u64>().ok().map(|cores| cores * 1000),
    }
}

/// Polls `kubectl ARGS` for up to a minute until `check` accepts its output; returns it.
fn top_until(kubectl: &Kubectl, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let ok = wait_until(Duration::from_secs(60), || {
        let out = kubectl.run(args);
        last = format!("{}{}", out.stdout, out.stderr);
        let ok = out.ok() && check(&out.stdout);
        if !ok {
            std::thread::sleep(Duration::from_secs(1));
        }
        ok
    });
    assert!(
        ok,
        "kubectl {args:?} never showed what was expected:\n{last}"
    );
    println!("$ kubectl {}\n{last}", args.join(" "));
    last
}

fn top_nodes_ok(out: &str) -> bool {
    let rows = rows(out);
    let mut names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    names.sort_unstable();
    out.contains("CPU(cores)")
        && out.contains("MEMORY(bytes)")
        && names == ["node1", "node2", "node3"]
        && rows
            .iter()
            .all(|r| r.len() >= 4 && millicores(&r[1]).is_some() && r[3].ends_with("Mi"))
}

fn busy_millicores(out: &str) -> Option<u64> {
    rows(out)
        .iter()
        .find(|r| r.first().map(String::as_str) == Some("busy"))
        .and_then(|r| millicores(r.get(1)?))
}

#[test]
fn kubectl_top_shows_nodes_and_pods_from_the_node_agents() {
    let cidr = "10.172.0.0/16";
    guard_cluster_cidr(cidr);
    let cluster = Cluster::up("127.21.72", 3, &["--cluster-cidr", cidr]);
    import_images(&cluster);
    let kubectl = Kubectl::new(&cluster, "1.33");
    kubectl.apply(&["apply"], PODS);
    kubectl.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/busy",
        "pod/idle",
        "--timeout=120s",
    ]);

    // Discovery: the group with its two read-only resources.
    let resources = kubectl.ok(&["api-resources", "--api-group=metrics.k8s.io", "-o", "wide"]);
    contains(&resources, "NodeMetrics");
    contains(&resources, "PodMetrics");
    contains(&resources, "get,list");
    assert_eq!(
        kubectl
            .ok(&["auth", "can-i", "list", "pods.metrics.k8s.io"])
            .trim(),
        "yes"
    );

    for version in ["1.28", "1.33", "1.37"] {
        println!("=== kubectl {version}");
        let kubectl = Kubectl::new(&cluster, version);
        top_until(&kubectl, &["top", "nodes"], top_nodes_ok);
        let pods = top_until(&kubectl, &["top", "pods"], |out| {
            let names: Vec<String> = rows(out).into_iter().map(|r| r[0].clone()).collect();
            names.contains(&"idle".to_string()) && busy_millicores(out).is_some_and(|m| m >= 50)
        });
        assert!(
            rows(&pods)
                .iter()
                .all(|r| r.len() == 3 && r[2].ends_with("Mi")),
            "{pods}"
        );
        let containers = top_until(&kubectl, &["top", "pod", "busy", "--containers"], |out| {
            rows(out).iter().any(|r| r[..2] == ["busy", "burn"])
        });
        contains(&containers, "CPU(cores)");
        top_until(&kubectl, &["top", "pods", "-A"], |out| {
            let rows = rows(out);
            ["busy", "idle"]
                .iter()
                .all(|pod| rows.iter().any(|r| r[..2] == ["default", *pod]))
        });
        // A label selector narrows the list to the matching pods.
        top_until(&kubectl, &["top", "pods", "-l", "load=idle"], |out| {
            let rows = rows(out);
            rows.len() == 1 && rows[0][0] == "idle"
        });
        top_until(&kubectl, &["top", "node", "node2"], |out| {
            let rows = rows(out);
            rows.len() == 1 && rows[0][0] == "node2"
        });
    }

    // The objects themselves, and a missing one.
    let raw = kubectl.ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/busy",
    ]);
    let object: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(object["kind"], "PodMetrics");
    assert_eq!(object["containers"][0]["name"], "burn");
    assert!(object["window"].as_str().unwrap().ends_with('s'), "{raw}");
    // Memory is the container's working set: small for busybox, but never nothing.
    assert_ne!(object["containers"][0]["usage"]["memory"], "0", "{raw}");
    println!("$ kubectl get --raw …/namespaces/default/pods/busy\n{raw}");
    let raw = kubectl.ok(&[
        "get",
        "--raw",
        "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector=kubernetes.io/hostname=node3",
    ]);
    let list: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(list["kind"], "NodeMetricsList");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["metadata"]["name"], "node3");
    contains(
        &kubectl.fails(&[
            "get",
            "--raw",
            "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/missing",
        ]),
        "podmetrics.metrics.k8s.io \"missing\" not found",
    );
    contains(
        &kubectl.fails(&["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/node9"]),
        "nodemetrics.metrics.k8s.io \"node9\" not found",
    );
    // Tables for `kubectl get`, as metrics-server's.
    let table = kubectl.ok(&["get", "podmetrics.metrics.k8s.io"]);
    contains(&table, "busy");
    contains(&table, "WINDOW");
}
