//! Size bounds on what the store accepts, stated once. They follow etcd's: a request of at most
//! 1.5 MiB, so the Kubernetes API's 3 MiB body limit is checked before it gets here.

/// Largest key accepted (etcd has no separate key limit beyond the request size; Kubernetes
/// keys are short, so a small bound catches mistakes early).
pub const MAX_KEY_BYTES: usize = 8 * 1024;
/// Largest value accepted, as etcd's default `--max-request-bytes`.
pub const MAX_VALUE_BYTES: usize = 1536 * 1024;
/// Most items a single list may return when the caller gives no limit.
pub const MAX_LIST_ITEMS: usize = 100_000;
