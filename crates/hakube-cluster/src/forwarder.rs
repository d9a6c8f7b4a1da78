//! The store's [`Forwarder`] over the peer transport: writes and read-index requests go to the
//! leader's `/store/*` endpoints; reachability comes from [`PeerHealth`].

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use hakube_store::{Command, CommandResponse, Forwarder, Member, NodeId, StoreError};

use crate::health::PeerHealth;
use crate::peer_client::{PeerClient, PeerError};

pub const WRITE_PATH: &str = "/store/write";
pub const READ_INDEX_PATH: &str = "/store/read-index";

pub struct PeerForwarder {
    client: PeerClient,
    health: PeerHealth,
    timeout: Duration,
}

impl PeerForwarder {
    pub fn new(client: PeerClient, health: PeerHealth, timeout: Duration) -> Self {
        Self {
            client,
            health,
            timeout,
        }
    }
}

fn transport_error(error: PeerError) -> StoreError {
    match error {
        // The request never reached the leader: nothing changed.
        PeerError::Unreachable { .. } => StoreError::LeaderUnreachable(error.to_string()),
        _ => StoreError::OutcomeUnknown(error.to_string()),
    }
}

impl Forwarder for PeerForwarder {
    fn forward_write(
        &self,
        leader: Member,
        command: Command,
    ) -> BoxFuture<'static, Result<CommandResponse, StoreError>> {
        let client = self.client.clone();
        // The leader's own commit timeout applies first; this one only catches a vanished leader.
        let timeout = self.timeout + Duration::from_secs(1);
        async move {
            let reply: Result<CommandResponse, StoreError> = client
                .call(&leader.peer_address, WRITE_PATH, &command, timeout)
                .await
                .map_err(transport_error)?;
            reply
        }
        .boxed()
    }

    fn read_index(&self, leader: Member) -> BoxFuture<'static, Result<u64, StoreError>> {
        let client = self.client.clone();
        let timeout = self.timeout;
        async move {
            let reply: Result<u64, StoreError> = client
                .call(&leader.peer_address, READ_INDEX_PATH, &(), timeout)
                .await
                .map_err(transport_error)?;
            reply
        }
        .boxed()
    }

    fn is_reachable(&self, node: NodeId) -> bool {
        self.health.is_reachable(node)
    }
}
