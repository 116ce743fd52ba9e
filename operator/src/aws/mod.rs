//! The only code that calls AWS. Each adapter turns SDK types into the pure
//! core's observed-state types and back; nothing here decides anything.

pub mod autoscaling;
pub mod batcher;
pub mod cluster_describer;
pub mod ecs_cluster;
pub mod ecs_service;
pub mod ecs_task;
pub mod ecs_task_definition;
pub mod elbv2;
pub mod error;
pub mod metrics_interceptor;
pub mod rate_limit;
pub mod service_describer;
pub mod shared_reads;

pub use error::AwsError;

use crate::metrics::Metrics;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_smithy_runtime::client::retries::{RetryPartition, TokenBucket};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use metrics_interceptor::MetricsInterceptor;
use rate_limit::RateLimits;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// SDK clients per region, built from the standard AWS configuration chain
/// (environment, profile, web identity for IRSA, container credentials for EKS
/// Pod Identity) and the standard `AWS_ENDPOINT_URL*` variables.
#[derive(Debug)]
pub struct AwsClients {
    base: SdkConfig,
    metrics: Metrics,
    ecs: Mutex<HashMap<String, aws_sdk_ecs::Client>>,
    elbv2: Mutex<HashMap<String, aws_sdk_elasticloadbalancingv2::Client>>,
    autoscaling: Mutex<HashMap<String, aws_sdk_applicationautoscaling::Client>>,
    partitions: RetryPartitions,
    limits: Arc<RateLimits>,
    http: SharedHttpClient,
}

/// Attempts per AWS operation (the first and four retries; the SDK's default is
/// 3), in the SDK's standard retry mode, unless `AWS_MAX_ATTEMPTS` or
/// `AWS_RETRY_MODE` is set: then the standard chain decides (those variables, and
/// the profile's `max_attempts` and `retry_mode`). Without either variable this
/// setting wins over the profile's.
pub const MAX_ATTEMPTS: u32 = 5;

/// The operator's retry quota per AWS service, shared by the clients of every
/// region. The SDK's default quota (500 tokens, 5 a retry) refills only through
/// successes, so under sustained throttling it empties and stays empty: every
/// throttled call then fails at once, and the per-object backoff (up to 5
/// minutes) decides how fast anything converges. This one also refills 10 tokens a
/// second: at most two retries a second once a burst has spent the quota, which
/// bounds what retries add to the account's request rate.
#[derive(Debug, Clone)]
struct RetryPartitions {
    ecs: RetryPartition,
    elbv2: RetryPartition,
    autoscaling: RetryPartition,
}

impl RetryPartitions {
    fn new() -> Self {
        let partition = |name: &'static str| {
            RetryPartition::custom(name)
                .token_bucket(TokenBucket::builder().capacity(500).refill_rate(10.0).build())
                .build()
        };
        Self {
            ecs: partition("ecs-operator-ecs"),
            elbv2: partition("ecs-operator-elbv2"),
            autoscaling: partition("ecs-operator-application-autoscaling"),
        }
    }
}

// The SDK's stalled-stream protection of uploads counts the time a request waits
// for its rate-limit token in the HTTP layer (`rate_limit`) as a stalled upload:
// a wait over its 5 s grace period failed the call (`ThroughputBelowMinimum`)
// once a burst of CreateService queued behind ECS's 5-a-second quota. Request
// bodies are small and in memory, so upload protection guards nothing here;
// downloads (the answers) keep it.
fn upload_waits_for_rate_limits() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::enabled().upload_enabled(false).build()
}

// One client per region, made on first use.
fn cached<C: Clone>(cache: &Mutex<HashMap<String, C>>, region: &str, make: impl FnOnce() -> C) -> C {
    let mut clients = match cache.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    clients.entry(region.to_string()).or_insert_with(make).clone()
}

impl AwsClients {
    /// Clients from `base`, their requests limited to `rate_limit_percent` of the
    /// operator's quotas per API family (0: no limit).
    pub fn new(base: SdkConfig, metrics: Metrics, rate_limit_percent: u32) -> Self {
        let http = base.http_client().unwrap_or_else(rate_limit::default_http_client);
        Self {
            limits: Arc::new(RateLimits::new(rate_limit_percent, metrics.clone())),
            http,
            base,
            metrics,
            ecs: Mutex::new(HashMap::new()),
            elbv2: Mutex::new(HashMap::new()),
            autoscaling: Mutex::new(HashMap::new()),
            partitions: RetryPartitions::new(),
        }
    }

    /// Loads the standard configuration chain.
    pub async fn from_env(metrics: Metrics, rate_limit_percent: u32) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if std::env::var_os("AWS_MAX_ATTEMPTS").is_none() && std::env::var_os("AWS_RETRY_MODE").is_none() {
            loader = loader.retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
        }
        Self::new(loader.load().await, metrics, rate_limit_percent)
    }

    /// The region used when a resource does not name one.
    pub fn default_region(&self) -> Option<String> {
        self.base.region().map(ToString::to_string)
    }

    /// The region a resource uses: its own, else the operator's; empty when neither
    /// names one (`core::region::problem` turns that into an error on the object,
    /// never a silent default).
    pub fn region_for(&self, wanted: Option<&str>) -> String {
        wanted.map(str::to_string).or_else(|| self.default_region()).unwrap_or_default()
    }

    /// The ECS client for `region`.
    pub fn ecs(&self, region: &str) -> aws_sdk_ecs::Client {
        cached(&self.ecs, region, || {
            let config = aws_sdk_ecs::config::Builder::from(&self.base)
                .region(aws_sdk_ecs::config::Region::new(region.to_string()))
                .http_client(self.limits.wrap(self.http.clone(), region, "ecs"))
                .stalled_stream_protection(upload_waits_for_rate_limits())
                .retry_partition(self.partitions.ecs.clone())
                .interceptor(MetricsInterceptor::new(self.metrics.clone()))
                .build();
            aws_sdk_ecs::Client::from_conf(config)
        })
    }

    /// The ELBv2 client for `region`.
    pub fn elbv2(&self, region: &str) -> aws_sdk_elasticloadbalancingv2::Client {
        cached(&self.elbv2, region, || {
            let config = aws_sdk_elasticloadbalancingv2::config::Builder::from(&self.base)
                .region(aws_sdk_elasticloadbalancingv2::config::Region::new(region.to_string()))
                .http_client(self.limits.wrap(self.http.clone(), region, "elasticloadbalancing"))
                .stalled_stream_protection(upload_waits_for_rate_limits())
                .retry_partition(self.partitions.elbv2.clone())
                .interceptor(MetricsInterceptor::new(self.metrics.clone()))
                .build();
            aws_sdk_elasticloadbalancingv2::Client::from_conf(config)
        })
    }

    /// The Application Auto Scaling client for `region`.
    pub fn autoscaling(&self, region: &str) -> aws_sdk_applicationautoscaling::Client {
        cached(&self.autoscaling, region, || {
            let config = aws_sdk_applicationautoscaling::config::Builder::from(&self.base)
                .region(aws_sdk_applicationautoscaling::config::Region::new(region.to_string()))
                .http_client(self.limits.wrap(self.http.clone(), region, "application-autoscaling"))
                .stalled_stream_protection(upload_waits_for_rate_limits())
                .retry_partition(self.partitions.autoscaling.clone())
                .interceptor(MetricsInterceptor::new(self.metrics.clone()))
                .build();
            aws_sdk_applicationautoscaling::Client::from_conf(config)
        })
    }
}
