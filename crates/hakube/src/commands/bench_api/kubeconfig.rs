//! The kubeconfig `api-bench` reads (server, inline CA, client certificate and key of the
//! current context's cluster and user) and the TLS client configuration made from it.

use super::*;

#[derive(Deserialize)]
struct KubeconfigFile {
    #[serde(default)]
    clusters: Vec<NamedCluster>,
    #[serde(default)]
    users: Vec<NamedUser>,
    #[serde(default)]
    contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct NamedCluster {
    name: String,
    cluster: ClusterEntry,
}

#[derive(Deserialize)]
struct ClusterEntry {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    certificate_authority_data: Option<String>,
}

#[derive(Deserialize)]
struct NamedUser {
    name: String,
    user: UserEntry,
}

#[derive(Deserialize)]
struct UserEntry {
    #[serde(rename = "client-certificate-data")]
    client_certificate_data: Option<String>,
    #[serde(rename = "client-key-data")]
    client_key_data: Option<String>,
}

#[derive(Deserialize)]
struct NamedContext {
    name: String,
    context: ContextEntry,
}

#[derive(Deserialize)]
struct ContextEntry {
    cluster: String,
    user: String,
}

/// What the client needs from a kubeconfig: PEM texts, decoded from their base64.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Credentials {
    pub(super) server: String,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

pub(super) fn parse_kubeconfig(text: &str) -> Result<Credentials> {
    let file: KubeconfigFile = serde_saphyr::from_str(text).context("not a kubeconfig")?;
    let context = file
        .current_context
        .as_deref()
        .and_then(|name| file.contexts.iter().find(|c| c.name == name))
        .or(file.contexts.first());
    let cluster = match context {
        Some(c) => file.clusters.iter().find(|x| x.name == c.context.cluster),
        None => file.clusters.first(),
    }
    .ok_or_else(|| anyhow!("the kubeconfig names no cluster"))?;
    let user = match context {
        Some(c) => file.users.iter().find(|x| x.name == c.context.user),
        None => file.users.first(),
    }
    .ok_or_else(|| anyhow!("the kubeconfig names no user"))?;
    let decode = |field: &Option<String>, what: &str| -> Result<String> {
        let text = field
            .as_deref()
            .ok_or_else(|| anyhow!("the kubeconfig has no inline {what}"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .with_context(|| format!("{what} is not base64"))?;
        String::from_utf8(bytes).with_context(|| format!("{what} is not PEM text"))
    };
    Ok(Credentials {
        server: cluster.cluster.server.trim_end_matches('/').to_string(),
        ca_pem: decode(
            &cluster.cluster.certificate_authority_data,
            "certificate-authority-data",
        )?,
        cert_pem: decode(
            &user.user.client_certificate_data,
            "client-certificate-data",
        )?,
        key_pem: decode(&user.user.client_key_data, "client-key-data")?,
    })
}

pub(super) fn tls_config(credentials: &Credentials) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(credentials.ca_pem.as_bytes()) {
        roots
            .add(cert.context("invalid CA certificate")?)
            .context("the CA certificate is not a trust anchor")?;
    }
    let chain = CertificateDer::pem_slice_iter(credentials.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("invalid client certificate")?;
    let key = PrivateKeyDer::from_pem_slice(credentials.key_pem.as_bytes())
        .context("invalid client key")?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .context("the client certificate and key do not match")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn the_kubeconfig_of_hakube_config_parses() {
        let text = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: other
  cluster:
    server: https://10.0.0.1:6443
    certificate-authority-data: {}
- name: hakube
  cluster:
    server: https://127.50.7.11:16443/
    certificate-authority-data: {}
users:
- name: admin
  user:
    client-certificate-data: {}
    client-key-data: {}
contexts:
- name: hakube
  context:
    cluster: hakube
    user: admin
current-context: hakube
",
            b64("other CA"),
            b64("CA PEM"),
            b64("CERT PEM"),
            b64("KEY PEM")
        );
        let credentials = parse_kubeconfig(&text).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(
            credentials,
            Credentials {
                server: "https://127.50.7.11:16443".into(),
                ca_pem: "CA PEM".into(),
                cert_pem: "CERT PEM".into(),
                key_pem: "KEY PEM".into(),
            }
        );
        assert!(parse_kubeconfig("clusters: []").is_err());
    }
}
