//! The agent port's streaming endpoints (the kubelet's paths): `/exec/…`, `/attach/…` and
//! `/portForward/…`. Each asks containerd over CRI for a one-time stream URL, then either
//! serves a WebSocket client itself, speaking SPDY to containerd ([`crate::streaming`]:
//! remote command v5 and SPDY tunnelling, which containerd lacks), or relays the client's
//! upgrade request there unchanged ([`crate::upgrade_proxy`]: SPDY clients and the older
//! WebSocket protocols containerd serves or refuses itself).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Response, StatusCode, Uri};
use hakube_apiserver::Query;
use hakube_node::cri::CriClient;
use hakube_node::stream_urls::{self, StreamError, StreamOptions};
use hyper::upgrade::OnUpgrade;
use tokio::net::TcpStream;

use crate::streaming::{self, Session, remote_command};
use crate::upgrade_proxy::{StreamLimit, plain, relay, too_many_streams};

/// What the streaming endpoints need: the runtime's socket and the bound on open streams.
pub struct StreamContext {
    pub runtime_socket: PathBuf,
    pub limit: StreamLimit,
}

fn options(query: &Query) -> StreamOptions {
    StreamOptions {
        stdin: query.flag("stdin"),
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
        tty: query.flag("tty"),
    }
}

fn refusal(error: &StreamError) -> Response<Body> {
    let status = match error {
        StreamError::Runtime(_) => StatusCode::INTERNAL_SERVER_ERROR,
        StreamError::PodNotFound { .. } | StreamError::ContainerNotFound { .. } => {
            StatusCode::NOT_FOUND
        }
        StreamError::ContainerNotRunning { .. } => StatusCode::BAD_REQUEST,
    };
    plain(status, error.to_string())
}

/// A connection to the stream server at `url` (containerd's, on this host), with the
/// authority and path to ask it for; or the answer explaining why not.
async fn connect(url: &str) -> Result<(TcpStream, String, String), Response<Body>> {
    let Ok(uri) = url.parse::<Uri>() else {
        return Err(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the runtime gave an invalid stream URL {url:?}"),
        ));
    };
    let (Some(authority), Some(path)) = (uri.authority(), uri.path_and_query()) else {
        return Err(plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the runtime gave an incomplete stream URL {url:?}"),
        ));
    };
    let stream = TcpStream::connect(authority.as_str())
        .await
        .map_err(|error| {
            plain(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach the runtime's stream server at {authority}: {error}"),
            )
        })?;
    let _ = stream.set_nodelay(true);
    Ok((stream, authority.to_string(), path.to_string()))
}

/// Relays `request` to the stream server at `url`.
async fn relay_to(
    context: &StreamContext,
    url: &str,
    request: Request,
    near: OnUpgrade,
) -> Response<Body> {
    let (stream, authority, path) = match connect(url).await {
        Ok(connected) => connected,
        Err(answer) => return answer,
    };
    let method = request.method().clone();
    match relay(
        stream,
        &authority,
        method,
        &path,
        request.headers(),
        near,
        &context.limit,
    )
    .await
    {
        Ok(response) => response,
        Err(why) => plain(
            StatusCode::BAD_GATEWAY,
            format!("the runtime's stream server: {why}"),
        ),
    }
}

/// Serves the WebSocket `request` of `session` here, speaking SPDY to the stream server at
/// `url`.
async fn translate_to(
    context: &StreamContext,
    url: &str,
    request: Request,
    near: OnUpgrade,
    session: Session,
) -> Response<Body> {
    let Some(permit) = context.limit.try_acquire() else {
        return too_many_streams();
    };
    let (stream, authority, path) = match connect(url).await {
        Ok(connected) => connected,
        Err(answer) => return answer,
    };
    streaming::serve(
        stream,
        &authority,
        &path,
        request.headers(),
        near,
        session,
        permit,
    )
    .await
}

/// What kind of stream, and for which container (none for a port forward).
enum Target {
    Exec(String),
    Attach(String),
    PortForward,
}

async fn serve(
    context: Arc<StreamContext>,
    namespace: String,
    pod: String,
    target: Target,
    mut request: Request,
) -> Response<Body> {
    let Some(near) = request.extensions_mut().remove::<OnUpgrade>() else {
        return plain(
            StatusCode::BAD_REQUEST,
            "Upgrade request required".to_string(),
        );
    };
    let query = Query::parse(request.uri().query());
    let client = match CriClient::connect(&context.runtime_socket).await {
        Ok(client) => client,
        Err(error) => return plain(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    };
    let url = match &target {
        Target::Exec(container) => {
            let command = query.pairs_named("command").map(str::to_string).collect();
            let names = (namespace.as_str(), pod.as_str(), container.as_str());
            stream_urls::exec_url(&client, names, command, &options(&query)).await
        }
        Target::Attach(container) => {
            let names = (namespace.as_str(), pod.as_str(), container.as_str());
            stream_urls::attach_url(&client, names, &options(&query)).await
        }
        Target::PortForward => {
            let ports = query
                .pairs_named("port")
                .filter_map(|p| p.parse().ok())
                .collect();
            stream_urls::port_forward_url(&client, &namespace, &pod, ports).await
        }
    };
    let url = match url {
        Ok(url) => url,
        Err(error) => return refusal(&error),
    };
    let session = match target {
        Target::Exec(_) | Target::Attach(_) => {
            let asked = options(&query);
            Session::RemoteCommand(remote_command::Streams {
                stdin: asked.stdin,
                stdout: asked.stdout,
                stderr: asked.stderr,
                tty: asked.tty,
            })
        }
        Target::PortForward => Session::PortForward,
    };
    if session.served(request.headers()) {
        translate_to(&context, &url, request, near, session).await
    } else {
        relay_to(&context, &url, request, near).await
    }
}

pub async fn exec(
    State(context): State<Arc<StreamContext>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    request: Request,
) -> Response<Body> {
    serve(context, namespace, pod, Target::Exec(container), request).await
}

pub async fn attach(
    State(context): State<Arc<StreamContext>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    request: Request,
) -> Response<Body> {
    serve(context, namespace, pod, Target::Attach(container), request).await
}

pub async fn port_forward(
    State(context): State<Arc<StreamContext>>,
    Path((namespace, pod)): Path<(String, String)>,
    request: Request,
) -> Response<Body> {
    serve(context, namespace, pod, Target::PortForward, request).await
}
