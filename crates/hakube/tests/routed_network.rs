//! The routed pod network across real hosts. Each node runs in a network namespace of its own
//! (its daemon started with `nsenter --net`, so its containerd, bridge and pod veths live there
//! too), joined to the others only by a veth on a host bridge carrying the node subnet
//! 10.179.0.0/24. Pods on different nodes can then reach each other only through the host-gw
//! routes `pod_routes` installs in each node's namespace (another node's pod /24 via its node
//! address): the host has no route to the pod network (a blackhole guards it), and the nodes
//! share nothing else. Checked: the routes, HTTP from a pod on node1 to nginx on node2, ping
//! from node3 to node1 through two routers, a deleted route put back, and a deleted Node's
//! route removed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/netns.rs"]
mod netns;

use std::time::{Duration, Instant};

use common::images::import_images;
use common::kubectl::{Kubectl, contains};
use common::pods::PROBE_POD;
use common::wait_until;
use netns::{NetnsCluster, NetworkSpec, must, run};

/// The namespaces of node1, node2 and node3.
const NAMESPACES: [&str; 3] = ["hkt79a", "hkt79b", "hkt79c"];
/// The host bridge joining the nodes' veths: the "network" between the hosts.
const BRIDGE: &str = "hkt79br";
const BRIDGE_ADDRESS: &str = "10.179.0.1/24";
/// Node K is 10.179.0.(10+K).
const NODE_BASE: &str = "10.179.0";
const CLUSTER_CIDR: &str = "10.180.0.0/16";
/// Blackholed on the host while the test runs: nothing of the test's ranges leaves the machine.
/// The bridge's connected /24 is more specific than the /16.
const GUARDED: [&str; 2] = ["10.179.0.0/16", CLUSTER_CIDR];

/// A sleeping busybox pod `bbK` on node K.
const SHELL_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: bbK
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector:
    kubernetes.io/hostname: nodeK
  containers:
  - name: bb
    image: hakube.local/busybox:1
    command: [sleep, \"3600\"]
";

const WEB_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector:
    kubernetes.io/hostname: node2
  containers:
  - name: nginx
    image: hakube.local/nginx:1.27
";

/// bb1…bb3 (one per node) and web (on node2), as one manifest.
fn pods() -> String {
    let mut documents: Vec<String> = (1..=3)
        .map(|k| SHELL_POD.replace('K', &k.to_string()))
        .collect();
    documents.push(WEB_POD.to_string());
    documents.join("---\n")
}

/// The network of this test: three namespaces on a bridge, the node and pod ranges guarded.
fn network_spec() -> NetworkSpec {
    NetworkSpec {
        namespaces: NAMESPACES.to_vec(),
        bridge: BRIDGE,
        bridge_address: BRIDGE_ADDRESS,
        node_base: NODE_BASE,
        guarded: GUARDED.to_vec(),
    }
}

/// `ip -n NS route show proto static`: the routes `pod_routes` installed on node K.
fn static_routes(k: usize) -> String {
    must(
        "ip",
        &[
            "-n",
            NAMESPACES[k - 1],
            "-4",
            "route",
            "show",
            "proto",
            "static",
        ],
    )
}

fn pod_ip(kubectl: &Kubectl, pod: &str) -> String {
    kubectl.ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])
}

/// The node's pod CIDR; empty while it has none or does not exist.
fn pod_cidr(kubectl: &Kubectl, node: &str) -> String {
    kubectl
        .run(&["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"])
        .stdout
}

/// Whether node K's static routes are exactly `expected` ((CIDR, gateway) pairs).
fn routes_are(k: usize, expected: &[(String, String)]) -> bool {
    let routes = static_routes(k);
    let lines: Vec<&str> = routes.lines().collect();
    lines.len() == expected.len()
        && expected.iter().all(|(cidr, gateway)| {
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{cidr} via {gateway} dev eth0")))
        })
}

fn elapsed(started: Instant) -> String {
    format!("{:.1}s", started.elapsed().as_secs_f64())
}

#[test]
fn pods_on_nodes_in_separate_network_namespaces_reach_each_other_through_host_gw_routes() {
    let started = Instant::now();
    let routed = NetnsCluster::new(network_spec(), 3);
    let cluster = &routed.cluster;
    // The nodes reach each other over the bridge only.
    must(
        "ip",
        &[
            "netns",
            "exec",
            NAMESPACES[1],
            "busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "10.179.0.13",
        ],
    );

    // node1 starts, node2 and node3 start alone and join it, each in its namespace.
    for k in 1..=3 {
        routed.start_first(k, &["--cluster-cidr", CLUSTER_CIDR]);
    }
    routed.join(2);
    routed.join(3);
    routed.wait_ready();
    eprintln!("[routed] three nodes ready after {}", elapsed(started));
    let kubectl = Kubectl::new(cluster, "1.33");
    contains(
        &std::fs::read_to_string(&kubectl.kubeconfig).unwrap(),
        "https://10.179.0.11:16443",
    );
    import_images(cluster);
    eprintln!("[routed] images imported after {}", elapsed(started));

    // Every node has a /24 of the cluster CIDR; every node routes the other two /24s through
    // their node addresses, and nothing else.
    let mut cidrs = Vec::new();
    for k in 1..=3 {
        let node = format!("node{k}");
        assert!(
            wait_until(Duration::from_secs(30), || {
                pod_cidr(&kubectl, &node).starts_with("10.180.")
            }),
            "{node} has no pod CIDR"
        );
        cidrs.push(pod_cidr(&kubectl, &node));
    }
    let peers = |k: usize| -> Vec<(String, String)> {
        (1..=3)
            .filter(|j| *j != k)
            .map(|j| (cidrs[j - 1].clone(), cluster.address(j)))
            .collect()
    };
    for k in 1..=3 {
        let routed_ok = wait_until(Duration::from_secs(60), || routes_are(k, &peers(k)));
        assert!(
            routed_ok,
            "node{k} ({}) should route {:?}, has:\n{}\n{}",
            NAMESPACES[k - 1],
            peers(k),
            static_routes(k),
            cluster.logs()
        );
        eprintln!(
            "[routed] ip -n {} route show proto static:\n{}",
            NAMESPACES[k - 1],
            static_routes(k).trim_end()
        );
    }

    // A busybox pod on every node and nginx on node2.
    kubectl.apply(&["apply"], &pods());
    contains(
        &kubectl.ok(&[
            "wait",
            "--for=condition=Ready",
            "pod/bb1",
            "pod/bb2",
            "pod/bb3",
            "pod/web",
            "--timeout=180s",
        ]),
        "condition met",
    );
    eprintln!("[routed] pods ready after {}", elapsed(started));
    eprintln!(
        "[routed] ip -n {} route (all of node1's routes):\n{}",
        NAMESPACES[0],
        must("ip", &["-n", NAMESPACES[0], "-4", "route"]).trim_end()
    );
    let (bb1, bb3, web) = (
        pod_ip(&kubectl, "bb1"),
        pod_ip(&kubectl, "bb3"),
        pod_ip(&kubectl, "web"),
    );
    let within = |ip: &str, k: usize| {
        let prefix = cidrs[k - 1].trim_end_matches("0/24");
        assert!(ip.starts_with(prefix), "{ip} is not in {}", cidrs[k - 1]);
    };
    within(&bb1, 1);
    within(&bb3, 3);
    within(&web, 2);
    // The host itself has no way to the pods: only the routes inside the namespaces carry them.
    let host_route = run("ip", &["route", "get", &web]);
    assert!(
        !host_route.ok() || host_route.stdout.contains("blackhole"),
        "the host should not reach {web}: {}",
        host_route.stdout
    );
    // Each node's bridge is in its own namespace, not on the host.
    let host_links = must("ip", &["-br", "link"]);
    let bridge1 = must(
        "ip",
        &["-n", NAMESPACES[0], "-br", "link", "show", "type", "bridge"],
    );
    let bridge1 = bridge1.split_whitespace().next().unwrap_or_default();
    assert!(
        bridge1.starts_with("hk"),
        "no pod bridge in node1's namespace"
    );
    assert!(!host_links.contains(bridge1), "{bridge1} is on the host");

    // HTTP from a pod on node1 to nginx on node2.
    kubectl.apply(&["apply"], &PROBE_POD.replace("TARGET", &web));
    let succeeded = wait_until(Duration::from_secs(90), || {
        kubectl.ok(&["get", "pod", "probe", "-o", "jsonpath={.status.phase}"]) == "Succeeded"
    });
    assert!(
        succeeded,
        "the probe on node1 did not reach nginx on node2 at {web}: {}",
        kubectl.ok(&["get", "pod", "probe", "-o", "yaml"])
    );
    let page = kubectl.ok(&["logs", "probe"]);
    contains(&page, "hello from nginx");
    eprintln!("[routed] probe on node1 got from {web}: {}", page.trim());

    // ping from node3's pod to node1's pod through exec: two routers on the way (node1's
    // and node3's namespaces), so the reply arrives with TTL 64 - 2.
    let ping = kubectl.ok(&["exec", "bb3", "--", "ping", "-c", "2", "-W", "5", &bb1]);
    contains(&ping, "2 packets received");
    contains(&ping, "ttl=62");
    eprintln!(
        "[routed] kubectl exec bb3 -- ping {bb1}:\n{}",
        ping.trim_end()
    );
    let trace = kubectl.run(&["exec", "bb3", "--", "traceroute", "-n", "-w", "2", &bb1]);
    eprintln!(
        "[routed] kubectl exec bb3 -- traceroute {bb1}:\n{}{}",
        trace.stdout.trim_end(),
        trace.stderr.trim_end()
    );
    contains(&trace.stdout, " 10.179.0.11 ");

    // A route removed by hand comes back with the next sync.
    must(
        "ip",
        &[
            "-n",
            NAMESPACES[0],
            "route",
            "del",
            &cidrs[1],
            "proto",
            "static",
        ],
    );
    let restored = wait_until(Duration::from_secs(20), || routes_are(1, &peers(1)));
    assert!(
        restored,
        "node1's route to node2's pods was not put back:\n{}",
        static_routes(1)
    );

    // node3 stops: its routes stay while its Node exists (its pods may come back). Deleting
    // its Node (which takes it out of the cluster, as `hakube remove-node` does, and is
    // refused while it runs) makes node1 and node2 drop the route to its /24.
    let stopped = cluster.on(3, &["stop"]);
    assert!(stopped.ok(), "{}{}", stopped.stdout, stopped.stderr);
    assert!(routes_are(1, &peers(1)));
    // Refused until node1 notices node3 is gone.
    let mut refusal = String::new();
    let deleted = wait_until(Duration::from_secs(30), || {
        let delete = kubectl.run(&["delete", "node", "node3", "--wait=false"]);
        refusal.clone_from(&delete.stderr);
        delete.ok()
    });
    assert!(deleted, "node3's Node was not deleted: {refusal}");
    let without3 = |k: usize| -> Vec<(String, String)> {
        peers(k)
            .into_iter()
            .filter(|(cidr, _)| *cidr != cidrs[2])
            .collect()
    };
    for k in 1..=2 {
        let removed = wait_until(Duration::from_secs(30), || routes_are(k, &without3(k)));
        assert!(
            removed,
            "node{k} kept a route to the deleted node3's {}:\n{}",
            cidrs[2],
            static_routes(k)
        );
    }
    eprintln!(
        "[routed] node3 deleted; ip -n {} route show proto static:\n{}",
        NAMESPACES[0],
        static_routes(1).trim_end()
    );

    eprintln!("[routed] done after {}", elapsed(started));
}
