//! Serving an axum router over TLS: our own accept loop (rustls handshake, then hyper's
//! HTTP/1.1 + HTTP/2 server), so each connection can see its client certificate, and a
//! shutdown signal stops accepting. Also the Unix-socket variant for the admin API.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The identity a client presented, placed in each request's extensions.
#[derive(Clone, Debug, Default)]
pub struct ClientIdentity {
    /// Common name of the client certificate, when one was presented.
    pub common_name: Option<String>,
}

/// Accepts TLS connections until `shutdown` fires. A slow or broken handshake only affects
/// its own connection (bounded by a timeout).
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (stream, _) = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls_stream = match tokio::time::timeout(
                Duration::from_secs(10),
                acceptor.accept(stream),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let leaf = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.as_ref().to_vec());
            let common_name = leaf
                .as_deref()
                .and_then(|cert| crate::pki::certificate_common_name(cert).ok());
            let organizations = leaf
                .as_deref()
                .map(crate::pki::certificate_organizations)
                .unwrap_or_default();
            let router = router
                .layer(axum::Extension(ClientIdentity {
                    common_name: common_name.clone(),
                }))
                .layer(axum::Extension(hakube_apiserver::ClientCertificate {
                    common_name,
                    organizations,
                }));
            let service = TowerToHyperService::new(router);
            let connection = auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                .into_owned();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// Serves the admin API on a Unix socket until `shutdown` fires.
pub async fn serve_unix(listener: UnixListener, router: Router, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "admin socket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let connection = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}
