//! The only code that calls AWS. Each adapter turns SDK types into the pure
//! core's observed-state types and back; nothing here decides anything.

pub mod autoscaling;
pub mod batcher;
pub mod cluster_describer;
pub mod ecs_cluster;
pub mod ecs_service;
pub mod ecs_task_definition;
pub mod elbv2;
pub mod error;
pub mod metrics_interceptor;
pub mod service_describer;

pub use error::AwsError;

use crate::metrics::Metrics;
use aws_config::SdkConfig;
use metrics_interceptor::MetricsInterceptor;
use std::collections::HashMap;
use std::sync::Mutex;

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
    pub fn new(base: SdkConfig, metrics: Metrics) -> Self {
        Self {
            base,
            metrics,
            ecs: Mutex::new(HashMap::new()),
            elbv2: Mutex::new(HashMap::new()),
            autoscaling: Mutex::new(HashMap::new()),
        }
    }

    /// Loads the standard configuration chain.
    pub async fn from_env(metrics: Metrics) -> Self {
        let base = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(base, metrics)
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
                .interceptor(MetricsInterceptor::new(self.metrics.clone()))
                .build();
            aws_sdk_applicationautoscaling::Client::from_conf(config)
        })
    }
}
