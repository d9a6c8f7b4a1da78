//! hakube's cluster layer: identity and certificates, join tokens, the peer transport (mutual
//! TLS), joins, datastore roles, the local admin socket, and the daemon that wires a node.

pub mod admin;
pub mod admin_api;
pub mod agent_server;
pub mod api;
pub mod compactor;
pub mod config;
pub mod daemon;
pub mod endpoints;
pub mod etcd;
pub mod forwarder;
pub mod health;
pub mod host_facts;
pub mod identity;
pub mod images;
pub mod join_client;
pub mod join_server;
pub mod kube_client;
pub mod kubeconfig;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod node_agent;
pub mod peer_client;
pub mod peer_server;
pub mod pki;
pub mod pod_agent;
pub mod raft_network;
pub mod registry;
pub mod restore;
pub mod roles;
pub mod rpc;
pub mod serve;
pub mod simulated_nodes;
pub mod tls;
pub mod token;
