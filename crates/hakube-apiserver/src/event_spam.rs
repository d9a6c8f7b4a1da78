//! Upstream's event spam filter (client-go's `EventSourceObjectSpamFilter`): each reporting
//! component may record about 25 events about one object in a burst, then one per five
//! minutes. A ReplicaSet scaled to 1,000 replicas so records 25 "Created pod" events instead
//! of 1,000 store writes, as the upstream controller manager does; `kubectl describe` still
//! shows what happened first and anything new after a quiet period.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Events one component may record about one object at once.
pub const BURST: f64 = 25.0;
/// How often a token comes back.
pub const REFILL_INTERVAL: Duration = Duration::from_secs(300);
/// Objects remembered; the oldest buckets are dropped beyond this (a dropped bucket is full
/// again, which only lets a few more events through).
pub const MAX_TRACKED: usize = 16_384;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets per (component, involved object uid).
#[derive(Default)]
pub struct SpamFilter {
    buckets: HashMap<(String, String), Bucket>,
}

impl SpamFilter {
    /// Whether `component` may record another event about object `uid` at `now`.
    pub fn allow(&mut self, component: &str, uid: &str, now: Instant) -> bool {
        if self.buckets.len() >= MAX_TRACKED {
            self.forget_oldest(now);
        }
        let bucket = self
            .buckets
            .entry((component.to_string(), uid.to_string()))
            .or_insert(Bucket {
                tokens: BURST,
                updated: now,
            });
        let elapsed = now.saturating_duration_since(bucket.updated);
        bucket.tokens =
            (bucket.tokens + elapsed.as_secs_f64() / REFILL_INTERVAL.as_secs_f64()).min(BURST);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Drops buckets that have refilled completely (they behave like absent ones), or, if none
    /// has, the least recently used half.
    fn forget_oldest(&mut self, now: Instant) {
        let full_after = REFILL_INTERVAL.mul_f64(BURST);
        self.buckets
            .retain(|_, b| now.saturating_duration_since(b.updated) < full_after);
        if self.buckets.len() >= MAX_TRACKED {
            let mut ages: Vec<Instant> = self.buckets.values().map(|b| b.updated).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            self.buckets.retain(|_, b| b.updated > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_refill_interval() {
        let mut filter = SpamFilter::default();
        let start = Instant::now();
        let allowed = (0..100)
            .filter(|_| filter.allow("replicaset-controller", "rs-1", start))
            .count();
        assert_eq!(allowed, 25);
        assert!(!filter.allow("replicaset-controller", "rs-1", start + REFILL_INTERVAL / 2));
        assert!(filter.allow("replicaset-controller", "rs-1", start + REFILL_INTERVAL));
        // Other objects and other components have their own buckets.
        assert!(filter.allow("replicaset-controller", "rs-2", start));
        assert!(filter.allow("default-scheduler", "rs-1", start));
    }

    #[test]
    fn the_number_of_tracked_objects_is_bounded() {
        let mut filter = SpamFilter::default();
        let start = Instant::now();
        for i in 0..MAX_TRACKED * 2 {
            let at = start + Duration::from_millis(i as u64);
            assert!(filter.allow("c", &format!("uid-{i}"), at));
        }
        assert!(filter.buckets.len() <= MAX_TRACKED);
    }
}
