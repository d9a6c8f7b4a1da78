//! The chaos test's watchers: one per node from revision 1, reconnecting from the last revision
//! seen, checking that revisions only grow.

#![allow(dead_code)]

use super::*;

/// One event of the prefix as a watch delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) revision: i64,
    pub(crate) key: String,
    pub(crate) value: Option<u64>,
    pub(crate) delete: bool,
}

#[derive(Default)]
pub(crate) struct WatchLog {
    pub(crate) events: Vec<Event>,
    pub(crate) problems: Vec<String>,
    pub(crate) restarts: u64,
    /// Set when the server answered that a start revision was compacted (tolerated only by
    /// the final reference watch, which then starts after it).
    pub(crate) compacted: Option<i64>,
}

/// A watch on the prefix from revision `from`, following node `node`, restarted from its last
/// revision + 1 whenever its stream ends, errors, or stays silent for 10 s, until it has seen
/// revision `until` (0 = not known yet) and `stop` is set.
pub(crate) async fn watch_loop(
    node: usize,
    endpoint: Endpoint,
    from: i64,
    tolerate_compaction: bool,
    until: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WatchLog>>,
) {
    let mut next = from;
    let finished = |next: i64| {
        let until = until.load(Ordering::SeqCst);
        stop.load(Ordering::SeqCst) && until > 0 && next > until
    };
    let mut first = true;
    'outer: while !finished(next) {
        if !first {
            log.lock().unwrap().restarts += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        first = false;
        let Some(mut client) = try_connect(&endpoint).await else {
            continue;
        };
        let options = WatchOptions::new().with_prefix().with_start_revision(next);
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(3), client.watch(PREFIX, Some(options))).await
        else {
            continue;
        };
        let mut silent = 0;
        loop {
            if finished(next) {
                break 'outer;
            }
            match tokio::time::timeout(Duration::from_secs(1), stream.message()).await {
                Err(_) => {
                    silent += 1;
                    if silent >= 10 {
                        continue 'outer;
                    }
                }
                Ok(Ok(Some(response))) => {
                    silent = 0;
                    let mut log = log.lock().unwrap();
                    if response.canceled() {
                        if response.compact_revision() > 0 && tolerate_compaction {
                            log.compacted = Some(response.compact_revision());
                            next = next.max(response.compact_revision() + 1);
                            continue 'outer;
                        }
                        if response.compact_revision() > 0 {
                            log.compacted = Some(response.compact_revision());
                            log.problems.push(format!(
                                "node{node}: watch from {next} compacted at {}",
                                response.compact_revision()
                            ));
                            return;
                        }
                        continue 'outer;
                    }
                    for event in response.events() {
                        let Some(kv) = event.kv() else {
                            log.problems
                                .push(format!("node{node}: event without kv near {next}"));
                            continue;
                        };
                        let revision = kv.mod_revision();
                        if revision < next {
                            log.problems.push(format!(
                                "node{node}: revision {revision} after {} (repeated or out of order)",
                                next - 1
                            ));
                        }
                        log.events.push(Event {
                            revision,
                            key: kv.key_str().unwrap_or("?").to_string(),
                            value: decode_value(kv.value()),
                            delete: event.event_type() == EventType::Delete,
                        });
                        next = next.max(revision + 1);
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => continue 'outer,
            }
        }
    }
}
