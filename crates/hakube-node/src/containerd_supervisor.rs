//! Keeping a node's containerd running: a task that checks it twice a second and restarts it
//! with back-off (1 s doubling to 30 s, reset once it has run for a minute), until told to stop,
//! and then stops it. CRI clients made before a restart keep working: their channel redials.

use crate::containerd::Containerd;
use std::time::Duration;

const CHECK_INTERVAL: Duration = Duration::from_millis(500);
const FIRST_BACK_OFF: Duration = Duration::from_secs(1);
const MAX_BACK_OFF: Duration = Duration::from_secs(30);
const STABLE_RUN: Duration = Duration::from_secs(60);

/// Handle to the supervision task; `stop` ends it and stops containerd.
#[derive(Debug)]
pub struct ContainerdSupervisor {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ContainerdSupervisor {
    /// Supervises `containerd` from now on.
    pub fn spawn(mut containerd: Containerd) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut back_off = FIRST_BACK_OFF;
            let mut running_since = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(CHECK_INTERVAL) => {}
                }
                if containerd.is_running() {
                    if running_since.elapsed() >= STABLE_RUN {
                        back_off = FIRST_BACK_OFF;
                    }
                    continue;
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    () = tokio::time::sleep(back_off) => {}
                }
                back_off = (back_off * 2).min(MAX_BACK_OFF);
                running_since = tokio::time::Instant::now();
                if let Err(error) = containerd.restart_if_exited().await {
                    tracing::error!(%error, "restarting containerd failed");
                }
            }
            if let Err(error) = containerd.stop().await {
                tracing::error!(%error, "stopping containerd failed");
            }
        });
        Self { stop, task }
    }

    /// Stops supervising and stops containerd; pods keep running in their shims.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops supervising but leaves containerd running (for a hakube restart).
    pub fn detach(self) {
        self.task.abort();
    }
}
