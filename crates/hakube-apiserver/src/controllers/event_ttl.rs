//! Events expire an hour after they last happened (upstream's `--event-ttl`), so the store
//! does not grow with every FailedScheduling retry.
//!
//! The sweep reads only each event's timestamps from its stored bytes: decoding every event
//! of a busy cluster whole (thousands of them) every sweep made a burst of several MB each time.

use std::borrow::Cow;

use hakube_store::KeyValue;

use super::{Action, key_parts};

const EVENT_TTL_SECONDS: i64 = 3600;

/// The fields of an event the sweep reads (the rest is skipped by the parser, not kept).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventTimes<'a> {
    #[serde(borrow, default)]
    last_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    first_timestamp: Option<Cow<'a, str>>,
}

impl EventTimes<'_> {
    /// When the event last happened: the first of its timestamps that is set.
    fn last(&self) -> Option<jiff::Timestamp> {
        [
            &self.last_timestamp,
            &self.event_time,
            &self.first_timestamp,
        ]
        .into_iter()
        .find_map(|time| time.as_deref())
        .and_then(|time| time.parse().ok())
    }
}

pub fn plan(events: &[KeyValue], now: jiff::Timestamp) -> Vec<Action> {
    events
        .iter()
        .filter(|kv| matches!(key_parts(&kv.key), Some(("", "events", Some(_), _))))
        .filter(|kv| {
            let times = serde_json::from_slice::<EventTimes>(&kv.value).ok();
            let last = times.as_ref().and_then(EventTimes::last);
            last.is_some_and(|t| now.as_second() - t.as_second() > EVENT_TTL_SECONDS)
        })
        .map(|kv| Action::Delete {
            key: kv.key.clone(),
            revision: kv.mod_revision,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str, object: serde_json::Value) -> KeyValue {
        KeyValue {
            key: format!("/registry/core/events/default/{name}").into_bytes(),
            value: serde_json::to_vec(&object).expect("json").into(),
            create_revision: 1,
            mod_revision: 1,
            version: 1,
            lease: 0,
        }
    }

    #[test]
    fn events_older_than_an_hour_go() {
        let objects = [
            event(
                "old",
                json!({"lastTimestamp": "2026-01-01T00:00:00Z", "message": "x"}),
            ),
            event("new", json!({"lastTimestamp": "2026-01-01T00:30:00Z"})),
            // A new-style event has only eventTime (lastTimestamp null).
            event(
                "series",
                json!({"lastTimestamp": null, "eventTime": "2026-01-01T00:00:00.000000Z"}),
            ),
            event("undated", json!({"reason": "x"})),
        ];
        let now: jiff::Timestamp = "2026-01-01T01:00:01Z".parse().expect("valid");
        let actions = plan(&objects, now);
        let gone: Vec<&[u8]> = actions
            .iter()
            .filter_map(|action| match action {
                Action::Delete { key, .. } => Some(key.as_slice()),
                _ => None,
            })
            .collect();
        assert_eq!(gone.len(), 2, "{actions:?}");
        assert!(gone[0].ends_with(b"/old") && gone[1].ends_with(b"/series"));
    }
}
