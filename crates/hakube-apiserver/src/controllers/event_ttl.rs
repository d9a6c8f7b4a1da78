//! Events expire an hour after they last happened (upstream's `--event-ttl`), so the store
//! does not grow with every FailedScheduling retry.

use serde_json::Value;

use super::{Action, Stored, key_parts};

const EVENT_TTL_SECONDS: i64 = 3600;

pub fn plan(objects: &[Stored], now: jiff::Timestamp) -> Vec<Action> {
    objects
        .iter()
        .filter(|s| matches!(key_parts(&s.key), Some(("", "events", Some(_), _))))
        .filter(|s| {
            let last = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .iter()
                .find_map(|field| s.object.get(*field).and_then(Value::as_str))
                .and_then(|t| t.parse::<jiff::Timestamp>().ok());
            last.is_some_and(|t| now.as_second() - t.as_second() > EVENT_TTL_SECONDS)
        })
        .map(|s| Action::Delete {
            key: s.key.clone(),
            revision: s.revision,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_older_than_an_hour_go() {
        let event = |name: &str, last: &str| Stored {
            key: format!("/registry/core/events/default/{name}").into_bytes(),
            revision: 1,
            object: json!({"lastTimestamp": last}),
        };
        let objects = [
            event("old", "2026-01-01T00:00:00Z"),
            event("new", "2026-01-01T00:30:00Z"),
        ];
        let now: jiff::Timestamp = "2026-01-01T01:00:01Z".parse().expect("valid");
        let actions = plan(&objects, now);
        assert_eq!(actions.len(), 1);
        assert!(matches!(&actions[0], Action::Delete { key, .. } if key.ends_with(b"/old")));
    }
}
