//! The Watch service: one bidirectional stream carries many watches. Each watch is a task that
//! reads a [`hakube_store::watch::Watch`] on the local replica (history after its start
//! revision, then live events) and sends batches into the stream's one outgoing channel, after
//! the "created" response, so a watch's events never precede its creation. Canceling aborts the
//! task; a watch that falls too far behind is canceled with the reason.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::proto::{
    PbEvent, PbWatchRequest, PbWatchRequestUnion, PbWatchResponse, PbWatchService,
};
use futures::{FutureExt, Stream, StreamExt};
use hakube_store::watch::Watch;
use hakube_store::{Event, EventKind, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::convert;
use crate::error::COMPACTED;
use crate::{Api, MAX_REQUEST_BYTES};

/// Events sent in one response at most (more wait for the next one).
const MAX_EVENTS_PER_RESPONSE: usize = 1000;
/// Responses queued per stream before the watch tasks wait for the client.
const OUTGOING_QUEUE: usize = 256;

type WatchStream = Pin<Box<dyn Stream<Item = Result<PbWatchResponse, Status>> + Send>>;

/// A watch request's options.
#[derive(Clone, Debug)]
struct WatchSpec {
    key: Vec<u8>,
    range_end: Vec<u8>,
    start_revision: i64,
    progress_notify: bool,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    fragment: bool,
}

#[tonic::async_trait]
impl PbWatchService for Api {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<Streaming<PbWatchRequest>>,
    ) -> Result<Response<WatchStream>, Status> {
        let mut incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(OUTGOING_QUEUE);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let api = Arc::new(Api { ctx });
            let mut watches: HashMap<i64, JoinHandle<()>> = HashMap::new();
            let mut next_id: i64 = 0;
            loop {
                let message = tokio::select! {
                    message = incoming.next() => message,
                    _ = tx.closed() => break,
                };
                let request = match message {
                    Some(Ok(request)) => request,
                    // The client closed its side or the stream broke.
                    Some(Err(_)) | None => break,
                };
                watches.retain(|_, task| !task.is_finished());
                match request.request_union {
                    Some(PbWatchRequestUnion::CreateRequest(create)) => {
                        let spec = WatchSpec {
                            no_put: create.filters.contains(&0),
                            no_delete: create.filters.contains(&1),
                            key: create.key,
                            range_end: create.range_end,
                            start_revision: create.start_revision,
                            progress_notify: create.progress_notify,
                            prev_kv: create.prev_kv,
                            fragment: create.fragment,
                        };
                        let id = if create.watch_id != 0 {
                            if watches.contains_key(&create.watch_id) {
                                let response = PbWatchResponse {
                                    header: Some(api.current_header()),
                                    watch_id: create.watch_id,
                                    created: true,
                                    canceled: true,
                                    cancel_reason: "etcdserver: duplicate watch ID".into(),
                                    ..Default::default()
                                };
                                if tx.send(Ok(response)).await.is_err() {
                                    break;
                                }
                                continue;
                            }
                            create.watch_id
                        } else {
                            while watches.contains_key(&next_id) {
                                next_id += 1;
                            }
                            next_id
                        };
                        if let Some(task) = start_watch(&api, id, spec, &tx).await {
                            watches.insert(id, task);
                        }
                    }
                    Some(PbWatchRequestUnion::CancelRequest(cancel)) => {
                        if let Some(task) = watches.remove(&cancel.watch_id) {
                            task.abort();
                            let response = PbWatchResponse {
                                header: Some(api.current_header()),
                                watch_id: cancel.watch_id,
                                canceled: true,
                                ..Default::default()
                            };
                            if tx.send(Ok(response)).await.is_err() {
                                break;
                            }
                        }
                    }
                    Some(PbWatchRequestUnion::ProgressRequest(_)) => {
                        // The revision every watch of this member has been offered up to.
                        let response = PbWatchResponse {
                            header: Some(api.current_header()),
                            watch_id: -1,
                            ..Default::default()
                        };
                        if tx.send(Ok(response)).await.is_err() {
                            break;
                        }
                    }
                    None => {}
                }
            }
            for task in watches.into_values() {
                task.abort();
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

type Outgoing = mpsc::Sender<Result<PbWatchResponse, Status>>;

/// Opens the store watch, sends "created" (or why not), and starts the task.
async fn start_watch(
    api: &Arc<Api>,
    id: i64,
    spec: WatchSpec,
    tx: &Outgoing,
) -> Option<JoinHandle<()>> {
    let (start, end) = match crate::store_api::interval(&spec.key, &spec.range_end) {
        Some((start, end)) => (start, end),
        None => {
            // A single key: [key, key\0).
            let mut end = spec.key.clone();
            end.push(0);
            (spec.key.clone(), Some(end))
        }
    };
    let opened = open(api, &start, end.as_deref(), spec.start_revision);
    let created = PbWatchResponse {
        header: Some(api.current_header()),
        watch_id: id,
        created: true,
        ..Default::default()
    };
    match opened {
        Ok((watch, history)) => {
            tx.send(Ok(created)).await.ok()?;
            let api = api.clone();
            let tx = tx.clone();
            Some(tokio::spawn(async move {
                run_watch(api, id, spec, watch, history, tx).await;
            }))
        }
        Err(Opened::Compacted(compact_revision)) => {
            tx.send(Ok(created)).await.ok()?;
            let canceled = PbWatchResponse {
                header: Some(api.current_header()),
                watch_id: id,
                canceled: true,
                compact_revision,
                cancel_reason: COMPACTED.into(),
                ..Default::default()
            };
            tx.send(Ok(canceled)).await.ok()?;
            None
        }
        Err(Opened::Failed(reason)) => {
            let canceled = PbWatchResponse {
                header: Some(api.current_header()),
                watch_id: id,
                created: true,
                canceled: true,
                cancel_reason: reason,
                ..Default::default()
            };
            tx.send(Ok(canceled)).await.ok()?;
            None
        }
    }
}

enum Opened {
    Compacted(i64),
    Failed(String),
}

/// A store watch delivering every change with revision >= `start_revision` (0: from now on),
/// plus history the store's watch cannot express (a start at revision 1).
fn open(
    api: &Api,
    start: &[u8],
    end: Option<&[u8]>,
    start_revision: i64,
) -> Result<(Watch, Vec<Event>), Opened> {
    let store = api.store();
    let compacted = |store: &hakube_store::Store| {
        Opened::Compacted(store.machine().read().kv.compact_revision() as i64)
    };
    if start_revision > 0 && (start_revision as u64) <= store.machine().read().kv.compact_revision()
    {
        return Err(compacted(store));
    }
    // `Store::watch` takes "after revision", where 0 means "from now on": a start at revision
    // 1 watches from now and replays what came before from history, up to where it started.
    let after = if start_revision > 1 {
        start_revision as u64 - 1
    } else {
        0
    };
    let watch = store
        .watch(start, end, after)
        .map_err(|error| match error {
            StoreError::Read(hakube_store::mvcc::ReadError::Compacted { .. }) => compacted(store),
            other => Opened::Failed(format!("etcdserver: {other}")),
        })?;
    let mut history = Vec::new();
    if start_revision == 1 {
        let applied = store.machine().read();
        history = applied
            .kv
            .events_since(start, end, 0)
            .map_err(|_| compacted(store))?
            .into_iter()
            .filter(|event| event.kv.mod_revision <= watch.last_revision())
            .collect();
    }
    Ok((watch, history))
}

fn wanted(spec: &WatchSpec, event: &Event) -> bool {
    match event.kind {
        EventKind::Put => !spec.no_put,
        EventKind::Delete => !spec.no_delete,
    }
}

async fn run_watch(
    api: Arc<Api>,
    id: i64,
    spec: WatchSpec,
    mut watch: Watch,
    history: Vec<Event>,
    tx: Outgoing,
) {
    let mut pending: Vec<PbEvent> = history
        .iter()
        .filter(|event| wanted(&spec, event))
        .map(|event| convert::event(event, spec.prev_kv))
        .collect();
    let mut revision = watch.last_revision();
    let progress = api.ctx.progress_interval.max(Duration::from_millis(100));
    loop {
        if !pending.is_empty() {
            let events = std::mem::take(&mut pending);
            let last = events
                .last()
                .and_then(|e| e.kv.as_ref())
                .map_or(revision as i64, |kv| kv.mod_revision);
            if send_events(&api, id, &spec, events, last.max(0) as u64, &tx)
                .await
                .is_err()
            {
                return;
            }
            continue;
        }
        let next = if spec.progress_notify {
            match tokio::time::timeout(progress, watch.next()).await {
                Ok(next) => next,
                Err(_) => {
                    // Idle: tell the client how far it is known to be up to date.
                    let response = PbWatchResponse {
                        header: Some(api.header(revision.max(watch.last_revision()))),
                        watch_id: id,
                        ..Default::default()
                    };
                    if tx.send(Ok(response)).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        } else {
            watch.next().await
        };
        match next {
            Ok(event) => {
                revision = event.kv.mod_revision;
                if wanted(&spec, &event) {
                    pending.push(convert::event(&event, spec.prev_kv));
                }
                // Take whatever else is ready now, into the same response.
                while pending.len() < MAX_EVENTS_PER_RESPONSE {
                    match watch.next().now_or_never() {
                        Some(Ok(event)) => {
                            revision = event.kv.mod_revision;
                            if wanted(&spec, &event) {
                                pending.push(convert::event(&event, spec.prev_kv));
                            }
                        }
                        Some(Err(error)) => {
                            let _ = send_events(
                                &api,
                                id,
                                &spec,
                                std::mem::take(&mut pending),
                                revision,
                                &tx,
                            )
                            .await;
                            cancel(&api, id, error.to_string(), &tx).await;
                            return;
                        }
                        None => break,
                    }
                }
            }
            Err(error) => {
                cancel(&api, id, error.to_string(), &tx).await;
                return;
            }
        }
    }
}

async fn cancel(api: &Api, id: i64, reason: String, tx: &Outgoing) {
    let response = PbWatchResponse {
        header: Some(api.current_header()),
        watch_id: id,
        canceled: true,
        cancel_reason: format!("etcdserver: {reason}"),
        ..Default::default()
    };
    let _ = tx.send(Ok(response)).await;
}

/// Sends events in one response, or in fragments when the client allows them and the response
/// would be larger than a request may be.
async fn send_events(
    api: &Api,
    id: i64,
    spec: &WatchSpec,
    events: Vec<PbEvent>,
    revision: u64,
    tx: &Outgoing,
) -> Result<(), ()> {
    if events.is_empty() {
        return Ok(());
    }
    let header = api.header(revision);
    let size = |e: &PbEvent| {
        e.kv.as_ref().map_or(0, |kv| kv.key.len() + kv.value.len())
            + e.prev_kv
                .as_ref()
                .map_or(0, |kv| kv.key.len() + kv.value.len())
            + 64
    };
    let total: usize = events.iter().map(size).sum();
    if !spec.fragment || total <= MAX_REQUEST_BYTES {
        let response = PbWatchResponse {
            header: Some(header),
            watch_id: id,
            events,
            ..Default::default()
        };
        return tx.send(Ok(response)).await.map_err(|_| ());
    }
    let mut chunks: Vec<Vec<PbEvent>> = vec![Vec::new()];
    let mut chunk_size = 0;
    for event in events {
        let s = size(&event);
        if chunk_size + s > MAX_REQUEST_BYTES && chunks.last().is_some_and(|c| !c.is_empty()) {
            chunks.push(Vec::new());
            chunk_size = 0;
        }
        chunk_size += s;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(event);
        }
    }
    let count = chunks.len();
    for (index, chunk) in chunks.into_iter().enumerate() {
        let response = PbWatchResponse {
            header: Some(header),
            watch_id: id,
            events: chunk,
            fragment: index + 1 < count,
            ..Default::default()
        };
        tx.send(Ok(response)).await.map_err(|_| ())?;
    }
    Ok(())
}
