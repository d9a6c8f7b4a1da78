//! Pipelined AppendEntries: one HTTP/2 stream per replication session, carrying the leader's
//! requests one way and the follower's answers the other, in order, as length-prefixed postcard
//! frames (4-byte little-endian length, then the message).
//!
//! Why: openraft's default `stream_append` sends one AppendEntries and waits for its answer
//! before building the next, so with many writers every batch waited for the previous batch's
//! round trip and the follower's fsync. Over a stream the leader sends each batch as soon as it
//! is in its own log; the follower (`Raft::stream_append`) appends them in order and answers
//! each once it is on disk. A request that stays unanswered past its budget fails the stream,
//! and openraft opens a new one from the follower's last acknowledged entry.

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use bytes::{Buf, Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Body, Frame};
use openraft::errors::RPCError;
use openraft::raft::AppendEntriesRequest;
use serde::Serialize;

use hakube_store::TypeConfig;
use hakube_store::append_pipeline::{self, Answer, Outcome, Unanswered};

use crate::peer_client::{BodyError, PeerClient};

pub const STREAM_APPEND_PATH: &str = "/raft/stream-append";

/// A stream that brings no request for this long is closed by the follower (the leader opens
/// another when it has something to send). Bounds what a leader that vanished without closing
/// its connection (a power cut, a partition) leaves behind on its followers.
const IDLE_STREAM_LIMIT: Duration = Duration::from_secs(60);

/// Largest frame either side accepts: a batch of entries is bounded by openraft's
/// `max_payload_entries`, each entry by the store's request limit.
const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// `value` as one frame.
fn encode_frame<T: Serialize>(value: &T) -> Result<Bytes, postcard::Error> {
    let mut buffer = postcard::to_extend(value, vec![0u8; 4])?;
    let length =
        u32::try_from(buffer.len() - 4).map_err(|_| postcard::Error::SerializeBufferFull)?;
    buffer[..4].copy_from_slice(&length.to_le_bytes());
    Ok(Bytes::from(buffer))
}

/// Cuts a streamed body into frames, whatever its chunks.
struct FrameReader<B> {
    body: B,
    buffer: BytesMut,
}

impl<B> FrameReader<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    fn new(body: B) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
        }
    }

    /// The next whole frame, `None` at a clean end of the body. Cancel-safe: bytes already
    /// read stay in the buffer.
    async fn next_frame(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            if self.buffer.len() >= 4 {
                let mut prefix = [0u8; 4];
                prefix.copy_from_slice(&self.buffer[..4]);
                let length = u32::from_le_bytes(prefix) as usize;
                if length > MAX_FRAME_BYTES {
                    return Err(format!(
                        "a frame of {length} bytes is over the {MAX_FRAME_BYTES}-byte limit"
                    ));
                }
                if self.buffer.len() >= 4 + length {
                    self.buffer.advance(4);
                    return Ok(Some(self.buffer.split_to(length).freeze()));
                }
            }
            match self.body.frame().await {
                None if self.buffer.is_empty() => return Ok(None),
                None => return Err("the stream ended inside a frame".into()),
                Some(Err(error)) => return Err(error.to_string()),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

/// The frames of a streamed body, as a stream.
fn frames<B>(body: B) -> impl Stream<Item = Result<Bytes, String>> + Send + Unpin + 'static
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: std::fmt::Display,
{
    Box::pin(futures::stream::unfold(
        Some(FrameReader::new(body)),
        |reader| async move {
            let mut reader = reader?;
            match reader.next_frame().await {
                Ok(Some(frame)) => Some((Ok(frame), Some(reader))),
                Ok(None) => None,
                Err(reason) => Some((Err(reason), None)),
            }
        },
    ))
}

/// The client side: sends `input` to the follower at `address` and returns its answers.
pub async fn open<S>(
    client: PeerClient,
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
    let unanswered = Arc::new(Unanswered::default());
    let sent = unanswered.clone();
    // hyper polls this body as its connection can take more; each request's answer budget
    // starts when it is handed over.
    let requests = input.map(move |request| {
        let frame = encode_frame(&request).map_err(BodyError::from)?;
        sent.sent(&request, soft_ttl);
        Ok::<_, BodyError>(Frame::data(frame))
    });
    let body = StreamBody::new(requests).boxed_unsync();
    let incoming = client
        .post_streaming(&address, STREAM_APPEND_PATH, body, soft_ttl)
        .await
        .map_err(crate::raft_network::rpc_error)?;
    Ok(append_pipeline::answers(frames(incoming), unanswered, address).boxed())
}

/// The follower side: feeds the leader's requests to `raft` in order and streams back each
/// answer as its entries reach the disk. An undecodable request ends the stream (the leader
/// sees its requests unanswered and opens another).
pub fn serve(raft: &hakube_store::types::Raft, body: axum::body::Body) -> Response {
    let requests = futures::stream::unfold(FrameReader::new(body), |mut frames| async move {
        let Ok(frame) = tokio::time::timeout(IDLE_STREAM_LIMIT, frames.next_frame()).await else {
            tracing::debug!("an append stream stayed idle: closing it");
            return None;
        };
        match frame {
            Ok(Some(bytes)) => match postcard::from_bytes(&bytes) {
                Ok(request) => Some((request, frames)),
                Err(error) => {
                    tracing::warn!(%error, "undecodable request in an append stream: closing it");
                    None
                }
            },
            Ok(None) => None,
            Err(reason) => {
                tracing::debug!(%reason, "an append stream broke");
                None
            }
        }
    });
    let answers = raft
        .stream_append(requests)
        .map(|answer: Answer| encode_frame(&answer));
    axum::body::Body::from_stream(answers).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn reader(
        chunks: Vec<Vec<u8>>,
    ) -> FrameReader<
        StreamBody<impl Stream<Item = Result<Frame<Bytes>, std::convert::Infallible>> + Unpin>,
    > {
        let frames = futures::stream::iter(
            chunks
                .into_iter()
                .map(|chunk| Ok(Frame::data(Bytes::from(chunk)))),
        );
        FrameReader::new(StreamBody::new(frames))
    }

    #[tokio::test]
    async fn frames_survive_any_chunking() {
        let first = encode_frame(&"first".to_string()).expect("encodes");
        let second = encode_frame(&vec![7u8; 300]).expect("encodes");
        let mut joined = first.to_vec();
        joined.extend_from_slice(&second);
        for cut in 0..joined.len() {
            let mut frames = reader(vec![joined[..cut].to_vec(), joined[cut..].to_vec()]);
            let one = frames.next_frame().await.expect("whole").expect("a frame");
            assert_eq!(
                postcard::from_bytes::<String>(&one).expect("decodes"),
                "first"
            );
            let two = frames.next_frame().await.expect("whole").expect("a frame");
            assert_eq!(
                postcard::from_bytes::<Vec<u8>>(&two).expect("decodes"),
                vec![7u8; 300]
            );
            assert_eq!(frames.next_frame().await, Ok(None));
        }
    }

    #[tokio::test]
    async fn a_cut_frame_or_an_oversized_one_is_an_error() {
        let frame = encode_frame(&"cut short".to_string()).expect("encodes");
        let mut frames = reader(vec![frame[..frame.len() - 1].to_vec()]);
        assert!(frames.next_frame().await.is_err());
        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes().to_vec();
        let mut frames = reader(vec![huge]);
        let error = frames.next_frame().await.expect_err("over the limit");
        assert!(error.contains("limit"), "{error}");
        let mut empty = FrameReader::new(Full::new(Bytes::new()));
        assert_eq!(empty.next_frame().await, Ok(None));
    }
}
