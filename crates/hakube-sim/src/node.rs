//! One simulated datastore node: the software a turmoil host runs (and runs again after a
//! restart). It opens the REAL `LogStore` on its [`SimDisk`], the REAL `StateMachine` on a
//! per-node snapshot directory, builds the openraft `Raft` and the REAL `Store`, bootstraps the
//! cluster on first start, publishes the `Store` to the driver through the [`Registry`],
//! records every leadership it observes, and serves the peer transport.
//!
//! The [`Registry`] is what the driver and the invariant checks see of the nodes: the current
//! `Store` of each running incarnation, leaders observed per term, nodes that refused to start,
//! and fatal Raft errors.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{Config, ServerState, SnapshotPolicy};

use hakube_store::log_store::LogStore;
use hakube_store::state_machine::StateMachine;
use hakube_store::{Member, NodeId, Raft, Store, StoreTimings};

use crate::disk::SimDisk;
use crate::network::{Reachability, SimForwarder, SimNetwork, serve};

/// Raft timings of the simulation (simulated milliseconds).
pub const HEARTBEAT_MS: u64 = 50;
pub const ELECTION_TIMEOUT_MS: u64 = 300;

pub fn host_name(id: NodeId) -> String {
    format!("n{id}")
}

pub fn member(id: NodeId) -> Member {
    Member {
        name: host_name(id),
        peer_address: format!("{}:{}", host_name(id), crate::network::PEER_PORT),
    }
}

/// A leadership seen in a node's metrics.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaderSeen {
    pub term: u64,
    pub node: NodeId,
}

#[derive(Default)]
pub struct RegistryState {
    /// The running incarnation's store, by node.
    pub stores: BTreeMap<NodeId, Store>,
    /// Every (term, leader) observed, with the first simulated time it was seen.
    pub leaders: BTreeMap<LeaderSeen, Duration>,
    /// Nodes that could not open their disk after a crash: (node, error).
    pub refused: Vec<(NodeId, String)>,
    /// Fatal Raft errors: (node, error). Expected only after an injected power cut.
    pub fatal: Vec<(NodeId, String)>,
    /// How many times each node started.
    pub starts: BTreeMap<NodeId, u64>,
}

/// Shared between the node hosts and the driver. Cloning shares it.
#[derive(Clone, Default)]
pub struct Registry {
    state: Arc<Mutex<RegistryState>>,
}

impl Registry {
    pub fn lock(&self) -> MutexGuard<'_, RegistryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn store(&self, id: NodeId) -> Option<Store> {
        self.lock().stores.get(&id).cloned()
    }

    /// The node that currently believes it leads with the highest term, if any.
    pub fn current_leader(&self) -> Option<NodeId> {
        let state = self.lock();
        state
            .stores
            .iter()
            .filter_map(|(id, store)| {
                let metrics = store.raft().metrics().borrow_watched().clone();
                (metrics.state == ServerState::Leader).then_some((metrics.current_term, *id))
            })
            .max()
            .map(|(_, id)| id)
    }
}

/// What a node's software needs; cloned into the host closure.
#[derive(Clone)]
pub struct NodeContext {
    pub id: NodeId,
    pub voters: BTreeSet<NodeId>,
    pub disk: SimDisk,
    pub snapshot_dir: PathBuf,
    pub registry: Registry,
}

fn raft_config() -> Result<Arc<Config>, String> {
    let config = Config {
        cluster_name: "hakube-sim".into(),
        heartbeat_interval: HEARTBEAT_MS,
        election_timeout_min: ELECTION_TIMEOUT_MS,
        election_timeout_max: ELECTION_TIMEOUT_MS * 2,
        // Small, so that snapshots, log purging and snapshot transfer all happen in a run.
        snapshot_policy: SnapshotPolicy::LogsSinceLast(40),
        max_in_snapshot_log_to_keep: 10,
        enable_pre_vote: Some(true),
        // A restarted leader stands for election like any node. openraft would otherwise
        // restore its leadership at once, with a commit index behind what it acknowledged
        // (the index is not durable), and a read right after the restart could miss
        // acknowledged writes (the simulation found them: docs/chaos.md).
        enable_leader_restore: Some(false),
        ..Default::default()
    };
    config.validate().map(Arc::new).map_err(|e| e.to_string())
}

/// The node's software: returns only when it cannot start (recorded in the registry).
pub async fn run(ctx: NodeContext) -> turmoil::Result {
    ctx.registry
        .lock()
        .starts
        .entry(ctx.id)
        .and_modify(|n| *n += 1)
        .or_insert(1);
    let store = match start(&ctx).await {
        Ok(store) => store,
        // The power went out inside a sync while it started (an armed crash): that is a
        // crash, which the scenario reaps and restarts, not a refusal to start.
        Err(_) if ctx.disk.tripped() => return Ok(()),
        Err(error) => {
            ctx.registry.lock().refused.push((ctx.id, error));
            return Ok(());
        }
    };
    ctx.registry.lock().stores.insert(ctx.id, store.clone());
    tokio::spawn(observe(ctx.id, store.raft().clone(), ctx.registry.clone()));
    if let Err(error) = serve(store).await {
        ctx.registry
            .lock()
            .fatal
            .push((ctx.id, format!("peer server stopped: {error}")));
    }
    Ok(())
}

async fn start(ctx: &NodeContext) -> Result<Store, String> {
    let name = format!("{}/raft.redb", host_name(ctx.id));
    let log_store = LogStore::open_with_backend(ctx.disk.attach(), &name)
        .map_err(|e| format!("opening the log: {e}"))?;
    let machine = StateMachine::open(&ctx.snapshot_dir)
        .map_err(|e| format!("opening the state machine: {e}"))?;
    let reach = Reachability::default();
    let raft = Raft::new(
        ctx.id,
        raft_config()?,
        SimNetwork::new(reach.clone()),
        log_store,
        machine.clone(),
    )
    .await
    .map_err(|e| format!("starting Raft: {e}"))?;
    let timings = StoreTimings::from_raft(HEARTBEAT_MS, ELECTION_TIMEOUT_MS);
    let addresses = ctx
        .voters
        .iter()
        .map(|&id| (id, member(id).peer_address))
        .collect();
    let forwarder = SimForwarder::new(reach, addresses, timings.write_timeout);
    let store = Store::new(raft.clone(), machine, Arc::new(forwarder), timings);
    // The lowest id bootstraps the cluster with every voter, once.
    if Some(&ctx.id) == ctx.voters.iter().next()
        && !raft.is_initialized().await.map_err(|e| e.to_string())?
    {
        let members: BTreeMap<NodeId, Member> =
            ctx.voters.iter().map(|&id| (id, member(id))).collect();
        raft.initialize(members)
            .await
            .map_err(|e| format!("initialising: {e}"))?;
    }
    Ok(store)
}

/// Records every leadership this node sees itself holding, and fatal errors.
async fn observe(id: NodeId, raft: Raft, registry: Registry) {
    let mut metrics = raft.metrics();
    loop {
        let snapshot = metrics.borrow_watched().clone();
        if snapshot.state == ServerState::Leader {
            let seen = LeaderSeen {
                term: snapshot.current_term,
                node: id,
            };
            let now = turmoil::sim_elapsed().unwrap_or_default();
            registry.lock().leaders.entry(seen).or_insert(now);
        }
        if let Err(fatal) = &snapshot.running_state {
            registry.lock().fatal.push((id, fatal.to_string()));
            return;
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
