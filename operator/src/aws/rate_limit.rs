//! Client-side rate limits per region and AWS API family (crate governor), in
//! the SDK clients' HTTP layer: every attempt, retries included, waits for a
//! token of its family's bucket before it leaves. The quotas
//! (`core::api_family`) sit below the account's published buckets, so that a
//! burst of thousands of reconciles is spread out here instead of being
//! throttled by AWS (and retried, and throttled again).
//!
//! The HTTP layer is the one place every operation passes through; the family
//! is read off the request itself (`X-Amz-Target`, or the query body's
//! `Action`), because a connector is not told the operation's name.

use crate::core::api_family::{Family, operation_of};
use crate::metrics::{ApiFamilyLabels, Metrics};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The buckets of every (region, family), made on first use.
#[derive(Debug)]
pub struct RateLimits {
    /// Percent of the quotas in `core::api_family` (100: as listed); 0: no limit.
    percent: u32,
    metrics: Metrics,
    buckets: Mutex<HashMap<(String, Family), Arc<DefaultDirectRateLimiter>>>,
}

impl RateLimits {
    pub fn new(percent: u32, metrics: Metrics) -> Self {
        Self { percent, metrics, buckets: Mutex::new(HashMap::new()) }
    }

    fn bucket(&self, region: &str, family: Family) -> Option<Arc<DefaultDirectRateLimiter>> {
        if self.percent == 0 {
            return None;
        }
        let quota = family.quota();
        let share = f64::from(self.percent) / 100.0;
        let burst = NonZeroU32::new(((f64::from(quota.burst) * share).floor() as u32).max(1))?;
        // One token every `period`: fractional rates (ELB's 0.2 a second) too.
        let period = std::time::Duration::from_secs_f64(1.0 / (quota.per_second * share));
        let quota = Quota::with_period(period)?.allow_burst(burst);
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = buckets
            .entry((region.to_string(), family))
            .or_insert_with(|| Arc::new(DefaultDirectRateLimiter::direct(quota)));
        Some(bucket.clone())
    }

    /// `inner` with every request of AWS service `service` (the SDK's name:
    /// `ecs`, `elasticloadbalancing`, `application-autoscaling`) in `region`
    /// waiting for its family's bucket.
    pub fn wrap(self: &Arc<Self>, inner: SharedHttpClient, region: &str, service: &'static str) -> SharedHttpClient {
        SharedHttpClient::new(LimitedClient { inner, limits: self.clone(), region: region.to_string(), service })
    }

    async fn wait(&self, region: &str, family: Family) {
        let Some(bucket) = self.bucket(region, family) else { return };
        if bucket.check().is_ok() {
            return;
        }
        let started = Instant::now();
        bucket.until_ready().await;
        let labels = ApiFamilyLabels { region: region.to_string(), family: family.name() };
        self.metrics.rate_limited.get_or_create(&labels).inc();
        self.metrics.rate_limited_seconds.get_or_create(&labels).inc_by(started.elapsed().as_secs_f64());
    }
}

#[derive(Debug)]
struct LimitedClient {
    inner: SharedHttpClient,
    limits: Arc<RateLimits>,
    region: String,
    service: &'static str,
}

impl HttpClient for LimitedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(LimitedConnector {
            inner: self.inner.http_connector(settings, components),
            limits: self.limits.clone(),
            region: self.region.clone(),
            service: self.service,
        })
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct LimitedConnector {
    inner: SharedHttpConnector,
    limits: Arc<RateLimits>,
    region: String,
    service: &'static str,
}

impl HttpConnector for LimitedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let operation = operation_of(request.headers().get("x-amz-target"), request.body().bytes());
        let families = operation.as_deref().map(|op| Family::of(self.service, op)).unwrap_or_default();
        let (inner, limits, region) = (self.inner.clone(), self.limits.clone(), self.region.clone());
        HttpConnectorFuture::new(async move {
            for family in families {
                limits.wait(&region, family).await;
            }
            inner.call(request).await
        })
    }
}

/// The HTTP client the SDK would use by default (hyper 1 with rustls and
/// aws-lc, proxies from the environment), so that the limits wrap it.
pub fn default_http_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{Builder, ConnectorBuilder, tls};
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_burst_past_the_bucket_waits_and_is_counted() {
        let metrics = Metrics::new();
        let limits = RateLimits::new(100, metrics.clone());
        let quota = Family::EcsServiceModify.quota();
        let started = Instant::now();
        for _ in 0..quota.burst + 2 {
            limits.wait("eu-west-1", Family::EcsServiceModify).await;
        }
        // Two calls past the burst wait about 1/per_second each.
        let waited = started.elapsed().as_secs_f64();
        assert!(waited >= 1.5 / quota.per_second, "waited {waited} s");
        let text = metrics.render();
        assert!(
            text.contains(r#"ecs_operator_aws_rate_limited_total{region="eu-west-1",family="ecs-service-modify"} 2"#),
            "{text}"
        );
        // Another region has its own bucket.
        limits.wait("us-east-1", Family::EcsServiceModify).await;
        assert!(!metrics.render().contains(r#"region="us-east-1""#));
    }

    #[test]
    fn zero_percent_turns_the_limits_off_and_scaling_never_reaches_zero() {
        assert!(RateLimits::new(0, Metrics::new()).bucket("eu-west-1", Family::EcsClusterModify).is_none());
        assert!(RateLimits::new(1, Metrics::new()).bucket("eu-west-1", Family::EcsClusterModify).is_some());
    }
}
