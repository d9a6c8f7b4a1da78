//! The joining side of phase 1: check the cluster CA's fingerprint before anything secret is
//! sent, then trade the token and a CSR for a certificate over a connection pinned to that CA.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::join_server::CERTIFY_PATH;
use crate::peer_client::PeerClient;
use crate::pki::fingerprint_of_der;
use crate::rpc::{CertifyRequest, CertifyResponse};
use crate::tls;
use crate::token::JoinString;

/// Fetches the certificate chain the join port presents and returns the CA certificate (PEM)
/// whose SHA-256 matches `fingerprint` (any CA when `skip_verify`).
pub async fn fetch_pinned_ca(join: &JoinString, skip_verify: bool) -> anyhow::Result<String> {
    let (config, captured) = tls::insecure_capture_client_config();
    let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&join.address))
        .await
        .map_err(|_| anyhow!("cannot reach {}: no answer within 5 s", join.address))?
        .with_context(|| format!("cannot reach {}", join.address))?;
    let host = join
        .address
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']))
        .unwrap_or(&join.address);
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| anyhow!("invalid address {}", join.address))?;
    let connector = TlsConnector::from(config);
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, stream))
        .await
        .map_err(|_| anyhow!("TLS handshake with {} timed out", join.address))?
        .with_context(|| format!("TLS handshake with {}", join.address))?;
    let chain = captured
        .lock()
        .map_err(|_| anyhow!("certificate capture failed"))?
        .clone();
    let ca_der = if skip_verify {
        chain.last().cloned()
    } else {
        chain
            .iter()
            .find(|der| fingerprint_of_der(der) == join.fingerprint.to_lowercase())
            .cloned()
    };
    let Some(ca_der) = ca_der else {
        bail!(
            "the cluster at {} presented a CA whose fingerprint does not match {}: refusing to send the token (wrong address, or someone in between?)",
            join.address,
            join.fingerprint
        );
    };
    Ok(der_to_pem(&ca_der))
}

fn der_to_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

/// Phase 1 proper, over a connection that trusts only the pinned CA.
pub async fn certify(
    join: &JoinString,
    ca_pem: &str,
    request: &CertifyRequest,
) -> anyhow::Result<CertifyResponse> {
    let client = PeerClient::new(tls::pinned_ca_client_config(ca_pem)?);
    let reply: Result<CertifyResponse, String> = client
        .call(
            &join.address,
            CERTIFY_PATH,
            request,
            Duration::from_secs(30),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    reply.map_err(|e| anyhow!("the cluster refused the join: {e}"))
}
