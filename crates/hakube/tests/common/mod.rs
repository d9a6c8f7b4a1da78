//! Test kit for real-process clusters: each test gets its own loopback range (127.A.B.x) and
//! temporary directory, runs the real `hakube` binary, and stops every process it started by
//! PID when dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod images;
pub mod kubectl;
pub mod pods;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `hakube` binary: Cargo names it for this package's tests; other packages' tests (the
/// kube-rs end-to-end tests include this kit) find it in their own target directory
/// (`<target>/debug/deps/<test>` → `<target>/debug/hakube`), or at `HAKUBE_BINARY`.
pub fn hakube_binary() -> &'static str {
    if let Some(path) = option_env!("CARGO_BIN_EXE_hakube") {
        return path;
    }
    static FOUND: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        let mut candidates: Vec<PathBuf> = std::env::var_os("HAKUBE_BINARY").map(PathBuf::from).into_iter().collect();
        if let Ok(exe) = std::env::current_exe()
            && let Some(profile) = exe.parent().and_then(Path::parent)
        {
            candidates.push(profile.join("hakube"));
        }
        let found = candidates.iter().find(|path| path.is_file());
        let found = found.unwrap_or_else(|| panic!("the hakube binary is missing (looked at {candidates:?}): run `cargo build -p hakube` or set HAKUBE_BINARY"));
        found.display().to_string()
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
    pub(crate) fn from(output: Output) -> Self {
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

/// Nothing listens here (the discard port on loopback): a refused connection, at once.
const OFFLINE_PROXY: &str = "http://127.0.0.1:9";

/// The environment every `hakube` a test runs gets: no data directory from the caller's shell,
/// and registry pulls of the test clusters' containerds (which inherit this environment) sent
/// to a closed loopback port, so a test can never reach out to a public registry. Test
/// registries live on loopback, which is exempt.
pub fn with_test_environment(command: &mut Command) -> &mut Command {
    command
        .env_remove("HAKUBE_DATA_DIR")
        .env("HTTPS_PROXY", OFFLINE_PROXY)
        .env("HTTP_PROXY", OFFLINE_PROXY)
        .env("NO_PROXY", "127.0.0.0/8,localhost")
}

/// Runs `hakube ARGS` and returns its outcome.
pub fn hakube(args: &[&str]) -> Run {
    let output = with_test_environment(Command::new(hakube_binary()).args(args))
        .output()
        .expect("run hakube");
    Run::from(output)
}

impl Cluster {
    /// `hakube up --nodes N --base-address BASE` in a fresh directory.
    pub fn up(base: &str, nodes: usize, daemon_flags: &[&str]) -> Self {
        Self::up_with(base, nodes, &[], daemon_flags)
    }

    /// The same with flags of `hakube up` itself (`--simulated-nodes`).
    pub fn up_with(base: &str, nodes: usize, up_flags: &[&str], daemon_flags: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cluster = Cluster {
            dir,
            base: base.to_string(),
            nodes,
        };
        let dir = cluster.dir.path().to_str().unwrap().to_string();
        let nodes_arg = nodes.to_string();
        let mut args = vec![
            "up",
            "--nodes",
            &nodes_arg,
            "--dir",
            &dir,
            "--base-address",
            base,
        ];
        args.extend_from_slice(up_flags);
        if !daemon_flags.is_empty() {
            args.push("--");
            args.extend_from_slice(daemon_flags);
        }
        let run = hakube(&args);
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

    pub fn node_dir_str(&self, k: usize) -> String {
        self.node_dir(k).to_str().unwrap().to_string()
    }

    pub fn address(&self, k: usize) -> String {
        format!("{}.{}", self.base, 10 + k)
    }

    /// `hakube ARGS --data-dir DIR/nodeK`.
    pub fn on(&self, k: usize, args: &[&str]) -> Run {
        let dir = self.node_dir_str(k);
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

    pub fn signal(&self, k: usize, signal: &str) {
        let pid = self.pid(k).expect("pid");
        let ok = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {signal} {pid}");
        if signal == "KILL" {
            wait_until(Duration::from_secs(10), || {
                !Path::new(&format!("/proc/{pid}")).exists()
            });
        }
    }

    /// Starts node K as a one-node cluster of its own (`hakube start` with its address and name).
    pub fn start_alone(&self, k: usize) {
        let args = self.first_start_args(k);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = hakube(&args);
        assert!(run.ok(), "starting node{k}: {}", run.stderr);
    }

    /// `start --data-dir DIR/nodeK --address BASE.(10+K) --node-name nodeK`: a node's first start.
    pub fn first_start_args(&self, k: usize) -> Vec<String> {
        [
            "start".to_string(),
            "--data-dir".to_string(),
            self.node_dir_str(k),
            "--address".to_string(),
            self.address(k),
            "--node-name".to_string(),
            format!("node{k}"),
        ]
        .to_vec()
    }

    /// A fresh join string from node K (`add-node --format short`, without `hakube join `).
    pub fn join_string(&self, k: usize) -> String {
        let run = self.on(k, &["add-node", "--format", "short"]);
        assert!(run.ok(), "add-node on node{k}: {}", run.stderr);
        let line = run.stdout.lines().next().unwrap_or_default();
        line.strip_prefix("hakube join ")
            .unwrap_or(line)
            .to_string()
    }

    pub fn start(&self, k: usize) {
        let run = self.on(k, &["start"]);
        assert!(run.ok(), "start node{k}: {}\n{}", run.stderr, self.logs());
    }

    pub fn logs(&self) -> String {
        let mut all = String::new();
        for k in 1..=self.nodes + 2 {
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
        for k in 1..=self.nodes + 2 {
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

/// The entry of node `name` in a status report's `nodes`.
pub fn node_entry(status: &Value, name: &str) -> Value {
    status["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == name))
        .cloned()
        .unwrap_or(Value::Null)
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
