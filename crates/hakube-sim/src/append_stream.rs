//! The simulation's pipelined append stream. After a [`Request::StreamAppend`] frame the
//! connection carries AppendEntries frames to the follower and its answers back, in order, as
//! the real peer transport's HTTP/2 stream does (`hakube-cluster`'s `append_stream`). Both read
//! the answers through `hakube_store::append_pipeline`, so the simulation checks the same
//! pipelining under its partitions, crashes and torn writes.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use openraft::errors::{NetworkError, RPCError, Unreachable};
use openraft::raft::AppendEntriesRequest;
use tokio::io::AsyncWriteExt;
use turmoil::net::TcpStream;

use hakube_store::append_pipeline::{self, Answer, Outcome, Unanswered};
use hakube_store::{Store, TypeConfig};

use crate::network::{CallError, Reachability, Request, connect, read_frame, write_frame};

/// The follower's side of one stream: requests in order into `Raft::stream_append`, each
/// answer back as it comes. Ends when either side stops.
pub(crate) async fn serve(store: &Store, stream: TcpStream) {
    let (reader, mut writer) = stream.into_split();
    let requests = futures::stream::unfold(reader, |mut reader| async move {
        let bytes = read_frame(&mut reader).await.ok()?;
        let request: AppendEntriesRequest<TypeConfig> = postcard::from_bytes(&bytes).ok()?;
        Some((request, reader))
    });
    let mut answers = std::pin::pin!(store.raft().stream_append(requests));
    while let Some(answer) = answers.next().await {
        let answer: Answer = answer;
        let Ok(bytes) = postcard::to_stdvec(&answer) else {
            return;
        };
        if write_frame(&mut writer, &bytes).await.is_err() {
            return;
        }
    }
}

/// Stops the sending task when the answers are dropped (openraft ended the stream).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The leader's side: sends `input` to `address` from a task of its own and returns the
/// answers.
pub(crate) async fn open<S>(
    reach: Reachability,
    address: String,
    input: S,
    soft_ttl: Duration,
) -> Result<BoxStream<'static, Outcome>, RPCError<TypeConfig>>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
{
    let Some(input) = append_pipeline::after_first_request(input).await else {
        return Ok(futures::stream::empty().boxed());
    };
    let stream = match connect(&address, &Request::StreamAppend).await {
        Ok(stream) => stream,
        Err(error) => {
            reach.record(&address, false);
            return Err(match error {
                CallError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&error)),
                CallError::Lost(_) => RPCError::Network(NetworkError::new(&error)),
            });
        }
    };
    let (reader, mut writer) = stream.into_split();
    let unanswered = Arc::new(Unanswered::default());
    let sent = unanswered.clone();
    let sender = tokio::spawn(async move {
        let mut input = input;
        while let Some(request) = input.next().await {
            let Ok(bytes) = postcard::to_stdvec(&request) else {
                break;
            };
            sent.sent(&request, soft_ttl);
            if write_frame(&mut writer, &bytes).await.is_err() {
                break;
            }
        }
        // No more requests, whether the input ended or the connection failed: the answers end
        // after the last one due, and the follower sees the end of the stream.
        sent.finish();
        let _ = writer.shutdown().await;
    });
    let frames = futures::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        match read_frame(&mut reader).await {
            Ok(bytes) => Some((Ok(Bytes::from(bytes)), Some(reader))),
            // A closed connection ends the frames; answers still due make it an error there.
            Err(error) if error.kind() == ErrorKind::UnexpectedEof => None,
            Err(error) => Some((Err(error.to_string()), None)),
        }
    });
    let sending = AbortOnDrop(sender);
    let answers = append_pipeline::answers(Box::pin(frames), unanswered, address.clone());
    Ok(answers
        .map(move |outcome| {
            let _sending = &sending;
            reach.record(&address, outcome.is_ok());
            outcome
        })
        .boxed())
}
