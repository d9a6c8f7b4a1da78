//! Opening the SPDY/3.1 connection to containerd's stream server: the HTTP/1.1 upgrade
//! request a SPDY client sends (`POST`, `Upgrade: SPDY/3.1`, the stream protocol version), and
//! the server's answer: the upgraded connection, or its refusal passed back as it was (an
//! expired one-time URL, say).

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long the stream server may take to answer the upgrade request.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest refusal passed back (an error text).
const MAX_REFUSAL_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("cannot open a connection: {0}")]
    Connection(#[source] hyper::Error),
    #[error("invalid request: {0}")]
    Request(#[from] axum::http::Error),
    #[error("no answer within {} s", ANSWER_TIMEOUT.as_secs())]
    Timeout,
    #[error("the request failed: {0}")]
    Answer(#[source] hyper::Error),
    #[error("the upgrade did not complete: {0}")]
    Upgrade(#[source] hyper::Error),
    #[error("it switched to stream protocol {chosen:?}, not {asked}")]
    Protocol { chosen: String, asked: &'static str },
}

/// What the stream server answered.
pub enum Dialed {
    /// The SPDY connection.
    Upgraded(TokioIo<Upgraded>),
    /// Its refusal, to pass to the client.
    Refused(Response<Body>),
}

/// Sends the SPDY upgrade for `path_and_query` over `io` (to `authority`), asking for stream
/// protocol `protocol` (`v4.channel.k8s.io`, `portforward.k8s.io`).
pub async fn open<IO>(
    io: IO,
    authority: &str,
    path_and_query: &str,
    protocol: &'static str,
) -> Result<Dialed, DialError>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(DialError::Connection)?;
    tokio::spawn(connection.with_upgrades());
    let request = hyper::Request::builder()
        .method(Method::POST)
        .uri(path_and_query)
        .header("host", authority)
        .header("connection", "Upgrade")
        .header("upgrade", "SPDY/3.1")
        .header("x-stream-protocol-version", protocol)
        .body(Empty::<bytes::Bytes>::new())?;
    let mut answer = tokio::time::timeout(ANSWER_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| DialError::Timeout)?
        .map_err(DialError::Answer)?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Dialed::Refused(refusal(answer).await));
    }
    let chosen = answer
        .headers()
        .get("x-stream-protocol-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_string();
    if chosen != protocol {
        return Err(DialError::Protocol {
            chosen,
            asked: protocol,
        });
    }
    let upgraded = hyper::upgrade::on(&mut answer)
        .await
        .map_err(DialError::Upgrade)?;
    Ok(Dialed::Upgraded(TokioIo::new(upgraded)))
}

/// The server's non-upgrade answer: status, content type and (bounded) body.
async fn refusal(answer: hyper::Response<hyper::body::Incoming>) -> Response<Body> {
    let status = answer.status();
    let kind = answer.headers().get("content-type").cloned();
    let bytes = Limited::new(answer.into_body(), MAX_REFUSAL_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(kind) = kind {
        response.headers_mut().insert("content-type", kind);
    } else {
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("text/plain"));
    }
    response
}
