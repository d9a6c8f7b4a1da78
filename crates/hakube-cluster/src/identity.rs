//! A node's identity on disk (`DATA_DIR/identity/`): its Raft node id, the cluster CA (with its
//! key on control-plane nodes, so any of them can sign joins), and the node's own key and
//! certificate. The node key is generated here and never leaves the node.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::RngExt;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;

use hakube_store::NodeId;
use hakube_store::state_machine::write_atomically;

use crate::pki::{CertificateAuthority, CertificateProfile};
use crate::tls::NodeTlsMaterial;

/// Organization of node certificates (like Kubernetes' `system:nodes`).
pub const NODE_ORGANIZATION: &str = "system:nodes";
const VALIDITY_DAYS: u32 = 3650;

#[derive(Clone, Debug)]
pub struct Identity {
    pub node_id: NodeId,
    pub ca_cert_pem: String,
    /// Present on control-plane nodes only.
    pub ca_key_pem: Option<String>,
    pub cert_pem: String,
    pub key_pem: String,
}

fn directory(data_dir: &Path) -> PathBuf {
    data_dir.join("identity")
}

/// Profile of a node certificate: serves and dials peers, named after the node.
pub fn node_profile(node_name: &str, address: IpAddr) -> CertificateProfile {
    CertificateProfile {
        common_name: node_name.to_string(),
        organizations: vec![NODE_ORGANIZATION.to_string()],
        ip_addresses: vec![address],
        dns_names: vec![node_name.to_string()],
        server: true,
        client: true,
        validity_days: VALIDITY_DAYS,
    }
}

/// A fresh node id. Random 63-bit ids make reuse (which openraft forbids) vanishingly unlikely.
pub fn new_node_id() -> NodeId {
    // The OS always has randomness on a working Linux; without it nothing here is safe anyway.
    UnwrapErr(SysRng).random_range(1..i64::MAX as u64)
}

impl Identity {
    /// A new one-node cluster: new CA, new node key and certificate, new node id.
    pub fn bootstrap(node_name: &str, address: IpAddr) -> anyhow::Result<Self> {
        let ca = CertificateAuthority::generate(node_name).context("creating the cluster CA")?;
        let issued = ca
            .issue(&node_profile(node_name, address))
            .context("issuing the node certificate")?;
        Ok(Self {
            node_id: new_node_id(),
            ca_cert_pem: ca.cert_pem().to_string(),
            ca_key_pem: Some(ca.key_pem().to_string()),
            cert_pem: issued.cert_pem,
            key_pem: issued.key_pem,
        })
    }

    pub fn load(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        let dir = directory(data_dir);
        let id_path = dir.join("node-id");
        if !id_path.exists() {
            return Ok(None);
        }
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .with_context(|| format!("reading {}", dir.join(name).display()))
        };
        let node_id = read("node-id")?
            .trim()
            .parse()
            .with_context(|| format!("{} does not hold a node id", id_path.display()))?;
        let ca_key_pem = if dir.join("ca.key").exists() {
            Some(read("ca.key")?)
        } else {
            None
        };
        Ok(Some(Self {
            node_id,
            ca_cert_pem: read("ca.crt")?,
            ca_key_pem,
            cert_pem: read("node.crt")?,
            key_pem: read("node.key")?,
        }))
    }

    /// Writes every file atomically; the node id last, since it marks the identity complete.
    pub fn save(&self, data_dir: &Path) -> anyhow::Result<()> {
        let dir = directory(data_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            write_atomically(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            restrict(&path)
        };
        write("ca.crt", &self.ca_cert_pem)?;
        match &self.ca_key_pem {
            Some(key) => write("ca.key", key)?,
            None => {
                let _ = std::fs::remove_file(dir.join("ca.key"));
            }
        }
        write("node.crt", &self.cert_pem)?;
        write("node.key", &self.key_pem)?;
        write("node-id", &self.node_id.to_string())
    }

    /// Forgets the identity (the node will bootstrap or join anew).
    pub fn remove(data_dir: &Path) -> anyhow::Result<()> {
        let dir = directory(data_dir);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", dir.display()))
            }
            _ => Ok(()),
        }
    }

    pub fn tls_material(&self) -> NodeTlsMaterial {
        NodeTlsMaterial {
            ca_cert_pem: self.ca_cert_pem.clone(),
            cert_pem: self.cert_pem.clone(),
            key_pem: self.key_pem.clone(),
        }
    }

    pub fn certificate_authority(&self) -> Option<CertificateAuthority> {
        let key = self.ca_key_pem.as_ref()?;
        CertificateAuthority::from_pem(&self.ca_cert_pem, key).ok()
    }

    /// Issues an admin client certificate for etcd clients (etcdctl) from the cluster CA and
    /// writes it as `DATA_DIR/identity/etcd-client.{crt,key}` (key mode 0600). Needs the CA key
    /// (control-plane nodes); a no-op without it.
    pub fn write_etcd_client_certificate(&self, data_dir: &Path) -> anyhow::Result<()> {
        let Some(ca) = self.certificate_authority() else {
            return Ok(());
        };
        let issued = ca
            .issue(&CertificateProfile {
                common_name: crate::etcd::CLIENT_COMMON_NAME.to_string(),
                organizations: vec!["system:masters".to_string()],
                ip_addresses: Vec::new(),
                dns_names: Vec::new(),
                server: false,
                client: true,
                validity_days: VALIDITY_DAYS,
            })
            .context("issuing the etcd client certificate")?;
        let dir = directory(data_dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, text) in [
            (crate::etcd::CLIENT_KEY_FILE, &issued.key_pem),
            (crate::etcd::CLIENT_CERT_FILE, &issued.cert_pem),
        ] {
            let path = dir.join(name);
            write_atomically(&path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            restrict(&path)?;
        }
        Ok(())
    }

    pub fn fingerprint(&self) -> String {
        crate::pki::fingerprint_of_pem(&self.ca_cert_pem).unwrap_or_default()
    }
}

/// Keys are for root only.
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod {}", path.display()))
}
