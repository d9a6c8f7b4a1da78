//! The delay before a Job replaces failed pods, as upstream's pod failure back-off: 10 s after
//! the first failure since the last success, doubling with each further one, at most 6 min.
//! Upstream keeps the failure count in memory; here it is read from the pods, which hold the
//! same facts (hakube removes no finished pod while its Job exists).

use hakube_kinds::k8s_openapi::api::core::v1::Pod;
use jiff::{SignedDuration, Timestamp};

use crate::pod_states;

const DEFAULT_BACKOFF: SignedDuration = SignedDuration::from_secs(10);
const MAX_BACKOFF: SignedDuration = SignedDuration::from_secs(360);

/// When new pods may be created again, `None` when they may be now.
pub fn creation_allowed_at(
    succeeded: &[&Pod],
    failed: &[&Pod],
    now: Timestamp,
) -> Option<Timestamp> {
    let last_success = succeeded.iter().map(|pod| finished_at(pod)).max();
    let failures_after_success: Vec<Timestamp> = failed
        .iter()
        .map(|pod| finished_at(pod))
        .filter(|finished| last_success.is_none_or(|success| *finished > success))
        .collect();
    let last_failure = failures_after_success.iter().max()?;
    let count = u32::try_from(failures_after_success.len()).unwrap_or(u32::MAX);
    let delay = delay_after(count);
    let allowed_at = last_failure.checked_add(delay).ok()?;
    (allowed_at > now).then_some(allowed_at)
}

/// 10 s doubled per failure after the first, capped at 6 min.
fn delay_after(failures: u32) -> SignedDuration {
    let mut delay = DEFAULT_BACKOFF;
    for _ in 1..failures {
        delay = delay.saturating_mul(2);
        if delay >= MAX_BACKOFF {
            return MAX_BACKOFF;
        }
    }
    delay
}

/// Upstream's getFinishedTime: the last container to finish, else when the pod stopped being
/// ready, else when it was deleted (less its grace period), else its creation.
pub fn finished_at(pod: &Pod) -> Timestamp {
    containers_finished_at(pod)
        .or_else(|| not_ready_since(pod))
        .or_else(|| deleted_at(pod))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|time| time.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn containers_finished_at(pod: &Pod) -> Option<Timestamp> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    let mut latest: Option<Timestamp> = None;
    for status in statuses {
        let terminated = status.state.as_ref()?.terminated.as_ref()?;
        let finished = terminated.finished_at.as_ref()?.0;
        latest = Some(latest.map_or(finished, |latest| latest.max(finished)));
    }
    latest
}

fn not_ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions
        .iter()
        .find(|condition| condition.type_ == "Ready")?;
    if ready.status != "False" {
        return None;
    }
    ready.last_transition_time.as_ref().map(|time| time.0)
}

fn deleted_at(pod: &Pod) -> Option<Timestamp> {
    let deleted = pod.metadata.deletion_timestamp.as_ref()?.0;
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0);
    deleted.checked_sub(SignedDuration::from_secs(grace)).ok()
}

/// Upstream's pastBackoffLimitOnFailure: with restartPolicy OnFailure failures restart
/// containers in place, so their restarts (in pending and running pods) count instead.
pub fn past_backoff_limit_on_failure(pods: &[&Pod], backoff_limit: i32) -> bool {
    let restarts: i64 = pods
        .iter()
        .filter(|pod| matches!(pod_states::phase(pod), "Pending" | "Running"))
        .map(|pod| restart_total(pod))
        .sum();
    if backoff_limit == 0 {
        return restarts > 0;
    }
    restarts >= i64::from(backoff_limit)
}

fn restart_total(pod: &Pod) -> i64 {
    let Some(status) = pod.status.as_ref() else {
        return 0;
    };
    let containers = status.container_statuses.iter().flatten();
    let init_containers = status.init_container_statuses.iter().flatten();
    containers
        .chain(init_containers)
        .map(|container| i64::from(container.restart_count))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_from_ten_seconds_up_to_six_minutes() {
        let seconds: Vec<i64> = (1..=7).map(|count| delay_after(count).as_secs()).collect();
        assert_eq!(seconds, [10, 20, 40, 80, 160, 320, 360]);
    }
}
