//! Resource usage on the agent port, for the API server's metrics.k8s.io (`kubectl top`): a
//! sampler reads the host (/proc) and the runtime's container stats (CRI) every
//! [`INTERVAL`], keeping rates in [`UsageRates`], and `GET /metrics/usage` answers the
//! latest ones as JSON:
//!
//! `{"timestamp", "windowSeconds", "node": {"cpuNanocores", "memoryBytes"},
//!   "pods": [{"namespace", "name", "uid", "containers": [{"name", "cpuNanocores", "memoryBytes"}]}]}`

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hakube_node::container_usage::container_usage;
use hakube_node::cri::CriClient;
use hakube_node::usage_rates::{PodRates, Rate, UsageRates};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

/// How often usage is sampled: rates are over this window (metrics-server's resolution is
/// 15 s; the kubelet's stats are fresher than that).
pub const INTERVAL: Duration = Duration::from_secs(10);
/// The quick second sample: after the first round, and after a round that saw new
/// containers, so `kubectl top` has rates within seconds rather than a whole interval.
const QUICK: Duration = Duration::from_secs(1);
/// One round's bound on the runtime's answer.
const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// The sampler's state, shared with the `/metrics/usage` route.
pub struct UsageSampler {
    runtime_socket: PathBuf,
    rates: Mutex<UsageRates>,
}

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error("the runtime did not list container stats within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Runtime(#[from] hakube_node::cri::CriError),
}

impl UsageSampler {
    pub fn new(runtime_socket: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            runtime_socket,
            rates: Mutex::new(UsageRates::default()),
        })
    }

    fn rates(&self) -> std::sync::MutexGuard<'_, UsageRates> {
        self.rates.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Samples until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) {
        let sampler = self.clone();
        tokio::spawn(async move {
            let mut client = None;
            let mut delay = Duration::ZERO;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                let first = delay == Duration::ZERO;
                let new_containers = sampler.round(&mut client).await;
                // At most one quick round in a row: a node whose containers keep changing
                // (crash loops) is not sampled ten times as often.
                delay = if (first || new_containers > 0) && delay != QUICK {
                    QUICK
                } else {
                    INTERVAL
                };
            }
        });
    }

    /// One round: the host, then the containers. Returns how many containers were new.
    async fn round(&self, client: &mut Option<CriClient>) -> usize {
        match hakube_node::node_usage::sample() {
            Ok(sample) => self.rates().record_node(sample),
            Err(error) => tracing::warn!(%error, "cannot sample the node's usage"),
        }
        // Before the node's runtime has started there is nothing to ask (and nothing runs).
        if !self.runtime_socket.exists() {
            *client = None;
            return 0;
        }
        match self.containers(client).await {
            Ok(usage) => self.rates().record_containers(usage),
            Err(error) => {
                tracing::debug!(%error, "cannot sample container usage");
                // Reconnect next round; the old rates would only go stale.
                *client = None;
                self.rates().forget_containers();
                0
            }
        }
    }

    async fn containers(
        &self,
        client: &mut Option<CriClient>,
    ) -> Result<Vec<hakube_node::container_usage::ContainerUsage>, RoundError> {
        let connected = match client.take() {
            Some(connected) => connected,
            None => CriClient::connect(&self.runtime_socket).await?,
        };
        let usage = tokio::time::timeout(STATS_TIMEOUT, container_usage(&connected))
            .await
            .map_err(|_| RoundError::Timeout(STATS_TIMEOUT))??;
        *client = Some(connected);
        Ok(usage)
    }

    /// The latest rates as the route's answer; none before the node has a rate.
    fn report(&self) -> Option<UsageReport> {
        let rates = self.rates();
        let node = rates.node()?;
        Some(UsageReport::new(node, rates.pods()))
    }
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct Usage {
    cpu_nanocores: u64,
    memory_bytes: u64,
}

impl From<&Rate> for Usage {
    fn from(rate: &Rate) -> Self {
        Usage {
            cpu_nanocores: rate.cpu_nanocores,
            memory_bytes: rate.memory_bytes,
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ContainerReport {
    name: String,
    #[serde(flatten)]
    usage: Usage,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct PodReport {
    namespace: String,
    name: String,
    /// Lets the API server tell this pod from a later one under the same name.
    uid: String,
    containers: Vec<ContainerReport>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct UsageReport {
    timestamp: String,
    window_seconds: u64,
    node: Usage,
    pods: Vec<PodReport>,
}

impl UsageReport {
    fn new(node: Rate, pods: Vec<PodRates>) -> Self {
        let timestamp = jiff::Timestamp::from_nanosecond(i128::from(node.timestamp_nanoseconds))
            .unwrap_or_else(|_| jiff::Timestamp::now());
        // Whole seconds, as Kubernetes writes times; at least one second of window.
        let window = (node.window_nanoseconds.max(0) as u64 + 500_000_000) / 1_000_000_000;
        UsageReport {
            timestamp: jiff::Timestamp::from_second(timestamp.as_second())
                .unwrap_or(timestamp)
                .to_string(),
            window_seconds: window.max(1),
            node: Usage::from(&node),
            pods: pods
                .into_iter()
                .map(|pod| PodReport {
                    namespace: pod.namespace,
                    name: pod.name,
                    uid: pod.uid,
                    containers: pod
                        .containers
                        .iter()
                        .map(|c| ContainerReport {
                            name: c.name.clone(),
                            usage: Usage::from(&c.rate),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `GET /metrics/usage`.
pub async fn usage(State(sampler): State<Arc<UsageSampler>>) -> Response {
    match sampler.report() {
        Some(report) => axum::Json(report).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no usage rates yet: the node has been sampled fewer than twice\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hakube_node::usage_rates::ContainerRate;

    #[test]
    fn the_report_has_the_documented_shape() {
        let rate = |cpu, memory| Rate {
            timestamp_nanoseconds: 1_700_000_000_400_000_000,
            window_nanoseconds: 9_600_000_000,
            cpu_nanocores: cpu,
            memory_bytes: memory,
        };
        let report = UsageReport::new(
            rate(250_000_000, 1 << 30),
            vec![PodRates {
                uid: "u1".into(),
                namespace: "default".into(),
                name: "busy".into(),
                containers: vec![ContainerRate {
                    name: "burn".into(),
                    rate: rate(990_000_000, 4096),
                }],
            }],
        );
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({
                "timestamp": "2023-11-14T22:13:20Z",
                "windowSeconds": 10,
                "node": {"cpuNanocores": 250_000_000, "memoryBytes": 1_073_741_824},
                "pods": [{"namespace": "default", "name": "busy", "uid": "u1",
                    "containers": [{"name": "burn", "cpuNanocores": 990_000_000, "memoryBytes": 4096}]}],
            })
        );
    }

    #[tokio::test]
    async fn no_rate_is_a_503_and_two_rounds_make_one() {
        let directory = tempfile::tempdir().unwrap();
        // No runtime socket: only the host is sampled, quietly.
        let sampler = UsageSampler::new(directory.path().join("missing.sock"));
        let mut client = None;
        assert_eq!(sampler.round(&mut client).await, 0);
        let answer = usage(State(sampler.clone())).await;
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(20)).await;
        sampler.round(&mut client).await;
        let answer = usage(State(sampler.clone())).await;
        assert_eq!(answer.status(), StatusCode::OK);
        let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
            .await
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(report["node"]["memoryBytes"].as_u64().unwrap() > 0);
        assert_eq!(report["pods"], serde_json::json!([]));
        assert_eq!(report["windowSeconds"], 1);
    }
}
