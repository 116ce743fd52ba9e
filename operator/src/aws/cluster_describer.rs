//! DescribeClusters, batched two ways:
//! - a fresh read (`describe`): reconciles that ask within a short window share
//!   one call per region, up to 100 clusters (the API's limit);
//! - a read at rest (`describe_at_rest`): one refresh per resync period reads
//!   every cluster of the region the operator's Cluster reconciles ask for, in
//!   ceil(N/100) calls, whatever the timing of those reconciles
//!   (`core::observation`).

use super::batcher::{Batcher, Described};
use super::shared_reads::SharedReads;
use super::{AwsClients, AwsError, ecs_cluster};
use crate::core::cluster::ObservedCluster;
use futures::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Described for ObservedCluster {
    fn answers(&self, name_or_arn: &str) -> bool {
        self.name == name_or_arn || self.arn == name_or_arn
    }

    fn rank(&self) -> bool {
        self.exists()
    }
}

#[derive(Debug, Clone)]
pub struct ClusterDescriber {
    batcher: Batcher<String, ObservedCluster>,
    aws: Arc<AwsClients>,
    // Keyed by (region, ""): one group per region.
    at_rest: Arc<SharedReads<Option<ObservedCluster>>>,
}

/// The clusters named in `names`, 100 per DescribeClusters call.
async fn describe_all(client: &aws_sdk_ecs::Client, names: &[String]) -> Result<Vec<ObservedCluster>, AwsError> {
    let mut found = Vec::new();
    for chunk in names.chunks(100) {
        found.extend(ecs_cluster::describe_clusters(client, chunk).await?);
    }
    Ok(found)
}

/// Of what a read found, the live cluster that answers to `name`.
fn live(found: &[ObservedCluster], name: &str) -> Option<ObservedCluster> {
    found.iter().filter(|c| c.answers(name)).max_by_key(|c| c.rank()).filter(|c| c.exists()).cloned()
}

impl ClusterDescriber {
    /// Starts the batching task on the current runtime. `resync` is the resync
    /// period: a read at rest is used while younger than it (as for services,
    /// `ServiceDescriber::start`).
    pub fn start(aws: Arc<AwsClients>, resync: Duration) -> Self {
        let for_batches = aws.clone();
        let batcher = Batcher::start("DescribeClusters", move |region: String, names: Vec<String>| {
            let client = for_batches.ecs(&region);
            async move { describe_all(&client, &names).await }.boxed()
        });
        Self { batcher, aws, at_rest: Arc::new(SharedReads::new(resync, resync * 5)) }
    }

    fn key(region: &str) -> (String, String) {
        (region.to_string(), String::new())
    }

    /// The cluster `name` in `region` as ECS shows it now, or `None` if ECS does
    /// not know it (or only as INACTIVE).
    pub async fn describe(&self, region: &str, name: &str) -> Result<Option<ObservedCluster>, AwsError> {
        let started = Instant::now();
        let found = self.batcher.describe(region.to_string(), name).await?.filter(ObservedCluster::exists);
        self.at_rest.store(Self::key(region), name, found.clone(), started);
        Ok(found)
    }

    /// Notes the cluster as a write's answer or a read back shows it.
    pub fn note(&self, region: &str, name: &str, seen: Option<&ObservedCluster>, read_at: Instant) {
        self.at_rest.store(Self::key(region), name, seen.filter(|c| c.exists()).cloned(), read_at);
    }

    /// The cluster `name` in `region` as the region's last read at rest shows it
    /// (at most about one resync period old), refreshed for every cluster of the
    /// region when stale. For a reconcile at rest: a write is planned from
    /// `describe` only.
    pub async fn describe_at_rest(&self, region: &str, name: &str) -> Result<Option<ObservedCluster>, AwsError> {
        let client = self.aws.ecs(region);
        self.at_rest
            .get(Self::key(region), name, |names| async move {
                let found = describe_all(&client, &names).await?;
                Ok(names.iter().map(|n| (n.clone(), live(&found, n))).collect())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(name: &str, status: &str) -> ObservedCluster {
        ObservedCluster {
            name: name.into(),
            arn: format!("arn:aws:ecs:eu-west-1:123456789012:cluster/{name}"),
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_read_answers_each_name_with_its_live_cluster_only() {
        let found = vec![cluster("a", "INACTIVE"), cluster("a", "ACTIVE"), cluster("b", "INACTIVE")];
        assert_eq!(live(&found, "a").map(|c| c.status), Some("ACTIVE".to_string()));
        assert_eq!(live(&found, "arn:aws:ecs:eu-west-1:123456789012:cluster/a").map(|c| c.name), Some("a".into()));
        assert_eq!(live(&found, "b"), None, "only INACTIVE: not there");
        assert_eq!(live(&found, "c"), None);
    }
}
