//! Prometheus metrics of the operator.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub kind: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsRequestLabels {
    pub service: String,
    pub operation: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiFamilyLabels {
    pub region: String,
    pub family: &'static str,
}

/// Every metric the operator exports, with the registry that renders them.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub aws_requests: Family<AwsRequestLabels, Counter>,
    /// 1 while this replica reconciles (holds the lease, or runs without leader
    /// election), 0 as a standby.
    pub leader: Gauge,
    /// Requests that waited for the client-side rate limit, and how long.
    pub rate_limited: Family<ApiFamilyLabels, Counter>,
    pub rate_limited_seconds: Family<ApiFamilyLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ecs_operator");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by kind and result (success, error, requeue)", reconciles.clone());
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register("reconcile_duration_seconds", "Duration of one reconcile", reconcile_duration.clone());
        let aws_requests = Family::<AwsRequestLabels, Counter>::default();
        registry.register(
            "aws_requests",
            "AWS API operations by service, operation and outcome (retries inside one operation count once)",
            aws_requests.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica reconciles (it holds the lease, or runs without leader election), 0 as a standby",
            leader.clone(),
        );
        let rate_limited = Family::<ApiFamilyLabels, Counter>::default();
        registry.register(
            "aws_rate_limited",
            "AWS requests (attempts) that waited for the operator's client-side rate limit, by region and API family",
            rate_limited.clone(),
        );
        let rate_limited_seconds = Family::<ApiFamilyLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "aws_rate_limited_seconds",
            "Seconds AWS requests waited for the operator's client-side rate limit, by region and API family",
            rate_limited_seconds.clone(),
        );
        Self {
            registry: Arc::new(registry),
            reconciles,
            reconcile_duration,
            aws_requests,
            leader,
            rate_limited,
            rate_limited_seconds,
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
