//! `hakube daemon`: wires one node together and runs it until it is told to stop. The daemon
//! owns the data directory, the admin socket and the PID file; the [`Node`] inside it is
//! replaced when the node joins or leaves a cluster.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::net::UnixListener;
use tokio::sync::{Mutex, RwLock};
use tokio_util::sync::CancellationToken;

use crate::admin_api::{JoinRequest, JoinResponse, PID_FILE_NAME, SOCKET_NAME};
use crate::config::DaemonConfig;
use crate::identity::Identity;
use crate::join_server::now_unix_ms;
use crate::node::{Node, VERSION, store_directory};
use crate::rpc::{AdmitRequest, AdmitResponse, CertifyRequest};
use crate::token::JoinString;
use crate::{join_client, membership, pki, registry, tls};

/// Marks an identity that created its own cluster (it initialises Raft on first start).
pub const BOOTSTRAP_MARKER: &str = "identity/bootstrap";

pub struct Daemon {
    pub config: DaemonConfig,
    node: RwLock<Arc<Node>>,
    /// Serialises join, leave and shutdown.
    busy: Mutex<()>,
    pub exit: CancellationToken,
}

/// Runs the node until a graceful shutdown (admin `/shutdown`, SIGTERM or SIGINT) completes.
pub async fn run(config: DaemonConfig) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    tls::install_crypto_provider();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let node = start_node(&config).await?;
    let daemon = Arc::new(Daemon {
        config: config.clone(),
        node: RwLock::new(node),
        busy: Mutex::new(()),
        exit: CancellationToken::new(),
    });

    let socket_path = config.data_dir.join(SOCKET_NAME);
    let _ = std::fs::remove_file(&socket_path);
    let listener = UnixListener::bind(&socket_path)
        .with_context(|| format!("binding {}", socket_path.display()))?;
    restrict(&socket_path)?;
    tokio::spawn(crate::serve::serve_unix(
        listener,
        crate::admin::router(daemon.clone()),
        daemon.exit.clone(),
    ));

    let pid_path = config.data_dir.join(PID_FILE_NAME);
    std::fs::write(&pid_path, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", pid_path.display()))?;
    tracing::info!(node = %config.node_name, address = %config.address, "hakube is running");

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = terminate.recv() => daemon.shutdown().await,
        _ = tokio::signal::ctrl_c() => daemon.shutdown().await,
        _ = daemon.exit.cancelled() => {}
        _ = removed(&daemon) => {}
    }
    // Give the admin reply to /shutdown a moment to leave.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(&pid_path);
    tracing::info!("hakube stopped");
    Ok(())
}

/// Returns once the running node learned it was removed from the cluster (after stopping
/// it). Join and leave replace the node; each replacement is watched in turn.
async fn removed(daemon: &Daemon) {
    loop {
        let node = daemon.node().await;
        tokio::select! {
            _ = node.removed.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
        }
        let _busy = daemon.busy.lock().await;
        // A join or leave that replaced the node meanwhile wins.
        if Arc::ptr_eq(&node, &daemon.node().await) {
            node.stop().await;
            return;
        }
    }
}

const ADMIT_ATTEMPTS: usize = 10;

/// Whether an admission failed only because leadership moved while it ran.
fn leadership_moved(error: &str) -> bool {
    error.contains("has to forward request")
        || error.contains("has no leader")
        || error.contains("leadership")
}

fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod {}", path.display()))
}

/// Starts the node of the data directory, bootstrapping a one-node cluster when it is new.
async fn start_node(config: &DaemonConfig) -> anyhow::Result<Arc<Node>> {
    let identity = match Identity::load(&config.data_dir)? {
        Some(identity) => identity,
        None => bootstrap_identity(config)?,
    };
    let bootstrap = config.data_dir.join(BOOTSTRAP_MARKER).exists();
    let control_plane = identity.ca_key_pem.is_some();
    Node::start(config.clone(), identity, bootstrap, control_plane).await
}

fn bootstrap_identity(config: &DaemonConfig) -> anyhow::Result<Identity> {
    let identity = Identity::bootstrap(&config.node_name, config.address)?;
    identity.save(&config.data_dir)?;
    std::fs::write(config.data_dir.join(BOOTSTRAP_MARKER), b"")
        .context("writing the bootstrap marker")?;
    Ok(identity)
}

/// Forgets the cluster this node belonged to: identity and datastore.
fn wipe(config: &DaemonConfig) -> anyhow::Result<()> {
    Identity::remove(&config.data_dir)?;
    let store = store_directory(config);
    match std::fs::remove_dir_all(&store) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", store.display()))
        }
        _ => Ok(()),
    }
}

impl Daemon {
    pub async fn node(&self) -> Arc<Node> {
        self.node.read().await.clone()
    }

    /// Replaces the running node (after join or leave).
    async fn replace(
        &self,
        next: impl AsyncFnOnce() -> anyhow::Result<Arc<Node>>,
    ) -> anyhow::Result<()> {
        let mut slot = self.node.write().await;
        slot.stop().await;
        // Let the old listeners close before the new node binds the same ports.
        tokio::time::sleep(Duration::from_millis(100)).await;
        *slot = next().await?;
        Ok(())
    }

    async fn others_in_cluster(&self, node: &Node) -> usize {
        if !node.control_plane {
            return crate::endpoints::load(&self.config.data_dir).len();
        }
        let members = node.store.status().members.len();
        let records = registry::list_nodes(&node.store)
            .await
            .map(|r| r.len())
            .unwrap_or(0);
        members.max(records).saturating_sub(1)
    }

    pub async fn join(&self, request: JoinRequest) -> anyhow::Result<JoinResponse> {
        let _busy = self.busy.lock().await;
        let join = JoinString::parse(&request.join_string).map_err(|e| anyhow!("{e}"))?;
        let node = self.node().await;
        if self.others_in_cluster(&node).await > 0 {
            bail!(
                "this node is part of a cluster with other members: run 'hakube leave' on it first"
            );
        }
        let mut progress = vec![format!("Contacting cluster at {}", join.address)];
        let ca_pem = join_client::fetch_pinned_ca(&join, request.skip_verify).await?;
        progress.push(if request.skip_verify {
            "Cluster CA fingerprint not checked (--skip-verify)".to_string()
        } else {
            "Cluster CA fingerprint verified".to_string()
        });
        let (key_pem, csr_pem) = pki::generate_key_and_csr(&self.config.node_name)?;
        let certify = CertifyRequest {
            token: join.token.clone(),
            node_name: self.config.node_name.clone(),
            address: self.config.address.to_string(),
            csr_pem,
            worker: request.worker,
            version: VERSION.to_string(),
            unix_ms: now_unix_ms(),
            allow_clock_skew: request.allow_clock_skew,
            allow_version_skew: request.allow_version_skew,
            failure_domain: self.config.failure_domain,
        };
        let certified = join_client::certify(&join, &ca_pem, &certify).await?;
        progress.push("Certificate received; joining the datastore".to_string());

        let identity = Identity {
            node_id: certified.node_id,
            ca_cert_pem: certified.ca_cert_pem.clone(),
            ca_key_pem: certified.ca_key_pem.clone(),
            cert_pem: certified.cert_pem.clone(),
            key_pem,
        };
        let config = self.config.clone();
        let endpoints: Vec<String> = certified
            .cluster_members
            .iter()
            .map(|m| m.peer_address.clone())
            .collect();
        self.replace(async || {
            wipe(&config)?;
            identity.save(&config.data_dir)?;
            crate::endpoints::save(&config.data_dir, &endpoints);
            Node::start(config.clone(), identity.clone(), false, !request.worker).await
        })
        .await?;
        let node = self.node().await;
        let admit = AdmitRequest {
            node_id: node.node_id(),
            member: node.member(),
            worker: request.worker,
            failure_domain: self.config.failure_domain,
        };
        // An election during the admission (a loaded machine) refuses the membership change
        // without changing anything lasting: admission is idempotent, so ask again.
        let mut attempt = 0;
        let admitted = loop {
            attempt += 1;
            let reply: Result<AdmitResponse, String> = node
                .client
                .call(
                    &certified.admit_to,
                    crate::peer_server::ADMIT_PATH,
                    &admit,
                    Duration::from_secs(60),
                )
                .await
                .map_err(|e| anyhow!("{e}"))?;
            match reply {
                Ok(admitted) => break admitted,
                Err(error) if attempt < ADMIT_ATTEMPTS && leadership_moved(&error) => {
                    tracing::info!(%error, attempt, "admission interrupted by an election; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => bail!("the cluster did not admit this node: {error}"),
            }
        };
        progress.push(format!("Datastore role: {}", admitted.role));
        if !request.worker {
            wait_for_leader(&node, Duration::from_secs(30)).await?;
        }
        progress.push("Successfully joined the cluster.".to_string());
        Ok(JoinResponse { progress })
    }

    pub async fn leave(&self) -> anyhow::Result<String> {
        let _busy = self.busy.lock().await;
        let node = self.node().await;
        if self.others_in_cluster(&node).await == 0 {
            return Ok("This node is not part of a multi-node cluster; nothing to leave.".into());
        }
        if !node.control_plane {
            leave_as_worker(&node).await?;
        } else {
            if node.is_leader() {
                membership::transfer_leadership(&node).await?;
            }
            membership::remove(&node, &self.config.node_name, true)
                .await
                .context("leaving the datastore")?;
        }
        let config = self.config.clone();
        self.replace(async || {
            wipe(&config)?;
            let identity = bootstrap_identity(&config)?;
            Node::start(config.clone(), identity, true, true).await
        })
        .await?;
        Ok("This node left the cluster and is now a fresh one-node cluster.".into())
    }

    /// Graceful stop: leadership and the datastore vote go to others first, then the node
    /// stops and the process exits.
    pub async fn shutdown(&self) {
        let _busy = self.busy.lock().await;
        let node = self.node().await;
        if node.store.status().voters.len() > 1 {
            if node.is_leader()
                && let Err(error) = membership::transfer_leadership(&node).await
            {
                tracing::warn!(error = %format!("{error:#}"), "could not hand leadership over before stopping");
            }
            match tokio::time::timeout(
                Duration::from_secs(10),
                membership::handover(&node, node.node_id()),
            )
            .await
            {
                Ok(Ok(message)) => tracing::info!(%message, "datastore role hand-over"),
                Ok(Err(error)) => {
                    tracing::warn!(error = %format!("{error:#}"), "datastore role hand-over failed")
                }
                Err(_) => tracing::warn!("datastore role hand-over timed out"),
            }
        }
        node.stop().await;
        self.exit.cancel();
    }
}

/// A worker asks the first control-plane node that answers to remove it.
async fn leave_as_worker(node: &Node) -> anyhow::Result<()> {
    let request = crate::rpc::RemoveMemberRequest {
        name: node.config.node_name.clone(),
        force: true,
    };
    let mut last_error = anyhow!("no control-plane node is known");
    for endpoint in crate::endpoints::load(&node.config.data_dir) {
        let reply: Result<Result<String, String>, _> = node
            .client
            .call(
                &endpoint,
                crate::peer_server::REMOVE_PATH,
                &request,
                Duration::from_secs(40),
            )
            .await;
        match reply {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) => last_error = anyhow!("{error}"),
            Err(error) => last_error = anyhow!("{error}"),
        }
    }
    Err(last_error.context("leaving the cluster"))
}

async fn wait_for_leader(node: &Node, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while tokio::time::Instant::now() < deadline {
        let status = node.store.status();
        if status.leader.is_some() && status.members.iter().any(|(id, _)| *id == node.node_id()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "joined, but this node has not heard from the datastore leader within {} s",
        timeout.as_secs()
    )
}
