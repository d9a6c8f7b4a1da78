//! The KV service: Range reads the local replica (after a read barrier unless serializable);
//! Put, DeleteRange and Txn are one `Operation::Txn` each; Compact is `Operation::Compact`.

use std::pin::Pin;

use etcd_client::proto::{
    PbCompactionRequest, PbCompactionResponse, PbDeleteRequest, PbDeleteResponse, PbKvService,
    PbPutRequest, PbPutResponse, PbRangeRequest, PbRangeResponse, PbRangeStreamResponse,
    PbTxnRequest, PbTxnResponse,
};
use futures::Stream;
use hakube_store::txn::{Txn, TxnOp, TxnOpOutput, TxnOutput};
use hakube_store::{CommandResponse, Operation};
use tonic::{Request, Response, Status};

use crate::convert::{self, range_fields};
use crate::error::{self, COMPACTED, FUTURE_REVISION};
use crate::{Api, store_api};

impl Api {
    /// Waits until the local replica reflects every acknowledged write, or fails.
    pub(crate) async fn linearize(&self) -> Result<(), Status> {
        if self.store().read_barrier().await {
            return Ok(());
        }
        Err(Status::unavailable(
            "etcdserver: linearizable read failed: the leader could not confirm it with a quorum (read-only: quorum lost?); serializable reads (--consistency=s) answer from this member",
        ))
    }

    /// Proposes a transaction; its output and the revision after it.
    pub(crate) async fn propose_txn(&self, txn: Txn) -> Result<(TxnOutput, u64), Status> {
        let response = self
            .store()
            .write(Operation::Txn(txn))
            .await
            .map_err(|e| error::store_error(&e))?;
        txn_result(response)
    }
}

fn txn_result(response: CommandResponse) -> Result<(TxnOutput, u64), Status> {
    if let Some(txn_error) = &response.txn_error {
        return Err(error::txn_error(txn_error));
    }
    match response.txn {
        Some(output) => Ok((output, response.revision)),
        None => Err(Status::internal(format!(
            "etcdserver: the datastore did not apply the transaction: {}",
            response.failure.as_deref().unwrap_or("no reason given")
        ))),
    }
}

fn single(txn_op: TxnOp) -> Txn {
    Txn {
        compares: Vec::new(),
        success: vec![txn_op],
        failure: Vec::new(),
    }
}

type RangeStream = Pin<Box<dyn Stream<Item = Result<PbRangeStreamResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PbKvService for Api {
    async fn range(
        &self,
        request: Request<PbRangeRequest>,
    ) -> Result<Response<PbRangeResponse>, Status> {
        let request = request.into_inner();
        let serializable = request.serializable;
        let op = convert::range_op(range_fields!(request))?;
        if !serializable {
            self.linearize().await?;
        }
        let (output, revision) = {
            let applied = self.store().machine().read();
            let output = store_api::range_op(&applied.kv, &op).map_err(|e| error::txn_error(&e))?;
            (output, applied.kv.revision())
        };
        Ok(Response::new(convert::range_response(
            self.header(revision),
            &output,
        )))
    }

    type RangeStreamStream = RangeStream;

    async fn range_stream(
        &self,
        _request: Request<PbRangeRequest>,
    ) -> Result<Response<RangeStream>, Status> {
        Err(Status::unimplemented(
            "etcdserver: RangeStream is not supported; use Range with a limit",
        ))
    }

    async fn put(&self, request: Request<PbPutRequest>) -> Result<Response<PbPutResponse>, Status> {
        let r = request.into_inner();
        let op = convert::put_op(
            r.key,
            r.value,
            r.lease,
            r.prev_kv,
            r.ignore_value,
            r.ignore_lease,
        )?;
        let (output, revision) = self.propose_txn(single(TxnOp::Put(op))).await?;
        let prev_kv = match output.responses.first() {
            Some(TxnOpOutput::Put { prev_kv }) => prev_kv.clone(),
            _ => None,
        };
        Ok(Response::new(convert::put_response(
            self.header(revision),
            prev_kv.as_ref(),
        )))
    }

    async fn delete_range(
        &self,
        request: Request<PbDeleteRequest>,
    ) -> Result<Response<PbDeleteResponse>, Status> {
        let r = request.into_inner();
        let op = convert::delete_op(r.key, r.range_end, r.prev_kv)?;
        let (output, revision) = self.propose_txn(single(TxnOp::DeleteRange(op))).await?;
        let (deleted, prev_kvs) = match output.responses.into_iter().next() {
            Some(TxnOpOutput::DeleteRange { deleted, prev_kvs }) => (deleted, prev_kvs),
            _ => (0, Vec::new()),
        };
        Ok(Response::new(convert::delete_response(
            self.header(revision),
            deleted,
            &prev_kvs,
        )))
    }

    async fn txn(&self, request: Request<PbTxnRequest>) -> Result<Response<PbTxnResponse>, Status> {
        let txn = convert::txn(request.into_inner())?;
        let (output, revision) = self.propose_txn(txn).await?;
        Ok(Response::new(convert::txn_response(
            &self.header(revision),
            &output,
        )))
    }

    async fn compact(
        &self,
        request: Request<PbCompactionRequest>,
    ) -> Result<Response<PbCompactionResponse>, Status> {
        let revision = request.into_inner().revision;
        {
            let applied = self.store().machine().read();
            if revision > applied.kv.revision() as i64 {
                return Err(Status::out_of_range(FUTURE_REVISION));
            }
            if revision <= applied.kv.compact_revision() as i64 {
                return Err(Status::out_of_range(COMPACTED));
            }
        }
        let response = self
            .store()
            .write(Operation::Compact {
                revision: revision as u64,
            })
            .await
            .map_err(|e| error::store_error(&e))?;
        if !response.succeeded {
            // Lost a race with another compaction (or the state moved): say which.
            let applied = self.store().machine().read();
            return Err(Status::out_of_range(
                if revision <= applied.kv.compact_revision() as i64 {
                    COMPACTED
                } else {
                    FUTURE_REVISION
                },
            ));
        }
        Ok(Response::new(PbCompactionResponse {
            header: Some(self.header(response.revision)),
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_txn_output_is_an_error_not_a_silent_success() {
        let response = CommandResponse {
            revision: 3,
            succeeded: false,
            failure: Some("operation not supported by this version".into()),
            ..Default::default()
        };
        let status = txn_result(response).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal);
        assert!(status.message().contains("not supported"));
    }
}
