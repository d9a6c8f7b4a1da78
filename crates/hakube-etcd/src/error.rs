//! Store errors as etcd's gRPC statuses: etcd's messages and codes where etcd has one, so
//! etcd clients recognise them (`etcdserver: requested lease not found`, NotFound; ...).

use hakube_store::StoreError;
use hakube_store::mvcc::ReadError;
use hakube_store::txn::TxnError;
use tonic::{Code, Status};

pub const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
pub const TOO_MANY_OPS: &str = "etcdserver: too many operations in txn request";
pub const REQUEST_TOO_LARGE: &str = "etcdserver: request is too large";
pub const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
pub const FUTURE_REVISION: &str = "etcdserver: mvcc: required revision is a future revision";
pub const KEY_NOT_PROVIDED: &str = "etcdserver: key is not provided";

pub fn invalid(message: &str) -> Status {
    Status::invalid_argument(message)
}

pub fn read_error(error: &ReadError) -> Status {
    match error {
        ReadError::Compacted { .. } => Status::out_of_range(COMPACTED),
        ReadError::FutureRevision { .. } => Status::out_of_range(FUTURE_REVISION),
    }
}

pub fn txn_error(error: &TxnError) -> Status {
    match error {
        TxnError::LeaseNotFound(_) => Status::not_found(LEASE_NOT_FOUND),
        TxnError::DuplicateKey => invalid("etcdserver: duplicate key given in txn request"),
        TxnError::KeyNotFound => invalid("etcdserver: key not found"),
        TxnError::TooManyOps => invalid(TOO_MANY_OPS),
        TxnError::Compacted => Status::out_of_range(COMPACTED),
        TxnError::FutureRevision => Status::out_of_range(FUTURE_REVISION),
    }
}

/// A store error as etcd would answer it. Unavailable errors keep hakube's explanation (a
/// write refused for lack of quorum says "read-only" and "quorum").
pub fn store_error(error: &StoreError) -> Status {
    let text = error.to_string();
    let code = match error {
        StoreError::QuorumLost { .. } => Code::Unavailable,
        StoreError::OutcomeUnknown(_) => {
            return Status::unavailable(format!("etcdserver: request timed out ({text})"));
        }
        StoreError::Read(read) => return read_error(read),
        StoreError::TooLarge { .. } => {
            return Status::invalid_argument(format!("{REQUEST_TOO_LARGE} ({text})"));
        }
        StoreError::LeaderUnreachable(_) => {
            return Status::unavailable(format!("etcdserver: no leader ({text})"));
        }
        StoreError::DiskFull { .. } => Code::ResourceExhausted,
        StoreError::InvalidRequest(detail) if detail.contains("too many operations") => {
            return invalid(TOO_MANY_OPS);
        }
        StoreError::InvalidRequest(_) => Code::InvalidArgument,
        StoreError::Timeout(_) => Code::DeadlineExceeded,
        StoreError::ShuttingDown => Code::Unavailable,
        StoreError::LeaseNotFound(_) => return Status::not_found(LEASE_NOT_FOUND),
        StoreError::NotLeader => {
            return Status::unavailable(format!("etcdserver: not leader ({text}); retry"));
        }
        StoreError::Internal(_) => Code::Unavailable,
    };
    Status::new(code, format!("etcdserver: {text}"))
}
