//! rustls configurations for every kind of connection hakube makes or accepts.
//!
//! This module owns the TLS policy: node-to-node traffic is mutual TLS
//! anchored only at the cluster CA; the join endpoint authenticates the
//! server but not the client (the joiner has no certificate yet, it proves
//! itself with a token); and a joining node first captures the server's chain
//! without trusting it so it can check the CA fingerprint from the join string
//! before sending the token.
//!
//! All configs are built with the ring provider explicitly, so they do not
//! depend on which process-wide default provider is installed.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// ALPN protocols offered and accepted: the API is served over HTTP/2 or
/// HTTP/1.1 on the same port.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

#[derive(thiserror::Error, Debug)]
pub enum TlsError {
    #[error("invalid {what} PEM: {detail}")]
    Pem { what: &'static str, detail: String },
    #[error("no {0} found in PEM")]
    Empty(&'static str),
    #[error("CA certificate rejected as trust anchor: {0}")]
    TrustAnchor(#[source] rustls::Error),
    #[error("failed to build client certificate verifier: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    #[error("invalid TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// A node's TLS identity: the cluster CA plus its own certificate and key.
#[derive(Clone)]
pub struct NodeTlsMaterial {
    pub ca_cert_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

// Hand-written so the private key never ends up in logs.
impl std::fmt::Debug for NodeTlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeTlsMaterial").finish_non_exhaustive()
    }
}

/// Certificates (DER, in the order the server sent them) presented during
/// the most recent handshake of an `insecure_capture_client_config` client.
pub type CapturedChain = Arc<Mutex<Vec<Vec<u8>>>>;

/// Installs ring as the process-wide default provider, for libraries that
/// build their own configs from the default. Idempotent: a provider already
/// installed (by us or anyone else) is left in place.
pub fn install_crypto_provider() {
    // Err only means a default already exists, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn alpn() -> Vec<Vec<u8>> {
    ALPN.iter().map(|p| p.to_vec()).collect()
}

fn parse_certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(what));
    }
    Ok(certs)
}

fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Pem {
        what: "private key",
        detail: e.to_string(),
    })
}

/// A root store holding only the cluster CA: nothing else (in particular no
/// public web PKI root) is trusted for cluster traffic.
fn ca_roots(ca_cert_pem: &str) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(ca_cert_pem, "CA certificate")? {
        roots.add(cert).map_err(TlsError::TrustAnchor)?;
    }
    Ok(Arc::new(roots))
}

/// Server side of node-to-node traffic: clients must present a certificate
/// signed by the cluster CA.
pub fn peer_server_config(m: &NodeTlsMaterial) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(ca_roots(&m.ca_cert_pem)?, provider.clone())
            .build()
            .map_err(TlsError::Verifier)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            parse_certs(&m.cert_pem, "certificate")?,
            parse_key(&m.key_pem)?,
        )
        .map_err(TlsError::Config)?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// The Kubernetes API: clients may present a certificate signed by the cluster CA (which
/// names the user) or none (the API then answers 401, or accepts a bearer token).
pub fn api_server_config(m: &NodeTlsMaterial) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier =
        WebPkiClientVerifier::builder_with_provider(ca_roots(&m.ca_cert_pem)?, provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(TlsError::Verifier)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            parse_certs(&m.cert_pem, "certificate")?,
            parse_key(&m.key_pem)?,
        )
        .map_err(TlsError::Config)?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// Client side of node-to-node traffic: trusts only the cluster CA and
/// presents the node certificate.
pub fn peer_client_config(m: &NodeTlsMaterial) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(ca_roots(&m.ca_cert_pem)?)
        .with_client_auth_cert(
            parse_certs(&m.cert_pem, "certificate")?,
            parse_key(&m.key_pem)?,
        )
        .map_err(TlsError::Config)?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// Server side of the join endpoint: no client certificate (the joiner has
/// none yet). The CA certificate is appended to the chain so a joiner can
/// see it and compare its fingerprint with the join string.
pub fn join_server_config(m: &NodeTlsMaterial) -> Result<Arc<ServerConfig>, TlsError> {
    let mut chain = parse_certs(&m.cert_pem, "certificate")?;
    let ca = parse_certs(&m.ca_cert_pem, "CA certificate")?;
    // cert_pem may already carry the CA; don't send it twice.
    for cert in ca {
        if !chain.contains(&cert) {
            chain.push(cert);
        }
    }
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, parse_key(&m.key_pem)?)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// Client that trusts exactly one CA and presents no certificate: used by a
/// joining node once the CA is known (fingerprint checked).
pub fn pinned_ca_client_config(ca_cert_pem: &str) -> Result<Arc<ClientConfig>, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(ca_roots(ca_cert_pem)?)
        .with_no_client_auth();
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// Client that accepts any server certificate but records the presented
/// chain. The caller MUST check the chain (CA fingerprint from the join
/// string) before sending anything secret over this connection, and should
/// then reconnect with `pinned_ca_client_config`.
pub fn insecure_capture_client_config() -> (Arc<ClientConfig>, CapturedChain) {
    let provider = provider();
    let captured: CapturedChain = Arc::new(Mutex::new(Vec::new()));
    let verifier = Arc::new(CapturingVerifier {
        algorithms: provider.signature_verification_algorithms,
        captured: captured.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // The ring provider supports the default protocol versions, so this
        // cannot fail; fall back to a TLS 1.3-only builder just in case.
        .unwrap_or_else(|_| {
            ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
        })
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn();
    (Arc::new(config), captured)
}

/// Skips chain validation (trust is established afterwards, by fingerprint)
/// but still verifies the handshake signatures, so the server proves it holds
/// the key of the certificate it presented.
#[derive(Debug)]
struct CapturingVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    captured: CapturedChain,
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.as_ref().to_vec())
            .collect();
        // A poisoned lock only means another thread panicked mid-write of a
        // Vec we are about to replace wholesale.
        *self.captured.lock().unwrap_or_else(PoisonError::into_inner) = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::pki::{CertificateAuthority, CertificateProfile, fingerprint_of_der};
    use std::net::{IpAddr, Ipv4Addr};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn node_material(ca: &CertificateAuthority, cn: &str) -> NodeTlsMaterial {
        let issued = ca
            .issue(&CertificateProfile {
                common_name: cn.into(),
                organizations: vec!["hakube:nodes".into()],
                ip_addresses: vec![LOCALHOST],
                dns_names: vec!["localhost".into()],
                server: true,
                client: true,
                validity_days: 30,
            })
            .unwrap();
        NodeTlsMaterial {
            ca_cert_pem: ca.cert_pem().to_owned(),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        }
    }

    /// Runs a handshake over an in-memory duplex; on success the client sends
    /// "ping" and the server answers "pong". Returns (client, server) results
    /// plus the client certificate's CN as seen by the server.
    async fn handshake(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
    ) -> (Result<(), String>, Result<Option<String>, String>) {
        let (c_io, s_io) = tokio::io::duplex(64 * 1024);
        let server_task = tokio::spawn(async move {
            let mut tls = TlsAcceptor::from(server)
                .accept(s_io)
                .await
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"ping");
            let cn = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| crate::pki::certificate_common_name(c).unwrap());
            assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
            tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
            tls.shutdown().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(cn)
        });
        let client_res = async {
            let name = ServerName::IpAddress(LOCALHOST.into());
            let mut tls = TlsConnector::from(client)
                .connect(name, c_io)
                .await
                .map_err(|e| e.to_string())?;
            tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"pong");
            Ok::<_, String>(())
        }
        .await;
        let server_res = server_task.await.unwrap();
        (client_res, server_res)
    }

    #[tokio::test]
    async fn mutual_tls_between_nodes_of_same_ca() {
        install_crypto_provider();
        install_crypto_provider(); // idempotent
        let ca = CertificateAuthority::generate("test").unwrap();
        let a = node_material(&ca, "node-a");
        let b = node_material(&ca, "node-b");
        let (c, s) = handshake(
            peer_server_config(&a).unwrap(),
            peer_client_config(&b).unwrap(),
        )
        .await;
        assert_eq!(c, Ok(()));
        assert_eq!(s, Ok(Some("node-b".to_owned())));
    }

    #[tokio::test]
    async fn peer_server_rejects_client_from_other_ca() {
        let ca = CertificateAuthority::generate("test").unwrap();
        let other = CertificateAuthority::generate("other").unwrap();
        let server = node_material(&ca, "node-a");
        // Trusts the right CA (so the client accepts the server) but presents
        // a certificate from a foreign CA.
        let mut intruder = node_material(&other, "intruder");
        intruder.ca_cert_pem = ca.cert_pem().to_owned();
        let (c, s) = handshake(
            peer_server_config(&server).unwrap(),
            peer_client_config(&intruder).unwrap(),
        )
        .await;
        assert!(s.is_err(), "server accepted foreign client: {s:?}");
        assert!(c.is_err());
    }

    #[tokio::test]
    async fn peer_server_rejects_client_without_cert() {
        let ca = CertificateAuthority::generate("test").unwrap();
        let server = node_material(&ca, "node-a");
        let (c, s) = handshake(
            peer_server_config(&server).unwrap(),
            pinned_ca_client_config(ca.cert_pem()).unwrap(),
        )
        .await;
        assert!(s.is_err());
        assert!(c.is_err());
    }

    #[tokio::test]
    async fn pinned_client_accepts_own_ca_and_rejects_other_ca() {
        let ca = CertificateAuthority::generate("test").unwrap();
        let other = CertificateAuthority::generate("other").unwrap();
        let server = node_material(&ca, "node-a");

        let (c, s) = handshake(
            join_server_config(&server).unwrap(),
            pinned_ca_client_config(ca.cert_pem()).unwrap(),
        )
        .await;
        assert_eq!(c, Ok(()));
        assert_eq!(s, Ok(None));

        let (c, s) = handshake(
            join_server_config(&server).unwrap(),
            pinned_ca_client_config(other.cert_pem()).unwrap(),
        )
        .await;
        assert!(c.is_err(), "client trusted a server from another CA");
        assert!(s.is_err());
    }

    #[tokio::test]
    async fn insecure_capture_records_chain_with_ca() {
        let ca = CertificateAuthority::generate("test").unwrap();
        let server = node_material(&ca, "node-a");
        let (client, captured) = insecure_capture_client_config();
        let (c, s) = handshake(join_server_config(&server).unwrap(), client).await;
        assert_eq!(c, Ok(()));
        assert_eq!(s, Ok(None));
        let chain = captured.lock().unwrap().clone();
        assert_eq!(chain.len(), 2);
        assert_eq!(
            crate::pki::certificate_common_name(&chain[0]).unwrap(),
            "node-a"
        );
        assert!(
            chain
                .iter()
                .any(|der| fingerprint_of_der(der) == ca.fingerprint())
        );
    }

    #[test]
    fn bad_pem_is_reported() {
        let err = pinned_ca_client_config("not a pem").unwrap_err();
        assert!(err.to_string().contains("CA certificate"), "{err}");
        let ca = CertificateAuthority::generate("test").unwrap();
        let mut m = node_material(&ca, "n");
        m.key_pem = "garbage".into();
        assert!(peer_server_config(&m).is_err());
    }
}
