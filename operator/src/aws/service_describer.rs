//! Batches DescribeServices: reconciles that ask within a short window share one
//! call per region and cluster, up to 10 services (the API's limit). A resync of
//! N services in one cluster costs ceil(N/10) DescribeServices calls.

use super::{AwsClients, AwsError, ecs_service};
use crate::core::service::ObservedService;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 10;
const WINDOW: Duration = Duration::from_millis(25);

type Reply = oneshot::Sender<Result<Option<ObservedService>, AwsError>>;
type Request = ((String, String), String, Reply);

#[derive(Debug, Clone)]
pub struct ServiceDescriber {
    requests: mpsc::Sender<Request>,
}

impl ServiceDescriber {
    pub fn start(aws: Arc<AwsClients>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Request>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut pending = vec![first];
                let deadline = tokio::time::Instant::now() + WINDOW;
                while pending.len() < 100 {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(request)) => pending.push(request),
                        _ => break,
                    }
                }
                let mut groups: BTreeMap<(String, String), Vec<(String, Reply)>> = BTreeMap::new();
                for (key, name, reply) in pending {
                    groups.entry(key).or_default().push((name, reply));
                }
                for ((region, cluster), waiters) in groups {
                    let client = aws.ecs(&region);
                    let mut names: Vec<String> = waiters.iter().map(|(n, _)| n.clone()).collect();
                    names.sort();
                    names.dedup();
                    let mut found: Result<Vec<ObservedService>, AwsError> = Ok(Vec::new());
                    for chunk in names.chunks(MAX_BATCH) {
                        match ecs_service::describe_services(&client, &cluster, chunk).await {
                            Ok(mut s) => {
                                if let Ok(all) = found.as_mut() {
                                    all.append(&mut s)
                                }
                            }
                            Err(e) => {
                                found = Err(e);
                                break;
                            }
                        }
                    }
                    for (name, reply) in waiters {
                        let answer = match &found {
                            // Prefer the live service over an INACTIVE one of the same name.
                            Ok(all) => Ok(all
                                .iter()
                                .filter(|s| s.name == name || s.arn == name)
                                .max_by_key(|s| s.exists())
                                .cloned()),
                            Err(e) => Err(e.clone()),
                        };
                        let _ = reply.send(answer);
                    }
                }
            }
        });
        Self { requests: tx }
    }

    /// The service `name` in `cluster` of `region`, or `None` if ECS does not know it.
    pub async fn describe(&self, region: &str, cluster: &str, name: &str) -> Result<Option<ObservedService>, AwsError> {
        let (reply, answer) = oneshot::channel();
        let gone = || AwsError::Transport { operation: "DescribeServices", message: "describer stopped".into() };
        self.requests
            .send(((region.to_string(), cluster.to_string()), name.to_string(), reply))
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
