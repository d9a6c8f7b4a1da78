//! One running member of a cluster: the Raft instance and store, the peer server (:19001), the
//! join server (:25000, control-plane nodes only), the reachability pinger and the role
//! manager. The daemon stops one `Node` and starts another when the node joins or leaves a
//! cluster; the process and its admin socket stay.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use openraft::{Config, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use hakube_store::log_store::LogStore;
use hakube_store::state_machine::StateMachine;
use hakube_store::{Member, NodeId, Raft, Store, StoreTimings};

use crate::config::{DaemonConfig, JOIN_PORT, PEER_PORT};
use crate::forwarder::PeerForwarder;
use crate::health::PeerHealth;
use crate::identity::Identity;
use crate::peer_client::PeerClient;
use crate::raft_network::RaftNetwork;
use crate::registry::{self, NodeRecord};
use crate::rpc::PingResponse;
use crate::tls;

pub const PING_PATH: &str = "/peer/ping";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Node {
    pub config: DaemonConfig,
    pub identity: Identity,
    pub store: Store,
    pub health: PeerHealth,
    pub client: PeerClient,
    pub shutdown: CancellationToken,
    /// Whether this node carries the datastore and API (false for workers).
    pub control_plane: bool,
    pub metrics: crate::metrics::NodeMetrics,
    /// Lease deadlines and expiry (active while this node leads); the etcd API's leases.
    pub leases: Arc<hakube_store::LeaseKeeper>,
    /// Fired when the cluster's leader no longer lists this node: it was removed while away,
    /// and the daemon stops instead of campaigning for a membership it no longer has.
    pub removed: CancellationToken,
}

pub fn store_directory(config: &DaemonConfig) -> PathBuf {
    config.data_dir.join("store")
}

fn raft_config(config: &DaemonConfig) -> anyhow::Result<Arc<Config>> {
    let raft = Config {
        cluster_name: "hakube".into(),
        heartbeat_interval: config.heartbeat_interval_ms,
        election_timeout_min: config.election_timeout_ms,
        // openraft's leader lease equals the maximum: a wide range delays failover (voters
        // refuse a new leader until the old one's lease ends), a narrow one risks split votes.
        election_timeout_max: config.election_timeout_ms + config.election_timeout_ms / 10,
        // Snapshots are asked for by `snapshot_schedule` (every ~50k entries, less often for a
        // large state); keep 1k entries behind each for slow followers.
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 1_000,
        enable_pre_vote: Some(true),
        // A restarted leader stands for election like any node. openraft would otherwise
        // restore its leadership at once, with a commit index behind what it acknowledged
        // (the index is not durable), and a read right after the restart could miss
        // acknowledged writes (the simulation found them: docs/chaos.md).
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    Ok(Arc::new(
        raft.validate().context("invalid Raft timing settings")?,
    ))
}

async fn bind(address: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address).await.with_context(|| {
        format!("cannot listen on {address} for the {what}: is another hakube (or something else) using it?")
    })
}

impl Node {
    /// Starts the node. `bootstrap` makes it the only voter of a new cluster.
    pub async fn start(
        config: DaemonConfig,
        identity: Identity,
        bootstrap: bool,
        control_plane: bool,
    ) -> anyhow::Result<Arc<Self>> {
        let directory = store_directory(&config);
        std::fs::create_dir_all(&directory)
            .with_context(|| format!("creating {}", directory.display()))?;
        let metrics = crate::metrics::NodeMetrics::new();
        let log_store = LogStore::open(&directory)?.with_metrics(metrics.store.clone());
        let machine = StateMachine::open(&directory)?.with_metrics(metrics.store.clone());
        let material = identity.tls_material();
        let client = PeerClient::new(tls::peer_client_config(&material)?);
        let health = PeerHealth::new();
        // Raft's tasks are spawned where it is created: on the datastore runtime. Its peer
        // connections get a client of their own so they are driven there too (a pooled
        // connection belongs to the runtime that opened it).
        let raft_client = PeerClient::new(tls::peer_client_config(&material)?);
        let network = RaftNetwork::new(
            raft_client,
            Duration::from_millis(config.heartbeat_interval_ms * 2),
        );
        let raft = crate::datastore_runtime::run(Raft::new(
            identity.node_id,
            raft_config(&config)?,
            network,
            log_store,
            machine.clone(),
        ))
        .await?
        .context("starting the datastore")?;
        let timings =
            StoreTimings::from_raft(config.heartbeat_interval_ms, config.election_timeout_ms);
        let forwarder = PeerForwarder::new(client.clone(), health.clone(), timings.write_timeout);
        let store = Store::new(raft.clone(), machine, Arc::new(forwarder), timings)
            .with_metrics(metrics.store.clone())
            .with_disk_guard(hakube_store::disk_guard::DiskGuard {
                path: directory.clone(),
                min_free_bytes: hakube_store::disk_guard::DEFAULT_MIN_FREE_BYTES,
            });
        let leases = hakube_store::LeaseKeeper::new(store.clone());
        let node = Arc::new(Self {
            leases,
            config: config.clone(),
            identity,
            store,
            health,
            client,
            shutdown: CancellationToken::new(),
            removed: CancellationToken::new(),
            control_plane,
            metrics,
        });

        // The peer server lives on the datastore runtime (bound there, so its connections are
        // driven there): heartbeats and votes are answered however busy the API is.
        let peer_address = SocketAddr::new(config.address, PEER_PORT);
        let peer_listener =
            crate::datastore_runtime::run(bind(peer_address, "datastore peer port")).await??;
        let peer_tls = tls::peer_server_config(&material)?;
        crate::datastore_runtime::get()?.spawn(crate::serve::serve_tls(
            peer_listener,
            peer_tls,
            crate::peer_server::router(node.clone()),
            node.shutdown.clone(),
        ));
        if control_plane && node.identity.ca_key_pem.is_some() {
            let join_listener =
                bind(SocketAddr::new(config.address, JOIN_PORT), "join port").await?;
            let join_tls = tls::join_server_config(&material)?;
            tokio::spawn(crate::serve::serve_tls(
                join_listener,
                join_tls,
                crate::join_server::router(node.clone()),
                node.shutdown.clone(),
            ));
        }

        if control_plane {
            // etcdctl's credentials, then the etcd v3 API on ADDRESS:12379.
            if let Err(error) = node
                .identity
                .write_etcd_client_certificate(&node.config.data_dir)
            {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot write the etcd client certificate"
                );
            }
            crate::etcd::start(&node).await?;
            crate::api::start(&node).await?;
        }

        if bootstrap && !raft.is_initialized().await.unwrap_or(true) {
            let member = node.member();
            raft.initialize(BTreeMap::from([(node.identity.node_id, member)]))
                .await
                .map_err(|e| anyhow::anyhow!("initialising the datastore: {e}"))?;
        }
        tokio::spawn(
            node.leases
                .clone()
                .run(node.shutdown.clone().cancelled_owned()),
        );
        tokio::spawn(ping_loop(node.clone()));
        tokio::spawn(register_self(node.clone()));
        tokio::spawn(crate::roles::run(node.clone()));
        tokio::spawn(crate::compactor::run(node.clone()));
        tokio::spawn(crate::snapshot_schedule::run(node.clone()));
        tokio::spawn(crate::restore::seal_restored_state(node.clone()));
        tokio::spawn(crate::metrics::watch_leader_changes(node.clone()));
        tokio::spawn(crate::node_agent::run(node.clone()));
        crate::agent_server::start(&node).await?;
        tokio::spawn(crate::pod_agent::run(node.clone()));
        if node.config.simulated_nodes > 0 {
            tokio::spawn(crate::simulated_nodes::run(
                node.clone(),
                node.config.simulated_nodes,
            ));
        }
        Ok(node)
    }

    pub fn node_id(&self) -> NodeId {
        self.identity.node_id
    }

    pub fn member(&self) -> Member {
        Member {
            name: self.config.node_name.clone(),
            peer_address: self.config.peer_address(),
        }
    }

    pub fn record(&self) -> NodeRecord {
        NodeRecord {
            name: self.config.node_name.clone(),
            node_id: self.node_id(),
            address: self.config.address.to_string(),
            peer_address: self.config.peer_address(),
            control_plane: self.control_plane,
            failure_domain: self.config.failure_domain,
            version: VERSION.to_string(),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.store.status().leader == Some(self.node_id())
    }

    /// Stops serving and shuts Raft down; files stay as they are.
    pub async fn stop(&self) {
        self.shutdown.cancel();
        if let Err(error) = self.store.raft().shutdown().await {
            tracing::warn!(%error, "datastore shutdown");
        }
    }

    pub async fn ping_response(&self) -> PingResponse {
        let status = self.store.status();
        let registered = registry::list_nodes(&self.store)
            .await
            .map(|records| records.into_iter().map(|r| r.node_id).collect())
            .unwrap_or_default();
        PingResponse {
            node_id: self.node_id(),
            name: self.config.node_name.clone(),
            term: status.term,
            leader: status.leader,
            registered,
        }
    }
}

/// Pings every datastore member and every registered node twice a second.
async fn ping_loop(node: Arc<Node>) {
    let interval = Duration::from_millis(500);
    let mut removal = RemovalCheck::default();
    while !node.shutdown.is_cancelled() {
        let mut targets: BTreeMap<NodeId, String> = node
            .store
            .status()
            .members
            .into_iter()
            .map(|(id, member)| (id, member.peer_address))
            .collect();
        if let Ok(records) = registry::list_nodes(&node.store).await {
            for record in records {
                targets.entry(record.node_id).or_insert(record.peer_address);
            }
        }
        targets.remove(&node.node_id());
        let pings = targets.into_iter().map(|(id, address)| {
            let node = node.clone();
            async move {
                let reply: Result<PingResponse, _> = node
                    .client
                    .call(&address, PING_PATH, &(), Duration::from_millis(800))
                    .await;
                let reached = matches!(reply, Ok(ref r) if r.node_id == id);
                node.health.record(id, reached);
                reply.ok().filter(|_| reached)
            }
        });
        let replies: Vec<PingResponse> = futures::future::join_all(pings)
            .await
            .into_iter()
            .flatten()
            .collect();
        if removal.observe(&replies, node.node_id()) {
            tracing::error!(
                "this node was removed from the cluster while it was away (kubectl delete node or \
                 hakube remove-node on another member): stopping. To bring it back, empty its \
                 data directory and run hakube join with a token from hakube add-node"
            );
            node.removed.cancel();
            return;
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Makes sure this node's record is in the store (a bootstrapped node writes its own; joined
/// nodes are written by the leader at admission, but this repairs a lost write).
async fn register_self(node: Arc<Node>) {
    while !node.shutdown.is_cancelled() {
        let wanted = node.record();
        match registry::get_node(
            &node.store,
            &wanted.name,
            hakube_store::Consistency::Linearizable,
        )
        .await
        {
            Ok(Some((record, _))) if record == wanted => return,
            Ok(Some((record, _))) if record.node_id != wanted.node_id => {
                tracing::warn!(name = %wanted.name, "another node id holds this node's name in the registry");
                return;
            }
            Ok(_) => match registry::put_node(&node.store, &wanted).await {
                Ok(()) => return,
                Err(error) => tracing::debug!(%error, "registering this node; will retry"),
            },
            Err(error) => tracing::debug!(%error, "reading this node's record; will retry"),
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

/// Decides from ping replies whether this node has been removed from the cluster: the
/// leader's registry must lack it in several consecutive rounds (a join or leave in flight
/// settles within one).
#[derive(Default)]
struct RemovalCheck {
    missing_rounds: u32,
}

impl RemovalCheck {
    const ROUNDS: u32 = 4;

    /// One round's replies; true once the removal is certain.
    fn observe(&mut self, replies: &[PingResponse], own: NodeId) -> bool {
        let leader = replies
            .iter()
            .find(|reply| reply.leader == Some(reply.node_id));
        match leader {
            Some(leader) if !leader.registered.contains(&own) => self.missing_rounds += 1,
            Some(_) => self.missing_rounds = 0,
            // No leader answered: nothing learned either way.
            None => {}
        }
        self.missing_rounds >= Self::ROUNDS
    }
}

#[cfg(test)]
mod removal_tests {
    use super::*;

    fn reply(node_id: NodeId, leader: Option<NodeId>, registered: &[NodeId]) -> PingResponse {
        PingResponse {
            node_id,
            name: format!("node{node_id}"),
            term: 3,
            leader,
            registered: registered.to_vec(),
        }
    }

    #[test]
    fn only_the_leaders_registry_counts_and_only_when_it_persists() {
        let mut check = RemovalCheck::default();
        // A follower that lacks us proves nothing (it may lag).
        for _ in 0..10 {
            assert!(!check.observe(&[reply(2, Some(1), &[2])], 9));
        }
        let without_us = [reply(1, Some(1), &[1, 2]), reply(2, Some(1), &[1, 2])];
        for _ in 0..RemovalCheck::ROUNDS - 1 {
            assert!(!check.observe(&without_us, 9));
        }
        // Listed again (a join completed): start over.
        assert!(!check.observe(&[reply(1, Some(1), &[1, 2, 9])], 9));
        for _ in 0..RemovalCheck::ROUNDS - 1 {
            assert!(!check.observe(&without_us, 9));
        }
        // Rounds without a leader neither count nor reset.
        assert!(!check.observe(&[reply(2, None, &[2])], 9));
        assert!(check.observe(&without_us, 9));
    }
}
