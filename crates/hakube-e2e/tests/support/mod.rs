//! The kube-rs tests' additions to the real-process test kit (`crates/hakube/tests/common`,
//! included here): a kube client per node, async retries, namespaces.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../hakube/tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::ObjectMeta;
use kube::config::{KubeConfigOptions, Kubeconfig};

pub use common::Cluster;

/// `kill -9` of node K (the kit's signal, which waits until the process is gone).
pub trait Kill {
    fn kill(&self, k: usize);
}

impl Kill for Cluster {
    fn kill(&self, k: usize) {
        self.signal(k, "KILL");
    }
}

/// A kube client of the admin kubeconfig (`hakube config` on node 1) talking to node K.
pub trait KubeClient {
    fn client(&self, k: usize) -> impl Future<Output = kube::Client>;
}

impl KubeClient for Cluster {
    async fn client(&self, k: usize) -> kube::Client {
        let run = self.on(1, &["config"]);
        assert!(run.ok(), "hakube config: {}", run.stderr);
        let mut kubeconfig = Kubeconfig::from_yaml(&run.stdout).expect("kubeconfig YAML");
        for named in &mut kubeconfig.clusters {
            if let Some(cluster) = named.cluster.as_mut() {
                cluster.server = Some(format!("https://{}:16443", self.address(k)));
            }
        }
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kube config");
        kube::Client::try_from(config).expect("kube client")
    }
}

/// Retries `attempt` every 200 ms until it gives `Some`, for at most `timeout` (generous: these
/// are bounds against hanging, never measurements).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The HTTP status code of a kube API error (None for transport errors).
pub fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Creates namespace NAME.
pub async fn create_namespace(client: &kube::Client, name: &str) {
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    namespaces
        .create(&kube::api::PostParams::default(), &namespace)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    // A quorum read on the same node, so that its replica has the namespace before anything is
    // created in it: hakube's NamespaceLifecycle check reads the local replica without
    // confirming with the leader, and a create right after the namespace's, through a
    // follower, can be refused with 404 (see `namespace_usable_right_after_create`).
    namespaces
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("get namespace {name}: {e}"));
}
