//! `hakube config` (the admin kubeconfig on stdout), `hakube kubectl` (kubectl with that
//! kubeconfig in a private temporary file) and `hakube version`.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use hakube_cluster::admin_api::{EtcdConfigResponse, KubeconfigResponse};

use crate::admin_client::{AdminClient, within};
use crate::cli::{ConfigArgs, KubectlArgs};
use crate::error::silent_exit;

const TIMEOUT: Duration = Duration::from_secs(30);

pub async fn config(data_dir: &Path, args: &ConfigArgs) -> Result<()> {
    if args.etcd {
        let client = AdminClient::new(data_dir);
        let answer: EtcdConfigResponse =
            within(TIMEOUT, "config --etcd", client.get("/etcd-config")).await?;
        print!("{}", etcd_exports(&answer));
        return Ok(());
    }
    print!("{}", fetch_kubeconfig(&AdminClient::new(data_dir)).await?);
    Ok(())
}

/// Shell lines exporting etcdctl's settings (v3 API, this node's endpoint, absolute paths).
pub fn etcd_exports(config: &EtcdConfigResponse) -> String {
    format!(
        "export ETCDCTL_API=3\nexport ETCDCTL_ENDPOINTS={}\nexport ETCDCTL_CACERT={}\nexport ETCDCTL_CERT={}\nexport ETCDCTL_KEY={}\n",
        shell_quote(&config.endpoint),
        shell_quote(&config.cacert),
        shell_quote(&config.cert),
        shell_quote(&config.key)
    )
}

/// Quotes a word for sh when it needs it.
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:=,+@".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The daemon's admin kubeconfig (certificates inline).
pub async fn fetch_kubeconfig(client: &AdminClient) -> Result<String> {
    let answer: KubeconfigResponse = within(TIMEOUT, "config", client.get("/kubeconfig")).await?;
    Ok(answer.kubeconfig)
}

pub async fn kubectl(data_dir: &Path, args: &KubectlArgs) -> Result<()> {
    let kubeconfig = fetch_kubeconfig(&AdminClient::new(data_dir)).await?;
    let mut file = tempfile::Builder::new()
        .prefix("hakube-kubeconfig-")
        .tempfile()
        .context("cannot create a temporary kubeconfig")?;
    file.write_all(kubeconfig.as_bytes())
        .context("cannot write the temporary kubeconfig")?;
    file.flush()
        .context("cannot write the temporary kubeconfig")?;
    let status = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(file.path())
        .args(&args.args)
        .status()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("kubectl is not on PATH: install it first")
            }
            _ => anyhow::anyhow!("cannot run kubectl: {e}"),
        })?;
    drop(file);
    if status.success() {
        return Ok(());
    }
    let code = status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .filter(|c| *c != 0)
        .unwrap_or(1);
    Err(silent_exit(code))
}

pub fn version() {
    println!("{}", version_line());
}

pub fn version_line() -> String {
    format!("hakube v{}", env!("CARGO_PKG_VERSION"))
}
