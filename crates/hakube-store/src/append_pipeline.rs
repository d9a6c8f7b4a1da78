//! The transport-independent half of a pipelined AppendEntries stream (openraft's
//! `stream_append`): how long each request may wait for its answer, which requests are still
//! unanswered and by when, and the follower's answers read in order from any stream of frames.
//! The peer transport (`hakube-cluster`'s `append_stream`, over HTTP/2) and the simulation's
//! (over simulated TCP) share it, so the simulation checks the same pipelining.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use openraft::errors::{Fatal, NetworkError, RPCError};
use openraft::raft::{AppendEntriesRequest, StreamAppendResult};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::types::TypeConfig;

/// What a follower sends back for each request, in order.
pub type Answer = Result<StreamAppendResult<TypeConfig>, Fatal<TypeConfig>>;

/// What the leader's replication reads for each request.
pub type Outcome = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

/// How long an AppendEntries may take to be answered. A heartbeat must answer within the soft
/// TTL; a batch of entries (up to 1.5 MiB each) may take longer to send and fsync, and retrying
/// it on a short timeout would never finish, so entries get a budget that grows with their size.
pub fn answer_budget(request: &AppendEntriesRequest<TypeConfig>, soft_ttl: Duration) -> Duration {
    if request.entries.is_empty() {
        return soft_ttl;
    }
    let bytes: usize = request
        .entries
        .iter()
        .map(|entry| match &entry.payload {
            openraft::EntryPayload::Normal(command) => command.approximate_size(),
            _ => 64,
        })
        .sum();
    soft_ttl.max(Duration::from_secs(2)) + Duration::from_millis((bytes / 10_000) as u64)
}

/// `input` once it has a first request, or `None` if it ends first. Connect only after this:
/// openraft sleeps its backoff while it builds a request, so connecting before asking for one
/// would retry an unreachable follower in a tight loop.
pub async fn after_first_request<S>(
    mut input: S,
) -> Option<impl Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
{
    let first = input.next().await?;
    Some(futures::stream::iter([first]).chain(input))
}

/// Why a stream failed on the leader's side.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{address} did not answer an append within {budget_ms} ms")]
    Timeout { address: String, budget_ms: u64 },
    #[error("the append stream to {address} broke: {reason}")]
    Broken { address: String, reason: String },
}

/// The requests sent and not yet answered: their deadlines and budgets, oldest first.
#[derive(Default)]
pub struct Unanswered {
    deadlines: Mutex<VecDeque<(Instant, Duration)>>,
    /// Wakes a reader that had nothing to wait for.
    sent: Notify,
    /// No more requests will be sent: once the last is answered, the answers end.
    finished: std::sync::atomic::AtomicBool,
}

impl Unanswered {
    fn lock(&self) -> MutexGuard<'_, VecDeque<(Instant, Duration)>> {
        // Nothing panics while holding it; a poisoned lock still holds a valid queue.
        self.deadlines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Nothing more will be sent (the requests ended, or the sender could not go on).
    pub fn finish(&self) {
        self.finished
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.sent.notify_one();
    }

    fn is_finished(&self) -> bool {
        self.finished.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `request` is being sent now: its answer is due within its budget.
    pub fn sent(&self, request: &AppendEntriesRequest<TypeConfig>, soft_ttl: Duration) {
        let budget = answer_budget(request, soft_ttl);
        self.lock().push_back((Instant::now() + budget, budget));
        self.sent.notify_one();
    }
}

/// Reads the answers to the requests recorded in `unanswered` from `frames` (one encoded
/// [`Answer`] per frame), in order. The stream ends after the first error, a refused append
/// (openraft then opens a new stream), or a clean end with nothing left unanswered.
pub fn answers<F>(
    frames: F,
    unanswered: Arc<Unanswered>,
    address: String,
) -> impl Stream<Item = Outcome> + Send + 'static
where
    F: Stream<Item = Result<Bytes, String>> + Send + Unpin + 'static,
{
    let reader = Answers {
        frames,
        unanswered,
        address,
        finished: false,
    };
    futures::stream::unfold(reader, |mut reader| async move {
        let outcome = reader.next().await?;
        Some((outcome, reader))
    })
}

struct Answers<F> {
    frames: F,
    unanswered: Arc<Unanswered>,
    address: String,
    finished: bool,
}

impl<F> Answers<F>
where
    F: Stream<Item = Result<Bytes, String>> + Unpin,
{
    async fn next(&mut self) -> Option<Outcome> {
        if self.finished {
            return None;
        }
        let outcome = self.read().await;
        if !matches!(outcome, Some(Ok(Ok(_)))) {
            self.finished = true;
        }
        outcome
    }

    async fn read(&mut self) -> Option<Outcome> {
        loop {
            let oldest = self.unanswered.lock().front().copied();
            // `next()` on a stream is cancel-safe: a frame half-read stays in the stream.
            let frame = match oldest {
                Some((deadline, budget)) => {
                    match tokio::time::timeout_at(deadline, self.frames.next()).await {
                        Ok(frame) => frame,
                        Err(_) => {
                            return Some(Err(self.failed(PipelineError::Timeout {
                                address: self.address.clone(),
                                budget_ms: budget.as_millis() as u64,
                            })));
                        }
                    }
                }
                // Nothing due and nothing more coming: a sender that stopped must not leave
                // the replication waiting on a stream that will never carry anything.
                None if self.unanswered.is_finished() => return None,
                None => tokio::select! {
                    frame = self.frames.next() => frame,
                    () = self.unanswered.sent.notified() => continue,
                },
            };
            return match frame {
                Some(Ok(bytes)) => {
                    self.unanswered.lock().pop_front();
                    Some(self.decode(&bytes))
                }
                None => {
                    let left = self.unanswered.lock().len();
                    (left > 0).then(|| {
                        Err(self.broken(format!(
                            "the follower closed it with {left} appends unanswered"
                        )))
                    })
                }
                Some(Err(reason)) => Some(Err(self.broken(reason))),
            };
        }
    }

    fn decode(&self, bytes: &[u8]) -> Outcome {
        match postcard::from_bytes::<Answer>(bytes) {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(fatal)) => Err(RPCError::Network(NetworkError::new(&fatal))),
            Err(error) => Err(self.broken(format!("undecodable answer: {error}"))),
        }
    }

    fn broken(&self, reason: String) -> RPCError<TypeConfig> {
        self.failed(PipelineError::Broken {
            address: self.address.clone(),
            reason,
        })
    }

    fn failed(&self, error: PipelineError) -> RPCError<TypeConfig> {
        RPCError::Network(NetworkError::new(&error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: crate::types::Vote::new(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: vec![],
        }
    }

    fn frame(answer: &Answer) -> Result<Bytes, String> {
        Ok(Bytes::from(postcard::to_stdvec(answer).expect("encodes")))
    }

    #[tokio::test(start_paused = true)]
    async fn answers_come_in_order_and_end_cleanly() {
        let unanswered = Arc::new(Unanswered::default());
        let matched = Some(openraft::testing::log_id::<TypeConfig>(1, 1, 7));
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        let frames = futures::stream::iter(vec![frame(&Ok(Ok(None))), frame(&Ok(Ok(matched)))]);
        let outcomes: Vec<_> = answers(frames, unanswered, "peer".into()).collect().await;
        assert_eq!(outcomes.len(), 2);
        assert!(matches!(&outcomes[0], Ok(Ok(None))));
        assert!(matches!(&outcomes[1], Ok(Ok(Some(id))) if id.index() == 7));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_does_not_come_in_time_fails_the_stream() {
        let unanswered = Arc::new(Unanswered::default());
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        let frames = futures::stream::pending::<Result<Bytes, String>>();
        let outcomes: Vec<_> = answers(frames, unanswered, "peer".into()).collect().await;
        assert_eq!(outcomes.len(), 1, "one error, then the end");
        let error = outcomes[0].as_ref().expect_err("timed out").to_string();
        assert!(error.contains("within 50 ms"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_closed_with_requests_unanswered_is_broken() {
        let unanswered = Arc::new(Unanswered::default());
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        let frames = futures::stream::iter(vec![frame(&Ok(Ok(None)))]);
        let outcomes: Vec<_> = answers(frames, unanswered, "peer".into()).collect().await;
        assert_eq!(outcomes.len(), 2);
        let error = outcomes[1].as_ref().expect_err("broken").to_string();
        assert!(error.contains("1 appends unanswered"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_sender_ends_the_answers_once_the_last_is_in() {
        let unanswered = Arc::new(Unanswered::default());
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        unanswered.finish();
        // The connection stays open and quiet: only the finish ends the answers.
        let frames =
            futures::stream::iter(vec![frame(&Ok(Ok(None)))]).chain(futures::stream::pending());
        let outcomes: Vec<_> = answers(frames, unanswered, "peer".into()).collect().await;
        assert_eq!(outcomes.len(), 1);
        assert!(matches!(&outcomes[0], Ok(Ok(None))));
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_waits_without_a_deadline() {
        let unanswered = Arc::new(Unanswered::default());
        let (mut sender, frames) = futures::channel::mpsc::channel::<Result<Bytes, String>>(4);
        let mut outcomes = Box::pin(answers(frames, unanswered.clone(), "peer".into()));
        // Nothing sent: no deadline runs, however long the stream stays quiet.
        let quiet = tokio::time::timeout(Duration::from_secs(60), outcomes.next()).await;
        assert!(quiet.is_err(), "no answer is due");
        unanswered.sent(&heartbeat(), Duration::from_millis(50));
        futures::SinkExt::send(&mut sender, frame(&Ok(Ok(None))))
            .await
            .expect("sent");
        assert!(matches!(outcomes.next().await, Some(Ok(Ok(None)))));
    }
}
