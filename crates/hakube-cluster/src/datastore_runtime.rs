//! The datastore's own tokio runtime. Raft's core, its replication to followers and the peer
//! server (where heartbeats, votes and forwarded writes arrive) run on threads of their own,
//! so synchronous work on the main runtime's two workers (a scheduling round over thousands
//! of pods, a large LIST being encoded) cannot delay a heartbeat into a spurious election.
//! One per process, for its whole life: a daemon that starts another `Node` (after a join or
//! a restore) reuses it.

use std::sync::OnceLock;

use anyhow::Context;
use tokio::runtime::{Builder, Runtime};

/// Workers of the datastore runtime: one to keep heartbeats flowing while the other applies
/// or answers a forwarded write.
const WORKER_THREADS: usize = 2;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The datastore runtime, built on first use.
pub fn get() -> anyhow::Result<&'static Runtime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let runtime = Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("hakube-datastore")
        .enable_all()
        .build()
        .context("starting the datastore runtime")?;
    // A racing caller may have set it first: use theirs (this one is dropped unused, outside
    // any async context because nothing ran on it).
    if let Err(unused) = RUNTIME.set(runtime) {
        std::thread::spawn(move || drop(unused));
    }
    RUNTIME
        .get()
        .context("the datastore runtime was not kept (a bug)")
}

/// Runs `future` on the datastore runtime and waits for its outcome from any runtime.
pub async fn run<F>(future: F) -> anyhow::Result<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    get()?
        .spawn(future)
        .await
        .context("a datastore runtime task stopped")
}
