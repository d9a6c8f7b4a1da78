//! The client of the daemon's local admin API: JSON over HTTP/1.1 on `DATA_DIR/hakube.sock`
//! (hyper 1 over a tokio Unix stream, one connection per request). Non-2xx answers become errors
//! carrying the daemon's one-line [`ErrorBody`] message; a missing or refusing socket becomes the
//! "no hakube daemon is running" error.

use std::future::Future;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use hakube_cluster::admin_api::{ErrorBody, SOCKET_NAME};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

/// Talks to the daemon that owns one data directory.
#[derive(Clone, Debug)]
pub struct AdminClient {
    data_dir: PathBuf,
}

/// Why a request failed before the daemon could answer it.
#[derive(Debug)]
pub struct NotRunning {
    pub data_dir: PathBuf,
}

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dir = self.data_dir.display();
        write!(
            f,
            "no hakube daemon is running for {dir} (start it with: hakube start --data-dir {dir})"
        )
    }
}

impl std::error::Error for NotRunning {}

impl AdminClient {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
        }
    }

    pub fn socket_path(&self) -> PathBuf {
        self.data_dir.join(SOCKET_NAME)
    }

    /// `GET path`, decoding the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.request(Method::GET, path, None).await?;
        decode(response).await
    }

    /// `POST path` with a JSON body, decoding the JSON answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let body = serde_json::to_vec(body).context("encoding the request")?;
        let response = self.request(Method::POST, path, Some(body)).await?;
        decode(response).await
    }

    /// `POST path` without a body, decoding the JSON answer.
    pub async fn post_empty<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let response = self.request(Method::POST, path, None).await?;
        decode(response).await
    }

    /// `GET path` answered with newline-delimited text: calls `on_line` for each non-empty line
    /// until the daemon closes the stream.
    pub async fn stream_lines(
        &self,
        path: &str,
        mut on_line: impl FnMut(&str) -> Result<()>,
    ) -> Result<()> {
        let response = self.request(Method::GET, path, None).await?;
        let mut body = response.into_body();
        let mut pending: Vec<u8> = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.context("reading the daemon's stream")?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim();
                if !line.is_empty() {
                    on_line(line)?;
                }
            }
        }
        let rest = String::from_utf8_lossy(&pending);
        if !rest.trim().is_empty() {
            on_line(rest.trim())?;
        }
        Ok(())
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        let socket = self.socket_path();
        let stream = match UnixStream::connect(&socket).await {
            Ok(stream) => stream,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                return Err(NotRunning {
                    data_dir: self.data_dir.clone(),
                }
                .into());
            }
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                bail!(
                    "permission denied on {}: run hakube as root",
                    socket.display()
                )
            }
            Err(e) => bail!("cannot connect to {}: {e}", socket.display()),
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("talking to the daemon's admin socket")?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "localhost");
        let request = match body {
            Some(body) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body))),
            None => builder.body(Full::new(Bytes::new())),
        }
        .context("building the request")?;
        let response = sender.send_request(request).await.map_err(|e| {
            anyhow!(
                "the daemon for {} did not answer: {e}",
                self.data_dir.display()
            )
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(error_from_body(status, &bytes))
    }
}

async fn decode<T: DeserializeOwned>(response: Response<Incoming>) -> Result<T> {
    let bytes = response
        .into_body()
        .collect()
        .await
        .context("reading the daemon's answer")?
        .to_bytes();
    serde_json::from_slice(&bytes).context("decoding the daemon's answer")
}

fn error_from_body(status: StatusCode, bytes: &[u8]) -> anyhow::Error {
    match serde_json::from_slice::<ErrorBody>(bytes) {
        Ok(body) => anyhow!(body.error),
        Err(_) => {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            if text.is_empty() {
                anyhow!("the daemon answered {status}")
            } else {
                anyhow!("the daemon answered {status}: {}", text.replace('\n', " "))
            }
        }
    }
}

/// Runs `future`, failing with "WHAT timed out after N s" when it takes longer than `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    future: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result,
        Err(_) => bail!("{what} timed out after {} s", limit.as_secs_f64()),
    }
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query("/registry/pods a&b=c"),
            "%2Fregistry%2Fpods%20a%26b%3Dc"
        );
        assert_eq!(encode_query("plain-key_1.~"), "plain-key_1.~");
    }

    #[test]
    fn daemon_errors_carry_the_message() {
        let e = error_from_body(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"error":"read-only: quorum lost"}"#,
        );
        assert_eq!(e.to_string(), "read-only: quorum lost");
        let e = error_from_body(StatusCode::NOT_FOUND, b"nope\n");
        assert_eq!(e.to_string(), "the daemon answered 404 Not Found: nope");
    }

    /// Answers each connection on `DIR/hakube.sock` with the next canned raw HTTP response.
    fn fake_daemon(dir: &Path, responses: Vec<String>) -> tokio::task::JoinHandle<Vec<String>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener =
            tokio::net::UnixListener::bind(dir.join(SOCKET_NAME)).unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let mut requests = Vec::new();
            for response in responses {
                let (mut stream, _) = listener.accept().await.unwrap_or_else(|e| panic!("{e}"));
                let mut buf = vec![0u8; 4096];
                let n = stream
                    .read(&mut buf)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                requests.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                stream
                    .write_all(response.as_bytes())
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                stream.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
            }
            requests
        })
    }

    fn http(status: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn json_requests_errors_and_streams() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let server = fake_daemon(
            dir.path(),
            vec![
                http("200 OK", r#"{"message":"bye"}"#),
                http(
                    "503 Service Unavailable",
                    r#"{"error":"read-only: quorum lost"}"#,
                ),
                "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"a\":1}\n\n{\"b\":2}\n".to_string(),
            ],
        );
        let client = AdminClient::new(dir.path());
        let done: hakube_cluster::admin_api::Done = client
            .post("/remove-node", &serde_json::json!({"node": "n2"}))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.message, "bye");
        let Err(e) = client.post_empty::<serde_json::Value>("/kv/put").await else {
            panic!("no error")
        };
        assert_eq!(e.to_string(), "read-only: quorum lost");
        let mut lines = Vec::new();
        client
            .stream_lines("/kv/watch?prefix=%2F", |line| {
                lines.push(line.to_string());
                Ok(())
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lines, [r#"{"a":1}"#, r#"{"b":2}"#]);
        let requests = server.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(
            requests[0].starts_with("POST /remove-node HTTP/1.1\r\n"),
            "{}",
            requests[0]
        );
        assert!(
            requests[0]
                .to_lowercase()
                .contains("content-type: application/json"),
            "{}",
            requests[0]
        );
        assert!(requests[0].ends_with(r#"{"node":"n2"}"#), "{}", requests[0]);
        assert!(
            requests[2].starts_with("GET /kv/watch?prefix=%2F HTTP/1.1\r\n"),
            "{}",
            requests[2]
        );
    }

    #[tokio::test]
    async fn missing_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let client = AdminClient::new(dir.path());
        let Err(e) = client.get::<serde_json::Value>("/status").await else {
            panic!("answered")
        };
        let text = e.to_string();
        assert!(
            text.starts_with("no hakube daemon is running for "),
            "{text}"
        );
        assert!(
            text.contains("(start it with: hakube start --data-dir "),
            "{text}"
        );
    }
}
