//! hakube's replicated store: an MVCC key-value state machine replicated with openraft, its log
//! and vote on redb, snapshots on disk, watches, and the narrow read/write interface that the
//! Kubernetes API and the etcd API sit on.

pub mod append_pipeline;
pub mod backup;
pub mod command;
pub mod disk_guard;
pub mod error;
pub mod leases;
pub mod limits;
pub mod log_store;
pub mod metrics;
pub mod mvcc;
pub mod record;
pub mod state_machine;
pub mod store;
pub mod txn;
pub mod types;
pub mod vote_guard;
pub mod watch;

pub use command::{Command, CommandResponse, Condition, Operation};
pub use error::StoreError;
pub use leases::LeaseKeeper;
pub use mvcc::{Event, EventKind, KeyValue};
pub use store::{Consistency, DatastoreStatus, Forwarder, ReadInfo, Store, StoreTimings};
pub use types::{Member, NodeId, Raft, TypeConfig};
