//! The client side of the peer transport: HTTPS with mutual TLS (the node's certificate,
//! trusting only the cluster CA), HTTP/2 multiplexed over one pooled connection per peer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// Largest reply accepted from a peer (a snapshot reply is small; snapshots are sent, not
/// received, by this client).
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Error, Debug, Clone)]
pub enum PeerError {
    #[error("{address} is unreachable: {reason}")]
    Unreachable { address: String, reason: String },
    /// The connection broke after the request may have been sent.
    #[error("connection to {address} broke: {reason}")]
    Broken { address: String, reason: String },
    #[error("{address} did not answer within {timeout_ms} ms")]
    Timeout { address: String, timeout_ms: u64 },
    #[error("{address} refused the request: {reason}")]
    Refused { address: String, reason: String },
}

/// What a request body may fail with: a streamed body (`append_stream`) carries its
/// producer's error; a whole body never fails.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// A request body: whole (`Full`) or streamed, boxed so one client carries both.
pub type RequestBody = UnsyncBoxBody<Bytes, BodyError>;

/// A whole request body.
fn whole(bytes: impl Into<Bytes>) -> RequestBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// How long a connection may stay silent before it is pinged.
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// How long a ping may go unanswered before the connection is dropped.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct PeerClient {
    client: Client<HttpsConnector<HttpConnector>, RequestBody>,
}

impl PeerClient {
    pub fn new(tls: Arc<rustls::ClientConfig>) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        // hyper-rustls sets ALPN itself from the enabled HTTP versions.
        let mut config = (*tls).clone();
        config.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http2()
            .wrap_connector(http);
        // Pings notice a peer that lost power without closing its connections: with nothing
        // received for KEEP_ALIVE_INTERVAL a ping goes out, and a connection whose ping is not
        // answered within KEEP_ALIVE_TIMEOUT is closed, so the next request connects afresh
        // instead of waiting on a dead socket until TCP gives up (minutes).
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .http2_keep_alive_while_idle(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self { client }
    }

    /// POSTs `request` (postcard) to `https://ADDRESS/PATH` and decodes the reply.
    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        address: &str,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerError> {
        let body = postcard::to_stdvec(request).map_err(|e| PeerError::Refused {
            address: address.into(),
            reason: format!("unencodable request: {e}"),
        })?;
        let bytes = self.post_bytes(address, path, body, timeout).await?;
        postcard::from_bytes(&bytes).map_err(|e| PeerError::Refused {
            address: address.into(),
            reason: format!("undecodable reply: {e}"),
        })
    }

    pub async fn post_bytes(
        &self,
        address: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Bytes, PeerError> {
        let request = hyper::Request::post(format!("https://{address}{path}"))
            .header("content-type", "application/octet-stream")
            .body(whole(body))
            .map_err(|e| PeerError::Refused {
                address: address.into(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| send_error(address, &e))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_REPLY_BYTES)
                .collect()
                .await
                .map_err(|e| PeerError::Broken {
                    address: address.into(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            if !status.is_success() {
                return Err(PeerError::Refused {
                    address: address.into(),
                    reason: String::from_utf8_lossy(&bytes).into_owned(),
                });
            }
            Ok(bytes)
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PeerError::Timeout {
                address: address.into(),
                timeout_ms: timeout.as_millis() as u64,
            })?
    }
}

impl PeerClient {
    /// One HTTPS request with any method and content type; answers every status with its
    /// body (the Kubernetes API client reads Status bodies of failures).
    pub async fn request(
        &self,
        method: hyper::Method,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), PeerError> {
        let address = url.to_string();
        let request = hyper::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(whole(body))
            .map_err(|e| PeerError::Refused {
                address: address.clone(),
                reason: e.to_string(),
            })?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| send_error(&address, &e))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_REPLY_BYTES)
                .collect()
                .await
                .map_err(|e| PeerError::Broken {
                    address: address.clone(),
                    reason: e.to_string(),
                })?
                .to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| PeerError::Timeout {
                address: address.clone(),
                timeout_ms: timeout.as_millis() as u64,
            })?
    }
}

/// A request that could not be sent or answered: a failed connect means the peer is
/// unreachable (nothing was sent); anything later may have reached it.
fn send_error(address: &str, error: &hyper_util::client::legacy::Error) -> PeerError {
    let reason = error_chain(error);
    if error.is_connect() {
        PeerError::Unreachable {
            address: address.into(),
            reason,
        }
    } else {
        PeerError::Broken {
            address: address.into(),
            reason,
        }
    }
}

/// The innermost cause is usually the useful one ("connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

impl PeerClient {
    /// A GET whose body is streamed (container logs that follow); the connection is made
    /// within `connect_timeout`, the body flows as long as the server sends it.
    pub async fn get_streaming(
        &self,
        url: &str,
        connect_timeout: Duration,
    ) -> Result<hyper::Response<hyper::body::Incoming>, PeerError> {
        let request = hyper::Request::builder()
            .method(hyper::Method::GET)
            .uri(url)
            .body(whole(Bytes::new()))
            .map_err(|e| PeerError::Refused {
                address: url.to_string(),
                reason: e.to_string(),
            })?;
        tokio::time::timeout(connect_timeout, self.client.request(request))
            .await
            .map_err(|_| PeerError::Timeout {
                address: url.to_string(),
                timeout_ms: connect_timeout.as_millis() as u64,
            })?
            .map_err(|e| PeerError::Unreachable {
                address: url.to_string(),
                reason: error_chain(&e),
            })
    }
}

impl PeerClient {
    /// A POST whose request body is streamed by `body`, answered by a streamed response
    /// (`append_stream`). Returns once the peer's response headers arrive, within `timeout`.
    pub async fn post_streaming(
        &self,
        address: &str,
        path: &str,
        body: RequestBody,
        timeout: Duration,
    ) -> Result<hyper::body::Incoming, PeerError> {
        let request = hyper::Request::post(format!("https://{address}{path}"))
            .header("content-type", "application/octet-stream")
            .body(body)
            .map_err(|e| PeerError::Refused {
                address: address.into(),
                reason: e.to_string(),
            })?;
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| PeerError::Timeout {
                address: address.into(),
                timeout_ms: timeout.as_millis() as u64,
            })?
            .map_err(|e| send_error(address, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.into_body());
        }
        let reason = match tokio::time::timeout(
            timeout,
            Limited::new(response.into_body(), 64 * 1024).collect(),
        )
        .await
        {
            Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
            _ => status.to_string(),
        };
        Err(PeerError::Refused {
            address: address.into(),
            reason,
        })
    }
}
