//! Relaying a protocol upgrade (`kubectl exec`, `attach`, `port-forward`: SPDY/3.1 or
//! WebSocket) one hop further, as upstream's API server and kubelet do: the request goes
//! out over HTTP/1.1 with its upgrade headers; when the far end switches protocols, the near
//! end gets the same 101 answer and the two connections are joined byte for byte. The
//! streaming protocol itself is negotiated end to end (kubectl ↔ containerd's stream server),
//! so every version either side speaks passes through unchanged.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Request headers that carry the upgrade and its negotiation; nothing else (credentials in
/// particular) goes further.
const FORWARDED_HEADERS: [&str; 8] = [
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "x-stream-protocol-version",
    "user-agent",
    "origin",
];

/// How long the far end may take to answer the upgrade request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest non-upgrade answer passed back (an error text).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How many relayed streams one process carries at once; more are refused with 429.
pub const MAX_STREAMS: usize = 256;

/// Bounds the streams relayed at once.
#[derive(Clone)]
pub struct StreamLimit {
    permits: Arc<Semaphore>,
}

impl Default for StreamLimit {
    fn default() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(MAX_STREAMS)),
        }
    }
}

impl StreamLimit {
    /// A place for one more stream, or `None` when [`MAX_STREAMS`] are open.
    pub fn try_acquire(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }
}

/// The answer when [`MAX_STREAMS`] are open.
pub fn too_many_streams() -> Response<Body> {
    plain(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many streams open on this node (at most {MAX_STREAMS})"),
    )
}

/// Sends `method path_and_query` with the upgrade headers of `headers` over `io` (to
/// `authority`) and answers for the near end: a 101 whose connection, once `near` upgrades,
/// is joined to the far one; or the far end's refusal as it was.
pub async fn relay<IO>(
    io: IO,
    authority: &str,
    method: Method,
    path_and_query: &str,
    headers: &HeaderMap,
    near: OnUpgrade,
    limit: &StreamLimit,
) -> Result<Response<Body>, String>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(permit) = limit.try_acquire() else {
        return Ok(too_many_streams());
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("cannot open a connection: {e}"))?;
    tokio::spawn(connection.with_upgrades());
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", authority);
    for name in FORWARDED_HEADERS {
        for value in headers.get_all(HeaderName::from_static(name)) {
            request = request.header(name, value);
        }
    }
    let request = request
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| format!("invalid request: {e}"))?;
    let mut answer = tokio::time::timeout(ANSWER_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| format!("no answer within {} s", ANSWER_TIMEOUT.as_secs()))?
        .map_err(|e| format!("the request failed: {e}"))?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = answer.status();
        let answer_headers = answer.headers().clone();
        let bytes = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = status;
        if let Some(kind) = answer_headers.get("content-type") {
            response.headers_mut().insert("content-type", kind.clone());
        }
        return Ok(response);
    }
    let far = hyper::upgrade::on(&mut answer);
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *response.headers_mut() = answer.headers().clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (near, far) = match tokio::join!(near, far) {
            (Ok(near), Ok(far)) => (near, far),
            (Err(error), _) | (_, Err(error)) => {
                tracing::debug!(%error, "a stream upgrade did not complete");
                return;
            }
        };
        let mut near = TokioIo::new(near);
        let mut far = TokioIo::new(far);
        if let Err(error) = tokio::io::copy_bidirectional(&mut near, &mut far).await {
            tracing::debug!(%error, "a relayed stream ended with an error");
        }
    });
    Ok(response)
}

/// A short text answer.
pub fn plain(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    response
}
