//! The admin kubeconfig `hakube config` prints: this node's API endpoint, the cluster CA, and a
//! client certificate for `admin` in `system:masters`, all inline.

use anyhow::anyhow;

use crate::config::{API_PORT, socket};
use crate::node::Node;
use crate::pki::CertificateProfile;

fn base64(text: &str) -> String {
    // PEM text is ASCII; kubeconfig wants it base64-encoded once more.
    pem::encode_config(
        &pem::Pem::new("X", text.as_bytes().to_vec()),
        pem::EncodeConfig::new().set_line_wrap(usize::MAX),
    )
    .lines()
    .filter(|line| !line.starts_with("-----"))
    .collect()
}

pub fn admin_kubeconfig(node: &Node) -> anyhow::Result<String> {
    let ca = node.identity.certificate_authority().ok_or_else(|| {
        anyhow!("this is a worker node: run 'hakube config' on a control-plane node")
    })?;
    let issued = ca.issue(&CertificateProfile {
        common_name: "admin".into(),
        organizations: vec!["system:masters".into()],
        ip_addresses: Vec::new(),
        dns_names: Vec::new(),
        server: false,
        client: true,
        validity_days: 365,
    })?;
    let server = format!("https://{}", socket(node.config.address, API_PORT));
    Ok(format!(
        "apiVersion: v1
kind: Config
clusters:
- name: hakube
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: hakube
  context:
    cluster: hakube
    user: admin
current-context: hakube
",
        ca = base64(ca.cert_pem()),
        cert = base64(&issued.cert_pem),
        key = base64(&issued.key_pem),
    ))
}
