//! A workload client: a turmoil client host that issues puts, compare-and-swaps, creates,
//! deletes and linearizable gets through random nodes' `Store` (over the simulated transport,
//! as the API server on a node would), and records each in the [`History`].
//!
//! A compare-and-swap uses the mod revision of a value this client saw (from a read or from its
//! own write), which is a compare on that value since values are unique per write.

use std::collections::BTreeMap;
use std::time::Duration;

use hakube_store::{CommandResponse, Condition, Operation, StoreError};

use crate::history::{History, OpKind, Outcome, decode_value, encode_value, key_name};
use crate::network::{CallError, GetReply, PEER_PORT, Request, call};
use crate::node::host_name;
use crate::rng::SimRng;

#[derive(Clone)]
pub struct ClientPlan {
    pub index: u64,
    pub seed: u64,
    pub nodes: Vec<u64>,
    pub keys: u64,
    pub ops: usize,
    pub history: History,
}

/// Longer than a write may take on the node: the store's commit timeout (5 s) plus a follower's
/// wait for a leader and the forwarding.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(8);

fn value_of(kv: &Option<hakube_store::KeyValue>) -> Option<u64> {
    // An undecodable value becomes an id no write used, so the checker reports it.
    kv.as_ref()
        .map(|kv| decode_value(&kv.value).unwrap_or(u64::MAX))
}

fn error_outcome(error: StoreError) -> Outcome {
    if error.changed_nothing() {
        Outcome::NotApplied(error.to_string())
    } else {
        Outcome::Unknown(error.to_string())
    }
}

fn call_outcome(error: CallError) -> Outcome {
    match error {
        CallError::Unreachable(m) => Outcome::NotApplied(format!("node unreachable: {m}")),
        CallError::Lost(m) => Outcome::Unknown(m),
    }
}

fn write_outcome(response: CommandResponse) -> Outcome {
    if response.succeeded {
        Outcome::Written {
            previous: value_of(&response.previous),
            revision: response.revision,
        }
    } else {
        Outcome::ConditionFailed {
            current: value_of(&response.previous),
        }
    }
}

pub async fn run(plan: ClientPlan) -> turmoil::Result {
    let mut rng = SimRng::derive(plan.seed, 1000 + plan.index);
    // What this client last saw of each key: (value id, mod revision).
    let mut seen: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut next_value = 0u64;
    for _ in 0..plan.ops {
        let node = *plan
            .nodes
            .get(rng.below(plan.nodes.len() as u64) as usize)
            .unwrap_or(&1);
        let key = rng.below(plan.keys);
        let address = format!("{}:{PEER_PORT}", host_name(node));
        let roll = rng.below(100);
        next_value += 1;
        let value = (plan.index << 32) | next_value;
        let (kind, operation) = match roll {
            0..35 => (OpKind::Get, None),
            35..55 => (
                OpKind::Put { value },
                Some(Operation::Put {
                    key: key_name(key),
                    value: encode_value(value),
                    condition: Condition::Always,
                }),
            ),
            55..85 => match seen.get(&key) {
                Some(&(expected, revision)) => (
                    OpKind::Cas { expected, value },
                    Some(Operation::Put {
                        key: key_name(key),
                        value: encode_value(value),
                        condition: Condition::ModRevision(revision),
                    }),
                ),
                None => (
                    OpKind::Create { value },
                    Some(Operation::Put {
                        key: key_name(key),
                        value: encode_value(value),
                        condition: Condition::Absent,
                    }),
                ),
            },
            _ => (
                OpKind::Delete,
                Some(Operation::Delete {
                    key: key_name(key),
                    condition: Condition::Always,
                }),
            ),
        };
        let id = plan.history.invoke(plan.index, node, key, kind);
        let outcome = match operation {
            None => {
                let reply: Result<GetReply, CallError> =
                    call(&address, &Request::ClientGet(key_name(key)), CLIENT_TIMEOUT).await;
                match reply {
                    Ok(Ok((kv, stale))) => {
                        let value = value_of(&kv);
                        if stale {
                            Outcome::StaleRead { value }
                        } else {
                            match (&kv, value) {
                                (Some(kv), Some(v)) => {
                                    seen.insert(key, (v, kv.mod_revision));
                                }
                                _ => {
                                    seen.remove(&key);
                                }
                            }
                            Outcome::Read {
                                value,
                                mod_revision: kv.as_ref().map(|kv| kv.mod_revision),
                            }
                        }
                    }
                    Ok(Err(error)) => error_outcome(error),
                    Err(error) => call_outcome(error),
                }
            }
            Some(operation) => {
                let reply: Result<Result<CommandResponse, StoreError>, CallError> =
                    call(&address, &Request::ClientWrite(operation), CLIENT_TIMEOUT).await;
                match reply {
                    Ok(Ok(response)) => {
                        if response.succeeded {
                            match &response.current {
                                Some(kv) => {
                                    seen.insert(key, (value, kv.mod_revision));
                                }
                                None => {
                                    seen.remove(&key);
                                }
                            }
                        } else if let Some(kv) = &response.previous
                            && let Some(v) = decode_value(&kv.value)
                        {
                            seen.insert(key, (v, kv.mod_revision));
                        }
                        write_outcome(response)
                    }
                    Ok(Err(error)) => error_outcome(error),
                    Err(error) => call_outcome(error),
                }
            }
        };
        plan.history.complete(id, outcome);
        tokio::time::sleep(Duration::from_millis(rng.range(20, 300))).await;
    }
    Ok(())
}
