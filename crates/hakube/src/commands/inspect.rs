//! `hakube inspect`: a simple diagnostic report: the version, the daemon's PID, the status as
//! JSON (or why it could not be fetched), and the tail of the daemon log.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use hakube_cluster::admin_api::StatusReport;

use crate::admin_client::{AdminClient, within};
use crate::commands::config::version_line;
use crate::process;

const LOG_LINES: usize = 50;

pub async fn run(data_dir: &Path) -> Result<()> {
    println!("# {}", version_line());
    println!("# data directory: {}", data_dir.display());
    match process::live_daemon(data_dir) {
        Some(pid) => println!("# daemon pid: {pid}"),
        None => println!("# daemon pid: none (not running)"),
    }
    println!("\n# status");
    let client = AdminClient::new(data_dir);
    match within(
        Duration::from_secs(10),
        "status",
        client.get::<StatusReport>("/status"),
    )
    .await
    {
        Ok(report) => println!("{}", serde_json::to_string_pretty(&report)?),
        Err(e) => println!("unavailable: {e:#}"),
    }
    println!(
        "\n# last {LOG_LINES} lines of {}",
        process::log_file(data_dir).display()
    );
    print!("{}", process::log_tail(data_dir, LOG_LINES));
    Ok(())
}
