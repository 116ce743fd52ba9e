//! Batched DescribeClusters: reconciles that ask within a short window share one
//! call per region (up to 100 clusters, the API's limit), which keeps the steady
//! state far below ECS throttling limits when many clusters resync together.

use super::batcher::{Batcher, Described};
use super::{AwsClients, AwsError, ecs_cluster};
use crate::core::cluster::ObservedCluster;
use futures::FutureExt;
use std::sync::Arc;

impl Described for ObservedCluster {
    fn answers(&self, name_or_arn: &str) -> bool {
        self.name == name_or_arn || self.arn == name_or_arn
    }

    fn rank(&self) -> bool {
        self.exists()
    }
}

#[derive(Debug, Clone)]
pub struct ClusterDescriber(Batcher<String, ObservedCluster>);

impl ClusterDescriber {
    /// Starts the batching task on the current runtime.
    pub fn start(aws: Arc<AwsClients>) -> Self {
        Self(Batcher::start("DescribeClusters", move |region: String, names: Vec<String>| {
            let client = aws.ecs(&region);
            async move {
                let mut found = Vec::new();
                for chunk in names.chunks(100) {
                    found.extend(ecs_cluster::describe_clusters(&client, chunk).await?);
                }
                Ok(found)
            }
            .boxed()
        }))
    }

    /// The cluster `name` in `region`, or `None` if ECS does not know it.
    pub async fn describe(&self, region: &str, name: &str) -> Result<Option<ObservedCluster>, AwsError> {
        self.0.describe(region.to_string(), name).await
    }
}
