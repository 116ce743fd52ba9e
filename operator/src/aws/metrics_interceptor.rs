//! Counts every AWS operation the SDK clients execute, by service, operation and
//! outcome, through the SDK's interceptor hook.

use crate::metrics::{AwsRequestLabels, Metrics};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

#[derive(Debug, Clone)]
pub struct MetricsInterceptor {
    metrics: Metrics,
}

impl MetricsInterceptor {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl Intercept for MetricsInterceptor {
    fn name(&self) -> &'static str {
        "EcsOperatorMetrics"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "success",
            _ => "error",
        };
        self.metrics.aws_requests.get_or_create(&AwsRequestLabels { service, operation, outcome }).inc();
        Ok(())
    }
}
