//! `hakube up` and `hakube down`: a local multi-node cluster on loopback addresses. Node K lives in
//! `DIR/nodeK`, is named `nodeK` and listens on `A.B.C.(10+K)` (workers are numbered after the
//! control-plane nodes). Each node is started exactly as `hakube start --data-dir DIR/nodeK
//! --address A.B.C.(10+K) --node-name nodeK [flags after --]` would (that command, run as a
//! subprocess), so `hakube start --data-dir DIR/nodeK` alone restarts it. `up` is idempotent: it
//! reuses running daemons and skips joins of nodes already in node1's cluster.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hakube_cluster::admin_api::{AddNodeRequest, AddNodeResponse, JoinRequest, StatusReport};

use crate::admin_client::{AdminClient, within};
use crate::cli::{DownArgs, UpArgs};
use crate::commands::{config, join, lifecycle, status};
use crate::process::{self, Escalation, Stopped};

/// One node of the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePlan {
    /// 1-based.
    pub index: usize,
    pub name: String,
    pub address: Ipv4Addr,
    pub data_dir: PathBuf,
    pub worker: bool,
}

/// `down`'s escalation: graceful for 20 s, then SIGKILL.
const DOWN_ESCALATION: Escalation = Escalation {
    graceful: Duration::from_secs(20),
    term: None,
    kill: Duration::from_secs(10),
};

/// Node K → `nodeK` at `A.B.C.(10+K)` in `DIR/nodeK`; workers after the control-plane nodes.
pub fn plan(dir: &Path, base_address: &str, nodes: usize, workers: usize) -> Result<Vec<NodePlan>> {
    let octets: Vec<u8> = base_address
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()
        .filter(|o: &Vec<u8>| o.len() == 3)
        .with_context(|| {
            format!("--base-address must be three numbers A.B.C (got {base_address:?})")
        })?;
    anyhow::ensure!(nodes >= 1, "--nodes must be at least 1");
    let total = nodes + workers;
    anyhow::ensure!(
        total <= 244,
        "at most 244 nodes fit in A.B.C.11 … A.B.C.254 (asked for {total})"
    );
    Ok((1..=total)
        .map(|index| NodePlan {
            index,
            name: format!("node{index}"),
            // total <= 244 so 10 + index <= 254.
            address: Ipv4Addr::new(
                octets[0],
                octets[1],
                octets[2],
                u8::try_from(10 + index).unwrap_or(u8::MAX),
            ),
            data_dir: dir.join(format!("node{index}")),
            worker: index > nodes,
        })
        .collect())
}

/// The `hakube start` arguments that start `node`.
pub fn start_argv(node: &NodePlan, daemon_flags: &[String]) -> Vec<String> {
    let mut argv = vec![
        "start".to_string(),
        "--data-dir".into(),
        node.data_dir.to_string_lossy().into_owned(),
        "--address".into(),
        node.address.to_string(),
        "--node-name".into(),
        node.name.clone(),
    ];
    argv.extend(daemon_flags.iter().cloned());
    argv
}

pub async fn up(args: &UpArgs) -> Result<()> {
    let started = Instant::now();
    let dir = std::path::absolute(&args.dir)
        .with_context(|| format!("directory {}", args.dir.display()))?;
    let nodes = plan(&dir, &args.base_address, args.nodes, args.workers)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    println!(
        "Starting {} nodes ({} control plane, {} workers) under {}",
        nodes.len(),
        args.nodes,
        args.workers,
        dir.display()
    );
    guard_cluster_cidr(&args.daemon_flags).await;
    start_all(&nodes, &args.daemon_flags, args.simulated_nodes).await?;

    let Some((first, joiners)) = nodes.split_first() else {
        bail!("no nodes to start")
    };
    let leader = AdminClient::new(&first.data_dir);
    let report: StatusReport =
        within(Duration::from_secs(30), "status", leader.get("/status")).await?;
    let members: BTreeSet<String> = report.nodes.into_iter().map(|n| n.name).collect();
    for node in joiners {
        if members.contains(&node.name) {
            println!("[{}] already in the cluster", node.name);
            continue;
        }
        join_node(&leader, node).await?;
    }

    println!("Waiting for the cluster to be ready…");
    // Every node must see the whole cluster ready, not only node1.
    let deadline = Duration::from_secs(args.timeout);
    let waits = nodes.iter().map(|node| async move {
        let client = AdminClient::new(&node.data_dir);
        status::wait_ready(&client, deadline)
            .await
            .with_context(|| format!("{} is not ready", node.name))
    });
    for outcome in futures::future::join_all(waits).await {
        outcome?;
    }
    let kubeconfig_path = dir.join("kubeconfig");
    write_private(&kubeconfig_path, &config::fetch_kubeconfig(&leader).await?)?;

    println!(
        "The cluster is ready ({} nodes) in {:.1} s.",
        nodes.len(),
        started.elapsed().as_secs_f64()
    );
    println!("Use it with:");
    println!("  export KUBECONFIG={}", kubeconfig_path.display());
    println!("  hakube status --data-dir {}", first.data_dir.display());
    println!("Stop it with: hakube down --dir {}", dir.display());
    Ok(())
}

/// All nodes of a local cluster share the host, so their pod CIDRs are routed by the bridges
/// themselves; a blackhole route for the whole cluster CIDR makes sure an address no bridge
/// serves is dropped here instead of leaving through the host's real interface.
async fn guard_cluster_cidr(daemon_flags: &[String]) {
    let cidr = daemon_flags
        .iter()
        .position(|flag| flag == "--cluster-cidr")
        .and_then(|at| daemon_flags.get(at + 1))
        .cloned()
        .unwrap_or_else(|| hakube_cluster::config::DaemonConfig::default().cluster_cidr);
    let routes = tokio::process::Command::new("ip")
        .args(["route", "show", &cidr])
        .output()
        .await;
    let present = routes.is_ok_and(|out| !out.stdout.is_empty());
    if !present {
        let added = tokio::process::Command::new("ip")
            .args(["route", "add", "blackhole", &cidr])
            .output()
            .await;
        match added {
            Ok(out) if out.status.success() => {
                println!("Added a blackhole route for the pod network {cidr}")
            }
            _ => println!(
                "warning: could not add a blackhole route for the pod network {cidr} (run as root)"
            ),
        }
    }
}

/// Runs `hakube start` for every node in parallel and reports each one's output.
async fn start_all(nodes: &[NodePlan], daemon_flags: &[String], simulated: usize) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the hakube executable")?;
    let starts = nodes.iter().map(|node| {
        let exe = exe.clone();
        let mut argv = start_argv(node, daemon_flags);
        // The first node runs the simulated ones.
        if simulated > 0 && node.index == 1 {
            argv.extend(["--simulated-nodes".to_string(), simulated.to_string()]);
        }
        async move {
            let output = tokio::process::Command::new(&exe)
                .args(&argv)
                .stdin(Stdio::null())
                .output()
                .await
                .with_context(|| format!("cannot run {} start", exe.display()));
            (node, output)
        }
    });
    let mut failed = Vec::new();
    for (node, output) in futures::future::join_all(starts).await {
        let output = output?;
        for line in String::from_utf8_lossy(&output.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&output.stderr).lines())
        {
            println!("[{}] {line}", node.name);
        }
        if !output.status.success() {
            failed.push(node.name.clone());
        }
    }
    if !failed.is_empty() {
        bail!(
            "could not start {} (see the lines above)",
            failed.join(", ")
        );
    }
    Ok(())
}

/// A fresh single-use token from node1, then the join on `node` (which must finish before the
/// next one starts).
async fn join_node(leader: &AdminClient, node: &NodePlan) -> Result<()> {
    let request = AddNodeRequest {
        worker: node.worker,
        ..AddNodeRequest::default()
    };
    let token: AddNodeResponse = within(
        Duration::from_secs(30),
        "add-node",
        leader.post("/add-node", &request),
    )
    .await?;
    let Some(join_string) = token.join_strings.first() else {
        bail!("node1 returned no join string")
    };
    println!(
        "[{}] {}",
        node.name,
        crate::commands::add_node::join_command(join_string, node.worker)
    );
    let request = JoinRequest {
        join_string: join_string.clone(),
        worker: node.worker,
        ..JoinRequest::default()
    };
    let response = join::join_with(&AdminClient::new(&node.data_dir), &request)
        .await
        .with_context(|| format!("{} could not join", node.name))?;
    for line in response.progress {
        println!("[{}] {line}", node.name);
    }
    Ok(())
}

fn write_private(path: &Path, content: &str) -> Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The node directories (`DIR/node*`) that hold a PID file, in node order.
/// The `nodeN` directories under `dir`, in node order: running or not, since a node stopped
/// alone (`hakube stop`) leaves its containerd and pods for its next start.
fn node_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut dirs: Vec<(usize, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(number) = name.strip_prefix("node") else {
            continue;
        };
        let path = entry.path();
        if path.is_dir() {
            dirs.push((number.parse().unwrap_or(usize::MAX), path));
        }
    }
    dirs.sort();
    Ok(dirs.into_iter().map(|(_, path)| path).collect())
}

pub async fn down(args: &DownArgs) -> Result<()> {
    let dirs = node_dirs(&args.dir)?;
    let stops = dirs
        .iter()
        .filter(|dir| process::pid_file(dir).exists())
        .map(|dir| async move { (dir, lifecycle::stop_daemon(dir, DOWN_ESCALATION).await) });
    let mut stopped = 0;
    let mut failed = Vec::new();
    let outcomes = futures::future::join_all(stops).await;
    // Nothing of a local cluster keeps running after `down`: its pods and containerds go too,
    // those of nodes stopped earlier included.
    let teardowns = dirs
        .iter()
        .map(|dir| hakube_cluster::pod_agent::tear_down(dir));
    for (dir, outcome) in dirs.iter().zip(futures::future::join_all(teardowns).await) {
        if let Err(error) = outcome {
            println!("[{}] cannot remove its pods: {error:#}", dir.display());
        }
    }
    for (dir, outcome) in outcomes {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match outcome {
            Ok(None) => {}
            Ok(Some(how)) => {
                stopped += 1;
                let how = match how {
                    Stopped::Gracefully => "stopped",
                    Stopped::Terminated => "stopped (SIGTERM)",
                    Stopped::Killed => "stopped (SIGKILL after 20 s)",
                };
                println!("[{name}] {how}");
            }
            Err(e) => failed.push(format!("{name}: {e:#}")),
        }
    }
    if !failed.is_empty() {
        bail!("could not stop {}", failed.join("; "));
    }
    if stopped == 0 {
        println!("No hakube node is running under {}", args.dir.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_k_gets_address_10_plus_k_and_name_node_k() {
        let nodes = plan(Path::new("/up"), "127.0.0", 3, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(nodes.len(), 5);
        for (i, node) in nodes.iter().enumerate() {
            let k = i + 1;
            assert_eq!(node.index, k);
            assert_eq!(node.name, format!("node{k}"));
            assert_eq!(node.address.to_string(), format!("127.0.0.{}", 10 + k));
            assert_eq!(node.data_dir, Path::new("/up").join(format!("node{k}")));
            assert_eq!(node.worker, k > 3);
        }
    }

    #[test]
    fn start_argv_matches_the_contract() {
        let nodes = plan(Path::new("/up"), "127.1.2", 1, 0).unwrap_or_else(|e| panic!("{e}"));
        let argv = start_argv(&nodes[0], &["--voters".into(), "5".into()]);
        assert_eq!(
            argv,
            [
                "start",
                "--data-dir",
                "/up/node1",
                "--address",
                "127.1.2.11",
                "--node-name",
                "node1",
                "--voters",
                "5"
            ]
        );
    }

    #[test]
    fn bad_plans_are_refused() {
        assert!(plan(Path::new("/up"), "127.0", 3, 0).is_err());
        assert!(plan(Path::new("/up"), "127.0.300", 3, 0).is_err());
        assert!(plan(Path::new("/up"), "127.0.0", 0, 0).is_err());
        assert!(plan(Path::new("/up"), "127.0.0", 200, 45).is_err());
        assert!(plan(Path::new("/up"), "127.0.0", 200, 44).is_ok());
    }

    #[test]
    fn down_finds_every_node_dir_in_order() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for name in ["node10", "node2", "node1", "other"] {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(d.join("hakube.pid"), "1\n").unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::create_dir(dir.path().join("node3")).unwrap_or_else(|e| panic!("{e}"));
        let found = node_dirs(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = found
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        // node3 has no pid file (stopped alone): its containerd and pods go too.
        assert_eq!(names, ["node1", "node2", "node3", "node10"]);
    }
}
