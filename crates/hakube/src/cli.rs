//! The command line (clap derive): every subcommand, its flags, defaults and help text, as fixed by
//! DESIGN §7. No behaviour lives here; `main.rs` hands each parsed command to its module.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The default data directory when neither `--data-dir` nor `$HAKUBE_DATA_DIR` is set.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/hakube";

#[derive(Parser, Debug)]
#[command(
    name = "hakube",
    version,
    about = "hakube: a highly available, lightweight Kubernetes in one binary"
)]
pub struct Cli {
    /// This node's data directory (before or after the subcommand).
    #[arg(
        long,
        global = true,
        env = "HAKUBE_DATA_DIR",
        default_value = DEFAULT_DATA_DIR,
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the node daemon in the foreground (logs to stderr).
    Daemon(DaemonArgs),
    /// Start the daemon in the background; returns once it serves (flags saved on first start,
    /// reused after).
    Start(StartArgs),
    /// Stop the daemon gracefully (hands datastore roles over first).
    Stop,
    /// Show the cluster's state as this node sees it.
    Status(StatusArgs),
    /// Create a join token and print the `hakube join` command for another node.
    AddNode(AddNodeArgs),
    /// Join this node to the cluster of another node.
    Join(JoinArgs),
    /// Leave the cluster (this node becomes a one-node cluster again).
    Leave,
    /// Remove another node from the cluster.
    RemoveNode(RemoveNodeArgs),
    /// Print the admin kubeconfig (server: this node's API).
    Config(ConfigArgs),
    /// Run the kubectl on PATH with this node's admin kubeconfig.
    Kubectl(KubectlArgs),
    /// Inspect and use the replicated datastore.
    Dbctl(DbctlArgs),
    /// Print a diagnostic report (status and the daemon log's tail).
    Inspect,
    /// Rebuild quorum from the survivors after a permanent loss (not implemented yet).
    Recover,
    /// Container images: `images import FILE…` puts archives on every node.
    Images(ImagesArgs),
    /// Start a local multi-node cluster on loopback addresses (A.B.C.11, .12, …).
    Up(UpArgs),
    /// Stop every node of a local cluster started by `hakube up`.
    Down(DownArgs),
    /// Benchmark the Kubernetes API: open-loop create/update/get/list/list-large/watch load,
    /// one JSON line of latency percentiles (from each request's scheduled send time).
    ApiBench(crate::commands::bench_api::ApiBenchArgs),
    /// Print hakube's version.
    Version,
}

/// The flags of `hakube daemon` (also accepted by `hakube start`). Every field is optional so
/// `start` can tell whether any was given; the daemon fills in the defaults.
#[derive(Args, Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonArgs {
    /// The node's address; every port binds to it [default: first non-loopback IPv4, else 127.0.0.1].
    #[arg(long, value_name = "IP")]
    pub address: Option<IpAddr>,
    /// The node's name [default: the hostname, lowercased].
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Failure domain of this node; datastore voters are spread over domains [default: 1].
    #[arg(long, value_name = "N")]
    pub failure_domain: Option<u64>,
    /// Datastore voters to keep: 3, 5 or 7 [default: 3].
    #[arg(long, value_name = "3|5|7")]
    pub voters: Option<usize>,
    /// Datastore standbys to keep [default: 2].
    #[arg(long, value_name = "N")]
    pub standbys: Option<usize>,
    /// Seconds a voter may be unreachable before it is replaced [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub voter_replacement_delay: Option<u64>,
    /// The pod network [default: 10.1.0.0/16].
    #[arg(long, value_name = "CIDR")]
    pub cluster_cidr: Option<String>,
    /// CRI socket of an external container runtime.
    #[arg(long, value_name = "SOCK")]
    pub container_runtime_endpoint: Option<String>,
    /// A registry reached over plain HTTP (repeatable).
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// Seconds without a heartbeat before a node is NotReady [default: 50].
    #[arg(long, value_name = "SECONDS")]
    pub node_monitor_grace_period: Option<u64>,
    /// Seconds pods tolerate a not-ready or unreachable node [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub pod_eviction_timeout: Option<u64>,
    /// Seconds an exec, attach or port-forward stream may stay idle before it is closed
    /// [default: 14400, the kubelet's 4 h].
    #[arg(long, value_name = "SECONDS")]
    pub streaming_connection_idle_timeout: Option<u64>,
    /// Node lease duration in seconds, renewed every quarter of it [default: 40].
    #[arg(long, value_name = "SECONDS")]
    pub node_lease_duration: Option<u64>,
    /// Lease duration in seconds of the scheduler's and the controller manager's leader
    /// election; another node takes over this long after the holder stops renewing [default: 15].
    #[arg(long, value_name = "SECONDS")]
    pub leader_elect_lease_duration: Option<u64>,
    /// Register and run this many simulated nodes (pods reported Running without running
    /// anything), to measure the scheduler and the API at scale [default: 0].
    #[arg(long, value_name = "N")]
    pub simulated_nodes: Option<usize>,
    /// Kubernetes API authorization: AlwaysAllow (every authenticated user may do
    /// everything, as MicroK8s by default) or RBAC [default: AlwaysAllow].
    #[arg(long, value_name = "AlwaysAllow|RBAC", value_parser = ["AlwaysAllow", "RBAC"])]
    pub authorization_mode: Option<String>,
    /// Datastore election timeout [default: 200].
    #[arg(long, value_name = "MS")]
    pub election_timeout_ms: Option<u64>,
    /// Datastore heartbeat interval [default: 50].
    #[arg(long, value_name = "MS")]
    pub heartbeat_interval_ms: Option<u64>,
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Seconds to wait until the daemon serves.
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    Pretty,
    Yaml,
    Json,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Wait until the datastore has a leader with quorum and every node is reachable.
    #[arg(long)]
    pub wait_ready: bool,
    /// Seconds to wait (for the answer, or with --wait-ready for readiness).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub timeout: u64,
    #[arg(long, value_enum, default_value_t = StatusFormat::Pretty)]
    pub format: StatusFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddNodeFormat {
    Pretty,
    Short,
    Token,
    Json,
    Yaml,
}

#[derive(Args, Debug)]
pub struct AddNodeArgs {
    /// Make the token reusable until it expires after this many seconds (single-use otherwise).
    #[arg(long, value_name = "SECONDS")]
    pub token_ttl: Option<u64>,
    /// Use this token (at least 32 characters) instead of a random one.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The token joins a worker (no control plane, no datastore role).
    #[arg(long)]
    pub worker: bool,
    #[arg(long, value_enum, default_value_t = AddNodeFormat::Pretty)]
    pub format: AddNodeFormat,
}

#[derive(Args, Debug)]
pub struct JoinArgs {
    /// ADDRESS:25000/TOKEN/FINGERPRINT, as printed by `hakube add-node`.
    #[arg(value_name = "ADDRESS:25000/TOKEN/FINGERPRINT")]
    pub join_string: String,
    /// Join as a worker (the token must be a worker token).
    #[arg(long)]
    pub worker: bool,
    /// Do not check the cluster certificate's fingerprint.
    #[arg(long)]
    pub skip_verify: bool,
    /// Join even if this node's clock differs from the cluster's.
    #[arg(long)]
    pub allow_clock_skew: bool,
    /// Join even if the cluster runs another hakube version.
    #[arg(long)]
    pub allow_version_skew: bool,
}

#[derive(Args, Debug)]
pub struct RemoveNodeArgs {
    /// The node's name or address.
    #[arg(value_name = "NAME|ADDRESS")]
    pub node: String,
    /// Remove it even if it is unreachable or the removal cannot be confirmed.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print shell lines exporting ETCDCTL_ENDPOINTS/CACERT/CERT/KEY (not served yet).
    #[arg(long)]
    pub etcd: bool,
}

#[derive(Args, Debug)]
pub struct KubectlArgs {
    /// Arguments passed to kubectl.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DbctlArgs {
    /// Give up after this many seconds (non-zero exit). For `watch`: stop watching after it (exit 0).
    #[arg(long, global = true, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Read from this node's copy without confirming with a quorum (may be stale).
    #[arg(long, global = true)]
    pub local: bool,
    #[command(subcommand)]
    pub command: DbctlCommand,
}

#[derive(Subcommand, Debug)]
pub enum DbctlCommand {
    /// List the datastore members.
    Members,
    /// Print the datastore leader's name.
    Leader,
    /// Print a key's value.
    Get {
        key: String,
        /// Read at this revision.
        #[arg(long, value_name = "R")]
        revision: Option<u64>,
    },
    /// Set a key (returns once committed).
    Put {
        key: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Delete a key.
    Del { key: String },
    /// List the keys under a prefix, one per line.
    List {
        prefix: String,
        /// Print `KEY VALUE` lines.
        #[arg(long)]
        values: bool,
        /// At most this many keys.
        #[arg(long, value_name = "N")]
        limit: Option<u64>,
    },
    /// Print `PUT KEY VALUE` / `DELETE KEY` lines for changes under a prefix.
    Watch {
        prefix: String,
        /// Start from this revision (replays later changes).
        #[arg(long, value_name = "R")]
        revision: Option<u64>,
    },
    /// Write a consistent snapshot of the datastore to FILE.
    Backup { file: PathBuf },
    /// Restore a backup into this (stopped) node: it becomes a one-node cluster with that state.
    Restore { file: PathBuf },
    /// Benchmark datastore writes: N closed-loop clients for SECONDS, then one line
    /// `writes/s=… p50_ms=… p99_ms=… cpu_ms_per_1k_writes=…` (`--timeout`: per request).
    Bench(crate::commands::bench::BenchArgs),
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    #[command(subcommand)]
    pub command: ImagesCommand,
}

#[derive(Subcommand, Debug)]
pub enum ImagesCommand {
    /// Import OCI/docker archives into every node's containerd.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct UpArgs {
    /// Control-plane nodes.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub nodes: usize,
    /// Worker nodes (numbered after the control-plane nodes).
    #[arg(long, default_value_t = 0, value_name = "M")]
    pub workers: usize,
    /// Directory holding node1, node2, … and the kubeconfig.
    #[arg(long, default_value = "/var/lib/hakube-up", value_name = "DIR")]
    pub dir: PathBuf,
    /// Node K gets the address A.B.C.(10+K).
    #[arg(long, default_value = "127.0.0", value_name = "A.B.C")]
    pub base_address: String,
    /// Simulated nodes (not implemented yet: must be 0).
    #[arg(long, default_value_t = 0, value_name = "S")]
    pub simulated_nodes: usize,
    /// Seconds to wait until the cluster is ready.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
    /// Daemon flags for every node (after `--`).
    #[arg(last = true, value_name = "DAEMON FLAGS")]
    pub daemon_flags: Vec<String>,
}

#[derive(Args, Debug)]
pub struct DownArgs {
    /// Directory holding node1, node2, …
    #[arg(long, default_value = "/var/lib/hakube-up", value_name = "DIR")]
    pub dir: PathBuf,
}

impl DaemonArgs {
    /// True when no daemon flag was given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The flags as `hakube daemon` argv (what `start` saves in flags.json).
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                argv.push(format!("--{flag}"));
                argv.push(value);
            }
        };
        push("address", self.address.map(|a| a.to_string()));
        push("node-name", self.node_name.clone());
        push("failure-domain", self.failure_domain.map(|v| v.to_string()));
        push("voters", self.voters.map(|v| v.to_string()));
        push("standbys", self.standbys.map(|v| v.to_string()));
        push(
            "voter-replacement-delay",
            self.voter_replacement_delay.map(|v| v.to_string()),
        );
        push("cluster-cidr", self.cluster_cidr.clone());
        push(
            "container-runtime-endpoint",
            self.container_runtime_endpoint.clone(),
        );
        for registry in &self.insecure_registries {
            push("insecure-registry", Some(registry.clone()));
        }
        push(
            "node-monitor-grace-period",
            self.node_monitor_grace_period.map(|v| v.to_string()),
        );
        push(
            "pod-eviction-timeout",
            self.pod_eviction_timeout.map(|v| v.to_string()),
        );
        push(
            "streaming-connection-idle-timeout",
            self.streaming_connection_idle_timeout
                .map(|v| v.to_string()),
        );
        push(
            "node-lease-duration",
            self.node_lease_duration.map(|v| v.to_string()),
        );
        push(
            "leader-elect-lease-duration",
            self.leader_elect_lease_duration.map(|v| v.to_string()),
        );
        push(
            "simulated-nodes",
            self.simulated_nodes.map(|v| v.to_string()),
        );
        push("authorization-mode", self.authorization_mode.clone());
        push(
            "election-timeout-ms",
            self.election_timeout_ms.map(|v| v.to_string()),
        );
        push(
            "heartbeat-interval-ms",
            self.heartbeat_interval_ms.map(|v| v.to_string()),
        );
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        match Cli::try_parse_from(args) {
            Ok(cli) => cli,
            Err(e) => panic!("parse {args:?}: {e}"),
        }
    }

    #[test]
    fn data_dir_is_global_before_and_after_the_subcommand() {
        let before = parse(&["hakube", "--data-dir", "/d1", "status"]);
        assert_eq!(before.data_dir, PathBuf::from("/d1"));
        let after = parse(&["hakube", "status", "--data-dir", "/d2"]);
        assert_eq!(after.data_dir, PathBuf::from("/d2"));
        let nested = parse(&["hakube", "dbctl", "--data-dir", "/d3", "put", "k", "v"]);
        assert_eq!(nested.data_dir, PathBuf::from("/d3"));
        let last = parse(&["hakube", "dbctl", "put", "k", "v", "--data-dir", "/d4"]);
        assert_eq!(last.data_dir, PathBuf::from("/d4"));
        match last.command {
            Command::Dbctl(DbctlArgs {
                command: DbctlCommand::Put { key, value },
                ..
            }) => {
                assert_eq!((key.as_str(), value.as_str()), ("k", "v"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn dbctl_timeout_is_accepted_anywhere() {
        for args in [
            &["hakube", "dbctl", "--timeout", "3", "get", "k"][..],
            &["hakube", "dbctl", "get", "k", "--timeout", "3"][..],
        ] {
            match parse(args).command {
                Command::Dbctl(DbctlArgs { timeout, .. }) => assert_eq!(timeout, Some(3)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn daemon_flags_round_trip_through_argv() {
        let cli = parse(&[
            "hakube",
            "start",
            "--address",
            "127.0.0.11",
            "--node-name",
            "node1",
            "--voters",
            "5",
            "--insecure-registry",
            "r1:5000",
            "--insecure-registry",
            "r2:5000",
            "--election-timeout-ms",
            "300",
        ]);
        let Command::Start(start) = cli.command else {
            panic!("not start")
        };
        assert!(!start.daemon.is_empty());
        let argv = start.daemon.to_argv();
        let mut full = vec!["hakube".to_string(), "daemon".to_string()];
        full.extend(argv);
        let again = match Cli::try_parse_from(&full) {
            Ok(cli) => cli,
            Err(e) => panic!("{e}"),
        };
        let Command::Daemon(daemon) = again.command else {
            panic!("not daemon")
        };
        assert_eq!(daemon, start.daemon);
    }

    #[test]
    fn start_without_flags_is_empty() {
        let Command::Start(start) = parse(&["hakube", "start", "--data-dir", "/x"]).command else {
            panic!("not start")
        };
        assert!(start.daemon.is_empty());
        assert_eq!(start.timeout, 60);
    }

    #[test]
    fn up_takes_daemon_flags_after_double_dash() {
        let Command::Up(up) = parse(&[
            "hakube",
            "up",
            "--nodes",
            "5",
            "--",
            "--voters",
            "5",
            "--election-timeout-ms",
            "600",
        ])
        .command
        else {
            panic!("not up")
        };
        assert_eq!(up.nodes, 5);
        assert_eq!(up.workers, 0);
        assert_eq!(up.base_address, "127.0.0");
        assert_eq!(
            up.daemon_flags,
            ["--voters", "5", "--election-timeout-ms", "600"]
        );
    }

    #[test]
    fn kubectl_passes_hyphenated_arguments() {
        let Command::Kubectl(k) =
            parse(&["hakube", "kubectl", "get", "nodes", "-o", "wide"]).command
        else {
            panic!("not kubectl")
        };
        assert_eq!(k.args, ["get", "nodes", "-o", "wide"]);
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
