//! `hakube start` and `hakube stop`: the daemon in the background. `start` saves the daemon flags
//! in `DATA_DIR/flags.json` on first start (and whenever flags are given) and reuses them after,
//! spawns `hakube daemon` detached with its output appended to `DATA_DIR/hakube.log`, and returns
//! once the daemon wrote its PID file and answers on the admin socket. `stop` asks for a graceful
//! shutdown and escalates to SIGTERM, then SIGKILL, of the PID the daemon wrote.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hakube_cluster::admin_api::{Done, StatusReport};

use crate::admin_client::{AdminClient, NotRunning, within};
use crate::cli::StartArgs;
use crate::process::{self, Escalation, Stopped};

pub const FLAGS_FILE_NAME: &str = "flags.json";

/// The escalation of `hakube stop`.
pub const STOP_ESCALATION: Escalation = Escalation {
    graceful: Duration::from_secs(60),
    term: Some(Duration::from_secs(10)),
    kill: Duration::from_secs(10),
};

pub async fn start(data_dir: &Path, args: &StartArgs) -> Result<()> {
    let data_dir = std::path::absolute(data_dir)
        .with_context(|| format!("data directory {}", data_dir.display()))?;
    if let Some(pid) = process::live_daemon(&data_dir) {
        println!(
            "hakube is already running for {} (pid {pid})",
            data_dir.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let flags = daemon_flags(&data_dir, args)?;
    let mut child = spawn_daemon(&data_dir, &flags)?;
    let pid = child.id();
    match wait_until_serving(&data_dir, &mut child, Duration::from_secs(args.timeout)).await {
        Ok(()) => {
            println!("hakube is running for {} (pid {pid})", data_dir.display());
            Ok(())
        }
        Err(e) => {
            let tail = process::log_tail(&data_dir, 20);
            if !tail.is_empty() {
                eprint!("{tail}");
            }
            Err(e)
        }
    }
}

/// The flags to start the daemon with: the ones given (then saved), else the saved ones.
fn daemon_flags(data_dir: &Path, args: &StartArgs) -> Result<Vec<String>> {
    let path = flags_file(data_dir);
    if args.daemon.is_empty() && path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a JSON list of flags: fix or delete it",
                path.display()
            )
        });
    }
    let flags = args.daemon.to_argv();
    let text = serde_json::to_string_pretty(&flags).context("encoding the flags")?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(flags)
}

fn spawn_daemon(data_dir: &Path, flags: &[String]) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the hakube executable")?;
    let log_path = process::log_file(data_dir);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let log_err = log
        .try_clone()
        .context("cannot duplicate the log file handle")?;
    Command::new(&exe)
        .arg("daemon")
        .arg("--data-dir")
        .arg(data_dir)
        .args(flags)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {} daemon", exe.display()))
}

async fn wait_until_serving(data_dir: &Path, child: &mut Child, limit: Duration) -> Result<()> {
    let client = AdminClient::new(data_dir);
    let pid = i32::try_from(child.id()).context("pid out of range")?;
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("waiting for the daemon")? {
            bail!(
                "the daemon exited ({status}) before it served; see {}",
                process::log_file(data_dir).display()
            );
        }
        if process::read_pid(data_dir) == Some(pid) {
            let probe = within(
                Duration::from_secs(2),
                "status",
                client.get::<StatusReport>("/status"),
            );
            if probe.await.is_ok() {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "the daemon (pid {pid}) did not serve within {} s; it is still running: see {} or stop it with: hakube stop --data-dir {}",
                limit.as_secs(),
                process::log_file(data_dir).display(),
                data_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn stop(data_dir: &Path) -> Result<()> {
    match stop_daemon(data_dir, STOP_ESCALATION).await? {
        None => println!("hakube is not running for {}", data_dir.display()),
        Some(Stopped::Gracefully) => println!("Stopped."),
        Some(Stopped::Terminated) => {
            println!("Stopped (it did not shut down gracefully: sent SIGTERM).")
        }
        Some(Stopped::Killed) => {
            println!("Stopped (it did not shut down gracefully: sent SIGKILL).")
        }
    }
    Ok(())
}

/// Stops the daemon that owns `data_dir`: `POST /shutdown`, then the escalation. `None` when no
/// daemon was running.
pub async fn stop_daemon(data_dir: &Path, escalation: Escalation) -> Result<Option<Stopped>> {
    let Some(pid) = process::live_daemon(data_dir) else {
        return Ok(None);
    };
    let client = AdminClient::new(data_dir);
    let asked = within(
        Duration::from_secs(10),
        "shutdown",
        client.post_empty::<Done>("/shutdown"),
    )
    .await;
    if let Err(e) = asked
        && e.downcast_ref::<NotRunning>().is_none()
    {
        tracing::debug!("graceful shutdown request failed: {e:#}");
    }
    process::wait_or_escalate(data_dir, pid, escalation)
        .await
        .map(Some)
}

/// `DATA_DIR/flags.json`.
pub fn flags_file(data_dir: &Path) -> PathBuf {
    data_dir.join(FLAGS_FILE_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::DaemonArgs;

    fn start_args(daemon: DaemonArgs) -> StartArgs {
        StartArgs {
            timeout: 60,
            daemon,
        }
    }

    #[test]
    fn flags_are_saved_on_first_start_and_reused_after() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let given = DaemonArgs {
            node_name: Some("node1".into()),
            voters: Some(5),
            ..DaemonArgs::default()
        };
        let first = daemon_flags(dir.path(), &start_args(given)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first, ["--node-name", "node1", "--voters", "5"]);
        assert!(flags_file(dir.path()).exists());
        let again = daemon_flags(dir.path(), &start_args(DaemonArgs::default()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again, first);
        let replaced = daemon_flags(
            dir.path(),
            &start_args(DaemonArgs {
                node_name: Some("other".into()),
                ..DaemonArgs::default()
            }),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(replaced, ["--node-name", "other"]);
    }
}
