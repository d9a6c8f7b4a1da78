//! Nodes on separate "hosts": each node's daemon runs in a network namespace of its own (started
//! with `nsenter --net`, so its containerd, bridge and pod veths live there too), joined to the
//! others only by a veth on a host bridge carrying the node subnet. The test process stays on the
//! host and reaches every node over that bridge. Partitions are real: blackhole routes between
//! two groups of namespaces drop their traffic both ways, while the host still reaches both
//! sides (a cut-off leader keeps answering its clients). Everything the kit changes on the host
//! is undone when dropped; processes are stopped by PID.
//!
//! Included by the tests that need it (`#[path = "common/netns.rs"] mod netns;` beside
//! `mod common;`), not by the kit itself, which other packages include without this crate's
//! dependencies.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use crate::common::{Cluster, Run, hakube, hakube_binary, with_test_environment};

/// What one test's host network looks like. Names must be unique per test (tests run in
/// parallel) and short (interface names have 15 bytes).
pub struct NetworkSpec {
    /// Node K runs in `namespaces[K - 1]`.
    pub namespaces: Vec<&'static str>,
    pub bridge: &'static str,
    /// The bridge's own address on the node subnet, with its prefix (`10.179.0.1/24`).
    pub bridge_address: &'static str,
    /// Node K is `NODE_BASE.(10+K)` on the subnet.
    pub node_base: &'static str,
    /// Blackholed on the host while the test runs, so nothing of the test's ranges leaves the
    /// machine. The bridge's connected /24 is more specific than these.
    pub guarded: Vec<&'static str>,
}

/// Runs a command; its outcome as a [`Run`] (status -1 if it cannot be run at all).
pub fn run(program: &str, args: &[&str]) -> Run {
    match Command::new(program).args(args).output() {
        Ok(output) => Run::from(output),
        Err(error) => Run {
            status: -1,
            stdout: String::new(),
            stderr: format!("cannot run {program}: {error}"),
        },
    }
}

/// Runs a command that must succeed; its stdout.
pub fn must(program: &str, args: &[&str]) -> String {
    let outcome = run(program, args);
    assert!(
        outcome.ok(),
        "{program} {args:?} failed: {}{}",
        outcome.stdout,
        outcome.stderr
    );
    outcome.stdout
}

pub fn netns_path(namespace: &str) -> String {
    format!("/run/netns/{namespace}")
}

/// The host side of a namespace's veth (the namespace side is its `eth0`).
fn host_veth(namespace: &str) -> String {
    format!("{namespace}-h")
}

/// `hakube ARGS` inside `namespace` (only the network namespace is entered: `ip netns exec`
/// would remount /sys and hide the cgroups from containerd), with the test kit's environment.
pub fn hakube_in(namespace: &str, args: &[&str]) -> Run {
    let output = with_test_environment(
        Command::new("nsenter")
            .arg(format!("--net={}", netns_path(namespace)))
            .arg(hakube_binary())
            .args(args),
    )
    .output()
    .expect("run nsenter");
    Run::from(output)
}

/// Lets bridged frames between the nodes through a FORWARD chain that would drop them
/// (br_netfilter hands bridged IPv4 to iptables): added only when FORWARD is not plain ACCEPT.
fn forward_rule(bridge: &str) -> Vec<String> {
    ["-i", bridge, "-o", bridge, "-j", "ACCEPT"]
        .map(String::from)
        .to_vec()
}

fn iptables(action: &[&str], rule: &[String]) -> Run {
    let mut args: Vec<&str> = action.to_vec();
    args.extend(rule.iter().map(String::as_str));
    run("iptables", &args)
}

/// What the test changed on the host, undone in reverse when dropped.
pub struct HostNetwork {
    spec: NetworkSpec,
    run_netns_created: bool,
    namespaces: Vec<&'static str>,
    bridge: bool,
    blackholes: Vec<&'static str>,
    forward_rule: bool,
}

impl HostNetwork {
    /// Removes what an earlier run killed before its cleanup left behind (never processes).
    fn remove_leftovers(spec: &NetworkSpec) {
        for namespace in &spec.namespaces {
            let _ = run("ip", &["link", "del", &host_veth(namespace)]);
            if Path::new(&netns_path(namespace)).exists() {
                let _ = run("ip", &["netns", "del", namespace]);
            }
        }
        let _ = run("ip", &["link", "del", spec.bridge]);
        let rule = forward_rule(spec.bridge);
        while iptables(&["-C", "FORWARD"], &rule).ok() && iptables(&["-D", "FORWARD"], &rule).ok() {
        }
    }

    /// The bridge, the guards, and one namespace per node, each with `eth0` at
    /// NODE_BASE.(10+K) on the bridge, `lo` up and forwarding on. No default route: a node
    /// reaches the host and the other nodes on the connected subnet, and nothing from a
    /// namespace can leave through the host's real interface.
    pub fn create(spec: NetworkSpec) -> Self {
        Self::remove_leftovers(&spec);
        let mut network = HostNetwork {
            run_netns_created: !Path::new("/run/netns").exists(),
            namespaces: Vec::new(),
            bridge: false,
            blackholes: Vec::new(),
            forward_rule: false,
            spec,
        };
        for cidr in network.spec.guarded.clone() {
            let routes = must("ip", &["route", "show", "exact", cidr]);
            if !routes.contains("blackhole") {
                must("ip", &["route", "add", "blackhole", cidr]);
                network.blackholes.push(cidr);
            }
        }
        let bridge = network.spec.bridge;
        must("ip", &["link", "add", bridge, "type", "bridge"]);
        network.bridge = true;
        must(
            "ip",
            &["addr", "add", network.spec.bridge_address, "dev", bridge],
        );
        must("ip", &["link", "set", bridge, "up"]);
        // bridge-nf-call-iptables=1 sends the frames between the nodes through FORWARD: a
        // policy or rule dropping them (Docker's, say) would cut the nodes apart.
        let forward = run("iptables", &["-S", "FORWARD"]);
        if forward.ok() && forward.stdout.trim() != "-P FORWARD ACCEPT" {
            let inserted = iptables(&["-I", "FORWARD", "1"], &forward_rule(bridge));
            assert!(inserted.ok(), "iptables -I FORWARD: {}", inserted.stderr);
            network.forward_rule = true;
        }
        let prefix = network
            .spec
            .bridge_address
            .rsplit_once('/')
            .map_or("24", |(_, prefix)| prefix);
        for (index, namespace) in network.spec.namespaces.clone().into_iter().enumerate() {
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
            must("ip", &["link", "set", &veth, "master", bridge, "up"]);
            let address = format!("{}.{}/{prefix}", network.spec.node_base, 11 + index);
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

    /// The namespace of node K.
    pub fn namespace(&self, k: usize) -> &'static str {
        self.spec.namespaces[k - 1]
    }

    /// Node K's address on the subnet.
    pub fn address(&self, k: usize) -> String {
        format!("{}.{}", self.spec.node_base, 10 + k)
    }
}

impl Drop for HostNetwork {
    fn drop(&mut self) {
        for namespace in self.namespaces.drain(..).rev() {
            // Whatever still runs in the namespace was started by this test (a daemon, a
            // containerd or a shim that outlived the teardown): stopped by its PID.
            let pids = run("ip", &["netns", "pids", namespace]).stdout;
            for pid in pids.split_whitespace() {
                eprintln!("[netns] killing pid {pid} left in {namespace}");
                let _ = run("kill", &["-s", "KILL", pid]);
            }
            let _ = run("ip", &["netns", "del", namespace]);
            // Gone with the namespace's eth0 already, unless something pins the namespace.
            let _ = run("ip", &["link", "del", &host_veth(namespace)]);
        }
        if self.bridge {
            let _ = run("ip", &["link", "del", self.spec.bridge]);
        }
        if self.forward_rule {
            let _ = iptables(&["-D", "FORWARD"], &forward_rule(self.spec.bridge));
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

/// A cluster whose nodes each run in their own namespace. Dropped in this order: the nodes
/// (stopped, their pods and containerds removed), the cluster directory, then the host
/// network.
pub struct NetnsCluster {
    pub cluster: Cluster,
    pub network: HostNetwork,
    /// Blackhole routes of the current partition: (namespace, address).
    cuts: std::sync::Mutex<Vec<(&'static str, String)>>,
}

impl NetnsCluster {
    /// The host network of `spec` and an empty cluster directory; no node runs yet.
    pub fn new(spec: NetworkSpec, nodes: usize) -> Self {
        assert!(spec.namespaces.len() >= nodes, "a namespace per node");
        let node_base = spec.node_base.to_string();
        let network = HostNetwork::create(spec);
        NetnsCluster {
            cluster: Cluster {
                dir: tempfile::tempdir().expect("tempdir"),
                base: node_base,
                nodes,
            },
            network,
            cuts: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Node 1 first, then every other node started alone and joined to it, each in its
    /// namespace; waits until the cluster reports ready. `start_flags` go to every first
    /// `hakube start` (`--cluster-cidr …`).
    pub fn up(spec: NetworkSpec, nodes: usize, start_flags: &[&str]) -> Self {
        let netns = Self::new(spec, nodes);
        for k in 1..=nodes {
            netns.start_first(k, start_flags);
        }
        for k in 2..=nodes {
            netns.join(k);
        }
        netns.wait_ready();
        netns
    }

    /// Waits until node 1 reports the cluster ready (every node joined and running).
    pub fn wait_ready(&self) {
        let ready = self.cluster.on(
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
            self.cluster.logs()
        );
    }

    /// The first `hakube start` of node K inside its namespace, with its address and name.
    pub fn start_first(&self, k: usize, flags: &[&str]) {
        // The cluster's base is the node subnet, so its addresses are the namespaces' own.
        let first = self.cluster.first_start_args(k);
        let mut args: Vec<&str> = first.iter().map(String::as_str).collect();
        args.extend_from_slice(flags);
        let started = hakube_in(self.network.namespace(k), &args);
        assert!(
            started.ok(),
            "starting node{k}: {}{}\n{}",
            started.stdout,
            started.stderr,
            self.cluster.logs()
        );
    }

    /// `hakube start` of a node that ran before (its flags are in its data directory).
    pub fn restart(&self, k: usize) {
        let dir = self.cluster.node_dir_str(k);
        let started = hakube_in(self.network.namespace(k), &["start", "--data-dir", &dir]);
        assert!(
            started.ok(),
            "restarting node{k}: {}{}\n{}",
            started.stdout,
            started.stderr,
            self.cluster.logs()
        );
    }

    /// A token from node1, joined by node K (run in node K's namespace).
    pub fn join(&self, k: usize) {
        let join_string = self.cluster.join_string(1);
        let dir = self.cluster.node_dir_str(k);
        let joined = hakube_in(
            self.network.namespace(k),
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

    /// Cuts the nodes in `side` off from every other node, both ways, with blackhole routes in
    /// their namespaces. The host (the test's clients) still reaches every node.
    pub fn partition(&self, side: &[usize]) {
        let mut cuts = self.cuts.lock().unwrap();
        for a in side.iter().copied() {
            for b in (1..=self.cluster.nodes).filter(|b| !side.contains(b)) {
                for (from, to) in [(a, b), (b, a)] {
                    let namespace = self.network.namespace(from);
                    let address = format!("{}/32", self.network.address(to));
                    must(
                        "ip",
                        &["-n", namespace, "route", "add", "blackhole", &address],
                    );
                    cuts.push((namespace, address));
                }
            }
        }
    }

    /// Removes the partition's routes.
    pub fn heal_partition(&self) {
        for (namespace, address) in self.cuts.lock().unwrap().drain(..) {
            must(
                "ip",
                &["-n", namespace, "route", "del", "blackhole", &address],
            );
        }
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        // `down` stops the running daemons by PID and removes their pods and containerds; the
        // teardown again for every node covers one that was stopped when the test ended. The
        // bridges and pod veths live in the namespaces and go with them.
        let dir = self.cluster.dir.path().to_str().unwrap().to_string();
        let down = hakube(&["down", "--dir", &dir]);
        if !down.ok() {
            eprintln!("[netns] hakube down: {}{}", down.stdout, down.stderr);
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
                eprintln!("[netns] teardown of node{k}: {error:#}");
            }
        }
    }
}
