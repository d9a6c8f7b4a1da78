//! The store's narrow interface (like kine's backend): get, range, count, put with a condition,
//! delete, watch, compact. Writes go to the Raft leader (forwarded when this node follows);
//! reads are linearizable by default (a lease read or read index) and fall back to the local replica, marked
//! stale, when the cluster cannot confirm them. This is where "read-only: quorum lost" is
//! decided: a write is refused before it is proposed when the leader cannot show a recent
//! quorum acknowledgement, so nothing changes.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::LinearizerOption;
use openraft::ServerState;
use openraft::error::ForwardReason;
use openraft::type_config::async_runtime::{Instant as _, WatchReceiver};

use crate::command::{Command, CommandResponse, Operation};
use crate::disk_guard::DiskGuard;
use crate::error::StoreError;
use crate::limits::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use crate::metrics::StoreMetrics;
use crate::mvcc::{KeyValue, RangeResult};
use crate::state_machine::StateMachine;
use crate::types::{Member, NodeId, Raft, TypeConfig};
use crate::vote_guard::VoteGuard;
use crate::watch::Watch;

/// What the store needs from the network: reach the leader, and know who is reachable.
/// Implemented by the cluster's peer transport; a unit test can implement it in memory.
pub trait Forwarder: Send + Sync + 'static {
    /// Sends a write to the leader, which proposes it.
    fn forward_write(
        &self,
        leader: Member,
        command: Command,
    ) -> BoxFuture<'static, Result<CommandResponse, StoreError>>;
    /// Asks the leader for a read index (the log index a linearizable read must wait for).
    fn read_index(&self, leader: Member) -> BoxFuture<'static, Result<u64, StoreError>>;
    /// Whether a peer answered recently.
    fn is_reachable(&self, node: NodeId) -> bool;
}

/// Timings of the write and read paths.
#[derive(Clone, Debug)]
pub struct StoreTimings {
    /// How long a proposed write may take to commit before its outcome is reported unknown.
    pub write_timeout: Duration,
    /// A leader whose last quorum acknowledgement is older than this refuses writes.
    pub quorum_ack_timeout: Duration,
    /// How long a write waits for an election before reporting that quorum is lost.
    pub leader_wait: Duration,
    /// How long a linearizable read waits before falling back to a stale local read.
    pub read_timeout: Duration,
    /// The oldest quorum acknowledgement that lets the leader serve a linearizable read
    /// without a round trip (half the minimum election timeout; voters honour the lease for
    /// the maximum, counted from a later moment).
    pub lease_read_age: Duration,
}

impl StoreTimings {
    pub fn from_raft(heartbeat_interval_ms: u64, election_timeout_ms: u64) -> Self {
        Self {
            write_timeout: Duration::from_secs(5),
            quorum_ack_timeout: Duration::from_millis(
                (heartbeat_interval_ms * 4).max(election_timeout_ms),
            ),
            leader_wait: Duration::from_millis((election_timeout_ms * 3).max(2_000)),
            read_timeout: Duration::from_millis(election_timeout_ms * 2),
            lease_read_age: Duration::from_millis(election_timeout_ms / 2),
        }
    }
}

/// How a read is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Consistency {
    /// Confirmed with the leader first; falls back to local (stale) when that is impossible.
    #[default]
    Linearizable,
    /// From the local replica, possibly behind.
    Local,
}

/// Facts about how a read was served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadInfo {
    /// The store revision the read observed.
    pub revision: u64,
    /// True when the read could not be confirmed with a quorum and may be stale.
    pub stale: bool,
}

/// Where the datastore stands, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatastoreStatus {
    pub node_id: NodeId,
    pub state: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub members: Vec<(NodeId, Member)>,
    pub quorum: bool,
    pub reachable_voters: usize,
    pub last_log_index: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    pub revision: u64,
}

/// The replicated store as the rest of hakube uses it. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    raft: Raft,
    machine: StateMachine,
    forwarder: Arc<dyn Forwarder>,
    timings: StoreTimings,
    metrics: Arc<StoreMetrics>,
    disk_guard: Option<DiskGuard>,
    vote_guard: VoteGuard,
}

impl Store {
    pub fn new(
        raft: Raft,
        machine: StateMachine,
        forwarder: Arc<dyn Forwarder>,
        timings: StoreTimings,
    ) -> Self {
        // openraft's leader lease is its maximum election timeout.
        let lease = Duration::from_millis(raft.config().election_timeout_max);
        Self {
            vote_guard: VoteGuard::new(lease),
            raft,
            machine,
            forwarder,
            timings,
            metrics: Arc::default(),
            disk_guard: None,
        }
    }

    /// Refuses writes on this node while its disk is nearly full.
    pub fn with_disk_guard(mut self, guard: DiskGuard) -> Self {
        self.disk_guard = Some(guard);
        self
    }

    /// Reports write timings and refusals into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<StoreMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    pub fn machine(&self) -> &StateMachine {
        &self.machine
    }

    pub fn node_id(&self) -> NodeId {
        *self.raft.node_id()
    }

    // ---- writes -------------------------------------------------------------------------

    /// Applies `operation` through Raft and returns its response (check `succeeded`).
    pub async fn write(&self, operation: Operation) -> Result<CommandResponse, StoreError> {
        let started = std::time::Instant::now();
        let result = self.write_untimed(operation).await;
        self.metrics
            .proposal_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = &result {
            self.metrics.refused(error.reason());
        }
        result
    }

    async fn write_untimed(&self, operation: Operation) -> Result<CommandResponse, StoreError> {
        check_limits(&operation)?;
        let command = Command::V1(operation);
        let deadline = tokio::time::Instant::now() + self.timings.leader_wait;
        loop {
            let attempt = match self.leader()? {
                // A clone, because a refusal before the append (a lapsed lease, leadership
                // moving) is retried like a forwarded write, and openraft keeps the command.
                Some((leader, _)) if leader == self.node_id() => {
                    self.propose_as_leader(command.clone()).await
                }
                Some((_, member)) => self.forwarder.forward_write(member, command.clone()).await,
                None => Err(StoreError::LeaderUnreachable("no leader elected".into())),
            };
            match attempt {
                // Nothing was appended: wait for a lease or an election and try again.
                Err(StoreError::LeaderUnreachable(detail)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(self.quorum_lost_or(detail));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                other => return other,
            }
        }
    }

    /// Proposes on this node, which must be the leader; used for forwarded writes too.
    pub async fn propose_as_leader(&self, command: Command) -> Result<CommandResponse, StoreError> {
        self.wait_for_quorum_ack().await?;
        if let Some(guard) = &self.disk_guard {
            guard.check()?;
        }
        let started = std::time::Instant::now();
        let outcome =
            tokio::time::timeout(self.timings.write_timeout, self.raft.client_write(command)).await;
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Err(_) => Err(StoreError::OutcomeUnknown(format!(
                "no commit within {} ms",
                self.timings.write_timeout.as_millis()
            ))),
            Ok(Ok(response)) => Ok(response.response().clone()),
            Ok(Err(error)) => {
                // Refused before the entry was appended: nothing changed.
                if let Some(forward) = error.forward_to_leader() {
                    // Retryable: `write` waits for a fresh lease or tries the new leader.
                    let detail = if forward.reason == ForwardReason::LeaseExpired {
                        "this leader's lease lapsed (no quorum acknowledged it within the lease)"
                            .to_string()
                    } else {
                        format!("leadership moved: {error}")
                    };
                    return Err(StoreError::LeaderUnreachable(detail));
                }
                Err(StoreError::OutcomeUnknown(error.to_string()))
            }
        }
    }

    // ---- votes --------------------------------------------------------------------------

    /// Answers a vote request once the [`VoteGuard`] allows this node to vote.
    pub async fn vote(
        &self,
        request: openraft::raft::VoteRequest<TypeConfig>,
    ) -> Result<openraft::raft::VoteResponse<TypeConfig>, openraft::error::RaftError<TypeConfig>>
    {
        self.vote_guard.wait().await;
        self.raft.vote(request).await
    }

    /// Answers a pre-vote, held back like [`Store::vote`].
    pub async fn pre_vote(
        &self,
        request: openraft::raft::VoteRequest<TypeConfig>,
    ) -> Result<openraft::raft::VoteResponse<TypeConfig>, openraft::error::RaftError<TypeConfig>>
    {
        self.vote_guard.wait().await;
        self.raft.pre_vote(request).await
    }

    // ---- reads --------------------------------------------------------------------------

    /// Waits until this replica reflects every write acknowledged before the call. Returns
    /// `false` (stale) when no leader could confirm it in time.
    pub async fn read_barrier(&self) -> bool {
        let index = match tokio::time::timeout(self.timings.read_timeout, self.read_index()).await {
            Ok(Ok(index)) => index,
            _ => return false,
        };
        let wait = self.raft.wait(Some(self.timings.read_timeout));
        wait.applied_index_at_least(Some(index), "linearizable read")
            .await
            .is_ok()
    }

    async fn read_index(&self) -> Result<u64, StoreError> {
        match self.leader()? {
            Some((leader, _)) if leader == self.node_id() => self.read_index_as_leader().await,
            Some((_, member)) => self.forwarder.read_index(member).await,
            None => Err(self.quorum_lost()),
        }
    }

    /// The leader's side of a read index. A quorum acknowledgement younger than
    /// `lease_read_age` confirms the leadership without a round trip (openraft's lease read:
    /// no voter helps elect another leader within a lease of hearing from this one, and the
    /// [`VoteGuard`] keeps that true across restarts); an older one is refreshed with a
    /// heartbeat round first.
    pub async fn read_index_as_leader(&self) -> Result<u64, StoreError> {
        let read = self
            .raft
            .ensure_linearizable(LinearizerOption::new(
                Some(self.timings.lease_read_age),
                true,
            ))
            .await
            .map_err(|e| self.quorum_lost_or(e.to_string()))?;
        Ok(read.log_id().index())
    }

    async fn prepare_read(&self, consistency: Consistency) -> bool {
        match consistency {
            Consistency::Local => false,
            Consistency::Linearizable => !self.read_barrier().await,
        }
    }

    pub async fn get(
        &self,
        key: &[u8],
        revision: Option<u64>,
        consistency: Consistency,
    ) -> Result<(Option<KeyValue>, ReadInfo), StoreError> {
        let stale = self.prepare_read(consistency).await;
        let applied = self.machine.read();
        let value = applied.kv.get(key, revision)?;
        Ok((
            value,
            ReadInfo {
                revision: applied.kv.revision(),
                stale,
            },
        ))
    }

    /// Keys in `[start, end)` (`end` None: unbounded), at most `limit` (0: no limit).
    pub async fn range(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        revision: Option<u64>,
        limit: usize,
        consistency: Consistency,
    ) -> Result<(RangeResult, ReadInfo), StoreError> {
        let stale = self.prepare_read(consistency).await;
        let applied = self.machine.read();
        let result = applied.kv.range(start, end, revision, limit)?;
        let info = ReadInfo {
            revision: result.revision,
            stale,
        };
        Ok((result, info))
    }

    /// A range read keeping only the values `keep` accepts (see
    /// [`crate::mvcc::KeyValueState::range_matching`]).
    pub async fn range_matching(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        revision: Option<u64>,
        consistency: Consistency,
        keep: &(dyn Fn(&[u8]) -> bool + Sync),
    ) -> Result<(RangeResult, ReadInfo), StoreError> {
        let stale = self.prepare_read(consistency).await;
        let applied = self.machine.read();
        let result = applied.kv.range_matching(start, end, revision, keep)?;
        let info = ReadInfo {
            revision: result.revision,
            stale,
        };
        Ok((result, info))
    }

    pub async fn count(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        consistency: Consistency,
    ) -> Result<(u64, ReadInfo), StoreError> {
        let stale = self.prepare_read(consistency).await;
        let applied = self.machine.read();
        let count = applied.kv.count(start, end, None)?;
        Ok((
            count,
            ReadInfo {
                revision: applied.kv.revision(),
                stale,
            },
        ))
    }

    /// Watches `[start, end)` for changes after `after_revision` (0: from now on).
    pub fn watch(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        after_revision: u64,
    ) -> Result<Watch, StoreError> {
        Watch::start(&self.machine, start, end, after_revision)
    }

    // ---- leadership and quorum ----------------------------------------------------------

    fn leader(&self) -> Result<Option<(NodeId, Member)>, StoreError> {
        let metrics = self.raft.server_metrics().borrow_watched().clone();
        if let Err(fatal) = &self.raft.metrics().borrow_watched().running_state {
            return Err(StoreError::Internal(format!("datastore stopped: {fatal}")));
        }
        let Some(leader) = metrics.current_leader else {
            return Ok(None);
        };
        let member = metrics
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()
            .unwrap_or_default();
        Ok(Some((leader, member)))
    }

    fn voters(&self) -> Vec<NodeId> {
        self.raft
            .server_metrics()
            .borrow_watched()
            .membership_config
            .membership()
            .voter_ids()
            .collect()
    }

    /// Waits until this leader has a fresh quorum acknowledgement. A stale one while enough
    /// voters answer pings is a slow round (a loaded machine), not a lost quorum: wait for the
    /// next one, up to the leader-wait bound, before refusing.
    async fn wait_for_quorum_ack(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + self.timings.leader_wait;
        loop {
            if self.leader_has_quorum() {
                return Ok(());
            }
            if self.raft.metrics().borrow_watched().state != ServerState::Leader {
                return Err(StoreError::LeaderUnreachable("leadership moved".into()));
            }
            // Too few voters answer: quorum is lost, say so at once.
            let lost = self.quorum_lost();
            if matches!(lost, StoreError::QuorumLost { reachable, needed, .. } if reachable < needed)
            {
                return Err(lost);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(self.quorum_lost_or("the leader could not confirm a quorum".into()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A leader may accept a write only while a quorum acknowledged it recently.
    fn leader_has_quorum(&self) -> bool {
        // Called for every write: read the metrics in place rather than cloning them.
        let receiver = self.raft.metrics();
        let metrics = receiver.borrow_watched();
        if metrics.state != ServerState::Leader {
            return false;
        }
        let voters: Vec<NodeId> = metrics.membership_config.membership().voter_ids().collect();
        if voters.len() == 1 && voters[0] == metrics.id {
            return true;
        }
        match &metrics.last_quorum_acked {
            Some(acked) => acked.elapsed() <= self.timings.quorum_ack_timeout,
            None => false,
        }
    }

    /// Whether this node believes the cluster can commit right now.
    pub fn has_quorum(&self) -> bool {
        let metrics = self.raft.metrics().borrow_watched().clone();
        match metrics.state {
            ServerState::Leader => self.leader_has_quorum(),
            _ => {
                metrics.current_leader.is_some()
                    && self.reachable_voters() > self.voters().len() / 2
            }
        }
    }

    pub fn reachable_voters(&self) -> usize {
        let me = self.node_id();
        self.voters()
            .into_iter()
            .filter(|&id| id == me || self.forwarder.is_reachable(id))
            .count()
    }

    fn quorum_lost(&self) -> StoreError {
        let voters = self.voters().len();
        StoreError::QuorumLost {
            reachable: self.reachable_voters(),
            voters,
            needed: voters / 2 + 1,
        }
    }

    /// Quorum lost when too few voters are reachable, otherwise a transient leader problem.
    fn quorum_lost_or(&self, detail: String) -> StoreError {
        match self.quorum_lost() {
            StoreError::QuorumLost {
                reachable, needed, ..
            } if reachable >= needed => {
                // Nothing was proposed: retryable, like any unreachable leader.
                StoreError::LeaderUnreachable(format!(
                    "no leader could take the request, retry: {detail}"
                ))
            }
            lost => lost,
        }
    }

    pub fn status(&self) -> DatastoreStatus {
        let metrics = self.raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let revision = self.machine.read().kv.revision();
        DatastoreStatus {
            node_id: metrics.id,
            state: format!("{:?}", metrics.state),
            term: metrics.current_term,
            leader: metrics.current_leader,
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            members: membership
                .nodes()
                .map(|(id, member)| (*id, member.clone()))
                .collect(),
            quorum: self.has_quorum(),
            reachable_voters: self.reachable_voters(),
            last_log_index: metrics.last_log_index.unwrap_or(0),
            committed_index: metrics
                .local_committed
                .as_ref()
                .map(|id| id.index())
                .unwrap_or(0),
            applied_index: metrics
                .last_applied
                .as_ref()
                .map(|id| id.index())
                .unwrap_or(0),
            revision,
        }
    }
}

fn check_limits(operation: &Operation) -> Result<(), StoreError> {
    let (key, value) = match operation {
        Operation::Put { key, value, .. } => (key, Some(value)),
        Operation::Delete { key, .. } => (key, None),
        Operation::Compact { .. }
        | Operation::LeaseGrant { .. }
        | Operation::LeaseRevoke { .. }
        | Operation::LeaseCheckpoint { .. } => return Ok(()),
        Operation::Txn(txn) => return check_txn_limits(txn),
    };
    if key.is_empty() {
        return Err(StoreError::InvalidRequest("the key is empty".into()));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::TooLarge {
            what: "key".into(),
            size: key.len(),
            limit: MAX_KEY_BYTES,
        });
    }
    if let Some(value) = value
        && value.len() > MAX_VALUE_BYTES
    {
        return Err(StoreError::TooLarge {
            what: "value".into(),
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

/// Sizes in a transaction, checked before it is proposed (etcd's limits).
fn check_txn_limits(txn: &crate::txn::Txn) -> Result<(), StoreError> {
    use crate::txn::MAX_TXN_OPS;
    // etcd's rule (per level, the most of compares, success and failure ops), as apply checks.
    if txn.check_op_count(MAX_TXN_OPS).is_err() {
        return Err(StoreError::InvalidRequest(format!(
            "too many operations in txn request (the limit is {MAX_TXN_OPS} per branch)"
        )));
    }
    let bytes = txn.approximate_size();
    if bytes > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge {
            what: "request".into(),
            size: bytes,
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}
