//! The simulation's peer transport: length-prefixed postcard frames over
//! `turmoil::net::TcpStream`, one connection per request, mirroring the real peer RPCs of
//! `hakube-cluster` (`/raft/append`, `/raft/vote`, `/raft/snapshot`, `/raft/transfer-leader`,
//! `/store/write`, `/store/read-index`) plus the two client requests that the API server would
//! make on a node (a write and a linearizable get through that node's `Store`).
//!
//! Owns: the wire format, the server loop of a node, the client side of a call (with a connect
//! timeout and an overall timeout: turmoil TCP does not retransmit, a partition eats the reply),
//! openraft's `RaftNetworkFactory`/`RaftNetworkV2`, and hakube-store's `Forwarder`.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use openraft::errors::{
    NetworkError, RPCError, RaftError, ReplicationClosed, StreamingError, Unreachable,
};
use openraft::network::v2::RaftNetworkV2;
use openraft::network::{RPCOption, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use turmoil::net::{TcpListener, TcpStream};

use hakube_store::append_pipeline;
use hakube_store::mvcc::KeyValue;
use hakube_store::types::{Snapshot, SnapshotData, SnapshotMeta, Vote};
use hakube_store::{
    Command, CommandResponse, Consistency, Forwarder, Member, NodeId, Operation, Store, StoreError,
    TypeConfig,
};

/// The port every node serves on.
pub const PEER_PORT: u16 = 19001;
const MAX_FRAME: usize = 64 * 1024 * 1024;
/// How long a connection attempt may take before the peer counts as unreachable (nothing sent).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// A peer counts as reachable this long after its last answer (as `hakube-cluster`'s health).
const REACHABLE_WINDOW: Duration = Duration::from_secs(3);

/// One request frame.
#[derive(Serialize, Deserialize)]
pub enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    /// Opens a pipelined append stream on this connection (`append_stream`): then
    /// AppendEntries frames one way, their answers the other.
    StreamAppend,
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Snapshot(Vote, SnapshotMeta, Vec<u8>),
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// A follower's `Store` forwards a write to the leader (`/store/write`).
    Write(Command),
    /// A follower's `Store` asks the leader for a read index (`/store/read-index`).
    ReadIndex,
    /// A client writes through this node's `Store::write`.
    ClientWrite(Operation),
    /// A client reads a key through this node's `Store::get` (linearizable).
    ClientGet(Vec<u8>),
}

/// The answer to [`Request::ClientGet`]: the value and whether it was served stale.
pub type GetReply = Result<(Option<KeyValue>, bool), StoreError>;

/// Why a call failed.
#[derive(Debug, Clone)]
pub enum CallError {
    /// The connection could not be made: the request was certainly not sent.
    Unreachable(String),
    /// The request may have been delivered; no (decodable) answer came back.
    Lost(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unreachable(m) => write!(f, "unreachable: {m}"),
            CallError::Lost(m) => write!(f, "no answer: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

pub(crate) async fn write_frame(
    stream: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("frame too large"))?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(bytes).await?;
    stream.flush().await
}

pub(crate) async fn read_frame(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await?;
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::other(format!("frame of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Connects to `address` and sends `request`, within the connect timeout.
pub(crate) async fn connect(address: &str, request: &Request) -> Result<TcpStream, CallError> {
    let bytes = postcard::to_stdvec(request)
        .map_err(|e| CallError::Unreachable(format!("unencodable request: {e}")))?;
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(CallError::Unreachable(format!("{address}: {e}"))),
        Err(_) => {
            return Err(CallError::Unreachable(format!(
                "{address}: connect timed out"
            )));
        }
    };
    write_frame(&mut stream, &bytes)
        .await
        .map_err(|e| CallError::Lost(format!("{address}: {e}")))?;
    Ok(stream)
}

/// Sends `request` to `address` and decodes the answer as `Resp`.
pub async fn call<Resp: DeserializeOwned>(
    address: &str,
    request: &Request,
    timeout: Duration,
) -> Result<Resp, CallError> {
    let mut stream = connect(address, request).await?;
    let exchange = read_frame(&mut stream);
    let reply = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => return Err(CallError::Lost(format!("{address}: {e}"))),
        Err(_) => {
            return Err(CallError::Lost(format!(
                "{address}: no answer within {} ms",
                timeout.as_millis()
            )));
        }
    };
    postcard::from_bytes(&reply).map_err(|e| CallError::Lost(format!("undecodable reply: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // A reply that cannot be encoded is answered with nothing; the caller times out.
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Answers one request on this node.
async fn handle(store: &Store, request: Request) -> Vec<u8> {
    let raft = store.raft();
    match request {
        Request::Append(rpc) => encode(&raft.append_entries(rpc).await),
        // Handled by `serve` before it gets here: the connection becomes a stream.
        Request::StreamAppend => Vec::new(),
        Request::Vote(rpc) => encode(&store.vote(rpc).await),
        Request::PreVote(rpc) => encode(&store.pre_vote(rpc).await),
        Request::Snapshot(vote, meta, data) => {
            let snapshot = Snapshot {
                meta,
                snapshot: Cursor::new(data),
            };
            let result: Result<SnapshotResponse<TypeConfig>, RaftError<TypeConfig>> = raft
                .install_full_snapshot(vote, snapshot)
                .await
                .map_err(RaftError::Fatal);
            encode(&result)
        }
        Request::TransferLeader(rpc) => {
            let result = raft.handle_transfer_leader(rpc).await;
            encode(&result.map_err(RaftError::<TypeConfig>::Fatal))
        }
        Request::Write(command) => encode(&store.propose_as_leader(command).await),
        Request::ReadIndex => encode(&store.read_index_as_leader().await),
        Request::ClientWrite(operation) => encode(&store.write(operation).await),
        Request::ClientGet(key) => {
            let reply: GetReply = store
                .get(&key, None, Consistency::Linearizable)
                .await
                .map(|(value, info)| (value, info.stale));
            encode(&reply)
        }
    }
}

/// Serves this node's requests until the host crashes.
pub async fn serve(store: Store) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", PEER_PORT)).await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        let store = store.clone();
        tokio::spawn(async move {
            let Ok(bytes) = read_frame(&mut stream).await else {
                return;
            };
            let Ok(request) = postcard::from_bytes::<Request>(&bytes) else {
                return;
            };
            if matches!(request, Request::StreamAppend) {
                crate::append_stream::serve(&store, stream).await;
                return;
            }
            let reply = handle(&store, request).await;
            let _ = write_frame(&mut stream, &reply).await;
        });
    }
}

/// Per peer address: the last answer, and whether the latest attempt failed.
type PeerTable = BTreeMap<String, (Option<Instant>, bool)>;

/// Who answered recently, in simulated time (the `PeerHealth` of the real node).
#[derive(Clone, Default)]
pub struct Reachability {
    peers: Arc<Mutex<PeerTable>>,
}

impl Reachability {
    pub(crate) fn record(&self, address: &str, success: bool) {
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let entry = peers.entry(address.to_string()).or_insert((None, false));
        if success {
            entry.0 = Some(Instant::now());
        }
        entry.1 = !success;
    }

    fn is_reachable(&self, address: &str) -> bool {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers.get(address).is_some_and(|(last, failed)| {
            !failed && last.is_some_and(|t| t.elapsed() <= REACHABLE_WINDOW)
        })
    }

    async fn call<Resp: DeserializeOwned>(
        &self,
        address: &str,
        request: &Request,
        timeout: Duration,
    ) -> Result<Resp, CallError> {
        let result = call(address, request, timeout).await;
        self.record(address, result.is_ok());
        result
    }
}

/// openraft's network factory on the simulated transport.
#[derive(Clone)]
pub struct SimNetwork {
    reach: Reachability,
}

impl SimNetwork {
    pub fn new(reach: Reachability) -> Self {
        Self { reach }
    }
}

impl RaftNetworkFactory<TypeConfig> for SimNetwork {
    type Network = SimConnection;

    async fn new_client(&mut self, _target: NodeId, node: &Member) -> Self::Network {
        SimConnection {
            reach: self.reach.clone(),
            address: node.peer_address.clone(),
        }
    }
}

pub struct SimConnection {
    reach: Reachability,
    address: String,
}

impl SimConnection {
    async fn request<Resp>(
        &self,
        request: Request,
        timeout: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Result<Resp, RaftError<TypeConfig>>: DeserializeOwned,
    {
        let reply: Result<Resp, RaftError<TypeConfig>> = self
            .reach
            .call(&self.address, &request, timeout)
            .await
            .map_err(|error| match error {
                CallError::Unreachable(_) => RPCError::Unreachable(Unreachable::new(&error)),
                CallError::Lost(_) => RPCError::Network(NetworkError::new(&error)),
            })?;
        reply.map_err(|e| RPCError::Network(NetworkError::new(&e)))
    }
}

impl RaftNetworkV2<TypeConfig> for SimConnection {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(Request::Append(request), option.soft_ttl())
            .await
    }

    /// Pipelined, as the real peer transport: every request goes out as soon as openraft
    /// builds it.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> openraft::base::BoxFuture<
        's,
        Result<openraft::base::BoxStream<'s, append_pipeline::Outcome>, RPCError<TypeConfig>>,
    >
    where
        S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        let opened = crate::append_stream::open(
            self.reach.clone(),
            self.address.clone(),
            input,
            option.soft_ttl(),
        );
        Box::pin(async move {
            let answers: openraft::base::BoxStream<'s, append_pipeline::Outcome> = opened.await?;
            Ok(answers)
        })
    }

    async fn vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(Request::Vote(request), option.soft_ttl())
            .await
    }

    async fn pre_vote(
        &mut self,
        request: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(Request::PreVote(request), option.soft_ttl())
            .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let request = Request::Snapshot(vote, snapshot.meta, snapshot.snapshot.into_inner());
        let timeout = option.hard_ttl().max(Duration::from_secs(10));
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            reply = self.request(request, timeout) => Ok(reply?),
        }
    }

    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.request(Request::TransferLeader(request), option.soft_ttl())
            .await
    }
}

/// hakube-store's `Forwarder` on the simulated transport (the real `PeerForwarder`).
pub struct SimForwarder {
    reach: Reachability,
    /// Peer address of every member, by id (for `is_reachable`).
    addresses: BTreeMap<NodeId, String>,
    timeout: Duration,
}

impl SimForwarder {
    pub fn new(
        reach: Reachability,
        addresses: BTreeMap<NodeId, String>,
        timeout: Duration,
    ) -> Self {
        Self {
            reach,
            addresses,
            timeout,
        }
    }
}

fn transport_error(error: CallError) -> StoreError {
    match error {
        CallError::Unreachable(m) => StoreError::LeaderUnreachable(m),
        CallError::Lost(m) => StoreError::OutcomeUnknown(m),
    }
}

impl Forwarder for SimForwarder {
    fn forward_write(
        &self,
        leader: Member,
        command: Command,
    ) -> BoxFuture<'static, Result<CommandResponse, StoreError>> {
        let reach = self.reach.clone();
        let timeout = self.timeout + Duration::from_secs(1);
        async move {
            let reply: Result<CommandResponse, StoreError> = reach
                .call(&leader.peer_address, &Request::Write(command), timeout)
                .await
                .map_err(transport_error)?;
            reply
        }
        .boxed()
    }

    fn read_index(&self, leader: Member) -> BoxFuture<'static, Result<u64, StoreError>> {
        let reach = self.reach.clone();
        let timeout = self.timeout;
        async move {
            let reply: Result<u64, StoreError> = reach
                .call(&leader.peer_address, &Request::ReadIndex, timeout)
                .await
                .map_err(transport_error)?;
            reply
        }
        .boxed()
    }

    fn is_reachable(&self, node: NodeId) -> bool {
        self.addresses
            .get(&node)
            .is_some_and(|address| self.reach.is_reachable(address))
    }
}
