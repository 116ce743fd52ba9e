//! Batches DescribeClusters: reconciles that ask within a short window share one
//! call per region (up to 100 clusters, the API's limit), which keeps the steady
//! state far below ECS throttling limits when many clusters resync together.

use super::{AwsClients, AwsError, ecs_cluster};
use crate::core::cluster::ObservedCluster;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 100;
const WINDOW: Duration = Duration::from_millis(25);

type Reply = oneshot::Sender<Result<Option<ObservedCluster>, AwsError>>;

#[derive(Debug, Clone)]
pub struct ClusterDescriber {
    requests: mpsc::Sender<(String, String, Reply)>,
}

impl ClusterDescriber {
    /// Starts the batching task on the current runtime.
    pub fn start(aws: Arc<AwsClients>) -> Self {
        let (tx, mut rx) = mpsc::channel::<(String, String, Reply)>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + WINDOW;
                while batch.len() < MAX_BATCH {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(request)) => batch.push(request),
                        _ => break,
                    }
                }
                let mut by_region: BTreeMap<String, Vec<(String, Reply)>> = BTreeMap::new();
                for (region, name, reply) in batch {
                    by_region.entry(region).or_default().push((name, reply));
                }
                for (region, waiters) in by_region {
                    let mut names: Vec<String> = waiters.iter().map(|(n, _)| n.clone()).collect();
                    names.sort();
                    names.dedup();
                    let result = ecs_cluster::describe_clusters(&aws.ecs(&region), &names).await;
                    for (name, reply) in waiters {
                        let answer = match &result {
                            Ok(found) => Ok(found.iter().find(|c| c.name == name || c.arn == name).cloned()),
                            Err(e) => Err(e.clone()),
                        };
                        let _ = reply.send(answer);
                    }
                }
            }
        });
        Self { requests: tx }
    }

    /// The cluster `name` in `region`, or `None` if ECS does not know it.
    pub async fn describe(&self, region: &str, name: &str) -> Result<Option<ObservedCluster>, AwsError> {
        let (reply, answer) = oneshot::channel();
        let gone = || AwsError::Transport { operation: "DescribeClusters", message: "describer stopped".into() };
        self.requests.send((region.to_string(), name.to_string(), reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
