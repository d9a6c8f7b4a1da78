//! How the API server reaches node agents (the kubelet port, :10250) for what only a node
//! can answer: container logs. The cluster layer provides the client (mutual TLS with the
//! node's certificate); the API server only needs a streamed GET.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

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
}
