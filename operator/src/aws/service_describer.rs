//! Batched DescribeServices: reconciles that ask within a short window share one
//! call per region and cluster, up to 10 services (the API's limit). A resync of
//! N services in one cluster costs ceil(N/10) DescribeServices calls.

use super::batcher::{Batcher, Described};
use super::{AwsClients, AwsError, ecs_service};
use crate::core::service::ObservedService;
use futures::FutureExt;
use std::sync::Arc;

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
pub struct ServiceDescriber(Batcher<(String, String), ObservedService>);

impl ServiceDescriber {
    pub fn start(aws: Arc<AwsClients>) -> Self {
        Self(Batcher::start("DescribeServices", move |(region, cluster): (String, String), names: Vec<String>| {
            let client = aws.ecs(&region);
            async move {
                let mut found = Vec::new();
                for chunk in names.chunks(10) {
                    found.extend(ecs_service::describe_services(&client, &cluster, chunk).await?);
                }
                Ok(found)
            }
            .boxed()
        }))
    }

    /// The service `name` in `cluster` of `region`, or `None` if ECS does not know it.
    pub async fn describe(&self, region: &str, cluster: &str, name: &str) -> Result<Option<ObservedService>, AwsError> {
        self.0.describe((region.to_string(), cluster.to_string()), name).await
    }
}
