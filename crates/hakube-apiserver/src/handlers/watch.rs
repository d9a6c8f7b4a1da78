//! WATCH: a chunked stream of `{"type":…,"object":…}` lines for the objects a list would
//! return, from a resourceVersion on (or the current state as ADDED events first when none is
//! given), filtered by selectors, as objects or one-row Tables. Bounded: each stream has a
//! bounded queue, a client may hold [`MAX_WATCHES_PER_USER`] streams, a lagging stream or a
//! compacted start ends with a 410 Expired event (the client re-lists), and streams close
//! after `timeoutSeconds` or [`MAX_WATCH_SECONDS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use hakube_store::{EventKind, StoreError};

use crate::error::{ApiError, ApiResult};
use crate::handlers::Call;
use crate::handlers::get::freshness;
use crate::handlers::list::Selection;
use crate::negotiation::{Representation, TABLE_CONTENT_TYPE, representation};
use crate::resources::ResourceType;
use crate::storage::{self, Freshness};
use crate::table;

pub const MAX_WATCHES_PER_USER: usize = 1_000;
/// Upstream closes watches after 30–60 minutes; clients re-establish them.
pub const MAX_WATCH_SECONDS: u64 = 3_600;
const QUEUE_EVENTS: usize = 256;
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// Open watch streams per user.
#[derive(Default)]
pub struct WatchBudget {
    open: Mutex<HashMap<String, usize>>,
}

pub struct WatchSlot {
    budget: Arc<WatchBudget>,
    user: String,
}

impl WatchBudget {
    pub fn acquire(self: &Arc<Self>, user: &str) -> ApiResult<WatchSlot> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(user.to_string()).or_default();
        if *count >= MAX_WATCHES_PER_USER {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "too many open watches for user {user:?} (limit {MAX_WATCHES_PER_USER})"
                ),
                causes: Vec::new(),
            });
        }
        *count += 1;
        Ok(WatchSlot {
            budget: self.clone(),
            user: user.to_string(),
        })
    }
}

impl Drop for WatchSlot {
    fn drop(&mut self) {
        let mut open = self
            .budget
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// How events are written.
#[derive(Clone)]
struct Encoder {
    resource: Arc<ResourceType>,
    table: bool,
    include: String,
}

impl Encoder {
    fn line(&self, event_type: &str, object: &Value) -> bytes::Bytes {
        let mut presented = object.clone();
        if event_type != "ERROR" && event_type != "BOOKMARK" {
            self.resource.present(&mut presented);
        }
        let object = &presented;
        let object = if self.table && event_type != "ERROR" && event_type != "BOOKMARK" {
            json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                "columnDefinitions": [],
                "rows": table::rows(&self.resource, std::slice::from_ref(object), &self.include)})
        } else {
            object.clone()
        };
        let mut bytes =
            serde_json::to_vec(&json!({"type": event_type, "object": object})).unwrap_or_default();
        bytes.push(b'\n');
        bytes::Bytes::from(bytes)
    }

    fn expired(&self, message: String) -> bytes::Bytes {
        self.line("ERROR", &ApiError::Expired(message).status())
    }

    /// The bookmark that ends a streaming list's initial events.
    fn initial_events_end(&self, revision: u64) -> bytes::Bytes {
        self.line(
            "BOOKMARK",
            &json!({"kind": self.resource.kind, "apiVersion": self.resource.api_version(),
            "metadata": {"resourceVersion": revision.to_string(),
                "annotations": {"k8s.io/initial-events-end": "true"}}}),
        )
    }

    fn bookmark(&self, revision: u64) -> bytes::Bytes {
        self.line(
            "BOOKMARK",
            &json!({"kind": self.resource.kind, "apiVersion": self.resource.api_version(),
            "metadata": {"resourceVersion": revision.to_string()}}),
        )
    }
}

pub async fn watch(call: Call) -> ApiResult<Response> {
    let selection = Selection::from_call(&call)?;
    let slot = call.server.watches.acquire(&call.user.name)?;
    let resource = call.target.resource.clone();
    let namespace = call.target.namespace.clone().or_else(|| {
        selection
            .fields
            .required_value("metadata.namespace")
            .map(str::to_string)
    });
    let prefix = storage::prefix(&resource, namespace.as_deref());
    let end = storage::prefix_end(&prefix);
    let timeout = call
        .query
        .number("timeoutSeconds")?
        .unwrap_or(MAX_WATCH_SECONDS)
        .min(MAX_WATCH_SECONDS);
    let table = representation(&call.headers) == Representation::Table;
    let encoder = Encoder {
        resource: resource.clone(),
        table,
        include: call
            .query
            .get("includeObject")
            .unwrap_or("Metadata")
            .to_string(),
    };
    let bookmarks = call.query.flag("allowWatchBookmarks");
    let requested = call.query.get("resourceVersion").unwrap_or("");
    let (sender, receiver) = mpsc::channel::<bytes::Bytes>(QUEUE_EVENTS);

    // "" and "0" (and `sendInitialEvents=true`, the streaming list of kubectl 1.37): the
    // current state as ADDED events, then changes after it.
    let send_initial = call.query.flag("sendInitialEvents");
    let mut initial = Vec::new();
    let after_revision = if requested.is_empty() || requested == "0" || send_initial {
        let read_freshness = if requested.is_empty() || requested == "0" && !send_initial {
            if requested.is_empty() {
                Freshness::Latest
            } else {
                freshness(&call)?
            }
        } else {
            // NotOlderThan the given version: this replica's state if it has caught up.
            freshness(&call)?
        };
        let (items, read) = call
            .server
            .storage
            .range(&prefix, &end, read_freshness)
            .await?;
        for kv in &items {
            let object = storage::decode(kv)?;
            if selection.matches(&object) {
                initial.push(object);
            }
        }
        read.revision
    } else {
        requested.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "invalid resourceVersion {requested:?}: not a number"
            ))
        })?
    };
    // Every event whole, as JSON objects of a built-in type: lines from the stored bytes.
    let raw = !table && selection.is_empty() && resource.custom.is_none();
    let stream = Stream {
        selection,
        raw,
        encoder: encoder.clone(),
        sender,
        timeout: Duration::from_secs(timeout),
        bookmarks,
        initial_events_end: send_initial,
        _slot: slot,
    };
    match call
        .server
        .storage
        .store()
        .watch(&prefix, Some(&end), after_revision)
    {
        Ok(store_watch) => {
            tokio::spawn(stream.forward(initial, store_watch));
        }
        Err(StoreError::Read(error)) => {
            let _ = stream.sender.try_send(encoder.expired(format!(
                "too old resource version: {after_revision} ({error})"
            )));
        }
        Err(error) => return Err(error.into()),
    }
    let body = Body::from_stream(futures::stream::unfold(
        receiver,
        |mut receiver| async move {
            receiver
                .recv()
                .await
                .map(|bytes| (Ok::<_, std::io::Error>(bytes), receiver))
        },
    ));
    let mut response = (StatusCode::OK, body).into_response();
    let content_type = if table {
        TABLE_CONTENT_TYPE
    } else {
        "application/json"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// One client's stream: its filter, encoding, queue and limits.
struct Stream {
    selection: Selection,
    /// Events are written from the stored bytes ([`raw_line`]) when they can be.
    raw: bool,
    encoder: Encoder,
    sender: mpsc::Sender<bytes::Bytes>,
    timeout: Duration,
    bookmarks: bool,
    /// Mark the end of the initial events with a bookmark (`sendInitialEvents=true`).
    initial_events_end: bool,
    _slot: WatchSlot,
}

impl Stream {
    /// Sends the initial objects, then copies store events into the client's queue until the
    /// client leaves, the timeout passes, or the watch falls behind. A full queue (a slow
    /// client) makes it wait, bounded by the deadline.
    async fn forward(self, initial: Vec<Value>, mut store_watch: hakube_store::watch::Watch) {
        let deadline = tokio::time::Instant::now() + self.timeout;
        for object in initial {
            if self
                .sender
                .send(self.encoder.line("ADDED", &object))
                .await
                .is_err()
            {
                return;
            }
        }
        if self.initial_events_end {
            let end = self.encoder.initial_events_end(store_watch.last_revision());
            if self.sender.send(end).await.is_err() {
                return;
            }
        }
        let mut bookmark = tokio::time::interval_at(
            tokio::time::Instant::now() + BOOKMARK_INTERVAL,
            BOOKMARK_INTERVAL,
        );
        loop {
            let event = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = self.sender.closed() => return,
                _ = bookmark.tick(), if self.bookmarks => {
                    if self.sender.send(self.encoder.bookmark(store_watch.last_revision())).await.is_err() {
                        return;
                    }
                    continue;
                }
                event = store_watch.next() => event,
            };
            let event = match event {
                Ok(event) => event,
                Err(error) => {
                    let _ = self
                        .sender
                        .send(self.encoder.expired(error.to_string()))
                        .await;
                    return;
                }
            };
            let line = match self.raw.then(|| raw_line(&event)).flatten() {
                Some(line) => line,
                None => match convert(&event, &self.selection) {
                    Some((event_type, object)) => self.encoder.line(event_type, &object),
                    None => continue,
                },
            };
            if self.sender.send(line).await.is_err() {
                return;
            }
        }
    }
}

/// The event's line for a watch without selectors, from the stored bytes with the
/// resourceVersion spliced in ([`crate::raw_json`]): what [`convert`] and [`Encoder::line`]
/// give for it, without decoding and encoding the object once per watcher (with 1,000
/// watchers that was ~0.1 s of CPU per write). None: let them do it.
fn raw_line(event: &hakube_store::Event) -> Option<bytes::Bytes> {
    let (event_type, stored) = match event.kind {
        EventKind::Put if event.previous.is_some() => ("MODIFIED", &event.kv.value),
        EventKind::Put => ("ADDED", &event.kv.value),
        EventKind::Delete => ("DELETED", &event.previous.as_ref()?.value),
    };
    let object = crate::raw_json::with_resource_version(stored, event.kv.mod_revision)?;
    // The fields in the order serde_json writes them (sorted), as the decoded path did.
    let tail = format!(",\"type\":\"{event_type}\"}}\n");
    let mut line = Vec::with_capacity(object.len() + tail.len() + 10);
    line.extend_from_slice(b"{\"object\":");
    line.extend_from_slice(&object);
    line.extend_from_slice(tail.as_bytes());
    Some(bytes::Bytes::from(line))
}

/// The Kubernetes event for a store event, seen through the selectors: an object that starts
/// matching is ADDED, one that stops matching is DELETED.
fn convert(event: &hakube_store::Event, selection: &Selection) -> Option<(&'static str, Value)> {
    // Objects whose bytes cannot match are not decoded (most of them, for one node's pods).
    let previous = event
        .previous
        .as_ref()
        .filter(|kv| selection.may_match(&kv.value))
        .and_then(|kv| storage::decode(kv).ok());
    let previous_matches = previous.as_ref().is_some_and(|p| selection.matches(p));
    match event.kind {
        EventKind::Delete => {
            let mut object = previous?;
            storage::set_resource_version(&mut object, event.kv.mod_revision);
            previous_matches.then_some(("DELETED", object))
        }
        EventKind::Put => {
            if !previous_matches && !selection.may_match(&event.kv.value) {
                return None;
            }
            let object = storage::decode(&event.kv).ok()?;
            let matches = selection.matches(&object);
            match (previous_matches, matches) {
                (false, true) => Some(("ADDED", object)),
                (true, true) => Some(("MODIFIED", object)),
                (true, false) => Some(("DELETED", object)),
                (false, false) => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use crate::selectors::{FieldSelector, LabelSelector};
    use hakube_store::KeyValue;

    fn stored(revision: u64, value: Value) -> KeyValue {
        KeyValue {
            key: b"/registry/core/pods/default/web".to_vec(),
            value: serde_json::to_vec(&value).unwrap().into(),
            create_revision: 1,
            mod_revision: revision,
            version: 1,
            lease: 0,
        }
    }

    /// What a watcher without selectors was sent before the raw path: decode, convert, encode.
    fn decoded_line(event: &hakube_store::Event) -> Value {
        let resource = Registry::with_builtin().by_kind("", "Pod").unwrap();
        let encoder = Encoder {
            resource,
            table: false,
            include: "Metadata".into(),
        };
        let selection = Selection::new(
            LabelSelector::parse("").unwrap(),
            FieldSelector::parse("").unwrap(),
        );
        let (event_type, object) = convert(event, &selection).unwrap();
        serde_json::from_slice(&encoder.line(event_type, &object)).unwrap()
    }

    #[test]
    fn raw_lines_say_what_decoded_lines_say() {
        let pod = |image: &str| {
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]}})
        };
        let added = hakube_store::Event {
            kind: EventKind::Put,
            kv: stored(7, pod("nginx:1")),
            previous: None,
        };
        let modified = hakube_store::Event {
            kind: EventKind::Put,
            kv: stored(8, pod("nginx:2")),
            previous: Some(stored(7, pod("nginx:1"))),
        };
        let mut gone = stored(9, json!(null));
        gone.value.clear();
        let deleted = hakube_store::Event {
            kind: EventKind::Delete,
            kv: gone,
            previous: Some(stored(8, pod("nginx:2"))),
        };
        for (event, event_type) in [
            (added, "ADDED"),
            (modified, "MODIFIED"),
            (deleted, "DELETED"),
        ] {
            let line = raw_line(&event).unwrap();
            let decoded = decoded_line(&event);
            // The type last, as before: clients that scan lines for it see no change.
            let text = String::from_utf8_lossy(&line);
            assert!(text.starts_with("{\"object\":{"), "{text}");
            assert!(
                text.ends_with(&format!(",\"type\":\"{event_type}\"}}\n")),
                "{text}"
            );
            let raw: Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(raw["type"], event_type);
            assert_eq!(raw, decoded);
        }
    }
}
