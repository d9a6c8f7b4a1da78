//! Events (core/v1) that the scheduler and the controllers record about objects, aggregated
//! like upstream's recorder: the same reason and message about the same object bumps `count`
//! and `lastTimestamp` of one Event instead of adding another, and each component's events
//! about one object pass upstream's spam filter ([`crate::event_spam`]). `kubectl describe` and `kubectl
//! get events` show them; [`crate::controllers::event_ttl`] removes them after an hour.

use serde_json::{Value, json};

use hakube_store::Condition;

use crate::ApiServer;
use crate::error::ApiResult;
use crate::objects::At as _;
use crate::storage::Freshness;
use crate::tree::Json;

/// Normal or Warning, upstream's two event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// What an event names of the object it is about (`involvedObject`; "" when absent).
#[derive(Debug, Clone, Copy)]
pub struct Involved<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub resource_version: &'a str,
}

impl<'a> Involved<'a> {
    /// Read from the object itself: a cached tree or a `Value` just written.
    pub fn of<J: Json>(object: &'a J) -> Self {
        let field = |path: &str| object.at(path).and_then(J::as_str).unwrap_or_default();
        Involved {
            api_version: field("/apiVersion"),
            kind: field("/kind"),
            name: field("/metadata/name"),
            namespace: field("/metadata/namespace"),
            uid: field("/metadata/uid"),
            resource_version: field("/metadata/resourceVersion"),
        }
    }
}

/// One thing that happened to `involved`.
pub struct Event<'a> {
    pub involved: Involved<'a>,
    pub event_type: EventType,
    pub reason: &'a str,
    pub message: &'a str,
    /// Who reports it: `default-scheduler`, `replicaset-controller`, …
    pub component: &'a str,
}

/// FNV-1a: a stable name for the aggregate (same on every node and across versions).
fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

impl Event<'_> {
    pub fn namespace(&self) -> &str {
        match self.involved.namespace {
            "" => "default",
            namespace => namespace,
        }
    }

    /// The aggregate's name: the same reason and message about the same object share it.
    pub fn name(&self) -> String {
        let object = self.involved.name;
        let hash = fingerprint(&[self.involved.uid, self.reason, self.message, self.component]);
        format!("{object}.{hash:016x}")
    }

    /// A new Event object for this event, first seen `now`.
    pub fn new_object(&self, now: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": self.name(), "namespace": self.namespace()},
            "involvedObject": {
                "apiVersion": self.involved.api_version,
                "kind": self.involved.kind,
                "name": self.involved.name,
                "namespace": self.involved.namespace,
                "uid": self.involved.uid,
                "resourceVersion": self.involved.resource_version,
            },
            "reason": self.reason,
            "message": self.message,
            "type": self.event_type.as_str(),
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": "",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        })
    }
}

/// Whether upstream's spam filter lets `event` through (a poisoned filter lets it through:
/// losing the bound is better than losing events).
fn allowed(server: &ApiServer, event: &Event<'_>) -> bool {
    let uid = event.involved.uid;
    server
        .event_spam
        .lock()
        .map(|mut filter| filter.allow(event.component, uid, std::time::Instant::now()))
        .unwrap_or(true)
}

fn key(event: &Event<'_>) -> String {
    format!(
        "/registry/core/events/{}/{}",
        event.namespace(),
        event.name()
    )
}

/// Records `event` (errors are the caller's to log: an event is never worth failing for).
pub async fn record(server: &ApiServer, event: Event<'_>) -> ApiResult<()> {
    if !allowed(server, &event) {
        return Ok(());
    }
    record_allowed(server, &event).await
}

/// Records many events of one component: those seen for the first time are created together
/// in one store write (a scheduling round binds up to hundreds of pods at once, and one write
/// per Scheduled event would double its cost); repeats, and a batch that cannot be written
/// whole (a quota, a race), go one by one. Errors are logged: an event is never worth failing
/// for.
pub async fn record_all(server: &ApiServer, events: &[Event<'_>]) {
    debug_assert!(events.windows(2).all(|w| w[0].component == w[1].component));
    let mut fresh = Vec::new();
    let mut repeats = Vec::new();
    let mut fresh_keys = std::collections::HashSet::new();
    for event in events.iter().filter(|event| allowed(server, event)) {
        let key = key(event);
        match server.storage.get(key.as_bytes(), Freshness::Any).await {
            // The same event twice in one batch: the second counts as a repeat.
            Ok((None, _)) if fresh_keys.insert(key) => fresh.push(event),
            _ => repeats.push(event),
        }
    }
    let now = crate::objects::now_rfc3339();
    for chunk in fresh.chunks(hakube_store::txn::MAX_TXN_OPS) {
        let objects = chunk.iter().map(|event| event.new_object(&now)).collect();
        let component = chunk.first().map_or("", |event| event.component);
        let created = crate::internal::create_together(server, objects, component).await;
        if !matches!(created, Ok(Some(_))) {
            repeats.extend(chunk);
        }
    }
    for event in repeats {
        if let Err(error) = record_allowed(server, event).await {
            tracing::debug!(%error, reason = event.reason, "cannot record an event");
        }
    }
}

async fn record_allowed(server: &ApiServer, event: &Event<'_>) -> ApiResult<()> {
    let now = crate::objects::now_rfc3339();
    let key = key(event);
    let (current, _) = server.storage.get(key.as_bytes(), Freshness::Any).await?;
    let Some(mut current) = current else {
        crate::internal::create(server, event.new_object(&now), event.component).await?;
        return Ok(());
    };
    let revision = crate::objects::resource_version(&current)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let count = current.get("count").and_then(Value::as_i64).unwrap_or(1);
    current["count"] = json!(count + 1);
    current["lastTimestamp"] = json!(now);
    // A lost race means someone else counted it: good enough for an event.
    server
        .storage
        .put(key.as_bytes(), &current, Condition::ModRevision(revision))
        .await?
        .ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_event_about_the_same_object_has_one_name() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "uid": "u1"}});
        let event = |message| Event {
            involved: Involved::of(&pod),
            event_type: EventType::Warning,
            reason: "FailedScheduling",
            message,
            component: "default-scheduler",
        };
        assert_eq!(event("a").name(), event("a").name());
        assert_ne!(event("a").name(), event("b").name());
        assert!(event("a").name().starts_with("web."));
        let object = event("a").new_object("2026-01-01T00:00:00Z");
        assert_eq!(object["metadata"]["namespace"], "shop");
        assert_eq!(object["involvedObject"]["kind"], "Pod");
        assert_eq!(object["count"], 1);
    }
}
