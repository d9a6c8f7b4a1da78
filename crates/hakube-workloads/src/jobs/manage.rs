//! Upstream's manageJob: how many pods a running Job wants (parallelism, capped by the
//! completions left; a work queue keeps what runs once one pod succeeded), which excess or
//! duplicate pods go, and which new pods (and indexes) are created, after the failure
//! back-off. A suspended Job deletes all its active pods.

use std::collections::BTreeSet;

use hakube_kinds::k8s_openapi::api::batch::v1::JobSpec;
use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::Timestamp;

use super::counts::{Counts, indexed_completions};
use super::{backoff, indexes, ranking};
use crate::replica_sets::MAX_POD_CHANGES_PER_ROUND;

/// What manageJob does this round: either deletions or creations, never both.
#[derive(Default)]
pub struct Managed<'a> {
    /// Completion indexes of the pods to create (`None` entries for a NonIndexed Job).
    pub create: Vec<Option<u32>>,
    pub delete: Vec<&'a Pod>,
    /// When the back-off lets pods be created again.
    pub recheck_at: Option<Timestamp>,
}

pub fn manage<'a>(
    spec: &JobSpec,
    counts: &Counts<'a>,
    terminating: &[&Pod],
    now: Timestamp,
) -> Managed<'a> {
    let indexed = indexed_completions(spec);
    let active = counts.active.len();
    if spec.suspend == Some(true) {
        let delete = ranking::pods_to_delete(&counts.active, active, indexed);
        return Managed {
            delete,
            ..Managed::default()
        };
    }
    let wanted = wanted_active(spec, counts);
    let mut delete =
        ranking::pods_to_delete(&counts.active, active.saturating_sub(wanted), indexed);
    if !delete.is_empty() {
        delete.truncate(MAX_POD_CHANGES_PER_ROUND);
        return Managed {
            delete,
            ..Managed::default()
        };
    }
    // podReplacementPolicy Failed (implied by a podFailurePolicy) waits for terminating pods
    // to finish before replacing them.
    let only_failed = spec.pod_replacement_policy.as_deref() == Some("Failed")
        || spec.pod_failure_policy.is_some();
    let waiting = if only_failed { terminating.len() } else { 0 };
    let missing = wanted.saturating_sub(waiting + active);
    if missing == 0 {
        return Managed::default();
    }
    if let Some(allowed_at) =
        backoff::creation_allowed_at(&counts.succeeded_pods, &counts.failed_pods, now)
    {
        return Managed {
            recheck_at: Some(allowed_at),
            ..Managed::default()
        };
    }
    let missing = missing.min(MAX_POD_CHANGES_PER_ROUND);
    let create = match indexed {
        None => vec![None; missing],
        Some(completions) => {
            let mut taken: BTreeSet<u32> = counts.succeeded_indexes.clone().unwrap_or_default();
            let covering = counts
                .active
                .iter()
                .chain(if only_failed { terminating } else { &[] });
            taken.extend(covering.filter_map(|pod| indexes::completion_index(pod)));
            let pending = indexes::first_pending(&taken, missing, completions);
            pending.into_iter().map(Some).collect()
        }
    };
    Managed {
        create,
        ..Managed::default()
    }
}

/// Upstream's wantActive.
fn wanted_active(spec: &JobSpec, counts: &Counts<'_>) -> usize {
    let parallelism = usize::try_from(spec.parallelism.unwrap_or(1)).unwrap_or(0);
    match spec.completions {
        // A work queue: once one pod succeeded, leave what runs running and start nothing.
        None if counts.succeeded > 0 => counts.active.len(),
        None => parallelism,
        Some(completions) => {
            let left = completions.saturating_sub(counts.succeeded).max(0);
            usize::try_from(left).unwrap_or(0).min(parallelism)
        }
    }
}
