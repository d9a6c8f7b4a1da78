//! The API server's Prometheus metrics: requests by verb, resource and code, and request
//! latency by verb (upstream's `apiserver_request_total` and
//! `apiserver_request_duration_seconds`), served on `/metrics` with the node's own metrics.

use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Renders the node's metrics (datastore role, leader changes…) for the same page.
pub type NodeMetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

pub struct ApiMetrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    durations: Family<Labels, Histogram>,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiMetrics")
    }
}

fn latency_histogram() -> Histogram {
    // 1 ms … 60 s: from a local read to the longest non-watch request.
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ])
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let durations = Family::<Labels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "apiserver_request",
            "Kubernetes API requests by verb, resource and HTTP code",
            requests.clone(),
        );
        registry.register(
            "apiserver_request_duration_seconds",
            "Kubernetes API request latency by verb (watches excluded)",
            durations.clone(),
        );
        ApiMetrics {
            registry,
            requests,
            durations,
        }
    }
}

impl ApiMetrics {
    pub fn observe(&self, verb: &str, resource: &str, code: u16, seconds: f64) {
        self.requests
            .get_or_create(&vec![
                ("verb".into(), verb.into()),
                ("resource".into(), resource.into()),
                ("code".into(), code.to_string()),
            ])
            .inc();
        if verb != "watch" {
            self.durations
                .get_or_create(&vec![("verb".into(), verb.into())])
                .observe(seconds);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode_registry(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
