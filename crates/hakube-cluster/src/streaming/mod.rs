//! kubectl's WebSocket streams ended on the node agent, as upstream's API server ends them:
//! containerd's stream server (the kubelet's old `cri/streaming`) speaks SPDY/3.1 and only
//! the WebSocket protocols before v5, so kubectl 1.30+ would be refused and fall back to SPDY
//! after a wasted round trip. The agent answers the WebSocket handshake itself, opens SPDY to
//! containerd, and translates `exec`/`attach` ([`remote_command`]) or tunnels `port-forward`
//! ([`tunnel`]). Everything else (SPDY clients, WebSocket protocols not served here) keeps the
//! byte relay ([`crate::upgrade_proxy`]).
//!
//! [`websocket`] and [`spdy`] are the two framings, [`runtime`] the upgrade to containerd.

pub mod remote_command;
pub mod runtime;
pub mod spdy;
pub mod tunnel;
pub mod websocket;

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;

use crate::upgrade_proxy::plain;
use runtime::Dialed;

/// What a stream request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    /// exec or attach, with the streams asked for.
    RemoteCommand(remote_command::Streams),
    PortForward,
}

impl Session {
    fn websocket_protocol(self) -> &'static str {
        match self {
            Session::RemoteCommand(_) => remote_command::WEBSOCKET_PROTOCOL,
            Session::PortForward => tunnel::WEBSOCKET_PROTOCOL,
        }
    }

    fn spdy_protocol(self) -> &'static str {
        match self {
            Session::RemoteCommand(_) => remote_command::SPDY_PROTOCOL,
            Session::PortForward => tunnel::SPDY_PROTOCOL,
        }
    }

    /// Whether this agent serves the request itself: a WebSocket upgrade offering the
    /// subprotocol served for this kind of session.
    pub fn served(self, request: &HeaderMap) -> bool {
        websocket::is_upgrade(request)
            && websocket::offered_protocols(request)
                .iter()
                .any(|p| p == self.websocket_protocol())
    }
}

/// Serves a WebSocket request of `session` whose stream is at `path_and_query` on the
/// runtime's stream server, reached over `io` (`authority`): opens SPDY there first (so a
/// refusal reaches the client as an HTTP answer), then answers 101 and carries the session
/// in a task holding `permit`.
pub async fn serve<IO>(
    io: IO,
    authority: &str,
    path_and_query: &str,
    request: &HeaderMap,
    near: OnUpgrade,
    session: Session,
    permit: OwnedSemaphorePermit,
) -> Response<Body>
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let answer = match websocket::switching_protocols(request, session.websocket_protocol()) {
        Ok(answer) => answer,
        Err(why) => return plain(StatusCode::BAD_REQUEST, why.to_string()),
    };
    let runtime = match runtime::open(io, authority, path_and_query, session.spdy_protocol()).await
    {
        Ok(Dialed::Upgraded(runtime)) => runtime,
        Ok(Dialed::Refused(refusal)) => return refusal,
        Err(why) => {
            return plain(
                StatusCode::BAD_GATEWAY,
                format!("the runtime's stream server: {why}"),
            );
        }
    };
    tokio::spawn(async move {
        let _permit = permit;
        let client = match near.await {
            Ok(client) => TokioIo::new(client),
            Err(error) => {
                tracing::debug!(%error, "a WebSocket upgrade did not complete");
                return;
            }
        };
        match session {
            Session::RemoteCommand(streams) => {
                remote_command::run(client, runtime, streams).await;
            }
            Session::PortForward => tunnel::run(client, runtime).await,
        }
    });
    answer
}
