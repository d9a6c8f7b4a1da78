//! A node's own containerd: writes its config, starts it (or adopts the one a previous hakube
//! left running, so containers survive a hakube restart), waits until CRI answers, keeps it
//! running with back-off, imports images, and stops it by PID.

use crate::containerd_config::{render_containerd_config, render_insecure_registries};
use crate::containerd_process::{
    ContainerdProcess, LaunchCommand, ProcessError, adoptable_pid, terminate,
};
use crate::cri::{CriClient, CriError};
use crate::node_paths::NodePaths;
use crate::oci_archive::OciArchiveError;
use crate::pause_image::{PAUSE_IMAGE, write_pause_image};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ContainerdError {
    #[error(
        "the containerd socket path {0} is longer than a Unix socket allows; use a shorter node directory"
    )]
    SocketPathTooLong(PathBuf),
    #[error("preparing {path}: {source}")]
    Prepare {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("containerd did not answer CRI within {waited_seconds} s (log: {log})")]
    NotReady { waited_seconds: u64, log: PathBuf },
    #[error("containerd exited during start (log: {0})")]
    ExitedDuringStart(PathBuf),
    #[error(transparent)]
    Cri(#[from] CriError),
    #[error("building the pause image: {0}")]
    PauseImage(#[from] OciArchiveError),
    #[error("importing {archive}: {detail}")]
    Import { archive: PathBuf, detail: String },
}

/// How to run a node's containerd.
#[derive(Debug, Clone)]
pub struct ContainerdOptions {
    /// The node's directory; keep it short (the socket lives in it).
    pub node_dir: PathBuf,
    pub containerd_binary: PathBuf,
    /// Run containerd inside this network namespace (e.g. `/run/netns/hkB`).
    pub network_namespace: Option<PathBuf>,
    pub log_level: String,
    /// How long to wait for CRI after starting.
    pub ready_timeout: Duration,
    /// Plain-HTTP registries (`HOST:PORT`) images may be pulled from.
    pub insecure_registries: Vec<String>,
    /// How long an exec, attach or port-forward stream may stay idle before containerd's
    /// streaming server closes it.
    pub stream_idle_timeout: Duration,
}

impl ContainerdOptions {
    pub fn new(node_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_dir: node_dir.into(),
            containerd_binary: PathBuf::from("containerd"),
            network_namespace: None,
            log_level: "info".to_owned(),
            ready_timeout: Duration::from_secs(20),
            insecure_registries: Vec::new(),
            stream_idle_timeout: Duration::from_secs(4 * 60 * 60),
        }
    }
}

/// A running containerd for one node, with a connected CRI client.
#[derive(Debug)]
pub struct Containerd {
    options: ContainerdOptions,
    paths: NodePaths,
    process: ContainerdProcess,
    client: CriClient,
}

impl Containerd {
    /// Adopts the node's running containerd or starts one, waits for CRI, and makes sure the
    /// pause image is imported.
    pub async fn start(options: ContainerdOptions) -> Result<Self, ContainerdError> {
        let paths = NodePaths::new(&options.node_dir);
        prepare_node_dir(&paths)?;
        let mut config_text =
            render_containerd_config(&paths, PAUSE_IMAGE, options.stream_idle_timeout);
        config_text.push_str(&render_insecure_registries(&options.insecure_registries));
        let config_changed = std::fs::read_to_string(paths.containerd_config())
            .map_or(true, |existing| existing != config_text);
        if config_changed {
            // A running containerd reads its config only at start: restart it (pods survive).
            replace_running(&paths).await?;
        }
        write_file(&paths.containerd_config(), config_text.as_bytes())?;
        let (process, client) = launch_or_adopt(&options, &paths).await?;
        let containerd = Self {
            options,
            paths,
            process,
            client,
        };
        containerd.ensure_pause_image().await?;
        Ok(containerd)
    }

    pub fn client(&self) -> &CriClient {
        &self.client
    }

    pub fn paths(&self) -> &NodePaths {
        &self.paths
    }

    pub fn socket_path(&self) -> PathBuf {
        self.paths.containerd_socket()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Starts containerd again if it exited; returns whether it had to. The CRI client
    /// reconnects on its own (the channel redials the socket).
    pub async fn restart_if_exited(&mut self) -> Result<bool, ContainerdError> {
        if self.process.is_running() {
            return Ok(false);
        }
        tracing::warn!(node_dir = %self.paths.node_dir.display(), "containerd exited; restarting it");
        let (process, client) = launch_or_adopt(&self.options, &self.paths).await?;
        self.process = process;
        self.client = client;
        Ok(true)
    }

    /// Stops containerd (TERM, then KILL after 10 s). Pods keep running in their shims.
    pub async fn stop(mut self) -> Result<(), ContainerdError> {
        terminate(&mut self.process, Duration::from_secs(10)).await?;
        let _ = std::fs::remove_file(self.paths.containerd_pid_file());
        Ok(())
    }

    /// Imports an OCI or docker archive into the CRI namespace (`k8s.io`).
    pub async fn import_image(&self, archive: &Path) -> Result<(), ContainerdError> {
        import_image(&self.paths.containerd_socket(), archive).await
    }

    async fn ensure_pause_image(&self) -> Result<(), ContainerdError> {
        if self.client.image_status(PAUSE_IMAGE).await?.is_some() {
            return Ok(());
        }
        let archive = self.paths.images_dir().join("pause.tar");
        write_pause_image(&archive)?;
        self.import_image(&archive).await
    }
}

/// Imports `archive` with `ctr`, into namespace `k8s.io`, the only one CRI sees.
pub async fn import_image(socket: &Path, archive: &Path) -> Result<(), ContainerdError> {
    let output = tokio::process::Command::new("ctr")
        .arg("-a")
        .arg(socket)
        .args(["-n", "k8s.io", "images", "import"])
        .arg(archive)
        .output()
        .await;
    let import_error = |detail: String| ContainerdError::Import {
        archive: archive.to_owned(),
        detail,
    };
    let output = output.map_err(|error| import_error(error.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(import_error(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

fn prepare_node_dir(paths: &NodePaths) -> Result<(), ContainerdError> {
    if !paths.socket_path_fits() {
        return Err(ContainerdError::SocketPathTooLong(
            paths.containerd_socket(),
        ));
    }
    for directory in [
        paths.cni_config_dir(),
        paths.cni_ipam_dir(),
        paths.images_dir(),
        paths.pods_dir(),
    ] {
        std::fs::create_dir_all(&directory).map_err(|source| ContainerdError::Prepare {
            path: directory.clone(),
            source,
        })?;
    }
    Ok(())
}

pub(crate) fn write_file(path: &Path, contents: &[u8]) -> Result<(), ContainerdError> {
    std::fs::write(path, contents).map_err(|source| ContainerdError::Prepare {
        path: path.to_owned(),
        source,
    })
}

/// Stops a containerd of this node left running with another configuration.
async fn replace_running(paths: &NodePaths) -> Result<(), ContainerdError> {
    if let Some(pid) = adoptable_pid(&paths.containerd_pid_file(), &paths.containerd_config()) {
        tracing::info!(pid, "restarting containerd for its new configuration");
        terminate(
            &mut ContainerdProcess::Adopted(pid),
            Duration::from_secs(10),
        )
        .await?;
    }
    Ok(())
}

async fn launch_or_adopt(
    options: &ContainerdOptions,
    paths: &NodePaths,
) -> Result<(ContainerdProcess, CriClient), ContainerdError> {
    let config_path = paths.containerd_config();
    if let Some(pid) = adoptable_pid(&paths.containerd_pid_file(), &config_path) {
        let mut process = ContainerdProcess::Adopted(pid);
        if let Ok(client) = wait_until_ready(&mut process, paths, Duration::from_secs(5)).await {
            tracing::info!(pid, "adopted the running containerd");
            return Ok((process, client));
        }
        // Alive but not answering: replace it rather than run two on one root.
        terminate(&mut process, Duration::from_secs(5)).await?;
    }
    // A stale socket from a killed containerd would make the first connects fail confusingly.
    let _ = std::fs::remove_file(paths.containerd_socket());
    let launch = LaunchCommand {
        containerd_binary: options.containerd_binary.clone(),
        config_path,
        log_path: paths.containerd_log(),
        log_level: options.log_level.clone(),
        network_namespace: options.network_namespace.clone(),
    };
    let mut process = launch.spawn(&paths.containerd_pid_file())?;
    let client = wait_until_ready(&mut process, paths, options.ready_timeout).await?;
    Ok((process, client))
}

/// Polls CRI Version until it answers (about 120 ms after a start on this machine kind).
async fn wait_until_ready(
    process: &mut ContainerdProcess,
    paths: &NodePaths,
    timeout: Duration,
) -> Result<CriClient, ContainerdError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if !process.is_running() {
            return Err(ContainerdError::ExitedDuringStart(paths.containerd_log()));
        }
        if let Ok(client) = CriClient::connect(&paths.containerd_socket()).await
            && client.version().await.is_ok()
        {
            return Ok(client);
        }
        if tokio::time::Instant::now() >= deadline {
            let waited_seconds = timeout.as_secs();
            return Err(ContainerdError::NotReady {
                waited_seconds,
                log: paths.containerd_log(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
