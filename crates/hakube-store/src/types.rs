//! The Raft type configuration of the store: what a log entry carries (a versioned
//! [`Command`]), what applying it returns, and what a member record holds.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::command::{Command, CommandResponse};

/// Raft node identifier. Chosen at random when a node starts a new cluster or joins one, and
/// never reused: openraft requires that an id always means the same log.
pub type NodeId = u64;

/// What the cluster knows about a datastore member: enough to reach it and to name it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct Member {
    /// The Kubernetes node name.
    pub name: String,
    /// `IP:PORT` of its peer (datastore) endpoint.
    pub peer_address: String,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.peer_address)
    }
}

openraft::declare_raft_types!(
    /// hakube's Raft types: commands in, command responses out, members with addresses.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = Member,
        // Standard Raft: at most one leader per term (openraft's default allows several).
        LeaderId = openraft::impls::leader_id_std::LeaderId<Self::Term, Self::NodeId>,
);

pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;
pub type SnapshotData = Cursor<Vec<u8>>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;
