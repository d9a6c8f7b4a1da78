//! `hakube images import FILE…`: each archive goes into every node's containerd through the
//! local daemon (which forwards it to the other nodes); one line per node and file. Exits
//! non-zero when any node could not import one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use hakube_cluster::images::{ImportReport, ImportRequest};

use crate::admin_client::{AdminClient, within};

const IMPORT_TIMEOUT: Duration = Duration::from_secs(900);

pub async fn import(data_dir: &Path, files: &[PathBuf]) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let mut failed = 0;
    for file in files {
        let path = std::path::absolute(file)
            .with_context(|| format!("image archive {}", file.display()))?;
        if !path.is_file() {
            bail!("{} is not a file", path.display());
        }
        let request = ImportRequest {
            path: path.to_string_lossy().into_owned(),
        };
        let report: ImportReport = within(
            IMPORT_TIMEOUT,
            "images import",
            client.post("/images/import", &request),
        )
        .await?;
        for line in &report.nodes {
            println!("{}: {line}", file.display());
            if !line.ends_with(": imported") {
                failed += 1;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} import(s) failed (see the lines above)");
    }
    Ok(())
}
