//! The etcd v3 target of `hakube dbctl bench` (`--endpoints URLS [--cacert F --cert F --key
//! F]`): the same closed-loop load through the etcd API, so hakube and a real etcd can be
//! measured alike. https endpoints use the TLS flags; http endpoints talk plain gRPC. Each
//! session is its own client (its own HTTP/2 connection), as each admin-socket session is.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use crate::commands::bench::{WriteSession, WriteTarget};

#[derive(Args, Debug, Clone, Default)]
pub struct EtcdTargetArgs {
    /// Bench an etcd v3 API instead of the local daemon: comma-separated URLs
    /// (`https://IP:12379` for hakube; `http://…` for a plain-text etcd).
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub endpoints: Vec<String>,
    /// CA certificate that signed the servers' certificates (https).
    #[arg(long, value_name = "FILE", requires = "endpoints")]
    pub cacert: Option<PathBuf>,
    /// Client certificate (https with client authentication).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
}

pub struct EtcdTarget {
    endpoints: Vec<String>,
    options: ConnectOptions,
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

impl EtcdTarget {
    pub fn new(args: &EtcdTargetArgs) -> Result<Self> {
        let https = args.endpoints.iter().any(|e| e.starts_with("https://"));
        if args
            .endpoints
            .iter()
            .any(|e| !e.starts_with("https://") && !e.starts_with("http://"))
        {
            bail!(
                "--endpoints takes URLs such as https://127.0.0.1:12379 or http://127.0.0.1:2379"
            );
        }
        let mut options = ConnectOptions::new().with_keep_alive(
            std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(5),
        );
        if https {
            let mut tls = TlsOptions::new();
            if let Some(ca) = &args.cacert {
                tls = tls.ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
            }
            if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
                tls = tls.identity(Identity::from_pem(
                    read(cert, "client certificate")?,
                    read(key, "client key")?,
                ));
            }
            options = options.with_tls(tls);
        } else if args.cacert.is_some() || args.cert.is_some() {
            bail!("--cacert/--cert/--key need https:// endpoints");
        }
        Ok(Self {
            endpoints: args.endpoints.clone(),
            options,
        })
    }
}

impl WriteTarget for EtcdTarget {
    type Session = EtcdSession;

    async fn session(&self) -> Result<EtcdSession> {
        let client = Client::connect(&self.endpoints, Some(self.options.clone()))
            .await
            .with_context(|| format!("cannot connect to {}", self.endpoints.join(",")))?;
        Ok(EtcdSession { client })
    }

    fn describe(&self) -> String {
        format!("etcd API at {}", self.endpoints.join(","))
    }
}

pub struct EtcdSession {
    client: Client,
}

impl WriteSession for EtcdSession {
    async fn put(&mut self, key: &str, value: &str) -> Result<()> {
        self.client
            .put(key, value, None)
            .await
            .map(|_| ())
            .map_err(|e| anyhow::anyhow!("etcd put: {e}"))
    }
}
