//! The recorded history of client operations: what each client asked, of which node, when it
//! was invoked and completed (a global event sequence number for real-time order, and the
//! simulated time for display), and what came back. Written by the clients, read by the
//! linearizability checker and the invariant checks.
//!
//! Values are unique per write (`v<id>`), so a register's state is the id of the write that
//! produced it, and a compare-and-swap on a mod revision is a compare on that id.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What a client did to one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    Get,
    /// Unconditional put.
    Put {
        value: u64,
    },
    /// Put if the key currently holds `expected` (sent as `Condition::ModRevision` of it).
    Cas {
        expected: u64,
        value: u64,
    },
    /// Put if absent.
    Create {
        value: u64,
    },
    /// Unconditional delete (fails when the key is absent).
    Delete,
}

/// How it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Still running (never completed: the run ended first). Treated as unknown.
    Pending,
    /// A write took effect; `previous` is the key's value just before, `revision` the new one.
    Written {
        previous: Option<u64>,
        revision: u64,
    },
    /// A write's condition failed; `current` is the key's value it saw.
    ConditionFailed { current: Option<u64> },
    /// A linearizable read.
    Read {
        value: Option<u64>,
        mod_revision: Option<u64>,
    },
    /// A read served from the local replica (not confirmed): not checked.
    StaleRead { value: Option<u64> },
    /// Refused and certainly not applied (quorum lost, leader unreachable, ...).
    NotApplied(String),
    /// Might or might not have been applied (timed out, reply lost).
    Unknown(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Written { .. } => "ok",
            Outcome::ConditionFailed { .. } => "failed-condition",
            Outcome::Read { .. } => "read",
            Outcome::StaleRead { .. } => "stale-read",
            Outcome::NotApplied(m) if m.contains("quorum lost") => "quorum-lost",
            Outcome::NotApplied(_) => "not-applied",
            Outcome::Unknown(_) => "outcome-unknown",
        }
    }
}

#[derive(Clone, Debug)]
pub struct OpRecord {
    pub id: usize,
    pub client: u64,
    pub node: u64,
    pub key: u64,
    pub kind: OpKind,
    pub invoked: u64,
    /// `None` while pending.
    pub completed: Option<u64>,
    pub invoked_at: Duration,
    pub completed_at: Option<Duration>,
    pub outcome: Outcome,
}

impl fmt::Display for OpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} c{} via n{} key{} {:?} [{}..{}] ({}ms..{}) -> {:?}",
            self.id,
            self.client,
            self.node,
            self.key,
            self.kind,
            self.invoked,
            self.completed.map_or("inf".into(), |c| c.to_string()),
            self.invoked_at.as_millis(),
            self.completed_at
                .map_or("inf".into(), |c| format!("{}ms", c.as_millis())),
            self.outcome
        )
    }
}

#[derive(Default)]
struct HistoryState {
    ops: Vec<OpRecord>,
    sequence: u64,
}

/// Shared by all clients. Cloning shares it.
#[derive(Clone, Default)]
pub struct History {
    state: Arc<Mutex<HistoryState>>,
}

fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

impl History {
    fn lock(&self) -> MutexGuard<'_, HistoryState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an invocation; returns its id for [`History::complete`].
    pub fn invoke(&self, client: u64, node: u64, key: u64, kind: OpKind) -> usize {
        self.invoke_at(client, node, key, kind, now())
    }

    /// [`History::invoke`] with the caller's clock (for histories recorded outside turmoil, such
    /// as the real-process chaos test): `at` is only displayed; real-time order comes from the
    /// shared sequence number.
    pub fn invoke_at(&self, client: u64, node: u64, key: u64, kind: OpKind, at: Duration) -> usize {
        let mut state = self.lock();
        state.sequence += 1;
        let id = state.ops.len();
        let invoked = state.sequence;
        state.ops.push(OpRecord {
            id,
            client,
            node,
            key,
            kind,
            invoked,
            completed: None,
            invoked_at: at,
            completed_at: None,
            outcome: Outcome::Pending,
        });
        id
    }

    pub fn complete(&self, id: usize, outcome: Outcome) {
        self.complete_at(id, outcome, now());
    }

    /// [`History::complete`] with the caller's clock (see [`History::invoke_at`]).
    pub fn complete_at(&self, id: usize, outcome: Outcome, at: Duration) {
        let mut state = self.lock();
        state.sequence += 1;
        let sequence = state.sequence;
        if let Some(op) = state.ops.get_mut(id) {
            op.completed = Some(sequence);
            op.completed_at = Some(at);
            op.outcome = outcome;
        }
    }

    pub fn ops(&self) -> Vec<OpRecord> {
        self.lock().ops.clone()
    }
}

pub fn encode_value(id: u64) -> Vec<u8> {
    format!("v{id}").into_bytes()
}

pub fn decode_value(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes)
        .ok()?
        .strip_prefix('v')?
        .parse()
        .ok()
}

pub fn key_name(key: u64) -> Vec<u8> {
    format!("/registry/sim/key{key}").into_bytes()
}
