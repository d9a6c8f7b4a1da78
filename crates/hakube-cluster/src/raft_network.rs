//! openraft's network: each Raft RPC is one POST over the peer transport. Connection errors map
//! to `Unreachable` (openraft backs off), everything else to `Network`.

use std::future::Future;
use std::time::Duration;

use futures::Stream;
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use hakube_store::types::{Snapshot, SnapshotData, Vote};
use hakube_store::{Member, NodeId, TypeConfig};

use crate::peer_client::{PeerClient, PeerError};

pub const APPEND_PATH: &str = "/raft/append";
pub const VOTE_PATH: &str = "/raft/vote";
pub const PRE_VOTE_PATH: &str = "/raft/pre-vote";
pub const SNAPSHOT_PATH: &str = "/raft/snapshot";
pub const TRANSFER_LEADER_PATH: &str = "/raft/transfer-leader";

/// One answer of a pipelined append stream.
type StreamOutcome = hakube_store::append_pipeline::Outcome;

/// Creates one [`PeerConnection`] per replication target.
#[derive(Clone)]
pub struct RaftNetwork {
    client: PeerClient,
    minimum_timeout: Duration,
}

impl RaftNetwork {
    /// `minimum_timeout` bounds every RPC from below: openraft's soft TTL for a heartbeat is a
    /// fraction of the heartbeat interval, and on a loaded machine a reply that takes a little
    /// longer is still a good reply (timing it out starves the leader of acknowledgements).
    pub fn new(client: PeerClient, minimum_timeout: Duration) -> Self {
        Self {
            client,
            minimum_timeout,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for RaftNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, _target: NodeId, node: &Member) -> Self::Network {
        PeerConnection {
            client: self.client.clone(),
            address: node.peer_address.clone(),
            minimum_timeout: self.minimum_timeout,
        }
    }
}

pub struct PeerConnection {
    client: PeerClient,
    address: String,
    minimum_timeout: Duration,
}

impl PeerConnection {
    async fn request<Req, Resp>(
        &self,
        path: &str,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Result<Resp, RaftError<TypeConfig>>: DeserializeOwned,
    {
        let timeout = timeout.max(self.minimum_timeout);
        let reply: Result<Resp, RaftError<TypeConfig>> = self
            .client
            .call(&self.address, path, request, timeout)
            .await
            .map_err(rpc_error)?;
        reply.map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

/// A transport failure as openraft sees it: an unreachable peer is backed off from.
pub fn rpc_error(error: PeerError) -> RPCError<TypeConfig> {
    match error {
        PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&error)),
        _ => RPCError::Network(NetworkError::new(&error)),
    }
}

impl RaftNetworkV2<TypeConfig> for PeerConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let timeout = hakube_store::append_pipeline::answer_budget(&request, option.soft_ttl());
        self.request(APPEND_PATH, &request, timeout).await
    }

    /// Pipelined: every request goes out as soon as openraft builds it (`append_stream`).
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, StreamOutcome>, RPCError<TypeConfig>>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        let soft_ttl = option.soft_ttl().max(self.minimum_timeout);
        let opened =
            crate::append_stream::open(self.client.clone(), self.address.clone(), input, soft_ttl);
        Box::pin(async move {
            let answers: BoxStream<'s, StreamOutcome> = opened.await?;
            Ok(answers)
        })
    }

    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(VOTE_PATH, &request, option.soft_ttl()).await
    }

    /// Pre-vote keeps a node that was cut off from forcing a term bump (and a leader change)
    /// when it comes back.
    async fn pre_vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(PRE_VOTE_PATH, &request, option.soft_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let request = (vote, snapshot.meta, snapshot.snapshot.into_inner());
        // A snapshot may be large: give it longer than a heartbeat-sized RPC.
        let timeout = option.hard_ttl().max(Duration::from_secs(60));
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            reply = self.request(SNAPSHOT_PATH, &request, timeout) => Ok(reply?),
        }
    }

    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(TRANSFER_LEADER_PATH, &request, option.soft_ttl())
            .await
    }
}
