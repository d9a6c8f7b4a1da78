//! The Cluster service (member list from the Raft membership) and the Maintenance service
//! (status, snapshot, alarms, hashes, defragment).

use std::pin::Pin;

use etcd_client::proto::{
    PbAlarmRequest, PbAlarmResponse, PbClusterService, PbDefragmentRequest, PbDefragmentResponse,
    PbDowngradeRequest, PbDowngradeResponse, PbHashKvRequest, PbHashKvResponse, PbHashRequest,
    PbHashResponse, PbMaintenanceService, PbMember, PbMemberAddRequest, PbMemberAddResponse,
    PbMemberListRequest, PbMemberListResponse, PbMemberPromoteRequest, PbMemberPromoteResponse,
    PbMemberRemoveRequest, PbMemberRemoveResponse, PbMemberUpdateRequest, PbMemberUpdateResponse,
    PbMoveLeaderRequest, PbMoveLeaderResponse, PbSnapshotRequest, PbSnapshotResponse,
    PbStatusRequest, PbStatusResponse,
};
use futures::Stream;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::error::read_error;
use crate::{Api, ETCD_VERSION, store_api};

const MEMBERSHIP_IS_HAKUBES: &str = "etcdserver: membership is managed by hakube: use `hakube add-node`/`join`, `leave` or `remove-node`";
/// Bytes per snapshot message.
const SNAPSHOT_CHUNK: usize = 64 * 1024;

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<PbSnapshotResponse, Status>> + Send>>;

impl Api {
    fn members(&self) -> Vec<PbMember> {
        let status = self.store().status();
        status
            .members
            .iter()
            .map(|(id, member)| {
                let host = member
                    .peer_address
                    .rsplit_once(':')
                    .map_or(member.peer_address.as_str(), |(host, _)| host);
                PbMember {
                    id: *id,
                    name: member.name.clone(),
                    peer_ur_ls: vec![format!("https://{}", member.peer_address)],
                    client_ur_ls: vec![format!("https://{host}:{}", self.ctx.client_port)],
                    is_learner: status.learners.contains(id),
                }
            })
            .collect()
    }
}

#[tonic::async_trait]
impl PbClusterService for Api {
    async fn member_add(
        &self,
        _request: Request<PbMemberAddRequest>,
    ) -> Result<Response<PbMemberAddResponse>, Status> {
        Err(Status::failed_precondition(MEMBERSHIP_IS_HAKUBES))
    }

    async fn member_remove(
        &self,
        _request: Request<PbMemberRemoveRequest>,
    ) -> Result<Response<PbMemberRemoveResponse>, Status> {
        Err(Status::failed_precondition(MEMBERSHIP_IS_HAKUBES))
    }

    async fn member_update(
        &self,
        _request: Request<PbMemberUpdateRequest>,
    ) -> Result<Response<PbMemberUpdateResponse>, Status> {
        Err(Status::failed_precondition(MEMBERSHIP_IS_HAKUBES))
    }

    async fn member_list(
        &self,
        request: Request<PbMemberListRequest>,
    ) -> Result<Response<PbMemberListResponse>, Status> {
        if request.into_inner().linearizable {
            self.linearize().await?;
        }
        Ok(Response::new(PbMemberListResponse {
            header: Some(self.current_header()),
            members: self.members(),
        }))
    }

    async fn member_promote(
        &self,
        _request: Request<PbMemberPromoteRequest>,
    ) -> Result<Response<PbMemberPromoteResponse>, Status> {
        Err(Status::failed_precondition(MEMBERSHIP_IS_HAKUBES))
    }
}

#[tonic::async_trait]
impl PbMaintenanceService for Api {
    async fn alarm(
        &self,
        _request: Request<PbAlarmRequest>,
    ) -> Result<Response<PbAlarmResponse>, Status> {
        // hakube raises no alarms (a full disk refuses writes with its own error instead).
        Ok(Response::new(PbAlarmResponse {
            header: Some(self.current_header()),
            alarms: Vec::new(),
        }))
    }

    async fn status(
        &self,
        _request: Request<PbStatusRequest>,
    ) -> Result<Response<PbStatusResponse>, Status> {
        let status = self.store().status();
        let (size, revision) = {
            let applied = self.store().machine().read();
            (
                store_api::approximate_size(&applied.kv),
                applied.kv.revision(),
            )
        };
        let mut errors = Vec::new();
        if status.leader.is_none() {
            errors.push("etcdserver: no leader".to_string());
        } else if !status.quorum {
            errors.push(format!(
                "read-only: quorum lost ({} of {} voters reachable)",
                status.reachable_voters,
                status.voters.len()
            ));
        }
        Ok(Response::new(PbStatusResponse {
            header: Some(self.header(revision)),
            version: ETCD_VERSION.into(),
            db_size: size,
            leader: status.leader.unwrap_or(0),
            raft_index: status.committed_index,
            raft_term: status.term,
            raft_applied_index: status.applied_index,
            errors,
            db_size_in_use: size,
            is_learner: status.learners.contains(&status.node_id),
            storage_version: String::new(),
            db_size_quota: 0,
            downgrade_info: None,
        }))
    }

    async fn defragment(
        &self,
        _request: Request<PbDefragmentRequest>,
    ) -> Result<Response<PbDefragmentResponse>, Status> {
        tracing::info!(
            "etcd API: defragment requested; nothing to do (the state lives in memory and the log is purged after snapshots)"
        );
        Ok(Response::new(PbDefragmentResponse {
            header: Some(self.current_header()),
        }))
    }

    async fn hash(
        &self,
        _request: Request<PbHashRequest>,
    ) -> Result<Response<PbHashResponse>, Status> {
        let applied = self.store().machine().read();
        let (hash, revision) = store_api::hash_kv(&applied.kv, 0).map_err(|e| read_error(&e))?;
        Ok(Response::new(PbHashResponse {
            header: Some(self.header(revision)),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<PbHashKvRequest>,
    ) -> Result<Response<PbHashKvResponse>, Status> {
        let revision = request.into_inner().revision;
        let applied = self.store().machine().read();
        let (hash, hash_revision) =
            store_api::hash_kv(&applied.kv, revision).map_err(|e| read_error(&e))?;
        Ok(Response::new(PbHashKvResponse {
            header: Some(self.header(applied.kv.revision())),
            hash,
            compact_revision: applied.kv.compact_revision() as i64,
            hash_revision: hash_revision as i64,
        }))
    }

    type SnapshotStream = SnapshotStream;

    /// The whole key space at one revision, in hakube's backup format (as `hakube dbctl
    /// backup` writes it), zero-padded to a multiple of 512 bytes and followed by the SHA-256
    /// of everything before it, which is what `etcdctl snapshot save` checks for.
    async fn snapshot(
        &self,
        _request: Request<PbSnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        self.linearize().await?;
        let (kv, revision) = {
            let applied = self.store().machine().read();
            (applied.kv.clone(), applied.kv.revision())
        };
        let bytes = tokio::task::spawn_blocking(move || snapshot_bytes(kv))
            .await
            .map_err(|e| Status::internal(format!("etcdserver: snapshot: {e}")))?
            .map_err(|e| Status::internal(format!("etcdserver: snapshot: {e}")))?;
        tracing::info!(
            revision,
            bytes = bytes.len(),
            "etcd API: streaming a snapshot"
        );
        let header = self.header(revision);
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            let total = bytes.len();
            let mut sent = 0;
            for chunk in bytes.chunks(SNAPSHOT_CHUNK) {
                sent += chunk.len();
                let message = PbSnapshotResponse {
                    header: Some(header),
                    remaining_bytes: (total - sent) as u64,
                    blob: chunk.to_vec(),
                    version: ETCD_VERSION.into(),
                };
                if tx.send(Ok(message)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn move_leader(
        &self,
        _request: Request<PbMoveLeaderRequest>,
    ) -> Result<Response<PbMoveLeaderResponse>, Status> {
        Err(Status::failed_precondition(
            "etcdserver: leadership is managed by hakube (`hakube stop` hands it over)",
        ))
    }

    async fn downgrade(
        &self,
        _request: Request<PbDowngradeRequest>,
    ) -> Result<Response<PbDowngradeResponse>, Status> {
        Err(Status::unimplemented(
            "etcdserver: downgrade is not supported by hakube",
        ))
    }
}

/// The backup format, padded, with a trailing SHA-256 (etcd's snapshot framing).
pub fn snapshot_bytes(kv: hakube_store::mvcc::KeyValueState) -> std::io::Result<Vec<u8>> {
    let file = hakube_store::backup::BackupFile {
        format_version: 1,
        revision: kv.revision(),
        created_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        kv,
    };
    let mut bytes = hakube_store::record::encode(&file)?;
    let padded = bytes.len().div_ceil(512) * 512;
    bytes.resize(padded, 0);
    let digest = Sha256::digest(&bytes);
    bytes.extend_from_slice(&digest);
    Ok(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_has_etcds_framing() {
        let bytes = snapshot_bytes(hakube_store::mvcc::KeyValueState::new()).unwrap();
        // etcdctl's check: size % 512 == sha256.Size.
        assert_eq!(bytes.len() % 512, 32);
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        assert_eq!(Sha256::digest(body).as_slice(), sum);
    }
}
