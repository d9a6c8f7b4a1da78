//! A small test kit for kube-rs clients against real-process clusters, equivalent to
//! `crates/hakube/tests/common/mod.rs` (which this package cannot reuse: it names the binary with
//! `env!("CARGO_BIN_EXE_hakube")`, which Cargo sets only for the `hakube` package's own tests).
//! Each test gets its own loopback range and temporary directory, runs the `hakube` binary from
//! the workspace's target directory, and stops every process it started by PID when dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ObjectMeta;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

/// The `hakube` binary these tests run: `HAKUBE_BINARY` if set, else `hakube` in the target
/// directory and profile this test was built into (`<target>/debug/deps/<test>` →
/// `<target>/debug/hakube`, which follows `CARGO_TARGET_DIR` and `--target-dir`), else
/// `$CARGO_TARGET_DIR/debug/hakube`, else the workspace's `target/debug/hakube`.
pub fn hakube_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("HAKUBE_BINARY") {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "HAKUBE_BINARY={} does not exist",
                path.display()
            );
            return path;
        }
        let mut candidates = Vec::new();
        if let Ok(exe) = std::env::current_exe()
            && let Some(deps) = exe.parent()
            && deps.file_name().is_some_and(|name| name == "deps")
            && let Some(profile) = deps.parent()
        {
            candidates.push(profile.join("hakube"));
        }
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
            candidates.push(PathBuf::from(target).join("debug").join("hakube"));
        }
        candidates.push(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/debug/hakube")
                .to_path_buf(),
        );
        let found = candidates.iter().find(|path| path.is_file()).cloned();
        found.unwrap_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            panic!(
                "the hakube binary is missing (looked at {}): build it first with \
                 `cargo build -p hakube`, or set HAKUBE_BINARY",
                tried.join(", ")
            )
        })
    })
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub base: String,
    pub nodes: usize,
}

pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Run {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn ok(&self) -> bool {
        self.status == 0
    }
}

/// Runs `hakube ARGS` and returns its outcome.
pub fn hakube(args: &[&str]) -> Run {
    let output = Command::new(hakube_binary())
        .args(args)
        .env_remove("HAKUBE_DATA_DIR")
        .output()
        .expect("run hakube");
    Run::from(output)
}

impl Cluster {
    /// `hakube up --nodes N --base-address BASE` in a fresh directory.
    pub fn up(base: &str, nodes: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = Cluster {
            dir,
            base: base.to_string(),
            nodes,
        };
        let dir = cluster.dir.path().to_str().unwrap().to_string();
        let nodes_arg = nodes.to_string();
        let run = hakube(&[
            "up",
            "--nodes",
            &nodes_arg,
            "--dir",
            &dir,
            "--base-address",
            base,
        ]);
        assert!(
            run.ok(),
            "hakube up failed:\n{}\n{}\n{}",
            run.stdout,
            run.stderr,
            cluster.logs()
        );
        cluster
    }

    pub fn node_dir(&self, k: usize) -> PathBuf {
        self.dir.path().join(format!("node{k}"))
    }

    pub fn address(&self, k: usize) -> String {
        format!("{}.{}", self.base, 10 + k)
    }

    /// `hakube ARGS --data-dir DIR/nodeK`.
    pub fn on(&self, k: usize, args: &[&str]) -> Run {
        let dir = self.node_dir(k).to_str().unwrap().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&["--data-dir", &dir]);
        hakube(&all)
    }

    pub fn status(&self, k: usize) -> Value {
        let run = self.on(k, &["status", "--format", "json"]);
        assert!(run.ok(), "status on node{k} failed: {}", run.stderr);
        serde_json::from_str(&run.stdout).expect("status json")
    }

    pub fn pid(&self, k: usize) -> Option<i32> {
        std::fs::read_to_string(self.node_dir(k).join("hakube.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The node number (1-based) of the datastore leader, as node `asking` sees it.
    pub fn leader(&self, asking: usize) -> Option<usize> {
        let status = self.status(asking);
        let name = status["leader"].as_str()?;
        name.strip_prefix("node")?.parse().ok()
    }

    /// `kill -9` of node K by the PID in its data directory; returns once the process is gone.
    pub fn kill(&self, k: usize) {
        let pid = self.pid(k).expect("pid");
        let ok = Command::new("kill")
            .args(["-s", "KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s KILL {pid}");
        assert!(
            wait_until(Duration::from_secs(30), || {
                !Path::new(&format!("/proc/{pid}")).exists()
            }),
            "node{k} (PID {pid}) is still running after kill -9"
        );
    }

    /// A kube client of the admin kubeconfig (`hakube config` on node 1) talking to node K.
    pub async fn client(&self, k: usize) -> kube::Client {
        let run = self.on(1, &["config"]);
        assert!(run.ok(), "hakube config: {}", run.stderr);
        let mut kubeconfig = Kubeconfig::from_yaml(&run.stdout).expect("kubeconfig YAML");
        for named in &mut kubeconfig.clusters {
            if let Some(cluster) = named.cluster.as_mut() {
                cluster.server = Some(format!("https://{}:16443", self.address(k)));
            }
        }
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }

    pub fn logs(&self) -> String {
        let mut all = String::new();
        for k in 1..=self.nodes {
            if let Ok(text) = std::fs::read_to_string(self.node_dir(k).join("hakube.log")) {
                let tail: Vec<&str> = text.lines().rev().take(40).collect();
                all.push_str(&format!("--- node{k} log (last 40 lines) ---\n"));
                for line in tail.into_iter().rev() {
                    all.push_str(line);
                    all.push('\n');
                }
            }
        }
        all
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let dir = self.dir.path().to_str().unwrap().to_string();
        let _ = hakube(&["down", "--dir", &dir]);
        // Whatever `down` could not stop gracefully is killed by its PID.
        for k in 1..=self.nodes {
            if let Some(pid) = self.pid(k)
                && Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = Command::new("kill")
                    .args(["-s", "KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Retries `attempt` every 200 ms until it gives `Some`, for at most `timeout` (generous: these
/// are bounds against hanging, never measurements).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The HTTP status code of a kube API error (None for transport errors).
pub fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Creates namespace NAME.
pub async fn create_namespace(client: &kube::Client, name: &str) {
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&kube::api::PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    // A quorum read on the same node, so that its replica has the namespace before anything is
    // created in it: hakube's NamespaceLifecycle check reads the local replica without
    // confirming with the leader, and a create right after the namespace's, through a
    // follower, can be refused with 404 (see `namespace_usable_right_after_create`).
    namespaces
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get namespace {name}: {e}"));
}
