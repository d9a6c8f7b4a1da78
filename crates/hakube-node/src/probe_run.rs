//! Running one probe: exec through CRI ExecSync, httpGet as a plain HTTP/1.1 request to the
//! pod IP (2xx and 3xx succeed), tcpSocket as a connect. Each within the probe's timeout.
//! HTTPS probes are checked as a TCP connect and gRPC probes count as passing (neither is
//! implemented yet).

use crate::cri::CriClient;
use crate::probes::ProbeRequest;
use hakube_kinds::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Whether the probe passed.
pub async fn run_probe(client: &CriClient, request: &ProbeRequest) -> bool {
    let timeout_seconds = request
        .probe
        .timeout_seconds
        .filter(|seconds| *seconds > 0)
        .unwrap_or(1);
    let timeout = Duration::from_secs(timeout_seconds.unsigned_abs().into());
    let probe = &request.probe;
    if let Some(exec) = &probe.exec {
        let command = exec.command.clone().unwrap_or_default();
        let result = client
            .exec_sync(&request.container_id, command, i64::from(timeout_seconds))
            .await;
        return result.is_ok_and(|response| response.exit_code == 0);
    }
    if let Some(http) = &probe.http_get {
        let host = http
            .host
            .clone()
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| request.pod_ip.clone());
        let Some(port) = resolve_port(&http.port, request) else {
            return false;
        };
        let path = http
            .path
            .clone()
            .filter(|path| !path.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        let headers: Vec<(String, String)> = http
            .http_headers
            .iter()
            .flatten()
            .map(|header| (header.name.clone(), header.value.clone()))
            .collect();
        if http.scheme.as_deref() == Some("HTTPS") {
            return tcp_connects(&host, port, timeout).await;
        }
        return tokio::time::timeout(timeout, http_get(&host, port, &path, &headers))
            .await
            .is_ok_and(|status| status.is_some_and(|code| (200..400).contains(&code)));
    }
    if let Some(tcp) = &probe.tcp_socket {
        let host = tcp
            .host
            .clone()
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| request.pod_ip.clone());
        let Some(port) = resolve_port(&tcp.port, request) else {
            return false;
        };
        return tcp_connects(&host, port, timeout).await;
    }
    true
}

fn resolve_port(port: &IntOrString, request: &ProbeRequest) -> Option<u16> {
    let number = match port {
        IntOrString::Int(number) => *number,
        IntOrString::String(name) => match name.parse() {
            Ok(number) => number,
            Err(_) => *request.named_ports.get(name)?,
        },
    };
    u16::try_from(number).ok()
}

async fn tcp_connects(host: &str, port: u16, timeout: Duration) -> bool {
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(tokio::time::timeout(timeout, connect).await, Ok(Ok(_)))
}

/// The status code of `GET path`, or `None` when there is no valid answer.
async fn http_get(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect((host, port)).await.ok()?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: kube-probe/1.37\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    // The status line fits in the first kilobyte; the body does not matter.
    let mut buffer = vec![0_u8; 1024];
    let read = stream.read(&mut buffer).await.ok()?;
    let head = String::from_utf8_lossy(&buffer[..read]);
    head.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}
