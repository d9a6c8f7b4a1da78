//! Who answered recently. Every node pings every known peer; "reachable" means a ping
//! succeeded within the last few seconds. Used by status, by the quorum-lost message
//! ("2 of 3 voters reachable") and by the role manager (a voter unreachable for longer than the
//! replacement delay is replaced).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hakube_store::NodeId;

/// A peer counts as reachable this long after its last answer.
pub const REACHABLE_WINDOW: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
struct PeerState {
    last_success: Option<Instant>,
    /// When the current run of failures began.
    unreachable_since: Option<Instant>,
}

#[derive(Clone, Default)]
pub struct PeerHealth {
    peers: Arc<Mutex<BTreeMap<NodeId, PeerState>>>,
    /// When this tracker started: a peer never heard from counts as unreachable since then.
    started: Arc<Mutex<Option<Instant>>>,
}

impl PeerHealth {
    pub fn new() -> Self {
        let health = Self::default();
        if let Ok(mut started) = health.started.lock() {
            *started = Some(Instant::now());
        }
        health
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<NodeId, PeerState>) -> T) -> T {
        // A poisoned map only means a panic elsewhere mid-update; the data is still usable.
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut peers)
    }

    pub fn record(&self, node: NodeId, success: bool) {
        let now = Instant::now();
        self.with(|peers| {
            let state = peers.entry(node).or_insert(PeerState {
                last_success: None,
                unreachable_since: None,
            });
            if success {
                state.last_success = Some(now);
                state.unreachable_since = None;
            } else if state.unreachable_since.is_none() {
                state.unreachable_since = Some(state.last_success.unwrap_or(now));
            }
        });
    }

    pub fn is_reachable(&self, node: NodeId) -> bool {
        self.with(|peers| {
            // The latest attempt failing counts at once: a refused connection is certain news.
            peers.get(&node).is_some_and(|s| {
                s.unreachable_since.is_none()
                    && s.last_success
                        .is_some_and(|t| t.elapsed() <= REACHABLE_WINDOW)
            })
        })
    }

    /// How long the peer has been unreachable (zero when reachable).
    pub fn unreachable_for(&self, node: NodeId) -> Duration {
        if self.is_reachable(node) {
            return Duration::ZERO;
        }
        let started = self
            .started
            .lock()
            .ok()
            .and_then(|s| *s)
            .unwrap_or_else(Instant::now);
        self.with(|peers| {
            let since = peers
                .get(&node)
                .and_then(|s| s.unreachable_since.or(s.last_success))
                .unwrap_or(started);
            since.elapsed()
        })
    }

    pub fn forget(&self, node: NodeId) {
        self.with(|peers| peers.remove(&node));
    }
}
