//! The benchmark's Kubernetes API client: a pool of HTTP/2 connections over TLS, one request
//! with its answer read whole (a non-2xx status is an error with the Status message), and the
//! Pods and namespace a mode needs, created before the timed part.

use std::collections::BTreeSet;

use http_body_util::Limited;
use hyper::Request;
use hyper::header::{ACCEPT, CONTENT_TYPE};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::*;

pub(super) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One HTTP/2 connection: a hyper client has one pooled connection per host for HTTP/2.
/// Windows as Go's HTTP/2 transport (client-go): 4 MiB per stream, 1 GiB per connection.
pub(super) fn connection(tls: &rustls::ClientConfig) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_only()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .http2_initial_stream_window_size(4 << 20)
        .http2_initial_connection_window_size(1 << 30)
        .build(connector)
}

/// Why a request failed: `kind` groups them in the report.
#[derive(Debug, Clone)]
pub(super) struct RequestError {
    pub(super) kind: String,
    pub(super) detail: String,
}

impl RequestError {
    pub(super) fn new(kind: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            detail: detail.into(),
        }
    }
}

/// The connection pool: client `i` always talks to server `i % servers`.
pub(super) struct Api {
    clients: Vec<HttpClient>,
    servers: Vec<String>,
    next: AtomicUsize,
}

impl Api {
    pub(super) fn new(tls: &rustls::ClientConfig, servers: &[String], connections: usize) -> Self {
        Self {
            clients: (0..connections).map(|_| connection(tls)).collect(),
            servers: servers.to_vec(),
            next: AtomicUsize::new(0),
        }
    }

    /// How many connections the pool has.
    pub(super) fn connections(&self) -> usize {
        self.clients.len()
    }

    pub(super) fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len()
    }

    /// Sends one request on connection `index` and reads the whole answer; a non-2xx status is
    /// an error (with the Status message).
    pub(super) async fn call(
        &self,
        index: usize,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Bytes, RequestError> {
        let response = self.send(index, method, path, content_type, body).await?;
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| RequestError::new("broken", format!("reading the answer: {e}")))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(200).collect());
        Err(RequestError::new(
            format!("http {}", status.as_u16()),
            format!("{status}: {message}"),
        ))
    }

    pub(super) async fn send(
        &self,
        index: usize,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<hyper::Response<hyper::body::Incoming>, RequestError> {
        let client = &self.clients[index % self.clients.len()];
        let server = &self.servers[index % self.servers.len()];
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{server}{path}"))
            .header(ACCEPT, "application/json");
        if let Some(content_type) = content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| RequestError::new("request", e.to_string()))?;
        client.request(request).await.map_err(|e| {
            let kind = if e.is_connect() { "connect" } else { "broken" };
            RequestError::new(kind, error_chain(&e))
        })
    }
}

// ------------------------------------------------------------------------------ objects

pub(super) fn pods_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods")
}

/// The benchmark's Pod, as the issue gives it (the namespace comes from the URL), held back
/// from scheduling by a scheduling gate: the API alone is measured, not a scheduler binding
/// and node agents trying to start thousands of pods beside it (which also changed the pods
/// under the `update` mode's feet).
pub(super) fn pod_body(name: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"bench"}}}},"spec":{{"schedulingGates":[{{"name":"hakube.io/api-bench"}}],"containers":[{{"name":"c","image":"busybox"}}]}}}}"#
    ))
}

/// Creates the namespace; one that exists already is fine.
pub(super) async fn ensure_namespace(api: &Api, namespace: &str) -> Result<()> {
    let body = Bytes::from(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            .to_string(),
    );
    match api
        .call(
            0,
            Method::POST,
            "/api/v1/namespaces",
            Some("application/json"),
            body,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind == "http 409" => Ok(()),
        Err(error) => Err(anyhow!(
            "cannot create namespace {namespace}: {}",
            error.detail
        )),
    }
}

/// The namespace's Pods: (resourceVersion of the list, the items).
pub(super) async fn list_pods(api: &Api, namespace: &str) -> Result<(String, Vec<Value>)> {
    let bytes = api
        .call(0, Method::GET, &pods_path(namespace), None, Bytes::new())
        .await
        .map_err(|e| anyhow!("cannot list the pods of {namespace}: {}", e.detail))?;
    let mut list: Value = serde_json::from_slice(&bytes).context("the pod list is not JSON")?;
    let version = list
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    Ok((version, items))
}

pub(super) fn object_name(object: &Value) -> Option<&str> {
    object.pointer("/metadata/name").and_then(Value::as_str)
}

/// Creates `bench-0` … `bench-(objects-1)` where missing, `PREPARE_CONCURRENCY` at a time.
/// Returns how many were created and how long it took.
pub(super) async fn prepare(
    api: &Arc<Api>,
    namespace: &str,
    objects: usize,
) -> Result<(usize, f64)> {
    let started = Instant::now();
    let (_, items) = list_pods(api, namespace).await?;
    let present: BTreeSet<String> = items
        .iter()
        .filter_map(object_name)
        .map(str::to_string)
        .collect();
    let missing: Vec<usize> = (0..objects)
        .filter(|i| !present.contains(&format!("bench-{i}")))
        .collect();
    let created = missing.len();
    let queue = Arc::new(Mutex::new(missing));
    let mut workers = JoinSet::new();
    for _ in 0..PREPARE_CONCURRENCY {
        let api = api.clone();
        let queue = queue.clone();
        let path = pods_path(namespace);
        workers.spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                let Some(i) = next else {
                    return Ok::<(), anyhow::Error>(());
                };
                let body = pod_body(&format!("bench-{i}"));
                let mut attempts = 0;
                loop {
                    attempts += 1;
                    match api
                        .call(
                            api.pick(),
                            Method::POST,
                            &path,
                            Some("application/json"),
                            body.clone(),
                        )
                        .await
                    {
                        Ok(_) => break,
                        Err(error) if error.kind == "http 409" => break,
                        Err(error) if attempts < 5 => {
                            eprintln!("api-bench: creating bench-{i}: {} (retrying)", error.detail);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(error) => bail!("cannot create bench-{i}: {}", error.detail),
                    }
                }
            }
        });
    }
    while let Some(result) = workers.join_next().await {
        result.context("a preparing task failed")??;
    }
    Ok((created, started.elapsed().as_secs_f64()))
}
