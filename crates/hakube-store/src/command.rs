//! Replicated commands: what the Raft log carries and what applying one answers.
//!
//! This module owns the wire format of log entries. Every entry is a
//! [`Command`], an enum whose variant is the format version, encoded with
//! postcard. Postcard encodes enum variants by index, so new versions must be
//! appended as new variants at the end and existing variants must never change
//! shape: entries written by an old binary stay in the log (and in snapshots
//! taken from it) for as long as the cluster lives.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::mvcc::KeyValue;

/// A replicated command, tagged with its wire format version.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Version 1 of the operation format. Future versions are added after it.
    V1(Operation),
}

/// A state-machine operation, as understood by [`crate::mvcc::KeyValueState::apply`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Write `value` under `key` if `condition` holds.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        condition: Condition,
    },
    /// Remove `key` if it exists and `condition` holds.
    Delete { key: Vec<u8>, condition: Condition },
    /// Discard history older than `revision`; reads below it fail afterwards.
    Compact { revision: u64 },
    /// An etcd transaction (also how the etcd API's Put and DeleteRange are applied).
    Txn(crate::txn::Txn),
    /// Create a lease; fails when the id exists.
    LeaseGrant { id: i64, ttl_seconds: i64 },
    /// Delete a lease and every key attached to it (one revision for all the deletes).
    LeaseRevoke { id: i64 },
    /// Record leases' remaining time (lease id, milliseconds), so a new leader continues them.
    LeaseCheckpoint { remaining_ms: Vec<(i64, i64)> },
}

/// A precondition checked against the key's latest state at apply time.
///
/// Conditions are evaluated inside the state machine rather than by the
/// proposer because only the apply order decides which write wins a race.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// No precondition.
    Always,
    /// The key must not exist (create only).
    Absent,
    /// The key must exist and its current mod revision must equal this value
    /// (optimistic concurrency, like Kubernetes' resourceVersion).
    ModRevision(u64),
}

/// The outcome of applying one [`Operation`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct CommandResponse {
    /// The store revision after applying (unchanged when not succeeded).
    pub revision: u64,
    /// False when the condition failed or the compaction revision was invalid.
    pub succeeded: bool,
    /// The key's value before a put/delete, or its current value when a
    /// condition failed (so callers can report the conflicting object).
    pub previous: Option<KeyValue>,
    /// The key's value after a successful put.
    pub current: Option<KeyValue>,
    /// A short reason when `!succeeded`.
    pub failure: Option<String>,
    /// The outcome of an [`Operation::Txn`] that was applied.
    pub txn: Option<crate::txn::TxnOutput>,
    /// Why an [`Operation::Txn`] or a lease operation was rejected as a whole.
    pub txn_error: Option<crate::txn::TxnError>,
}

/// Why a log entry could not be decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("malformed command: {0}")]
    Malformed(#[source] postcard::Error),
    #[error("command has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
}

/// Encodes a command for the Raft log.
pub fn encode(cmd: &Command) -> Vec<u8> {
    #[expect(
        clippy::expect_used,
        reason = "postcard fails only on unsized sequences or a full buffer; neither applies"
    )]
    postcard::to_allocvec(cmd).expect("serializing a Command into a Vec cannot fail")
}

/// Decodes a command from the Raft log, rejecting trailing bytes so that a
/// corrupted or mis-framed entry is not silently taken for a valid one.
pub fn decode(bytes: &[u8]) -> Result<Command, DecodeError> {
    let (cmd, rest) =
        postcard::take_from_bytes::<Command>(bytes).map_err(DecodeError::Malformed)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(cmd)
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Always => Ok(()),
            Condition::Absent => f.write_str(" (if absent)"),
            Condition::ModRevision(r) => write!(f, " (if mod revision {r})"),
        }
    }
}

impl Command {
    /// Bytes of keys and values it carries (for timeouts and limits; not the exact encoding).
    pub fn approximate_size(&self) -> usize {
        let Command::V1(operation) = self;
        match operation {
            Operation::Put { key, value, .. } => key.len() + value.len(),
            Operation::Delete { key, .. } => key.len(),
            Operation::Txn(txn) => txn.approximate_size(),
            Operation::Compact { .. }
            | Operation::LeaseGrant { .. }
            | Operation::LeaseRevoke { .. } => 16,
            Operation::LeaseCheckpoint { remaining_ms } => remaining_ms.len() * 16,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::V1(op) => match op {
                Operation::Put { key, condition, .. } => {
                    write!(f, "put {}{condition}", String::from_utf8_lossy(key))
                }
                Operation::Delete { key, condition } => {
                    write!(f, "delete {}{condition}", String::from_utf8_lossy(key))
                }
                Operation::Compact { revision } => write!(f, "compact to revision {revision}"),
                Operation::Txn(txn) => write!(
                    f,
                    "txn ({} compares, {} success ops, {} failure ops)",
                    txn.compares.len(),
                    txn.success.len(),
                    txn.failure.len()
                ),
                Operation::LeaseGrant { id, ttl_seconds } => {
                    write!(f, "grant lease {id:x} for {ttl_seconds} s")
                }
                Operation::LeaseRevoke { id } => write!(f, "revoke lease {id:x}"),
                Operation::LeaseCheckpoint { remaining_ms } => {
                    write!(f, "checkpoint {} leases", remaining_ms.len())
                }
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn samples() -> Vec<Command> {
        vec![
            Command::V1(Operation::Put {
                key: b"/registry/pods/default/a".to_vec(),
                value: vec![0, 1, 2, 255],
                condition: Condition::Always,
            }),
            Command::V1(Operation::Put {
                key: b"/a".to_vec(),
                value: Vec::new(),
                condition: Condition::Absent,
            }),
            Command::V1(Operation::Delete {
                key: vec![0xff, 0xfe],
                condition: Condition::ModRevision(u64::MAX),
            }),
            Command::V1(Operation::Compact { revision: 42 }),
        ]
    }

    #[test]
    fn encode_decode_roundtrip() {
        for cmd in samples() {
            let bytes = encode(&cmd);
            assert_eq!(decode(&bytes).unwrap(), cmd);
        }
    }

    #[test]
    fn wire_format_is_stable() {
        // Variant indices are part of the log format; this pins them.
        let bytes = encode(&Command::V1(Operation::Compact { revision: 5 }));
        assert_eq!(bytes, vec![0, 2, 5]);
        let bytes = encode(&Command::V1(Operation::Delete {
            key: b"k".to_vec(),
            condition: Condition::ModRevision(3),
        }));
        assert_eq!(bytes, vec![0, 1, 1, b'k', 2, 3]);
    }

    #[test]
    fn decoding_garbage_is_an_error() {
        assert!(matches!(decode(&[]), Err(DecodeError::Malformed(_))));
        assert!(matches!(decode(&[7, 7, 7]), Err(DecodeError::Malformed(_))));
        assert!(decode(&[0xff; 64]).is_err());
        // A valid command followed by junk.
        let mut bytes = encode(&Command::V1(Operation::Compact { revision: 1 }));
        bytes.push(9);
        assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes(1)));
        // Truncations of a valid encoding never panic.
        let full = encode(&samples()[0]);
        for len in 0..full.len() {
            assert!(decode(&full[..len]).is_err());
        }
        // Pseudo-random garbage never panics.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            let _ = decode(&bytes[..(x % 9) as usize]);
        }
    }

    #[test]
    fn txn_and_lease_commands_roundtrip() {
        use crate::txn::{
            Compare, CompareResult, CompareTarget, DeleteRangeOp, PutOp, RangeOp, Txn, TxnOp,
        };
        let txn = Txn {
            compares: vec![Compare {
                key: b"/a".to_vec(),
                range_end: vec![0],
                target: CompareTarget::Value(b"v".to_vec()),
                result: CompareResult::NotEqual,
            }],
            success: vec![
                TxnOp::Put(PutOp {
                    key: b"/a".to_vec(),
                    value: b"v".to_vec(),
                    lease: -7,
                    prev_kv: true,
                    ignore_value: false,
                    ignore_lease: true,
                }),
                TxnOp::Txn(Txn::default()),
            ],
            failure: vec![
                TxnOp::Range(RangeOp {
                    key: b"/".to_vec(),
                    limit: 3,
                    ..Default::default()
                }),
                TxnOp::DeleteRange(DeleteRangeOp::default()),
            ],
        };
        let commands = [
            Command::V1(Operation::Txn(txn)),
            Command::V1(Operation::LeaseGrant {
                id: 0x1234,
                ttl_seconds: 60,
            }),
            Command::V1(Operation::LeaseRevoke { id: 0x1234 }),
            Command::V1(Operation::LeaseCheckpoint {
                remaining_ms: vec![(1, 500), (2, 0)],
            }),
        ];
        for cmd in &commands {
            assert_eq!(&decode(&encode(cmd)).unwrap(), cmd);
        }
        let shown: Vec<String> = commands.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "txn (1 compares, 2 success ops, 2 failure ops)",
                "grant lease 1234 for 60 s",
                "revoke lease 1234",
                "checkpoint 2 leases",
            ]
        );
        // The new variants follow the old ones (indices 3..=6).
        assert_eq!(
            encode(&Command::V1(Operation::LeaseRevoke { id: 1 })),
            vec![0, 5, 2]
        );
    }

    #[test]
    fn display_is_short() {
        let shown: Vec<String> = samples().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "put /registry/pods/default/a",
                "put /a (if absent)",
                "delete \u{fffd}\u{fffd} (if mod revision 18446744073709551615)",
                "compact to revision 42",
            ]
        );
    }
}
