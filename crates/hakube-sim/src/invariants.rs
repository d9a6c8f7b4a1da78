//! The end-of-run checks, each returning human-readable violations:
//!
//! - per-key histories are linearizable ([`crate::checker`]);
//! - no acknowledged write is lost: every write acknowledged with revision `r` is in the final
//!   (converged) state's MVCC history at `r`, with its value (a delete: absent at `r`), and no
//!   two acknowledged writes got the same revision;
//! - at most one leader per term: hakube-store's `TypeConfig` uses openraft's standard
//!   `leader_id_std`, so two leaders observed in one term is a violation;
//! - convergence is checked by the scenario while it waits (identical `KeyValueState` bytes).

use std::collections::{BTreeMap, BTreeSet};

use hakube_store::mvcc::KeyValueState;

use crate::checker::{Verdict, check_key};
use crate::history::{OpKind, OpRecord, Outcome, decode_value, key_name};
use crate::node::LeaderSeen;

#[derive(Default, Debug)]
pub struct LinearizabilityReport {
    pub violations: Vec<String>,
    pub gave_up: Vec<u64>,
    pub keys: usize,
}

pub fn linearizable(ops: &[OpRecord]) -> LinearizabilityReport {
    let mut by_key: BTreeMap<u64, Vec<OpRecord>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key).or_default().push(op.clone());
    }
    let mut report = LinearizabilityReport {
        keys: by_key.len(),
        ..Default::default()
    };
    for (key, records) in by_key {
        match check_key(&records) {
            Verdict::Linearizable => {}
            Verdict::GaveUp => report.gave_up.push(key),
            Verdict::Violation(text) => report.violations.push(format!("key{key}: {text}")),
        }
    }
    report
}

pub fn acknowledged_writes_kept(ops: &[OpRecord], state: &KeyValueState) -> Vec<String> {
    let mut violations = Vec::new();
    let mut revisions: BTreeMap<u64, usize> = BTreeMap::new();
    for op in ops {
        let Outcome::Written { revision, .. } = op.outcome else {
            continue;
        };
        if let Some(other) = revisions.insert(revision, op.id) {
            violations.push(format!(
                "ops #{other} and #{} were both acknowledged with revision {revision}",
                op.id
            ));
        }
        let found = state.get(&key_name(op.key), Some(revision));
        let expected = match op.kind {
            OpKind::Put { value } | OpKind::Cas { value, .. } | OpKind::Create { value } => {
                Some(value)
            }
            OpKind::Delete => None,
            OpKind::Get => continue,
        };
        match found {
            Err(error) => violations.push(format!(
                "acknowledged write lost: {op}: the final state cannot be read at revision {revision}: {error}"
            )),
            Ok(kv) => {
                let value = kv.as_ref().and_then(|kv| decode_value(&kv.value));
                let at = kv.as_ref().map(|kv| kv.mod_revision);
                let right = match expected {
                    Some(_) => value == expected && at == Some(revision),
                    None => kv.is_none(),
                };
                if !right {
                    violations.push(format!(
                        "acknowledged write lost: {op}: the final state has {value:?} (mod revision {at:?}) at revision {revision}"
                    ));
                }
            }
        }
    }
    violations
}

/// Terms in which more than one node was seen leading.
pub fn multi_leader_terms(leaders: &BTreeSet<LeaderSeen>) -> Vec<(u64, Vec<u64>)> {
    let mut by_term: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for seen in leaders {
        by_term.entry(seen.term).or_default().push(seen.node);
    }
    by_term
        .into_iter()
        .filter(|(_, nodes)| nodes.len() > 1)
        .collect()
}
