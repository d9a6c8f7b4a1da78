//! How the API server reaches node agents (the kubelet port, :10250) for what only a node
//! can answer: container logs, and the streams of exec, attach and port-forward. The cluster
//! layer provides the client (mutual TLS with the node's certificate); the API server only
//! needs a streamed GET and an upgrade relay.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use hyper::upgrade::OnUpgrade;

/// A node agent's answer: the status, and the body as a stream (for 200) or its text.
pub struct AgentAnswer {
    pub status: u16,
    pub body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    /// The body of a failure, read in full (one line from the agent).
    pub error_text: Option<String>,
}

pub trait NodeAgentClient: Send + Sync {
    /// GET `url` (`https://<node>:10250/…`); Err when the agent cannot be reached.
    fn get(&self, url: String) -> BoxFuture<'static, Result<AgentAnswer, String>>;

    /// Sends an upgrade request (`kubectl exec`, `attach`, `port-forward`) to `url` and
    /// answers with the agent's answer: a 101 after which `near` (the client's connection)
    /// is joined to the agent's, or the agent's refusal. Err when it cannot be reached.
    fn upgrade(
        &self,
        url: String,
        method: Method,
        headers: HeaderMap,
        near: OnUpgrade,
    ) -> BoxFuture<'static, Result<Response<Body>, String>>;
}
