//! Shared fixtures for the integration tests: a node directory under /tmp, the node's own
//! containerd, test images built with the crate's OCI writer, and cleanup of everything the
//! test started (pods through CRI, then containerd by PID, the bridge, the directory).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use hakube_node::containerd::{Containerd, ContainerdOptions};
use hakube_node::cri::CriClient;
use hakube_node::oci_archive::OciImageBuilder;
use std::path::{Path, PathBuf};

pub const BUSYBOX_IMAGE: &str = "hakube.local/busybox:1";

/// A node for one test: its directory, containerd and CNI identity.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub containerd: Option<Containerd>,
    pub bridge: String,
    pub pod_cidr: String,
}

impl TestNode {
    pub async fn start(bridge: &str, pod_cidr: &str) -> TestNode {
        Self::start_with(bridge, pod_cidr, |_| {}).await
    }

    /// `start` with containerd options adjusted by `configure`.
    pub async fn start_with(
        bridge: &str,
        pod_cidr: &str,
        configure: impl FnOnce(&mut ContainerdOptions),
    ) -> TestNode {
        ensure_blackhole_route();
        let dir = tempfile::Builder::new()
            .prefix("hkn-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut options = ContainerdOptions::new(dir.path());
        configure(&mut options);
        let containerd = Containerd::start(options).await.unwrap();
        TestNode {
            dir,
            containerd: Some(containerd),
            bridge: bridge.to_owned(),
            pod_cidr: pod_cidr.to_owned(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn client(&self) -> CriClient {
        self.containerd.as_ref().unwrap().client().clone()
    }

    pub async fn import_busybox(&self) {
        let archive = self.path().join("images/busybox.tar");
        write_busybox_image(&archive);
        self.containerd
            .as_ref()
            .unwrap()
            .import_image(&archive)
            .await
            .unwrap();
    }

    /// The cgroup root of this test's agent: unique per run, so a leaked pod of an earlier
    /// run cannot hold it.
    pub fn cgroup_root(&self) -> String {
        let suffix = self
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        format!("hakube-test-{suffix}")
    }

    /// Removes every pod through CRI, stops containerd, deletes the bridge and the directory.
    pub async fn cleanup(mut self) {
        if let Some(containerd) = self.containerd.take() {
            let client = containerd.client().clone();
            for sandbox in client.list_pod_sandboxes().await.unwrap_or_default() {
                let _ = client.stop_pod_sandbox(&sandbox.id).await;
                let _ = client.remove_pod_sandbox(&sandbox.id).await;
            }
            containerd.stop().await.unwrap();
        }
        self.remove_host_state();
    }

    /// The bridge, the cgroups and any mount left in the directory.
    fn remove_host_state(&self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        hakube_node::pod_cleanup::remove_node_cgroups(&self.cgroup_root());
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg(self.path().join("state"))
            .output();
    }
}

/// A test that panicked did not reach `cleanup`: do it here, before the directory goes. The
/// test's runtime is blocked in this Drop, so nothing of it may be used: a fresh CRI client on
/// a thread and runtime of its own removes the pods, and containerd is stopped by PID.
impl Drop for TestNode {
    fn drop(&mut self) {
        let Some(containerd) = self.containerd.take() else {
            return;
        };
        let socket = containerd.socket_path();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let Ok(client) = CriClient::connect(&socket).await else {
                        return;
                    };
                    for sandbox in client.list_pod_sandboxes().await.unwrap_or_default() {
                        let _ = client.stop_pod_sandbox(&sandbox.id).await;
                        let _ = client.remove_pod_sandbox(&sandbox.id).await;
                    }
                });
            });
        });
        if let Some(pid) = containerd.pid() {
            let _ = hakube_node::containerd_process::send_signal(pid, "TERM");
            for _ in 0..200 {
                if !hakube_node::containerd_process::process_is_alive(pid) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        drop(containerd);
        self.remove_host_state();
    }
}

/// busybox-static with every applet linked, default command `sh`.
pub fn write_busybox_image(archive: &Path) {
    let applets = std::process::Command::new("/bin/busybox")
        .arg("--list-full")
        .output()
        .unwrap();
    let mut builder = OciImageBuilder::new()
        .directory("bin/")
        .directory("sbin/")
        .directory("usr/")
        .directory("usr/bin/")
        .directory("usr/sbin/")
        .directory("tmp/")
        .directory("www/")
        .file("www/index.html", b"hello from busybox\n".to_vec(), 0o644)
        .host_file("bin/busybox", Path::new("/bin/busybox"))
        .unwrap();
    for applet in String::from_utf8_lossy(&applets.stdout).lines() {
        if applet != "bin/busybox" && !applet.is_empty() {
            let depth = applet.matches('/').count();
            builder = builder.symlink(applet, &format!("{}bin/busybox", "../".repeat(depth)));
        }
    }
    builder
        .command(&["sh"])
        .write_archive(BUSYBOX_IMAGE, archive)
        .unwrap();
}

/// Pod addresses must never leave the machine: a blackhole for 10.1.0.0/16 catches any that
/// has no more specific bridge route.
pub fn ensure_blackhole_route() {
    let routes = std::process::Command::new("ip")
        .args(["route", "show", "type", "blackhole"])
        .output()
        .unwrap();
    if !String::from_utf8_lossy(&routes.stdout).contains("10.1.0.0/16") {
        let _ = std::process::Command::new("ip")
            .args(["route", "add", "blackhole", "10.1.0.0/16"])
            .output();
    }
}

pub fn socket_of(node: &TestNode) -> PathBuf {
    node.path().join("containerd.sock")
}

use hakube_kinds::k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use hakube_node::agent::Agent;
use hakube_node::agent_config::AgentConfig;
use hakube_node::pod_events::PodEvent;
use hakube_node::resolved_pod::{PodReport, ResolvedPod};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A pod with one busybox container running `script` under `sh -c`.
pub fn busybox_pod(name: &str, uid: &str, script: &str, restart_policy: &str) -> Pod {
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.to_owned());
    pod.metadata.namespace = Some("default".to_owned());
    pod.metadata.uid = Some(uid.to_owned());
    pod.spec = Some(PodSpec {
        containers: vec![Container {
            name: "main".to_owned(),
            image: Some(BUSYBOX_IMAGE.to_owned()),
            command: Some(vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()]),
            ..Container::default()
        }],
        restart_policy: Some(restart_policy.to_owned()),
        node_name: Some("test".to_owned()),
        ..PodSpec::default()
    });
    pod
}

pub fn agent_for(node: &TestNode) -> Agent {
    let mut config = AgentConfig::new("test", node.path(), "127.0.0.1", &node.pod_cidr);
    config.bridge_name = node.bridge.clone();
    config.cgroup_root = node.cgroup_root();
    Agent::new(config, node.client()).unwrap()
}

/// Syncs once a quarter second until `done` holds for the pod's report, or panics after `timeout`.
pub async fn sync_until(
    agent: &mut Agent,
    desired: &[ResolvedPod],
    uid: &str,
    timeout: Duration,
    done: impl Fn(&PodReport) -> bool,
) -> PodReport {
    let mut events = BTreeMap::new();
    sync_until_with_events(agent, desired, uid, timeout, done, &mut events).await
}

/// `sync_until`, keeping every pod's events of every round in `events` (by pod UID).
pub async fn sync_until_with_events(
    agent: &mut Agent,
    desired: &[ResolvedPod],
    uid: &str,
    timeout: Duration,
    done: impl Fn(&PodReport) -> bool,
    events: &mut BTreeMap<String, Vec<PodEvent>>,
) -> PodReport {
    let deadline = Instant::now() + timeout;
    loop {
        // A runtime that is down (being restarted) is retried until the deadline.
        let reports = match agent.sync(desired).await {
            Ok(reports) => reports,
            Err(error) => {
                assert!(Instant::now() < deadline, "timed out; last error: {error}");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        for report in &reports {
            events
                .entry(report.uid.clone())
                .or_default()
                .extend(report.events.iter().cloned());
        }
        let report = reports
            .into_iter()
            .find(|report| report.uid == uid)
            .unwrap();
        if done(&report) {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "timed out; last status: {:#?}",
            report.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn phase(report: &PodReport) -> &str {
    report.status.phase.as_deref().unwrap_or_default()
}

pub fn waiting_reason(report: &PodReport) -> Option<String> {
    let statuses = report.status.container_statuses.as_ref()?;
    statuses[0].state.as_ref()?.waiting.as_ref()?.reason.clone()
}

/// `wget` from the host's busybox (no -T: it crashes in Debian 12's busybox), retried briefly.
pub async fn fetch_page(address: &str) -> String {
    for _ in 0..20 {
        let output = tokio::process::Command::new("/bin/busybox")
            .args(["wget", "-qO-", &format!("http://{address}/")])
            .output()
            .await
            .unwrap();
        if output.status.success() {
            return String::from_utf8_lossy(&output.stdout).into_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing answered at {address}");
}
