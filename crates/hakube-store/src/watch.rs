//! A watch on a key range: first the retained history after the requested revision, then live
//! events as they are applied. Bounded: live events come through a bounded broadcast channel,
//! and a watcher that falls too far behind is ended with [`WatchError::Lagged`] (it restarts
//! from its last revision, as a Kubernetes client does after an expired watch).

use std::collections::VecDeque;
use std::sync::Arc;

use thiserror::Error;
use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::mvcc::Event;
use crate::state_machine::StateMachine;

#[derive(Error, Debug, Clone, PartialEq, Eq)]
pub enum WatchError {
    #[error(
        "watch fell more than {0} events behind and was closed; restart it from the last revision seen"
    )]
    Lagged(u64),
    #[error("the datastore stopped")]
    Closed,
}

pub struct Watch {
    history: VecDeque<Arc<Event>>,
    live: broadcast::Receiver<Arc<Event>>,
    start: Vec<u8>,
    end: Option<Vec<u8>>,
    /// The highest revision delivered (or known to be covered by history).
    last_revision: u64,
    /// Live events at or below this revision are covered by `history` (or predate the
    /// watch). A revision can change several keys (a transaction, a lease revocation), so
    /// this is kept apart from `last_revision`: every event of a revision is delivered.
    covered_revision: u64,
}

impl Watch {
    pub(crate) fn start(
        machine: &StateMachine,
        start: &[u8],
        end: Option<&[u8]>,
        after_revision: u64,
    ) -> Result<Self, StoreError> {
        // Subscribe before reading history, so no event falls between the two.
        let live = machine.subscribe();
        let applied = machine.read();
        let current = applied.kv.revision();
        let history = if after_revision == 0 || after_revision >= current {
            VecDeque::new()
        } else {
            applied
                .kv
                .events_since(start, end, after_revision)?
                .into_iter()
                .map(Arc::new)
                .collect()
        };
        let last_revision = if after_revision == 0 {
            current
        } else {
            after_revision
        };
        let covered_revision = current.max(after_revision);
        Ok(Self {
            history,
            live,
            start: start.to_vec(),
            end: end.map(<[u8]>::to_vec),
            last_revision,
            covered_revision,
        })
    }

    fn in_range(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|end| key < end)
    }

    /// The next event in revision order; each event is delivered once (the events of one
    /// revision in the order they were applied).
    pub async fn next(&mut self) -> Result<Arc<Event>, WatchError> {
        if let Some(event) = self.history.pop_front() {
            self.last_revision = event.kv.mod_revision;
            return Ok(event);
        }
        loop {
            match self.live.recv().await {
                Ok(event) => {
                    if event.kv.mod_revision <= self.covered_revision
                        || !self.in_range(&event.kv.key)
                    {
                        continue;
                    }
                    self.last_revision = event.kv.mod_revision;
                    return Ok(event);
                }
                Err(broadcast::error::RecvError::Lagged(count)) => {
                    return Err(WatchError::Lagged(count));
                }
                Err(broadcast::error::RecvError::Closed) => return Err(WatchError::Closed),
            }
        }
    }

    pub fn last_revision(&self) -> u64 {
        self.last_revision
    }
}
