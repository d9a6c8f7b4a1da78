//! Votes held back after a start, so that lease reads stay linearizable across restarts.
//!
//! A leader answers a linearizable read from its own replica while a quorum acknowledged it
//! recently ([`crate::Store::read_index_as_leader`]). That rests on openraft's leader lease:
//! a voter refuses every other candidate until a full lease has passed since it last heard
//! from its leader. The voter keeps that memory only in RAM, so a voter that restarts would
//! forget it and could help elect a new leader while the old one still reads from its lease.
//! Holding back every vote and pre-vote a node is asked for during the first lease after its
//! start restores the rule (openraft's own note on restarts says the same).

use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
pub struct VoteGuard {
    open_at: Instant,
}

impl VoteGuard {
    /// A guard that opens one `lease` after now.
    pub fn new(lease: Duration) -> Self {
        Self {
            open_at: Instant::now() + lease,
        }
    }

    /// Waits until this node may vote. A candidate that gave up meanwhile lost nothing: its
    /// request timed out and counts as a refusal.
    pub async fn wait(&self) {
        tokio::time::sleep_until(self.open_at).await;
    }

    pub fn is_open(&self) -> bool {
        Instant::now() >= self.open_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn votes_wait_until_one_lease_after_the_start() {
        let lease = Duration::from_millis(50);
        let started = Instant::now();
        let guard = VoteGuard::new(lease);
        assert!(!guard.is_open());
        guard.wait().await;
        assert!(started.elapsed() >= lease);
        assert!(guard.is_open());
        // Once open, it stays open and does not wait again.
        guard.wait().await;
        assert!(guard.is_open());
    }
}
