//! End-to-end tests of hakube's Kubernetes API through the kube-rs client (`tests/`): typed
//! CRUD, paging and selectors, watches resumed across a datastore leader kill, server-side
//! apply, and 410 Gone after compaction. The crate has no code of its own; it is a separate
//! workspace member so that kube's features never change how the `hakube` binary is built.
