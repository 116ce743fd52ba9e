//! DescribeServices, batched two ways:
//! - a fresh read (`describe`): reconciles that ask within a short window share
//!   one call per region and cluster, up to 10 services (the API's limit);
//! - a read at rest (`describe_at_rest`): by design, whatever the timing, one
//!   refresh per resync period reads every service of the cluster the
//!   operator's reconciles ask for, in ceil(N/10) calls, and the reconciles of
//!   the period plan from it (`core::observation`);
//! - a read while rolling out (`describe_rolling`): likewise at the rollout
//!   poll's pace, for the reconciles that wait for a rollout they did not just
//!   start (a new TaskDefinition revision followed by all its Services polls
//!   every rolling service of the cluster in ceil(N/10) calls per poll);
//! - a read while draining (`describe_draining`): the polls of services that
//!   drain after DeleteService share one read of every draining service of the
//!   cluster per poll interval.

use super::batcher::{Batcher, Described};
use super::shared_reads::SharedReads;
use super::{AwsClients, AwsError, ecs_service};
use crate::core::service::ObservedService;
use futures::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Described for ObservedService {
    fn answers(&self, name_or_arn: &str) -> bool {
        self.name == name_or_arn || self.arn == name_or_arn
    }

    /// The live service over an INACTIVE one of the same name.
    fn rank(&self) -> bool {
        self.exists()
    }
}

#[derive(Debug, Clone)]
pub struct ServiceDescriber {
    batcher: Batcher<(String, String), ObservedService>,
    aws: Arc<AwsClients>,
    at_rest: Arc<SharedReads<Option<ObservedService>>>,
    rolling: Arc<SharedReads<Option<ObservedService>>>,
    draining: Arc<SharedReads<Option<ObservedService>>>,
}

/// The services of `cluster` named in `names`, 10 per DescribeServices call.
async fn describe_all(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[String],
) -> Result<Vec<ObservedService>, AwsError> {
    let mut found = Vec::new();
    for chunk in names.chunks(10) {
        found.extend(ecs_service::describe_services(client, cluster, chunk).await?);
    }
    Ok(found)
}

/// `name` from `reads`, refreshed with every wanted service of the cluster
/// when stale; a refresh is stored into `also` too.
async fn shared(
    reads: &SharedReads<Option<ObservedService>>,
    also: Option<&SharedReads<Option<ObservedService>>>,
    aws: &AwsClients,
    region: &str,
    cluster: &str,
    name: &str,
) -> Result<Option<ObservedService>, AwsError> {
    let client = aws.ecs(region);
    let key = (region.to_string(), cluster.to_string());
    let for_also = key.clone();
    reads
        .get(key, name, |names| async move {
            let started = Instant::now();
            let found = describe_all(&client, &for_also.1, &names).await?;
            let seen: Vec<(String, Option<ObservedService>)> = names
                .iter()
                .map(|n| {
                    let live = found.iter().filter(|s| s.answers(n)).max_by_key(|s| s.rank()).cloned();
                    (n.clone(), live.filter(ObservedService::exists))
                })
                .collect();
            if let Some(also) = also {
                for (n, v) in &seen {
                    also.store(for_also.clone(), n, v.clone(), started);
                }
            }
            Ok(seen)
        })
        .await
}

impl ServiceDescriber {
    /// `resync` is the resync period: a read at rest is used while younger than
    /// it. Each object comes back at least one period after its reconcile ended
    /// (`Context::resync`), which is after the read it used started: so the first
    /// one back in each period refreshes, once, for all. `rollout_poll` is how
    /// often a rollout is looked at, `wait_poll` how often a deletion looks at a
    /// draining service: likewise.
    pub fn start(aws: Arc<AwsClients>, resync: Duration, rollout_poll: Duration, wait_poll: Duration) -> Self {
        let for_batches = aws.clone();
        let batcher =
            Batcher::start("DescribeServices", move |(region, cluster): (String, String), names: Vec<String>| {
                let client = for_batches.ecs(&region);
                async move { describe_all(&client, &cluster, &names).await }.boxed()
            });
        let at_rest = Arc::new(SharedReads::new(resync, resync * 5));
        // A rollout's names are dropped sooner: a service that finished rolling
        // reads at rest, and each refresh reads every name still kept.
        let rolling = Arc::new(SharedReads::new(rollout_poll, rollout_poll * 2));
        let draining = Arc::new(SharedReads::new(wait_poll, wait_poll * 5));
        Self { batcher, aws, at_rest, rolling, draining }
    }

    /// The service `name` in `cluster` of `region` as ECS shows it now, or `None`
    /// if ECS does not know it (or only as INACTIVE).
    pub async fn describe(&self, region: &str, cluster: &str, name: &str) -> Result<Option<ObservedService>, AwsError> {
        let started = Instant::now();
        let found = self.batcher.describe((region.to_string(), cluster.to_string()), name).await?;
        let live = found.filter(ObservedService::exists);
        self.store(region, cluster, name, live.clone(), started);
        Ok(live)
    }

    fn store(&self, region: &str, cluster: &str, name: &str, seen: Option<ObservedService>, read_at: Instant) {
        let key = (region.to_string(), cluster.to_string());
        self.at_rest.store(key.clone(), name, seen.clone(), read_at);
        if self.rolling.contains(&key, name) {
            self.rolling.store(key, name, seen, read_at);
        }
    }

    /// Notes the service as a write's answer shows it (a write started at
    /// `started`), so that the shared reads start from it: the read at rest, and
    /// the read of rolling services, since a create or an update starts a rollout
    /// that the next passes follow from it.
    pub fn note_written(&self, region: &str, cluster: &str, name: &str, seen: &ObservedService, started: Instant) {
        let seen = Some(seen.clone()).filter(ObservedService::exists);
        let key = (region.to_string(), cluster.to_string());
        self.at_rest.store(key.clone(), name, seen.clone(), started);
        self.rolling.store(key, name, seen, started);
    }

    /// The service `name` while its rollout goes on: from a read of every rolling
    /// service of the cluster at most about one rollout poll old. Like
    /// `describe_at_rest`, never plan a write from it.
    pub async fn describe_rolling(
        &self,
        region: &str,
        cluster: &str,
        name: &str,
    ) -> Result<Option<ObservedService>, AwsError> {
        // Into the read at rest too: a service that finished rolling starts at rest
        // from it, and the first look at rest of a cluster's services then reads
        // them all at once, not each as it turns Ready.
        shared(&self.rolling, Some(&self.at_rest), &self.aws, region, cluster, name).await
    }

    /// The service `name` as the cluster's last read at rest shows it (at most
    /// about one resync period old), refreshed for every service of the cluster
    /// when stale. For a reconcile that found nothing to change: a write is
    /// planned from `describe` only.
    pub async fn describe_at_rest(
        &self,
        region: &str,
        cluster: &str,
        name: &str,
    ) -> Result<Option<ObservedService>, AwsError> {
        shared(&self.at_rest, None, &self.aws, region, cluster, name).await
    }

    /// The service `name` while it drains: from a read of every draining service
    /// of the cluster at most about one wait poll old. `None` when `name` is not
    /// known to drain (read it with `describe`); never plan a write from it.
    pub async fn describe_draining(
        &self,
        region: &str,
        cluster: &str,
        name: &str,
    ) -> Result<Option<Option<ObservedService>>, AwsError> {
        if !self.draining.contains(&(region.to_string(), cluster.to_string()), name) {
            return Ok(None);
        }
        Ok(Some(shared(&self.draining, None, &self.aws, region, cluster, name).await?))
    }

    /// Notes that `name` drains, as last seen (DeleteService's answer, a read).
    pub fn note_draining(&self, region: &str, cluster: &str, name: &str, seen: Option<ObservedService>) {
        self.draining.store((region.to_string(), cluster.to_string()), name, seen, Instant::now());
    }
}
