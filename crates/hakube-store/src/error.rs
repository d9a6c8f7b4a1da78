//! Operating errors of the store, typed so that the Kubernetes API and the etcd API can map
//! them to their own status codes.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::mvcc::ReadError;

#[derive(Error, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreError {
    /// Refused before it was proposed: nothing changed.
    #[error(
        "the cluster is read-only: quorum lost ({reachable} of {voters} datastore voters reachable, {needed} needed); writes resume when enough voters are back"
    )]
    QuorumLost {
        reachable: usize,
        voters: usize,
        needed: usize,
    },
    /// Proposed, but no answer in time: it may or may not have been applied (like etcd's
    /// "request timed out").
    #[error("timed out waiting for the write to commit: its outcome is unknown ({0})")]
    OutcomeUnknown(String),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("request too large: {what} is {size} bytes, the limit is {limit}")]
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// The leader could not be reached before the request was sent: nothing changed, and the
    /// request may be retried (a new leader is likely being elected).
    #[error("the datastore leader is unreachable: {0}")]
    LeaderUnreachable(String),
    /// Refused before it was proposed: nothing changed.
    #[error(
        "this node's disk is nearly full ({free_bytes} bytes free at {path}, {needed_bytes} needed): writes are refused until space is freed"
    )]
    DiskFull {
        path: String,
        free_bytes: u64,
        needed_bytes: u64,
    },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("the datastore is shutting down")]
    ShuttingDown,
    #[error("datastore error: {0}")]
    Internal(String),
    /// Only the Raft leader can answer (lease keep-alive and time-to-live): forward the
    /// request to the leader. Nothing changed.
    #[error("this node is not the datastore leader")]
    NotLeader,
    /// The lease does not exist (never granted, revoked, or expired and being revoked).
    #[error("requested lease not found ({0:x})")]
    LeaseNotFound(i64),
}

impl StoreError {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::QuorumLost { .. } => "quorum_lost",
            StoreError::OutcomeUnknown(_) => "outcome_unknown",
            StoreError::Read(_) => "read",
            StoreError::TooLarge { .. } => "too_large",
            StoreError::LeaderUnreachable(_) => "leader_unreachable",
            StoreError::InvalidRequest(_) => "invalid",
            StoreError::DiskFull { .. } => "disk_full",
            StoreError::Timeout(_) => "timeout",
            StoreError::ShuttingDown => "shutting_down",
            StoreError::Internal(_) => "internal",
            StoreError::NotLeader => "not_leader",
            StoreError::LeaseNotFound(_) => "lease_not_found",
        }
    }

    /// Whether the request certainly changed nothing.
    pub fn changed_nothing(&self) -> bool {
        !matches!(self, StoreError::OutcomeUnknown(_))
    }
}
