//! The Lease service. Grant and revoke go through the log; keep-alive and time-to-live need the
//! leader's deadlines and go through the [`crate::LeaseForwarder`].

use std::pin::Pin;

use etcd_client::proto::{
    PbLeaseGrantRequest, PbLeaseGrantResponse, PbLeaseKeepAliveRequest, PbLeaseKeepAliveResponse,
    PbLeaseLeasesRequest, PbLeaseLeasesResponse, PbLeaseRevokeRequest, PbLeaseRevokeResponse,
    PbLeaseService, PbLeaseStatus, PbLeaseTimeToLiveRequest, PbLeaseTimeToLiveResponse,
};
use futures::{Stream, StreamExt};
use hakube_store::Operation;
use rand::RngExt;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::{self, LEASE_NOT_FOUND};
use crate::{Api, store_api};

/// etcd's largest TTL (`MaxLeaseTTL`).
const MAX_LEASE_TTL: i64 = 9_000_000_000;

type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<PbLeaseKeepAliveResponse, Status>> + Send>>;

/// A lease id the proposer picks: random, positive, non-zero (etcd's ids are int64 > 0).
fn random_lease_id() -> i64 {
    UnwrapErr(SysRng).random_range(1..i64::MAX)
}

#[tonic::async_trait]
impl PbLeaseService for Api {
    async fn lease_grant(
        &self,
        request: Request<PbLeaseGrantRequest>,
    ) -> Result<Response<PbLeaseGrantResponse>, Status> {
        let request = request.into_inner();
        if request.ttl > MAX_LEASE_TTL {
            return Err(Status::out_of_range("etcdserver: too large lease TTL"));
        }
        if request.id < 0 {
            return Err(Status::invalid_argument(
                "etcdserver: lease ID must be positive",
            ));
        }
        let id = if request.id == 0 {
            random_lease_id()
        } else {
            request.id
        };
        // etcd raises tiny TTLs to its minimum; a TTL of at least one second is ours.
        let ttl = request.ttl.max(1);
        let response = self
            .store()
            .write(Operation::LeaseGrant {
                id,
                ttl_seconds: ttl,
            })
            .await
            .map_err(|e| error::store_error(&e))?;
        if !response.succeeded || response.txn_error.is_some() {
            let reason = response.failure.clone().unwrap_or_default();
            if reason.contains("exist") {
                return Err(Status::failed_precondition(
                    "etcdserver: lease already exists",
                ));
            }
            if let Some(txn_error) = &response.txn_error {
                return Err(error::txn_error(txn_error));
            }
            return Err(Status::internal(format!(
                "etcdserver: the datastore did not grant the lease: {reason}"
            )));
        }
        Ok(Response::new(PbLeaseGrantResponse {
            header: Some(self.header(response.revision)),
            id,
            ttl,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        request: Request<PbLeaseRevokeRequest>,
    ) -> Result<Response<PbLeaseRevokeResponse>, Status> {
        let id = request.into_inner().id;
        let response = self
            .store()
            .write(Operation::LeaseRevoke { id })
            .await
            .map_err(|e| error::store_error(&e))?;
        if let Some(txn_error) = &response.txn_error {
            return Err(error::txn_error(txn_error));
        }
        if !response.succeeded {
            let reason = response.failure.clone().unwrap_or_default();
            if reason.contains("not found") {
                return Err(Status::not_found(LEASE_NOT_FOUND));
            }
            return Err(Status::internal(format!(
                "etcdserver: the datastore did not revoke the lease: {reason}"
            )));
        }
        Ok(Response::new(PbLeaseRevokeResponse {
            header: Some(self.header(response.revision)),
        }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<PbLeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveStream>, Status> {
        let mut incoming = request.into_inner();
        let (tx, rx) = mpsc::channel(16);
        let api = Api {
            ctx: self.ctx.clone(),
        };
        tokio::spawn(async move {
            while let Some(Ok(request)) = incoming.next().await {
                let reply = match api.ctx.leases.keep_alive(request.id).await {
                    // etcd answers an unknown (or expired) lease with TTL 0.
                    Ok(ttl) => Ok(PbLeaseKeepAliveResponse {
                        header: Some(api.current_header()),
                        id: request.id,
                        ttl: ttl.unwrap_or(0),
                    }),
                    Err(error) => Err(error::store_error(&error)),
                };
                let failed = reply.is_err();
                if tx.send(reply).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<PbLeaseTimeToLiveRequest>,
    ) -> Result<Response<PbLeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let found = self
            .ctx
            .leases
            .time_to_live(request.id)
            .await
            .map_err(|e| error::store_error(&e))?;
        let header = Some(self.current_header());
        Ok(Response::new(match found {
            // etcd answers an unknown lease with TTL -1.
            None => PbLeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            },
            Some(lease) => PbLeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: lease.ttl,
                granted_ttl: lease.granted_ttl,
                keys: if request.keys { lease.keys } else { Vec::new() },
            },
        }))
    }

    async fn lease_leases(
        &self,
        _request: Request<PbLeaseLeasesRequest>,
    ) -> Result<Response<PbLeaseLeasesResponse>, Status> {
        self.linearize().await?;
        let applied = self.store().machine().read();
        let leases = store_api::lease_ids(&applied.kv)
            .into_iter()
            .map(|id| PbLeaseStatus { id })
            .collect();
        Ok(Response::new(PbLeaseLeasesResponse {
            header: Some(self.header(applied.kv.revision())),
            leases,
        }))
    }
}
