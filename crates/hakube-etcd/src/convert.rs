//! etcd's protobuf messages to the store's transaction types and back, with etcd's request
//! checks (done before anything is proposed, so a refused request changes nothing).

use etcd_client::proto::{
    PbCompare, PbDeleteResponse, PbEvent, PbKeyValue, PbPutResponse, PbRangeResponse,
    PbResponseHeader, PbResponseOp, PbTargetUnion, PbTxnOpRequest, PbTxnOpResponse, PbTxnRequest,
    PbTxnResponse,
};
use hakube_store::txn::{
    Compare, CompareResult, CompareTarget, DeleteRangeOp, MAX_TXN_OPS, PutOp, RangeOp, RangeOutput,
    SortOrder, SortTarget, Txn, TxnOp, TxnOpOutput, TxnOutput,
};
use hakube_store::{Event, EventKind, KeyValue};
use tonic::Status;

use crate::MAX_REQUEST_BYTES;
use crate::error::{KEY_NOT_PROVIDED, REQUEST_TOO_LARGE, TOO_MANY_OPS, invalid};

pub fn key_value(kv: &KeyValue) -> PbKeyValue {
    PbKeyValue {
        key: kv.key.clone(),
        create_revision: kv.create_revision as i64,
        mod_revision: kv.mod_revision as i64,
        version: kv.version as i64,
        value: kv.value.to_vec(),
        lease: crate::store_api::key_lease(kv),
    }
}

pub fn event(event: &Event, with_prev: bool) -> PbEvent {
    PbEvent {
        r#type: match event.kind {
            EventKind::Put => 0,
            EventKind::Delete => 1,
        },
        kv: Some(key_value(&event.kv)),
        prev_kv: if with_prev {
            event.previous.as_ref().map(key_value)
        } else {
            None
        },
    }
}

/// The fields of etcd's RangeRequest.
#[derive(Clone, Debug, Default)]
pub struct RangeFields {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub limit: i64,
    pub revision: i64,
    pub sort_order: i32,
    pub sort_target: i32,
    pub keys_only: bool,
    pub count_only: bool,
    pub min_mod_revision: i64,
    pub max_mod_revision: i64,
    pub min_create_revision: i64,
    pub max_create_revision: i64,
}

macro_rules! range_fields {
    ($r:expr) => {
        $crate::convert::RangeFields {
            key: $r.key,
            range_end: $r.range_end,
            limit: $r.limit,
            revision: $r.revision,
            sort_order: $r.sort_order,
            sort_target: $r.sort_target,
            keys_only: $r.keys_only,
            count_only: $r.count_only,
            min_mod_revision: $r.min_mod_revision,
            max_mod_revision: $r.max_mod_revision,
            min_create_revision: $r.min_create_revision,
            max_create_revision: $r.max_create_revision,
        }
    };
}
pub(crate) use range_fields;

pub fn range_op(r: RangeFields) -> Result<RangeOp, Status> {
    if r.key.is_empty() {
        return Err(invalid(KEY_NOT_PROVIDED));
    }
    let sort_order = match r.sort_order {
        0 => SortOrder::None,
        1 => SortOrder::Ascend,
        2 => SortOrder::Descend,
        _ => return Err(invalid("etcdserver: invalid sort option")),
    };
    let sort_target = match r.sort_target {
        0 => SortTarget::Key,
        1 => SortTarget::Version,
        2 => SortTarget::Create,
        3 => SortTarget::Mod,
        4 => SortTarget::Value,
        _ => return Err(invalid("etcdserver: invalid sort option")),
    };
    Ok(RangeOp {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order,
        sort_target,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

pub fn range_response(header: PbResponseHeader, output: &RangeOutput) -> PbRangeResponse {
    PbRangeResponse {
        header: Some(header),
        kvs: output.kvs.iter().map(key_value).collect(),
        more: output.more,
        count: output.count,
    }
}

pub fn put_op(
    key: Vec<u8>,
    value: Vec<u8>,
    lease: i64,
    prev_kv: bool,
    ignore_value: bool,
    ignore_lease: bool,
) -> Result<PutOp, Status> {
    if key.is_empty() {
        return Err(invalid(KEY_NOT_PROVIDED));
    }
    if ignore_value && !value.is_empty() {
        return Err(invalid("etcdserver: value is provided"));
    }
    if ignore_lease && lease != 0 {
        return Err(invalid("etcdserver: lease is provided"));
    }
    if key.len() + value.len() > MAX_REQUEST_BYTES {
        return Err(invalid(REQUEST_TOO_LARGE));
    }
    Ok(PutOp {
        key,
        value,
        lease,
        prev_kv,
        ignore_value,
        ignore_lease,
    })
}

pub fn delete_op(key: Vec<u8>, range_end: Vec<u8>, prev_kv: bool) -> Result<DeleteRangeOp, Status> {
    if key.is_empty() {
        return Err(invalid(KEY_NOT_PROVIDED));
    }
    Ok(DeleteRangeOp {
        key,
        range_end,
        prev_kv,
    })
}

fn compare(c: PbCompare) -> Result<Compare, Status> {
    if c.key.is_empty() {
        return Err(invalid(KEY_NOT_PROVIDED));
    }
    let result = match c.result {
        0 => CompareResult::Equal,
        1 => CompareResult::Greater,
        2 => CompareResult::Less,
        3 => CompareResult::NotEqual,
        _ => return Err(invalid("etcdserver: invalid compare result")),
    };
    // The union carries the value; `target` says which one (a missing union means zero).
    let target = match (c.target, c.target_union) {
        (0, Some(PbTargetUnion::Version(v))) => CompareTarget::Version(v),
        (0, None) => CompareTarget::Version(0),
        (1, Some(PbTargetUnion::CreateRevision(v))) => CompareTarget::CreateRevision(v),
        (1, None) => CompareTarget::CreateRevision(0),
        (2, Some(PbTargetUnion::ModRevision(v))) => CompareTarget::ModRevision(v),
        (2, None) => CompareTarget::ModRevision(0),
        (3, Some(PbTargetUnion::Value(v))) => CompareTarget::Value(v),
        (3, None) => CompareTarget::Value(Vec::new()),
        (4, Some(PbTargetUnion::Lease(v))) => CompareTarget::Lease(v),
        (4, None) => CompareTarget::Lease(0),
        _ => return Err(invalid("etcdserver: invalid compare target")),
    };
    Ok(Compare {
        key: c.key,
        range_end: c.range_end,
        target,
        result,
    })
}

/// Counts operations and bytes of a transaction the way etcd limits them.
fn measure(txn: &Txn, ops: &mut usize, bytes: &mut usize) {
    for compare in &txn.compares {
        *bytes += compare.key.len() + compare.range_end.len();
        if let CompareTarget::Value(value) = &compare.target {
            *bytes += value.len();
        }
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            TxnOp::Range(r) => *bytes += r.key.len() + r.range_end.len(),
            TxnOp::Put(p) => *bytes += p.key.len() + p.value.len(),
            TxnOp::DeleteRange(d) => *bytes += d.key.len() + d.range_end.len(),
            TxnOp::Txn(inner) => measure(inner, ops, bytes),
        }
    }
    *ops = (*ops)
        .max(txn.success.len())
        .max(txn.failure.len())
        .max(txn.compares.len());
}

fn ops(list: Vec<etcd_client::proto::PbTxnRequestOp>) -> Result<Vec<TxnOp>, Status> {
    list.into_iter()
        .map(|op| match op.request {
            Some(PbTxnOpRequest::RequestRange(r)) => Ok(TxnOp::Range(range_op(range_fields!(r))?)),
            Some(PbTxnOpRequest::RequestPut(p)) => Ok(TxnOp::Put(put_op(
                p.key,
                p.value,
                p.lease,
                p.prev_kv,
                p.ignore_value,
                p.ignore_lease,
            )?)),
            Some(PbTxnOpRequest::RequestDeleteRange(d)) => Ok(TxnOp::DeleteRange(delete_op(
                d.key,
                d.range_end,
                d.prev_kv,
            )?)),
            Some(PbTxnOpRequest::RequestTxn(t)) => Ok(TxnOp::Txn(txn_inner(t)?)),
            None => Err(invalid("etcdserver: a txn operation is empty")),
        })
        .collect()
}

fn txn_inner(request: PbTxnRequest) -> Result<Txn, Status> {
    // etcd checks the limit per list, before converting the rest.
    if request.compare.len() > MAX_TXN_OPS
        || request.success.len() > MAX_TXN_OPS
        || request.failure.len() > MAX_TXN_OPS
    {
        return Err(invalid(TOO_MANY_OPS));
    }
    Ok(Txn {
        compares: request
            .compare
            .into_iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: ops(request.success)?,
        failure: ops(request.failure)?,
    })
}

/// A TxnRequest as the store's transaction, with etcd's limits checked.
pub fn txn(request: PbTxnRequest) -> Result<Txn, Status> {
    let txn = txn_inner(request)?;
    let (mut count, mut bytes) = (0, 0);
    measure(&txn, &mut count, &mut bytes);
    if count > MAX_TXN_OPS {
        return Err(invalid(TOO_MANY_OPS));
    }
    if bytes > MAX_REQUEST_BYTES {
        return Err(invalid(REQUEST_TOO_LARGE));
    }
    Ok(txn)
}

/// Whether a transaction writes anything (on either branch, at any depth).
pub fn writes(txn: &Txn) -> bool {
    txn.success.iter().chain(&txn.failure).any(|op| match op {
        TxnOp::Range(_) => false,
        TxnOp::Put(_) | TxnOp::DeleteRange(_) => true,
        TxnOp::Txn(inner) => writes(inner),
    })
}

pub fn put_response(header: PbResponseHeader, prev_kv: Option<&KeyValue>) -> PbPutResponse {
    PbPutResponse {
        header: Some(header),
        prev_kv: prev_kv.map(key_value),
    }
}

pub fn delete_response(
    header: PbResponseHeader,
    deleted: i64,
    prev_kvs: &[KeyValue],
) -> PbDeleteResponse {
    PbDeleteResponse {
        header: Some(header),
        deleted,
        prev_kvs: prev_kvs.iter().map(key_value).collect(),
    }
}

pub fn txn_response(header: &PbResponseHeader, output: &TxnOutput) -> PbTxnResponse {
    PbTxnResponse {
        header: Some(*header),
        succeeded: output.succeeded,
        responses: output
            .responses
            .iter()
            .map(|response| PbResponseOp {
                response: Some(match response {
                    TxnOpOutput::Range(range) => {
                        PbTxnOpResponse::ResponseRange(range_response(*header, range))
                    }
                    TxnOpOutput::Put { prev_kv } => {
                        PbTxnOpResponse::ResponsePut(put_response(*header, prev_kv.as_ref()))
                    }
                    TxnOpOutput::DeleteRange { deleted, prev_kvs } => {
                        PbTxnOpResponse::ResponseDeleteRange(delete_response(
                            *header, *deleted, prev_kvs,
                        ))
                    }
                    TxnOpOutput::Txn(inner) => {
                        PbTxnOpResponse::ResponseTxn(txn_response(header, inner))
                    }
                }),
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use etcd_client::proto::{PbPutRequest, PbTxnRequestOp};

    use super::*;

    fn put(key: &str) -> PbTxnRequestOp {
        PbTxnRequestOp {
            request: Some(PbTxnOpRequest::RequestPut(PbPutRequest {
                key: key.as_bytes().to_vec(),
                value: b"v".to_vec(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn too_many_ops_are_refused_with_etcds_message() {
        let request = PbTxnRequest {
            success: (0..=MAX_TXN_OPS).map(|i| put(&format!("k{i}"))).collect(),
            ..Default::default()
        };
        let status = txn(request).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), TOO_MANY_OPS);
        let request = PbTxnRequest {
            success: (0..MAX_TXN_OPS).map(|i| put(&format!("k{i}"))).collect(),
            ..Default::default()
        };
        assert_eq!(txn(request).unwrap().success.len(), MAX_TXN_OPS);
    }

    #[test]
    fn compares_carry_their_target_and_missing_unions_mean_zero() {
        let request = PbTxnRequest {
            compare: vec![
                PbCompare {
                    result: 1,
                    target: 2,
                    key: b"a".to_vec(),
                    range_end: Vec::new(),
                    target_union: Some(PbTargetUnion::ModRevision(7)),
                },
                PbCompare {
                    result: 0,
                    target: 0,
                    key: b"b".to_vec(),
                    range_end: Vec::new(),
                    target_union: None,
                },
            ],
            ..Default::default()
        };
        let txn = txn(request).unwrap();
        assert_eq!(txn.compares[0].target, CompareTarget::ModRevision(7));
        assert_eq!(txn.compares[0].result, CompareResult::Greater);
        assert_eq!(txn.compares[1].target, CompareTarget::Version(0));
        assert!(!writes(&txn));
    }

    #[test]
    fn bad_requests_are_refused_before_proposing() {
        assert_eq!(
            put_op(Vec::new(), Vec::new(), 0, false, false, false)
                .unwrap_err()
                .message(),
            KEY_NOT_PROVIDED
        );
        assert!(put_op(b"k".to_vec(), b"v".to_vec(), 0, false, true, false).is_err());
        assert_eq!(
            put_op(
                b"k".to_vec(),
                vec![0; MAX_REQUEST_BYTES],
                0,
                false,
                false,
                false
            )
            .unwrap_err()
            .message(),
            REQUEST_TOO_LARGE
        );
        let bad_sort = RangeFields {
            key: b"k".to_vec(),
            sort_order: 9,
            ..Default::default()
        };
        assert_eq!(
            range_op(bad_sort).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
