//! The event printer, shared by core/v1 and events.k8s.io/v1 events.
//!
//! Upstream converts both API versions to one internal type before printing;
//! here each field is read under its core/v1 name with the events.k8s.io/v1
//! name as fallback (`involvedObject`/`regarding`, `message`/`note`, ...).

use serde_json::Value;

use super::columns::{NAME_DESCRIPTION, column, wide_column};
use super::duration::age;
use super::fields::{field, integer, optional_text, text};
use super::{Column, Printer};

static EVENT_COLUMNS: [Column; 10] = [
    column(
        "Last Seen",
        "string",
        "The time at which the most recent occurrence of this event was recorded.",
    ),
    column(
        "Type",
        "string",
        "Type of this event (Normal, Warning), new types could be added in the future",
    ),
    column(
        "Reason",
        "string",
        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    column("Object", "string", "The object that this event is about."),
    wide_column(
        "Subobject",
        "string",
        "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
    ),
    wide_column(
        "Source",
        "string",
        "The component reporting this event. Should be a short machine understandable string.",
    ),
    column(
        "Message",
        "string",
        "A human-readable description of the status of this operation.",
    ),
    wide_column(
        "First Seen",
        "string",
        "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    wide_column(
        "Count",
        "string",
        "The number of times this event has occurred.",
    ),
    Column {
        name: "Name",
        column_type: "string",
        format: "name",
        description: NAME_DESCRIPTION,
        priority: 1,
    },
];

pub(super) const EVENT_PRINTER: Printer = Printer {
    columns: &EVENT_COLUMNS,
    cells: event_cells,
};

fn event_cells(event: &Value, now_unix_seconds: i64) -> Vec<Value> {
    let timing = EventTiming::of(event, now_unix_seconds);
    let involved = first_field(event, &["involvedObject", "regarding"]);
    let involved_text = |key: &str| involved.map_or("", |object| text(object, &[key]));
    vec![
        Value::from(timing.last_seen),
        Value::from(text(event, &["type"])),
        Value::from(text(event, &["reason"])),
        Value::from(target(involved_text("kind"), involved_text("name"))),
        Value::from(involved_text("fieldPath")),
        Value::from(source(event)),
        Value::from(first_text(event, &["message", "note"]).trim()),
        Value::from(timing.first_seen),
        Value::from(timing.count),
        Value::from(text(event, &["metadata", "name"])),
    ]
}

/// The Last Seen, First Seen and Count cells, which depend on each other.
#[derive(Debug)]
struct EventTiming {
    first_seen: String,
    last_seen: String,
    count: i64,
}

impl EventTiming {
    fn of(event: &Value, now_unix_seconds: i64) -> Self {
        let since = |timestamp: Option<&str>| age(timestamp, now_unix_seconds);
        // Events from the new API carry only eventTime, not firstTimestamp.
        let first_seen =
            match first_timestamp(event, &["firstTimestamp", "deprecatedFirstTimestamp"]) {
                Some(first) => since(Some(first)),
                None => since(optional_text(event, &["eventTime"])),
            };
        let last_seen = first_timestamp(event, &["lastTimestamp", "deprecatedLastTimestamp"])
            .map_or_else(|| first_seen.clone(), |last| since(Some(last)));
        let Some(series) = field(event, &["series"]) else {
            let count = first_integer(event, &["count", "deprecatedCount"]);
            // Singleton events of the new API have no count: they happened once.
            let count = if count == 0 { 1 } else { count };
            return Self {
                first_seen,
                last_seen,
                count,
            };
        };
        Self {
            last_seen: since(optional_text(series, &["lastObservedTime"])),
            count: integer(series, &["count"]),
            first_seen,
        }
    }
}

/// "kind/name" with the kind lower-cased, or just the kind without a name.
fn target(kind: &str, name: &str) -> String {
    let kind = kind.to_lowercase();
    if name.is_empty() {
        kind
    } else {
        format!("{kind}/{name}")
    }
}

/// Upstream's `formatEventSource`: "component, host", each falling back to
/// the reporting controller / instance, the host part omitted when empty.
fn source(event: &Value) -> String {
    let source = first_field(event, &["source", "deprecatedSource"]);
    let source_text = |key: &str| source.map_or("", |source| text(source, &[key]));
    let component = non_empty_or(
        source_text("component"),
        first_text(event, &["reportingComponent", "reportingController"]),
    );
    let instance = non_empty_or(source_text("host"), text(event, &["reportingInstance"]));
    if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    }
}

fn non_empty_or<'a>(preferred: &'a str, fallback: &'a str) -> &'a str {
    if preferred.is_empty() {
        fallback
    } else {
        preferred
    }
}

/// The first of `keys` present (and non-null) on the event.
fn first_field<'a>(event: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|key| field(event, &[key]))
}

/// The first non-empty string among `keys`, or "".
fn first_text<'a>(event: &'a Value, keys: &[&str]) -> &'a str {
    keys.iter()
        .map(|key| text(event, &[key]))
        .find(|value| !value.is_empty())
        .unwrap_or("")
}

/// The first non-empty timestamp among `keys`.
fn first_timestamp<'a>(event: &'a Value, keys: &[&str]) -> Option<&'a str> {
    Some(first_text(event, keys)).filter(|value| !value.is_empty())
}

/// The first non-zero integer among `keys`, or 0.
fn first_integer(event: &Value, keys: &[&str]) -> i64 {
    keys.iter()
        .map(|key| integer(event, &[key]))
        .find(|value| *value != 0)
        .unwrap_or(0)
}
