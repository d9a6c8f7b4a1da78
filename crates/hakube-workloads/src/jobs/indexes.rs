//! Completion indexes of Indexed Jobs, as upstream's indexed_job_utils: the index a pod
//! carries (annotation batch.kubernetes.io/job-completion-index), the compressed form of
//! status.completedIndexes ("1,3-5,7"), and which indexes still need a pod.

use std::collections::BTreeSet;

use hakube_kinds::k8s_openapi::api::core::v1::Pod;

pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The pod's completion index, `None` when missing or not a non-negative number.
pub fn completion_index(pod: &Pod) -> Option<u32> {
    let annotations = pod.metadata.annotations.as_ref()?;
    annotations.get(COMPLETION_INDEX)?.parse().ok()
}

/// Parses status.completedIndexes, keeping only indexes below `completions` and skipping
/// corrupt intervals, as upstream's parseIndexesFromString.
pub fn parse(text: &str, completions: u32) -> BTreeSet<u32> {
    let mut indexes = BTreeSet::new();
    for interval in text.split(',').filter(|interval| !interval.is_empty()) {
        let (first, last) = match interval.split_once('-') {
            Some((first, last)) => (first.parse::<u32>(), last.parse::<u32>()),
            None => (interval.parse(), interval.parse()),
        };
        let (Ok(first), Ok(last)) = (first, last) else {
            continue;
        };
        indexes.extend(first..=last.min(completions.saturating_sub(1)));
    }
    indexes.retain(|index| *index < completions);
    indexes
}

/// The compressed form: runs of three or more as "a-b", pairs as "a,b".
pub fn format(indexes: &BTreeSet<u32>) -> String {
    let mut intervals: Vec<(u32, u32)> = Vec::new();
    for index in indexes {
        match intervals.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(*index) => *last = *index,
            _ => intervals.push((*index, *index)),
        }
    }
    let parts: Vec<String> = intervals
        .into_iter()
        .map(|(first, last)| match last - first {
            0 => first.to_string(),
            1 => format!("{first},{last}"),
            _ => format!("{first}-{last}"),
        })
        .collect();
    parts.join(",")
}

/// The `count` lowest indexes below `completions` that no pod covers and that have not
/// succeeded.
pub fn first_pending(taken: &BTreeSet<u32>, count: usize, completions: u32) -> Vec<u32> {
    (0..completions)
        .filter(|index| !taken.contains(index))
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_round_trip_in_upstream_form() {
        let indexes: BTreeSet<u32> = [0, 1, 3, 4, 5, 7].into_iter().collect();
        assert_eq!(format(&indexes), "0,1,3-5,7");
        assert_eq!(parse("0,1,3-5,7", 10), indexes);
        // Indexes beyond completions are dropped; corrupt intervals are skipped.
        assert_eq!(parse("1,x,4-9", 6), [1, 4, 5].into_iter().collect());
        assert_eq!(format(&BTreeSet::new()), "");
    }

    #[test]
    fn pending_indexes_skip_the_taken_ones() {
        let taken: BTreeSet<u32> = [0, 2].into_iter().collect();
        assert_eq!(first_pending(&taken, 2, 5), [1, 3]);
        assert_eq!(first_pending(&taken, 9, 4), [1, 3]);
    }
}
