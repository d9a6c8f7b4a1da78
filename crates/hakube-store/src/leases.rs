//! Lease expiry, driven by the leader. The replicated state knows each lease's TTL and its last
//! checkpointed remaining time, never a deadline (apply reads no clock). The leader keeps the
//! deadlines in memory: when it takes office, each lease gets `now + checkpointed remaining`
//! (or its full TTL when never checkpointed); keep-alives reset them to `now + TTL`; expired
//! leases are revoked through the log; and every few seconds the remaining times are
//! checkpointed through the log, so that a new leader continues them instead of restarting
//! every lease with its full TTL. A follower keeps no deadlines.
//!
//! The decisions are a pure state machine ([`LeaseSchedule`]: lease set, time and leadership
//! in, revocations and checkpoints out); [`LeaseKeeper`] runs it against the store.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::ServerState;
use openraft::type_config::async_runtime::WatchReceiver;
use tokio::time::Instant;

use crate::command::{Command, Operation};
use crate::error::StoreError;
use crate::store::Store;
use crate::txn::Lease;

/// How often the leader looks for expired leases.
pub const TICK: Duration = Duration::from_millis(500);
/// How often the leader checkpoints every lease's remaining time.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// What the schedule needs to know of a lease in the replicated state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    pub id: i64,
    pub ttl_seconds: i64,
    /// The last checkpointed remaining time, if any.
    pub remaining_ms: Option<i64>,
}

impl From<&Lease> for LeaseInfo {
    fn from(lease: &Lease) -> Self {
        Self {
            id: lease.id,
            ttl_seconds: lease.ttl_seconds,
            remaining_ms: lease.remaining_ms,
        }
    }
}

/// What the leader should propose after a tick.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseActions {
    /// Expired leases, ascending ids: propose `LeaseRevoke` for each.
    pub revoke: Vec<i64>,
    /// Propose `LeaseCheckpoint` with these (id, remaining ms).
    pub checkpoint: Option<Vec<(i64, i64)>>,
}

/// Why a keep-alive or time-to-live was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseRefusal {
    NotLeader,
    /// Unknown, or expired (its revocation is on its way: it cannot be renewed any more).
    NotFound,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tracked {
    deadline: Instant,
    ttl_seconds: i64,
}

fn ttl(ttl_seconds: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl_seconds).unwrap_or(0))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The leader's lease deadlines: a pure state machine, driven by [`LeaseSchedule::tick`].
#[derive(Debug, Default)]
pub struct LeaseSchedule {
    /// The term this node leads, whose deadlines these are (None: not leader, nothing kept).
    term: Option<u64>,
    deadlines: BTreeMap<i64, Tracked>,
    next_checkpoint: Option<Instant>,
    /// Leases renewed since the last checkpoint whose state still holds an older checkpoint:
    /// checkpointed at the next tick, so a new leader does not expire them early.
    renewed: BTreeSet<i64>,
}

impl LeaseSchedule {
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows leadership: a new term (or losing it) forgets every deadline.
    fn lead(&mut self, now: Instant, leader_term: Option<u64>) -> bool {
        if self.term != leader_term {
            self.term = leader_term;
            self.deadlines.clear();
            self.renewed.clear();
            self.next_checkpoint = leader_term.map(|_| now + CHECKPOINT_INTERVAL);
        }
        self.term.is_some()
    }

    /// Starts tracking a lease from the replicated state (no-op when tracked).
    fn track(&mut self, now: Instant, lease: &LeaseInfo) -> &mut Tracked {
        self.deadlines.entry(lease.id).or_insert_with(|| {
            let remaining = match lease.remaining_ms {
                Some(ms) if ms > 0 => Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
                _ => ttl(lease.ttl_seconds),
            };
            Tracked {
                deadline: now + remaining,
                ttl_seconds: lease.ttl_seconds,
            }
        })
    }

    /// One step: `leader_term` is this node's term while it leads (None otherwise), `leases`
    /// every lease of the applied state. Returns what to propose.
    pub fn tick(
        &mut self,
        now: Instant,
        leader_term: Option<u64>,
        leases: &[LeaseInfo],
    ) -> LeaseActions {
        if !self.lead(now, leader_term) {
            return LeaseActions::default();
        }
        let present: BTreeSet<i64> = leases.iter().map(|l| l.id).collect();
        self.deadlines.retain(|id, _| present.contains(id));
        self.renewed.retain(|id| present.contains(id));
        for lease in leases {
            self.track(now, lease);
        }
        let revoke: Vec<i64> = self
            .deadlines
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        let due = self.next_checkpoint.is_none_or(|at| now >= at);
        let checkpointed: Vec<i64> = if due {
            self.next_checkpoint = Some(now + CHECKPOINT_INTERVAL);
            self.deadlines.keys().copied().collect()
        } else {
            self.renewed.iter().copied().collect()
        };
        self.renewed.clear();
        let remaining: Vec<(i64, i64)> = checkpointed
            .into_iter()
            .filter_map(|id| {
                let tracked = self.deadlines.get(&id)?;
                // Expired ones are being revoked; at least 1 ms (0 would mean "full TTL").
                (tracked.deadline > now).then(|| (id, millis(tracked.deadline - now).max(1)))
            })
            .collect();
        LeaseActions {
            revoke,
            checkpoint: (!remaining.is_empty()).then_some(remaining),
        }
    }

    /// Renews a lease that exists in the applied state: its deadline becomes `now + TTL`.
    /// Returns the TTL in seconds.
    pub fn keep_alive(
        &mut self,
        now: Instant,
        leader_term: Option<u64>,
        lease: &LeaseInfo,
    ) -> Result<i64, LeaseRefusal> {
        if !self.lead(now, leader_term) {
            return Err(LeaseRefusal::NotLeader);
        }
        let tracked = self.track(now, lease);
        if tracked.deadline <= now {
            return Err(LeaseRefusal::NotFound);
        }
        tracked.deadline = now + ttl(tracked.ttl_seconds);
        if lease.remaining_ms.is_some() {
            self.renewed.insert(lease.id);
        }
        Ok(lease.ttl_seconds)
    }

    /// The time left before a lease (that exists in the applied state) expires.
    pub fn remaining(
        &mut self,
        now: Instant,
        leader_term: Option<u64>,
        lease: &LeaseInfo,
    ) -> Result<Duration, LeaseRefusal> {
        if !self.lead(now, leader_term) {
            return Err(LeaseRefusal::NotLeader);
        }
        let tracked = self.track(now, lease);
        Ok(tracked.deadline.saturating_duration_since(now))
    }

    /// The leases with a deadline (empty when not leader).
    pub fn tracked(&self) -> Vec<i64> {
        self.deadlines.keys().copied().collect()
    }
}

/// The leader-side driver of lease expiry; one per node. Start [`LeaseKeeper::run`] once.
pub struct LeaseKeeper {
    store: Store,
    schedule: Mutex<LeaseSchedule>,
}

impl LeaseKeeper {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store,
            schedule: Mutex::new(LeaseSchedule::new()),
        })
    }

    fn schedule(&self) -> MutexGuard<'_, LeaseSchedule> {
        // The schedule holds no invariant a panic could break half-way.
        self.schedule
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This node's term while it is the leader.
    fn leader_term(&self) -> Option<u64> {
        let metrics = self.store.raft().metrics().borrow_watched().clone();
        (metrics.state == ServerState::Leader && metrics.current_leader == Some(metrics.id))
            .then_some(metrics.current_term)
    }

    fn lease_info(&self, id: i64) -> Option<(LeaseInfo, Vec<Vec<u8>>)> {
        let applied = self.store.machine().read();
        applied
            .kv
            .lease(id)
            .map(|lease| (LeaseInfo::from(lease), lease.keys.clone()))
    }

    /// Runs until `shutdown` completes: every [`TICK`], while this node leads, revokes the
    /// expired leases and checkpoints remaining times through the log.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            let actions = {
                let leases: Vec<LeaseInfo> = {
                    let applied = self.store.machine().read();
                    applied.kv.leases().map(LeaseInfo::from).collect()
                };
                let term = self.leader_term();
                self.schedule().tick(Instant::now(), term, &leases)
            };
            let mut proposals: Vec<Operation> = actions
                .revoke
                .into_iter()
                .map(|id| Operation::LeaseRevoke { id })
                .collect();
            if let Some(remaining_ms) = actions.checkpoint {
                proposals.push(Operation::LeaseCheckpoint { remaining_ms });
            }
            for operation in proposals {
                let shown = Command::V1(operation.clone()).to_string();
                let result = tokio::select! {
                    () = &mut shutdown => return,
                    result = self.store.propose_as_leader(Command::V1(operation)) => result,
                };
                match result {
                    Ok(response) if response.succeeded => {
                        tracing::debug!(operation = %shown, "lease operation applied");
                    }
                    // Revoked meanwhile (by a client): nothing to do.
                    Ok(response) => {
                        tracing::debug!(operation = %shown, failure = ?response.failure, "lease operation not applied");
                    }
                    // Retried at the next tick while this node still leads.
                    Err(error) => {
                        tracing::warn!(operation = %shown, %error, "lease operation not proposed");
                        break;
                    }
                }
            }
        }
    }

    /// Renews a lease (leader only): its deadline becomes now + TTL. Returns the TTL (s).
    pub fn keep_alive(&self, id: i64) -> Result<i64, StoreError> {
        let term = self.leader_term().ok_or(StoreError::NotLeader)?;
        let (info, _) = self.lease_info(id).ok_or(StoreError::LeaseNotFound(id))?;
        self.schedule()
            .keep_alive(Instant::now(), Some(term), &info)
            .map_err(|refusal| refused(refusal, id))
    }

    /// A lease's granted TTL (s), remaining time (whole seconds, rounded down) and attached
    /// keys (leader only).
    pub fn time_to_live(&self, id: i64) -> Result<(i64, i64, Vec<Vec<u8>>), StoreError> {
        let term = self.leader_term().ok_or(StoreError::NotLeader)?;
        let (info, keys) = self.lease_info(id).ok_or(StoreError::LeaseNotFound(id))?;
        let remaining = self
            .schedule()
            .remaining(Instant::now(), Some(term), &info)
            .map_err(|refusal| refused(refusal, id))?;
        let seconds = i64::try_from(remaining.as_secs()).unwrap_or(i64::MAX);
        Ok((info.ttl_seconds, seconds, keys))
    }
}

fn refused(refusal: LeaseRefusal, id: i64) -> StoreError {
    match refusal {
        LeaseRefusal::NotLeader => StoreError::NotLeader,
        LeaseRefusal::NotFound => StoreError::LeaseNotFound(id),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn info(id: i64, ttl_seconds: i64, remaining_ms: Option<i64>) -> LeaseInfo {
        LeaseInfo {
            id,
            ttl_seconds,
            remaining_ms,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn follower_keeps_nothing() {
        let t0 = Instant::now();
        let mut s = LeaseSchedule::new();
        let leases = [info(1, 1, None)];
        assert_eq!(s.tick(t0, None, &leases), LeaseActions::default());
        assert_eq!(
            s.tick(t0 + secs(100), None, &leases),
            LeaseActions::default()
        );
        assert!(s.tracked().is_empty());
        assert_eq!(
            s.keep_alive(t0, None, &leases[0]),
            Err(LeaseRefusal::NotLeader)
        );
        assert_eq!(
            s.remaining(t0, None, &leases[0]),
            Err(LeaseRefusal::NotLeader)
        );
    }

    #[test]
    fn expiry_uses_checkpoint_or_full_ttl() {
        let t0 = Instant::now();
        let mut s = LeaseSchedule::new();
        let leases = [info(1, 10, None), info(2, 10, Some(3_000))];
        let actions = s.tick(t0, Some(4), &leases);
        assert!(actions.revoke.is_empty());
        assert_eq!(s.tracked(), vec![1, 2]);
        assert_eq!(s.remaining(t0, Some(4), &leases[0]), Ok(secs(10)));
        assert_eq!(s.remaining(t0, Some(4), &leases[1]), Ok(secs(3)));
        // Lease 2 expires after its checkpointed 3 s, lease 1 after its full 10 s.
        assert!(
            s.tick(t0 + Duration::from_millis(2_999), Some(4), &leases)
                .revoke
                .is_empty()
        );
        assert_eq!(s.tick(t0 + secs(3), Some(4), &leases).revoke, vec![2]);
        // Until the revoke is applied it is proposed again at every tick.
        assert_eq!(
            s.tick(t0 + Duration::from_millis(3_500), Some(4), &leases)
                .revoke,
            vec![2]
        );
        // An expired lease cannot be renewed any more.
        assert_eq!(
            s.keep_alive(t0 + secs(4), Some(4), &leases[1]),
            Err(LeaseRefusal::NotFound)
        );
        // Revoked: gone from the state, forgotten.
        let leases = [info(1, 10, None)];
        assert!(s.tick(t0 + secs(4), Some(4), &leases).revoke.is_empty());
        assert_eq!(s.tracked(), vec![1]);
        assert_eq!(s.tick(t0 + secs(10), Some(4), &leases).revoke, vec![1]);
    }

    #[test]
    fn keep_alive_resets_the_deadline() {
        let t0 = Instant::now();
        let mut s = LeaseSchedule::new();
        let lease = info(7, 5, None);
        s.tick(t0, Some(1), &[lease]);
        assert_eq!(s.keep_alive(t0 + secs(4), Some(1), &lease), Ok(5));
        assert!(s.tick(t0 + secs(8), Some(1), &[lease]).revoke.is_empty());
        assert_eq!(
            s.remaining(t0 + secs(8), Some(1), &lease),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(s.tick(t0 + secs(9), Some(1), &[lease]).revoke, vec![7]);
        // A lease granted since the last tick is tracked on first use.
        let fresh = info(8, 30, None);
        assert_eq!(s.keep_alive(t0 + secs(9), Some(1), &fresh), Ok(30));
        assert_eq!(s.tracked(), vec![7, 8]);
    }

    #[test]
    fn checkpoints_every_interval_and_after_renewals() {
        let t0 = Instant::now();
        let mut s = LeaseSchedule::new();
        let leases = [info(1, 60, None), info(2, 60, Some(20_000))];
        // Not at once on taking office: the first checkpoint is one interval later.
        assert_eq!(s.tick(t0, Some(2), &leases).checkpoint, None);
        assert_eq!(s.tick(t0 + secs(1), Some(2), &leases).checkpoint, None);
        assert_eq!(
            s.tick(t0 + secs(5), Some(2), &leases).checkpoint,
            Some(vec![(1, 55_000), (2, 15_000)])
        );
        assert_eq!(
            s.tick(t0 + Duration::from_millis(5_500), Some(2), &leases)
                .checkpoint,
            None
        );
        // A renewal of a checkpointed lease is checkpointed at the next tick; of a lease
        // never checkpointed (a new leader gives it the full TTL anyway), not.
        s.keep_alive(t0 + secs(6), Some(2), &leases[1]).unwrap();
        s.keep_alive(t0 + secs(6), Some(2), &leases[0]).unwrap();
        assert_eq!(
            s.tick(t0 + Duration::from_millis(6_500), Some(2), &leases)
                .checkpoint,
            Some(vec![(2, 59_500)])
        );
        assert_eq!(s.tick(t0 + secs(7), Some(2), &leases).checkpoint, None);
        assert_eq!(
            s.tick(t0 + secs(10), Some(2), &leases).checkpoint,
            Some(vec![(1, 56_000), (2, 56_000)])
        );
        // No leases, no checkpoint.
        assert_eq!(s.tick(t0 + secs(15), Some(2), &[]).checkpoint, None);
    }

    #[test]
    fn leadership_change_forgets_deadlines() {
        let t0 = Instant::now();
        let mut s = LeaseSchedule::new();
        let lease = info(1, 10, None);
        s.tick(t0, Some(1), &[lease]);
        s.keep_alive(t0 + secs(8), Some(1), &lease).unwrap();
        // Lost leadership: nothing kept, nothing proposed.
        assert_eq!(
            s.tick(t0 + secs(9), None, &[lease]),
            LeaseActions::default()
        );
        assert!(s.tracked().is_empty());
        // Leader again (a later term), with a checkpoint in the state: continues from it.
        let checkpointed = info(1, 10, Some(2_000));
        s.tick(t0 + secs(20), Some(3), &[checkpointed]);
        assert_eq!(
            s.remaining(t0 + secs(20), Some(3), &checkpointed),
            Ok(secs(2))
        );
        // A new term without a tick in between also starts afresh.
        assert_eq!(s.remaining(t0 + secs(21), Some(5), &lease), Ok(secs(10)));
        assert_eq!(
            s.tick(t0 + secs(30), Some(5), &[lease]).revoke,
            Vec::<i64>::new()
        );
        assert_eq!(s.tick(t0 + secs(31), Some(5), &[lease]).revoke, vec![1]);
    }
}
