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

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::images::import_images;
use common::kubectl::{Kubectl, contains};
use common::pods::PROBE_POD;
use common::{Cluster, Run, hakube_binary, wait_until};

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
/// Lets bridged frames between the nodes through a FORWARD chain that would drop them
/// (br_netfilter hands bridged IPv4 to iptables): added only when FORWARD is not plain ACCEPT.
const FORWARD_RULE: [&str; 6] = ["-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"];

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

/// Runs a command; its outcome as a [`Run`] (status -1 if it cannot be run at all).
fn run(program: &str, args: &[&str]) -> Run {
    match Command::new(program).args(args).output() {
        Ok(output) => Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        },
        Err(error) => Run {
            status: -1,
            stdout: String::new(),
            stderr: format!("cannot run {program}: {error}"),
        },
    }
}

/// Runs a command that must succeed; its stdout.
fn must(program: &str, args: &[&str]) -> String {
    let outcome = run(program, args);
    assert!(
        outcome.ok(),
        "{program} {args:?} failed: {}{}",
        outcome.stdout,
        outcome.stderr
    );
    outcome.stdout
}

fn netns_path(namespace: &str) -> String {
    format!("/run/netns/{namespace}")
}

/// The host side of a namespace's veth (the namespace side is its `eth0`).
fn host_veth(namespace: &str) -> String {
    format!("{namespace}-h")
}

/// `hakube ARGS` inside `namespace` (only the network namespace is entered: `ip netns exec`
/// would remount /sys and hide the cgroups from containerd), with the test kit's environment.
fn hakube_in(namespace: &str, args: &[&str]) -> Run {
    let output = Command::new("nsenter")
        .arg(format!("--net={}", netns_path(namespace)))
        .arg(hakube_binary())
        .args(args)
        .env_remove("HAKUBE_DATA_DIR")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.0/8,localhost")
        .output()
        .expect("run nsenter");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What the test changed on the host, undone in reverse when dropped.
struct HostNetwork {
    run_netns_created: bool,
    namespaces: Vec<&'static str>,
    bridge: bool,
    blackholes: Vec<&'static str>,
    forward_rule: bool,
}

impl HostNetwork {
    /// Removes what an earlier run killed before its cleanup left behind (never processes).
    fn remove_leftovers() {
        for namespace in NAMESPACES {
            let _ = run("ip", &["link", "del", &host_veth(namespace)]);
            if Path::new(&netns_path(namespace)).exists() {
                let _ = run("ip", &["netns", "del", namespace]);
            }
        }
        let _ = run("ip", &["link", "del", BRIDGE]);
        let check = [&["-C", "FORWARD"][..], &FORWARD_RULE[..]].concat();
        let delete = [&["-D", "FORWARD"][..], &FORWARD_RULE[..]].concat();
        while run("iptables", &check).ok() && run("iptables", &delete).ok() {}
    }

    /// The bridge, the guards, and three namespaces each with `eth0` at 10.179.0.(10+K)/24
    /// on the bridge, `lo` up and forwarding on. No default route: a node reaches the host
    /// and the other nodes on the connected /24, and nothing from a namespace can leave
    /// through the host's real interface.
    fn create() -> Self {
        Self::remove_leftovers();
        let mut network = HostNetwork {
            run_netns_created: !Path::new("/run/netns").exists(),
            namespaces: Vec::new(),
            bridge: false,
            blackholes: Vec::new(),
            forward_rule: false,
        };
        for cidr in GUARDED {
            let routes = must("ip", &["route", "show", "exact", cidr]);
            if !routes.contains("blackhole") {
                must("ip", &["route", "add", "blackhole", cidr]);
                network.blackholes.push(cidr);
            }
        }
        must("ip", &["link", "add", BRIDGE, "type", "bridge"]);
        network.bridge = true;
        must("ip", &["addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE]);
        must("ip", &["link", "set", BRIDGE, "up"]);
        // bridge-nf-call-iptables=1 sends the frames between the nodes through FORWARD: a
        // policy or rule dropping them (Docker's, say) would cut the nodes apart.
        let forward = run("iptables", &["-S", "FORWARD"]);
        if forward.ok() && forward.stdout.trim() != "-P FORWARD ACCEPT" {
            must(
                "iptables",
                &[&["-I", "FORWARD", "1"][..], &FORWARD_RULE[..]].concat(),
            );
            network.forward_rule = true;
        }
        for (index, namespace) in NAMESPACES.into_iter().enumerate() {
            must("ip", &["netns", "add", namespace]);
            network.namespaces.push(namespace);
            let veth = host_veth(namespace);
            must(
                "ip",
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                    namespace,
                ],
            );
            must("ip", &["link", "set", &veth, "master", BRIDGE, "up"]);
            let address = format!("{NODE_BASE}.{}/24", 11 + index);
            must(
                "ip",
                &["-n", namespace, "addr", "add", &address, "dev", "eth0"],
            );
            must("ip", &["-n", namespace, "link", "set", "eth0", "up"]);
            must("ip", &["-n", namespace, "link", "set", "lo", "up"]);
            must(
                "nsenter",
                &[
                    &format!("--net={}", netns_path(namespace)),
                    "sysctl",
                    "-qw",
                    "net.ipv4.ip_forward=1",
                ],
            );
        }
        network
    }
}

impl Drop for HostNetwork {
    fn drop(&mut self) {
        for namespace in self.namespaces.drain(..).rev() {
            // Whatever still runs in the namespace was started by this test (a daemon, a
            // containerd or a shim that outlived the teardown): stopped by its PID.
            let pids = run("ip", &["netns", "pids", namespace]).stdout;
            for pid in pids.split_whitespace() {
                eprintln!("[routed] killing pid {pid} left in {namespace}");
                let _ = run("kill", &["-s", "KILL", pid]);
            }
            let _ = run("ip", &["netns", "del", namespace]);
            // Gone with the namespace's eth0 already, unless something pins the namespace.
            let _ = run("ip", &["link", "del", &host_veth(namespace)]);
        }
        if self.bridge {
            let _ = run("ip", &["link", "del", BRIDGE]);
        }
        if self.forward_rule {
            let _ = run(
                "iptables",
                &[&["-D", "FORWARD"][..], &FORWARD_RULE[..]].concat(),
            );
        }
        for cidr in self.blackholes.drain(..).rev() {
            let _ = run("ip", &["route", "del", "blackhole", cidr]);
        }
        // `ip netns add` made /run/netns a mount point of its own: undone if it was ours and
        // nothing else lives there.
        if self.run_netns_created
            && std::fs::read_dir("/run/netns").is_ok_and(|mut d| d.next().is_none())
        {
            let _ = run("umount", &["/run/netns"]);
            let _ = std::fs::remove_dir("/run/netns");
        }
    }
}

/// Three nodes, each in its namespace. Dropped in this order: the nodes (stopped, their pods
/// and containerds removed), the cluster directory, then the host network.
struct RoutedCluster {
    cluster: Cluster,
    _network: HostNetwork,
}

impl RoutedCluster {
    fn namespace(k: usize) -> &'static str {
        NAMESPACES[k - 1]
    }

    /// `hakube start` of node K inside its namespace.
    fn start(&self, k: usize) {
        let dir = self.cluster.node_dir_str(k);
        let address = self.cluster.address(k);
        let name = format!("node{k}");
        let args = [
            "start",
            "--data-dir",
            &dir,
            "--address",
            &address,
            "--node-name",
            &name,
            "--cluster-cidr",
            CLUSTER_CIDR,
        ];
        let started = hakube_in(Self::namespace(k), &args);
        assert!(
            started.ok(),
            "starting node{k}: {}{}\n{}",
            started.stdout,
            started.stderr,
            self.cluster.logs()
        );
    }

    /// A token from node1, joined by node K (run in node K's namespace).
    fn join(&self, k: usize) {
        let join_string = self.cluster.join_string(1);
        let dir = self.cluster.node_dir_str(k);
        let joined = hakube_in(
            Self::namespace(k),
            &["join", &join_string, "--data-dir", &dir],
        );
        assert!(
            joined.ok() && joined.stdout.contains("Successfully joined the cluster."),
            "node{k} join: {}{}\n{}",
            joined.stdout,
            joined.stderr,
            self.cluster.logs()
        );
    }

    /// `ip -n NS route show proto static`: the routes `pod_routes` installed on node K.
    fn static_routes(k: usize) -> String {
        must(
            "ip",
            &[
                "-n",
                Self::namespace(k),
                "-4",
                "route",
                "show",
                "proto",
                "static",
            ],
        )
    }
}

impl Drop for RoutedCluster {
    fn drop(&mut self) {
        // `down` stops the running daemons by PID and removes their pods and containerds; the
        // teardown again for every node covers one that was stopped when the test ended. The
        // bridges and pod veths live in the namespaces and go with them.
        let dir = self.cluster.dir.path().to_str().unwrap().to_string();
        let down = common::hakube(&["down", "--dir", &dir]);
        if !down.ok() {
            eprintln!("[routed] hakube down: {}{}", down.stdout, down.stderr);
        }
        for k in 1..=self.cluster.nodes {
            if let Some(pid) = self.cluster.pid(k)
                && Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = run("kill", &["-s", "KILL", &pid.to_string()]);
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for k in 1..=self.cluster.nodes {
            let node_dir = self.cluster.node_dir(k);
            if let Err(error) = runtime.block_on(hakube_cluster::pod_agent::tear_down(&node_dir)) {
                eprintln!("[routed] teardown of node{k}: {error:#}");
            }
        }
    }
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
    let routes = RoutedCluster::static_routes(k);
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
    let network = HostNetwork::create();
    let routed = RoutedCluster {
        cluster: Cluster {
            dir: tempfile::tempdir().expect("tempdir"),
            base: NODE_BASE.to_string(),
            nodes: 3,
        },
        _network: network,
    };
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
        routed.start(k);
    }
    routed.join(2);
    routed.join(3);
    let ready = cluster.on(
        1,
        &[
            "status",
            "--wait-ready",
            "--timeout",
            "120",
            "--format",
            "json",
        ],
    );
    assert!(
        ready.ok(),
        "{}{}\n{}",
        ready.stdout,
        ready.stderr,
        cluster.logs()
    );
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
            RoutedCluster::namespace(k),
            peers(k),
            RoutedCluster::static_routes(k),
            cluster.logs()
        );
        eprintln!(
            "[routed] ip -n {} route show proto static:\n{}",
            RoutedCluster::namespace(k),
            RoutedCluster::static_routes(k).trim_end()
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
        RoutedCluster::static_routes(1)
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
            RoutedCluster::static_routes(k)
        );
    }
    eprintln!(
        "[routed] node3 deleted; ip -n {} route show proto static:\n{}",
        NAMESPACES[0],
        RoutedCluster::static_routes(1).trim_end()
    );

    eprintln!("[routed] done after {}", elapsed(started));
}
