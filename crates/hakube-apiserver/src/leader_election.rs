//! Leader election through `coordination.k8s.io/v1` Leases in `kube-system`, as upstream's
//! kube-scheduler and kube-controller-manager do it: every control-plane node runs a
//! candidate; the one whose identity is in the Lease acts, renewing it; the others watch the
//! record and take over once it has not changed for the lease duration by their own clock
//! (never comparing another node's timestamps with ours: clocks may differ). The decision is
//! [`decide`], a pure function; [`run`] reads and writes the Lease around it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use hakube_store::Condition;

use crate::ApiServer;
use crate::objects::At as _;
use crate::storage::Freshness;

/// What a candidate does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Free or expired: take it (a new transition).
    TakeOver,
    /// Someone else holds it: wait.
    Follow,
}

/// The other holder's record as last seen, and when it was first seen that way.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    holder: String,
    renew_time: String,
    seen_at: Instant,
}

fn spec_text<'a>(lease: &'a Value, field: &str) -> &'a str {
    lease
        .at(&format!("/spec/{field}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Decides from the current Lease (None: absent). `observed` is updated with what was seen.
pub fn decide(
    lease: Option<&Value>,
    identity: &str,
    observed: &mut Option<Observed>,
    now: Instant,
    lease_duration: Duration,
) -> Step {
    let Some(lease) = lease else {
        return Step::Create;
    };
    let holder = spec_text(lease, "holderIdentity");
    if holder == identity {
        return Step::Renew;
    }
    if holder.is_empty() {
        return Step::TakeOver;
    }
    let renew_time = spec_text(lease, "renewTime");
    let unchanged = observed
        .as_ref()
        .is_some_and(|seen| seen.holder == holder && seen.renew_time == renew_time);
    if !unchanged {
        *observed = Some(Observed {
            holder: holder.to_string(),
            renew_time: renew_time.to_string(),
            seen_at: now,
        });
        return Step::Follow;
    }
    let duration = lease
        .at("/spec/leaseDurationSeconds")
        .and_then(Value::as_u64)
        .map_or(lease_duration, Duration::from_secs)
        .max(lease_duration);
    match observed {
        Some(seen) if now.duration_since(seen.seen_at) >= duration => Step::TakeOver,
        _ => Step::Follow,
    }
}

/// Lease times are MicroTime: RFC 3339 with microseconds.
pub fn micro_time_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// One component's candidate on this node.
#[derive(Clone)]
pub struct Candidate {
    /// The Lease's name (`kube-scheduler`, `kube-controller-manager`).
    pub name: &'static str,
    /// `<node>_<uuid>`, upstream's form: unique per process, so a restarted node re-acquires.
    pub identity: String,
    pub lease_duration: Duration,
}

impl Candidate {
    pub fn new(name: &'static str, node_name: &str, lease_duration: Duration) -> Self {
        Self {
            name,
            identity: format!("{node_name}_{}", crate::objects::new_uid()),
            lease_duration,
        }
    }

    /// Upstream renews every 2 s of a 15 s lease; the same proportion for shorter leases.
    fn retry_period(&self) -> Duration {
        (self.lease_duration * 2 / 15).max(Duration::from_millis(100))
    }

    /// Upstream gives up leading when a renewal has not succeeded for 10 s of 15 s.
    fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }

    fn key() -> &'static str {
        "/registry/coordination.k8s.io/leases/kube-system/"
    }

    fn lease(&self, current: Option<&Value>, now: &str) -> Value {
        let mut lease = current.cloned().unwrap_or_else(|| {
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "kube-system"}, "spec": {}})
        });
        let held_before = current.is_some_and(|l| spec_text(l, "holderIdentity") == self.identity);
        let transitions = current
            .and_then(|l| l.at("/spec/leaseTransitions"))
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let spec = &mut lease["spec"];
        spec["holderIdentity"] = json!(self.identity);
        spec["leaseDurationSeconds"] = json!(self.lease_duration.as_secs().max(1));
        spec["renewTime"] = json!(now);
        if !held_before {
            spec["acquireTime"] = json!(now);
            if current.is_some() {
                spec["leaseTransitions"] = json!(transitions + 1);
            } else {
                spec["leaseTransitions"] = json!(0);
            }
        }
        lease
    }
}

/// Runs `candidate` until `shutdown`; the receiver says whether this node holds the Lease.
/// On shutdown a held Lease is released, so another node takes over at once.
pub fn spawn(
    server: Arc<ApiServer>,
    candidate: Candidate,
    shutdown: CancellationToken,
) -> watch::Receiver<bool> {
    let (holding, receiver) = watch::channel(false);
    tokio::spawn(async move {
        run(&server, &candidate, &holding, &shutdown).await;
        if *holding.borrow() {
            release(&server, &candidate).await;
        }
        holding.send_replace(false);
    });
    receiver
}

async fn run(
    server: &ApiServer,
    candidate: &Candidate,
    holding: &watch::Sender<bool>,
    shutdown: &CancellationToken,
) {
    let key = format!("{}{}", Candidate::key(), candidate.name);
    let mut observed = None;
    let mut renewed_at: Option<Instant> = None;
    loop {
        match attempt(server, candidate, key.as_bytes(), &mut observed).await {
            Ok(true) => renewed_at = Some(Instant::now()),
            Ok(false) => renewed_at = None,
            Err(error) => tracing::debug!(%error, lease = candidate.name, "lease not renewed"),
        }
        let leading = renewed_at.is_some_and(|at| at.elapsed() < candidate.renew_deadline());
        if *holding.borrow() != leading {
            tracing::info!(lease = candidate.name, leading, "leader election");
            holding.send_replace(leading);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(candidate.retry_period()) => {}
        }
    }
}

/// One round: `Ok(true)` when this node holds the Lease after it.
async fn attempt(
    server: &ApiServer,
    candidate: &Candidate,
    key: &[u8],
    observed: &mut Option<Observed>,
) -> crate::error::ApiResult<bool> {
    let (current, _) = server.storage.get(key, Freshness::Latest).await?;
    let step = decide(
        current.as_ref(),
        &candidate.identity,
        observed,
        Instant::now(),
        candidate.lease_duration,
    );
    let now = micro_time_now();
    match step {
        Step::Follow => Ok(false),
        Step::Create => {
            let lease = candidate.lease(None, &now);
            Ok(crate::internal::create(server, lease, "hakube")
                .await
                .is_ok())
        }
        Step::Renew | Step::TakeOver => {
            let Some(current) = current else {
                return Ok(false);
            };
            let revision = crate::objects::resource_version(&current)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let lease = candidate.lease(Some(&current), &now);
            let written = server
                .storage
                .put(key, &lease, Condition::ModRevision(revision))
                .await?;
            Ok(written.is_ok())
        }
    }
}

/// Gives the Lease up (an empty holder), so a candidate elsewhere takes it on its next round.
async fn release(server: &ApiServer, candidate: &Candidate) {
    let key = format!("{}{}", Candidate::key(), candidate.name);
    let Ok((Some(mut lease), _)) = server.storage.get(key.as_bytes(), Freshness::Latest).await
    else {
        return;
    };
    if spec_text(&lease, "holderIdentity") != candidate.identity {
        return;
    }
    let revision = crate::objects::resource_version(&lease)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    lease["spec"]["holderIdentity"] = json!("");
    let _ = server
        .storage
        .put(key.as_bytes(), &lease, Condition::ModRevision(revision))
        .await;
}

/// Runs one round of a Lease holder's loop (the controllers, the scheduler); `None` when it
/// panicked. The panic is logged (its own message is printed above it) so the caller can start
/// the next round afresh: one faulty decision must not stop the loop for good while this node
/// keeps the Lease.
pub async fn unless_panicked<T>(loop_name: &str, round: impl Future<Output = T>) -> Option<T> {
    use futures::FutureExt;
    let outcome = std::panic::AssertUnwindSafe(round).catch_unwind().await;
    if outcome.is_err() {
        tracing::error!("a {loop_name} round panicked; starting the next one afresh");
    }
    outcome.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renew: &str) -> Value {
        json!({"spec": {"holderIdentity": holder, "renewTime": renew, "leaseDurationSeconds": 15}})
    }

    #[test]
    fn absent_is_created_and_ours_is_renewed() {
        let mut observed = None;
        let now = Instant::now();
        let duration = Duration::from_secs(15);
        assert_eq!(
            decide(None, "me", &mut observed, now, duration),
            Step::Create
        );
        let mine = lease("me", "t1");
        assert_eq!(
            decide(Some(&mine), "me", &mut observed, now, duration),
            Step::Renew
        );
        let free = lease("", "t1");
        assert_eq!(
            decide(Some(&free), "me", &mut observed, now, duration),
            Step::TakeOver
        );
    }

    #[test]
    fn another_holder_is_followed_until_its_record_stops_changing_for_the_duration() {
        let mut observed = None;
        let start = Instant::now();
        let duration = Duration::from_secs(15);
        let theirs = lease("other", "t1");
        assert_eq!(
            decide(Some(&theirs), "me", &mut observed, start, duration),
            Step::Follow
        );
        let later = start + Duration::from_secs(10);
        assert_eq!(
            decide(Some(&theirs), "me", &mut observed, later, duration),
            Step::Follow
        );
        // Renewed: the clock starts again.
        let renewed = lease("other", "t2");
        assert_eq!(
            decide(Some(&renewed), "me", &mut observed, later, duration),
            Step::Follow
        );
        let after = later + Duration::from_secs(14);
        assert_eq!(
            decide(Some(&renewed), "me", &mut observed, after, duration),
            Step::Follow
        );
        let expired = later + Duration::from_secs(15);
        assert_eq!(
            decide(Some(&renewed), "me", &mut observed, expired, duration),
            Step::TakeOver
        );
    }

    #[test]
    fn a_longer_duration_in_the_lease_is_honoured() {
        let mut observed = None;
        let start = Instant::now();
        let theirs = json!({"spec": {"holderIdentity": "other", "renewTime": "t", "leaseDurationSeconds": 60}});
        decide(
            Some(&theirs),
            "me",
            &mut observed,
            start,
            Duration::from_secs(15),
        );
        let later = start + Duration::from_secs(20);
        assert_eq!(
            decide(
                Some(&theirs),
                "me",
                &mut observed,
                later,
                Duration::from_secs(15)
            ),
            Step::Follow
        );
    }

    #[test]
    fn a_new_lease_counts_transitions() {
        let candidate = Candidate::new("kube-scheduler", "node1", Duration::from_secs(15));
        let created = candidate.lease(None, "t0");
        assert_eq!(created["spec"]["leaseTransitions"], 0);
        assert_eq!(created["metadata"]["namespace"], "kube-system");
        let theirs = json!({"metadata": {"name": "kube-scheduler"},
            "spec": {"holderIdentity": "other", "leaseTransitions": 2, "acquireTime": "a"}});
        let taken = candidate.lease(Some(&theirs), "t1");
        assert_eq!(taken["spec"]["leaseTransitions"], 3);
        assert_eq!(taken["spec"]["acquireTime"], "t1");
        let renewed = candidate.lease(Some(&taken), "t2");
        assert_eq!(renewed["spec"]["leaseTransitions"], 3);
        assert_eq!(renewed["spec"]["acquireTime"], "t1");
        assert_eq!(renewed["spec"]["renewTime"], "t2");
    }
}
