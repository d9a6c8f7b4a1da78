//! One containerd process of a node: spawning it detached (its own process group, so a signal to
//! hakube's group does not reach it and containers outlive a hakube restart), recording its PID,
//! adopting a running one from the PID file, and stopping it by PID.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("starting {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{action} {path}: {source}")]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sending {signal} to process {pid}: {detail}")]
    Signal {
        signal: &'static str,
        pid: u32,
        detail: String,
    },
}

/// How to launch containerd.
#[derive(Debug, Clone)]
pub struct LaunchCommand {
    pub containerd_binary: PathBuf,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    pub log_level: String,
    /// A network namespace to run it in (`nsenter --net`, never `ip netns exec`: reference §4).
    pub network_namespace: Option<PathBuf>,
}

/// A running containerd: our child (reaped by us) or one adopted from a previous hakube.
#[derive(Debug)]
pub enum ContainerdProcess {
    Child(tokio::process::Child),
    Adopted(u32),
}

impl ContainerdProcess {
    pub fn pid(&self) -> Option<u32> {
        match self {
            ContainerdProcess::Child(child) => child.id(),
            ContainerdProcess::Adopted(pid) => Some(*pid),
        }
    }

    /// Whether the process still runs (a child that exited is reaped here).
    pub fn is_running(&mut self) -> bool {
        match self {
            ContainerdProcess::Child(child) => matches!(child.try_wait(), Ok(None)),
            ContainerdProcess::Adopted(pid) => process_is_alive(*pid),
        }
    }
}

impl LaunchCommand {
    /// Spawns containerd in its own process group and writes its PID file.
    pub fn spawn(&self, pid_file: &Path) -> Result<ContainerdProcess, ProcessError> {
        let log_error = |source| ProcessError::File {
            action: "opening",
            path: self.log_path.clone(),
            source,
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(log_error)?;
        let log_for_stderr = log.try_clone().map_err(log_error)?;
        let mut command = match &self.network_namespace {
            Some(namespace) => {
                let mut command = tokio::process::Command::new("nsenter");
                command
                    .arg(format!("--net={}", namespace.display()))
                    .arg(&self.containerd_binary);
                command
            }
            None => tokio::process::Command::new(&self.containerd_binary),
        };
        command
            .arg("--config")
            .arg(&self.config_path)
            .arg("--log-level")
            .arg(&self.log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr))
            .process_group(0)
            .kill_on_drop(false);
        let program = self.containerd_binary.display().to_string();
        let child = command
            .spawn()
            .map_err(|source| ProcessError::Spawn { program, source })?;
        let process = ContainerdProcess::Child(child);
        if let Some(pid) = process.pid() {
            std::fs::write(pid_file, format!("{pid}\n")).map_err(|source| ProcessError::File {
                action: "writing",
                path: pid_file.to_owned(),
                source,
            })?;
        }
        Ok(process)
    }
}

/// The PID in `pid_file` if that process is alive and is a containerd started with `config_path`
/// (a recycled PID belongs to some other program and is ignored).
pub fn adoptable_pid(pid_file: &Path, config_path: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let command_line = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let command_line = String::from_utf8_lossy(&command_line);
    let config = config_path.display().to_string();
    (process_is_alive(pid) && command_line.contains("containerd") && command_line.contains(&config))
        .then_some(pid)
}

/// Alive and not a zombie, from /proc/<pid>/stat (the state follows the parenthesised name).
pub fn process_is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// Sends a signal through kill(1): the crate forbids unsafe, so no direct kill(2).
pub fn send_signal(pid: u32, signal: &'static str) -> Result<(), ProcessError> {
    let output = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .output();
    let signal_error = |detail: String| ProcessError::Signal {
        signal,
        pid,
        detail,
    };
    let output = output.map_err(|error| signal_error(error.to_string()))?;
    if output.status.success() || !process_is_alive(pid) {
        Ok(())
    } else {
        Err(signal_error(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

/// Stops the process: TERM, then KILL after `grace`; returns once it is gone.
pub async fn terminate(
    process: &mut ContainerdProcess,
    grace: Duration,
) -> Result<(), ProcessError> {
    let Some(pid) = process.pid() else {
        return Ok(());
    };
    if !process.is_running() {
        return Ok(());
    }
    send_signal(pid, "TERM")?;
    let deadline = tokio::time::Instant::now() + grace;
    while process.is_running() {
        if tokio::time::Instant::now() >= deadline {
            send_signal(pid, "KILL")?;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_bogus_pid_is_not() {
        assert!(process_is_alive(std::process::id()));
        assert!(!process_is_alive(u32::MAX - 1));
    }

    #[test]
    fn a_pid_file_of_another_program_is_not_adopted() -> Result<(), std::io::Error> {
        let directory = tempfile::tempdir()?;
        let pid_file = directory.path().join("containerd.pid");
        std::fs::write(&pid_file, format!("{}\n", std::process::id()))?;
        assert_eq!(
            adoptable_pid(&pid_file, Path::new("/nonexistent/containerd.toml")),
            None
        );
        Ok(())
    }
}
