//! A Wing–Gong linearizability checker (with Lowe's memoisation of visited
//! (linearized-set, state) pairs) for one register with compare-and-swap, run per key.
//!
//! The register holds the id of the write that produced its value, or nothing. Operations with
//! a definite outcome must all be linearized between their invocation and completion. An
//! operation whose outcome is unknown (timed out, reply lost, still pending) never completes:
//! it may be linearized at any point after its invocation, or not at all. Operations that
//! certainly changed nothing and stale reads are left out.

use std::collections::HashSet;

use crate::history::{OpKind, OpRecord, Outcome};

type State = Option<u64>;

#[derive(Clone, Debug)]
struct Op {
    record: OpRecord,
    definite: bool,
    invoked: u64,
    /// `u64::MAX` for an unknown outcome.
    completed: u64,
}

/// The register's transition for `op` from `state`: the new state, or `None` when the recorded
/// outcome is impossible in that state.
fn step(op: &Op, state: State) -> Option<State> {
    let kind = &op.record.kind;
    match &op.record.outcome {
        Outcome::Read { value, .. } => (*value == state).then_some(state),
        Outcome::Written { previous, .. } => {
            if *previous != state {
                return None;
            }
            match kind {
                OpKind::Put { value } => Some(Some(*value)),
                OpKind::Cas { expected, value } => {
                    (state == Some(*expected)).then_some(Some(*value))
                }
                OpKind::Create { value } => state.is_none().then_some(Some(*value)),
                OpKind::Delete => state.is_some().then_some(None),
                OpKind::Get => None,
            }
        }
        Outcome::ConditionFailed { current } => {
            if *current != state {
                return None;
            }
            let failed = match kind {
                OpKind::Cas { expected, .. } => state != Some(*expected),
                OpKind::Create { .. } => state.is_some(),
                OpKind::Delete => state.is_none(),
                OpKind::Put { .. } | OpKind::Get => false,
            };
            failed.then_some(state)
        }
        // Unknown: it took effect if its condition held (linearizing it where it would have
        // failed is the same as not linearizing it at all).
        Outcome::Unknown(_) | Outcome::Pending => match kind {
            OpKind::Put { value } => Some(Some(*value)),
            OpKind::Cas { expected, value } => (state == Some(*expected)).then_some(Some(*value)),
            OpKind::Create { value } => state.is_none().then_some(Some(*value)),
            OpKind::Delete => state.is_some().then_some(None),
            OpKind::Get => None,
        },
        Outcome::StaleRead { .. } | Outcome::NotApplied(_) => None,
    }
}

/// Result of checking one key.
#[derive(Debug)]
pub enum Verdict {
    Linearizable,
    /// No linearization exists. The message shows the history of the key.
    Violation(String),
    /// The search gave up (too many states): neither proven nor refuted.
    GaveUp,
}

const MAX_VISITED: usize = 2_000_000;

/// Checks the operations of one key (all records must be for the same key).
pub fn check_key(records: &[OpRecord]) -> Verdict {
    let mut ops: Vec<Op> = records
        .iter()
        .filter(|r| {
            !matches!(
                r.outcome,
                Outcome::StaleRead { .. } | Outcome::NotApplied(_)
            )
        })
        .filter(|r| {
            !(r.kind == OpKind::Get && matches!(r.outcome, Outcome::Unknown(_) | Outcome::Pending))
        })
        .map(|r| {
            let definite = matches!(
                r.outcome,
                Outcome::Read { .. } | Outcome::Written { .. } | Outcome::ConditionFailed { .. }
            );
            Op {
                record: r.clone(),
                definite,
                invoked: r.invoked,
                completed: if definite {
                    r.completed.unwrap_or(u64::MAX)
                } else {
                    u64::MAX
                },
            }
        })
        .collect();
    ops.sort_by_key(|op| op.invoked);
    let words = ops.len().div_ceil(64).max(1);
    let mut search = Search {
        ops: &ops,
        visited: HashSet::new(),
        done: vec![0u64; words],
        gave_up: false,
    };
    if search.dfs(None, ops.iter().filter(|o| o.definite).count()) {
        return Verdict::Linearizable;
    }
    if search.gave_up {
        return Verdict::GaveUp;
    }
    let mut text = String::from("no linearization of this key's history:\n");
    for record in records {
        text.push_str(&format!("    {record}\n"));
    }
    Verdict::Violation(text)
}

struct Search<'a> {
    ops: &'a [Op],
    visited: HashSet<(Vec<u64>, State)>,
    done: Vec<u64>,
    gave_up: bool,
}

impl Search<'_> {
    fn is_done(&self, i: usize) -> bool {
        self.done[i / 64] & (1 << (i % 64)) != 0
    }

    fn flip(&mut self, i: usize) {
        self.done[i / 64] ^= 1 << (i % 64);
    }

    fn dfs(&mut self, state: State, definite_left: usize) -> bool {
        if definite_left == 0 {
            return true;
        }
        if self.visited.len() > MAX_VISITED {
            self.gave_up = true;
            return false;
        }
        if !self.visited.insert((self.done.clone(), state)) {
            return false;
        }
        // An operation can go next only if no pending operation completed before it began.
        let horizon = (0..self.ops.len())
            .filter(|&i| !self.is_done(i))
            .map(|i| self.ops[i].completed)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..self.ops.len() {
            if self.is_done(i) {
                continue;
            }
            let op = &self.ops[i];
            if op.invoked > horizon {
                break;
            }
            let Some(next) = step(op, state) else {
                continue;
            };
            let definite = op.definite;
            self.flip(i);
            let found = self.dfs(next, definite_left - usize::from(definite));
            self.flip(i);
            if found {
                return true;
            }
            if self.gave_up {
                return false;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn op(
        id: usize,
        kind: OpKind,
        invoked: u64,
        completed: Option<u64>,
        outcome: Outcome,
    ) -> OpRecord {
        OpRecord {
            id,
            client: 0,
            node: 1,
            key: 0,
            kind,
            invoked,
            completed,
            invoked_at: Duration::ZERO,
            completed_at: None,
            outcome,
        }
    }

    fn read(v: Option<u64>) -> Outcome {
        Outcome::Read {
            value: v,
            mod_revision: None,
        }
    }

    fn written(previous: Option<u64>) -> Outcome {
        Outcome::Written {
            previous,
            revision: 0,
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![
            op(0, OpKind::Put { value: 1 }, 1, Some(2), written(None)),
            op(1, OpKind::Get, 3, Some(4), read(Some(1))),
            op(
                2,
                OpKind::Cas {
                    expected: 1,
                    value: 2,
                },
                5,
                Some(6),
                written(Some(1)),
            ),
            op(
                3,
                OpKind::Cas {
                    expected: 1,
                    value: 3,
                },
                7,
                Some(8),
                Outcome::ConditionFailed { current: Some(2) },
            ),
            op(4, OpKind::Delete, 9, Some(10), written(Some(2))),
            op(5, OpKind::Get, 11, Some(12), read(None)),
        ];
        assert!(matches!(check_key(&h), Verdict::Linearizable));
    }

    #[test]
    fn stale_read_after_write_is_caught() {
        let h = vec![
            op(0, OpKind::Put { value: 1 }, 1, Some(2), written(None)),
            op(1, OpKind::Put { value: 2 }, 3, Some(4), written(Some(1))),
            op(2, OpKind::Get, 5, Some(6), read(Some(1))),
        ];
        assert!(matches!(check_key(&h), Verdict::Violation(_)));
    }

    #[test]
    fn lost_acknowledged_write_is_caught() {
        let h = vec![
            op(0, OpKind::Put { value: 1 }, 1, Some(2), written(None)),
            op(1, OpKind::Get, 3, Some(4), read(None)),
        ];
        assert!(matches!(check_key(&h), Verdict::Violation(_)));
    }

    #[test]
    fn concurrent_ops_may_reorder_and_unknown_may_apply_late() {
        let h = vec![
            // Two concurrent puts: a read after both may see either.
            op(0, OpKind::Put { value: 1 }, 1, Some(4), written(Some(2))),
            op(1, OpKind::Put { value: 2 }, 2, Some(3), written(None)),
            op(2, OpKind::Get, 5, Some(6), read(Some(1))),
            // An unknown write shows up later.
            op(
                3,
                OpKind::Put { value: 3 },
                7,
                None,
                Outcome::Unknown("timeout".into()),
            ),
            op(4, OpKind::Get, 8, Some(9), read(Some(1))),
            op(5, OpKind::Get, 10, Some(11), read(Some(3))),
        ];
        assert!(matches!(check_key(&h), Verdict::Linearizable));
    }

    #[test]
    fn value_of_a_refused_write_is_caught() {
        let h = vec![
            op(
                0,
                OpKind::Put { value: 1 },
                1,
                Some(2),
                Outcome::NotApplied("quorum lost".into()),
            ),
            op(1, OpKind::Get, 3, Some(4), read(Some(1))),
        ];
        assert!(matches!(check_key(&h), Verdict::Violation(_)));
    }
}
