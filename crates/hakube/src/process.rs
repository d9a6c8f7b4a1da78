//! The daemon as an operating-system process, seen from outside: its PID file, whether that PID is
//! a live hakube daemon, signals (via rustix, no unsafe), waiting for it to exit, and the log's tail.
//! Processes are only ever addressed by the PID their own daemon wrote, never by name.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hakube_cluster::admin_api::{LOG_FILE_NAME, PID_FILE_NAME};
use rustix::process::{Pid, Signal};

pub fn pid_file(data_dir: &Path) -> PathBuf {
    data_dir.join(PID_FILE_NAME)
}

pub fn log_file(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_FILE_NAME)
}

/// The PID written in `DATA_DIR/hakube.pid`, if the file exists and holds one.
pub fn read_pid(data_dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file(data_dir)).ok()?;
    text.trim().parse().ok().filter(|pid: &i32| *pid > 0)
}

/// The PID of the live daemon that owns `data_dir`, if any (a stale PID file, or a PID reused by
/// another program, yields `None`).
pub fn live_daemon(data_dir: &Path) -> Option<i32> {
    read_pid(data_dir).filter(|pid| is_alive(*pid) && looks_like_daemon(*pid))
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else {
        return false;
    };
    match rustix::process::test_kill_process(p) {
        Ok(()) => {}
        Err(rustix::io::Errno::PERM) => {}
        Err(_) => return false,
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => match stat.rfind(')') {
            Some(end) => !matches!(stat[end + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => true,
        },
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Whether the process's command line has a `daemon` argument (guards against PID reuse).
fn looks_like_daemon(pid: i32) -> bool {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => cmdline.split(|b| *b == 0).any(|arg| arg == b"daemon"),
        Err(_) => true,
    }
}

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn send_signal(pid: i32, signal: Signal) -> anyhow::Result<()> {
    let Some(p) = Pid::from_raw(pid) else {
        anyhow::bail!("invalid pid {pid}")
    };
    match rustix::process::kill_process(p, signal) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => anyhow::bail!("cannot signal pid {pid}: {e}"),
    }
}

/// Waits until `pid` has exited; true if it did within `limit`.
pub async fn wait_exit(pid: i32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines of the daemon's log (empty if there is none).
pub fn log_tail(data_dir: &Path, lines: usize) -> String {
    let Ok(bytes) = std::fs::read(log_file(data_dir)) else {
        return String::new();
    };
    tail(&String::from_utf8_lossy(&bytes), lines)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let mut out = all[start..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// How `stop` escalates when the daemon does not exit after a graceful shutdown.
#[derive(Clone, Copy, Debug)]
pub struct Escalation {
    /// Wait this long after asking for a graceful shutdown.
    pub graceful: Duration,
    /// Then SIGTERM and wait this long (skipped when `None`).
    pub term: Option<Duration>,
    /// Then SIGKILL and wait this long.
    pub kill: Duration,
}

/// How a daemon ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    Gracefully,
    Terminated,
    Killed,
}

/// Waits for `pid` to exit after a graceful shutdown was asked for, escalating to SIGTERM and then
/// SIGKILL. Removes the PID file when a signal had to end the daemon (it could not do so itself).
pub async fn wait_or_escalate(
    data_dir: &Path,
    pid: i32,
    escalation: Escalation,
) -> anyhow::Result<Stopped> {
    if wait_exit(pid, escalation.graceful).await {
        return Ok(Stopped::Gracefully);
    }
    let mut outcome = Stopped::Killed;
    if let Some(term) = escalation.term {
        send_signal(pid, Signal::TERM)?;
        if wait_exit(pid, term).await {
            outcome = Stopped::Terminated;
        }
    }
    if outcome == Stopped::Killed {
        send_signal(pid, Signal::KILL)?;
        if !wait_exit(pid, escalation.kill).await {
            anyhow::bail!("pid {pid} did not exit even after SIGKILL");
        }
    }
    if read_pid(data_dir) == Some(pid) {
        let _ = std::fs::remove_file(pid_file(data_dir));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb", 5), "a\nb\n");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn this_process_is_alive_and_pid_files_parse() {
        assert!(is_alive(std::process::id() as i32));
        assert!(!is_alive(0));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_pid(dir.path()), None);
        std::fs::write(pid_file(dir.path()), "1234\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_pid(dir.path()), Some(1234));
    }

    #[tokio::test]
    async fn escalation_terminates_a_process_that_ignores_the_graceful_request() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = child.id() as i32;
        std::fs::write(pid_file(dir.path()), format!("{pid}\n")).unwrap_or_else(|e| panic!("{e}"));
        let escalation = Escalation {
            graceful: Duration::from_millis(200),
            term: Some(Duration::from_secs(5)),
            kill: Duration::from_secs(5),
        };
        let outcome = wait_or_escalate(dir.path(), pid, escalation)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcome, Stopped::Terminated);
        assert!(!pid_file(dir.path()).exists());
        let _ = child.wait();
    }
}
