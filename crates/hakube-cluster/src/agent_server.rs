//! The node agent's own port (:10250, upstream's kubelet port; mutual TLS with the cluster
//! CA, so only the API servers and admins reach it): container logs for `kubectl logs`,
//! exec/attach/port-forward streams ([`crate::agent_streams`]), proxied by the API server, and
//! the node's resource usage for metrics.k8s.io ([`crate::agent_metrics`]).
//! [`AgentClient`] is the API server's side of it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;

use hakube_apiserver::node_agents::{AgentAnswer, NodeAgentClient};
use hakube_node::logs::{LogOptions, find_log_file, follow_log, read_log};
use hakube_node::node_paths::NodePaths;

use crate::agent_streams::{self, StreamContext};
use crate::config::AGENT_PORT;
use crate::node::Node;
use crate::peer_client::PeerClient;
use crate::upgrade_proxy::StreamLimit;

/// Starts serving the agent port until the node stops.
pub async fn start(node: &Arc<Node>) -> anyhow::Result<()> {
    let address = SocketAddr::new(node.config.address, AGENT_PORT);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address} for the node agent: {e}"))?;
    let tls = crate::tls::peer_server_config(&node.identity.tls_material())?;
    let paths = NodePaths::new(crate::pod_agent::runtime_directory(&node.config.data_dir));
    let runtime_socket = match &node.config.container_runtime_endpoint {
        Some(endpoint) => endpoint.trim_start_matches("unix://").into(),
        None => paths.containerd_socket(),
    };
    let sampler = crate::agent_metrics::UsageSampler::new(runtime_socket.clone());
    sampler.spawn(node.shutdown.clone());
    let streams = Arc::new(StreamContext {
        runtime_socket,
        limit: StreamLimit::default(),
    });
    let router = Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
        .with_state(Arc::new(paths))
        .merge(
            Router::new()
                .route(
                    "/exec/{namespace}/{pod}/{container}",
                    get(agent_streams::exec).post(agent_streams::exec),
                )
                .route(
                    "/attach/{namespace}/{pod}/{container}",
                    get(agent_streams::attach).post(agent_streams::attach),
                )
                .route(
                    "/portForward/{namespace}/{pod}",
                    get(agent_streams::port_forward).post(agent_streams::port_forward),
                )
                .with_state(streams),
        )
        .merge(
            Router::new()
                .route("/metrics/usage", get(crate::agent_metrics::usage))
                .with_state(sampler),
        );
    tokio::spawn(crate::serve::serve_tls(
        listener,
        tls,
        router,
        node.shutdown.clone(),
    ));
    Ok(())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    follow: Option<bool>,
    previous: Option<bool>,
    tail_lines: Option<usize>,
    timestamps: Option<bool>,
    since_seconds: Option<i64>,
    since_time: Option<String>,
    limit_bytes: Option<usize>,
}

fn refuse(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// The newest directory of pod `namespace/pod` (a pod recreated under the same name gets a
/// new uid and so a new directory).
fn pod_directory(paths: &NodePaths, namespace: &str, pod: &str) -> Option<std::path::PathBuf> {
    let prefix = format!("{namespace}_{pod}_");
    std::fs::read_dir(paths.pods_dir())
        .ok()?
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .map(|entry| entry.path())
}

async fn container_logs(
    State(paths): State<Arc<NodePaths>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<LogQuery>,
) -> Response {
    let Some(directory) = pod_directory(&paths, &namespace, &pod) else {
        return refuse(format!(
            "pod \"{pod}\" in namespace \"{namespace}\" does not run on this node"
        ));
    };
    let previous = query.previous.unwrap_or(false);
    let Some(file) = find_log_file(&directory, &container, previous) else {
        return refuse(if previous {
            format!("previous terminated container \"{container}\" in pod \"{pod}\" not found")
        } else {
            format!(
                "container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating"
            )
        });
    };
    let since = match (&query.since_time, query.since_seconds) {
        (Some(time), _) => time.parse::<jiff::Timestamp>().ok(),
        (None, Some(seconds)) => jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(seconds))
            .ok(),
        (None, None) => None,
    };
    let options = LogOptions {
        tail_lines: query.tail_lines,
        since,
        timestamps: query.timestamps.unwrap_or(false),
        limit_bytes: query.limit_bytes,
    };
    if query.follow.unwrap_or(false) {
        let lines = follow_log(file, options).map(|line| {
            line.map(|l| format!("{l}\n"))
                .map_err(std::io::Error::other)
        });
        return Response::new(Body::from_stream(lines));
    }
    match read_log(&file, &options) {
        Ok(lines) => {
            let mut text = lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            text.into_response()
        }
        Err(error) => refuse(error.to_string()),
    }
}

/// The API server's client of node agents: the node's peer client (its certificate is
/// signed by the cluster CA, which the agent port requires).
pub struct AgentClient {
    pub client: PeerClient,
    /// The node's client TLS (for upgrade requests, which go over their own HTTP/1.1
    /// connection).
    pub tls: Arc<rustls::ClientConfig>,
    pub streams: StreamLimit,
}

impl AgentClient {
    pub fn new(client: PeerClient, tls: &rustls::ClientConfig) -> Self {
        let mut tls = tls.clone();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            client,
            tls: Arc::new(tls),
            streams: StreamLimit::default(),
        }
    }
}

/// Opens a TLS connection to the agent at `url` and relays the upgrade request there.
async fn upgrade_to(
    tls: Arc<rustls::ClientConfig>,
    streams: StreamLimit,
    url: String,
    method: Method,
    headers: HeaderMap,
    near: OnUpgrade,
) -> Result<Response, String> {
    let uri = url
        .parse::<Uri>()
        .map_err(|e| format!("bad agent URL {url}: {e}"))?;
    let (Some(host), Some(authority), Some(path)) =
        (uri.host(), uri.authority(), uri.path_and_query())
    else {
        return Err(format!("incomplete agent URL {url}"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("bad agent host {host}: {e}"))?;
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect(authority.as_str()),
    )
    .await
    .map_err(|_| format!("{authority} did not accept a connection in time"))?
    .map_err(|e| format!("{authority} is unreachable: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let connector = tokio_rustls::TlsConnector::from(tls);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(server_name, tcp))
        .await
        .map_err(|_| format!("TLS with {authority} did not complete in time"))?
        .map_err(|e| format!("TLS with {authority} failed: {e}"))?;
    crate::upgrade_proxy::relay(
        stream,
        authority.as_str(),
        method,
        path.as_str(),
        &headers,
        near,
        &streams,
    )
    .await
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ERROR_BYTES: usize = 64 * 1024;

impl NodeAgentClient for AgentClient {
    fn upgrade(
        &self,
        url: String,
        method: Method,
        headers: HeaderMap,
        near: OnUpgrade,
    ) -> BoxFuture<'static, Result<Response, String>> {
        Box::pin(upgrade_to(
            self.tls.clone(),
            self.streams.clone(),
            url,
            method,
            headers,
            near,
        ))
    }

    fn get(&self, url: String) -> BoxFuture<'static, Result<AgentAnswer, String>> {
        let client = self.client.clone();
        Box::pin(async move {
            let response = client
                .get_streaming(&url, CONNECT_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            if status != 200 {
                let bytes = http_body_util::Limited::new(response.into_body(), MAX_ERROR_BYTES)
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                return Ok(AgentAnswer {
                    status,
                    body: futures::stream::empty().boxed(),
                    error_text: Some(String::from_utf8_lossy(&bytes).into_owned()),
                });
            }
            let body = response
                .into_body()
                .into_data_stream()
                .map(|chunk| chunk.map_err(std::io::Error::other))
                .boxed();
            Ok(AgentAnswer {
                status,
                body,
                error_text: None,
            })
        })
    }
}
