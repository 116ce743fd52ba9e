//! Batches describe calls: reconciles that ask within a short window share one
//! call per key (region, or region and cluster). The describe function chunks the
//! names to the API's limit. Used for DescribeClusters (100 per call) and
//! DescribeServices (10 per call).

use super::AwsError;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long the first request of a batch waits for others.
const WINDOW: Duration = Duration::from_millis(25);
/// The most requests one batch collects.
const MAX_PENDING: usize = 100;

/// Something a describe call returns, matched to the name or ARN asked for.
pub trait Described: Clone + Send + 'static {
    /// Whether this answers a request for `name_or_arn`.
    fn answers(&self, name_or_arn: &str) -> bool;
    /// Among several answers for one name, the one with the greatest rank wins
    /// (a live resource over a deleted one of the same name).
    fn rank(&self) -> bool;
}

type Reply<V> = oneshot::Sender<Result<Option<V>, AwsError>>;

/// The shared front of a batching task.
#[derive(Debug)]
pub struct Batcher<K, V> {
    operation: &'static str,
    requests: mpsc::Sender<(K, String, Reply<V>)>,
}

impl<K, V> Clone for Batcher<K, V> {
    fn clone(&self) -> Self {
        Self { operation: self.operation, requests: self.requests.clone() }
    }
}

impl<K, V> Batcher<K, V>
where
    K: Ord + Clone + Send + 'static,
    V: Described,
{
    /// Starts the batching task on the current runtime. `describe` answers one key's
    /// sorted, de-duplicated names.
    pub fn start<F>(operation: &'static str, describe: F) -> Self
    where
        F: Fn(K, Vec<String>) -> BoxFuture<'static, Result<Vec<V>, AwsError>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<(K, String, Reply<V>)>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut pending = vec![first];
                let deadline = tokio::time::Instant::now() + WINDOW;
                while pending.len() < MAX_PENDING {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(request)) => pending.push(request),
                        _ => break,
                    }
                }
                let mut groups: BTreeMap<K, Vec<(String, Reply<V>)>> = BTreeMap::new();
                for (key, name, reply) in pending {
                    groups.entry(key).or_default().push((name, reply));
                }
                for (key, waiters) in groups {
                    let mut names: Vec<String> = waiters.iter().map(|(n, _)| n.clone()).collect();
                    names.sort();
                    names.dedup();
                    let found = describe(key, names).await;
                    for (name, reply) in waiters {
                        let answer = match &found {
                            Ok(all) => Ok(all.iter().filter(|v| v.answers(&name)).max_by_key(|v| v.rank()).cloned()),
                            Err(e) => Err(e.clone()),
                        };
                        let _ = reply.send(answer);
                    }
                }
            }
        });
        Self { operation, requests: tx }
    }

    /// The item `name` (or ARN) under `key`, or `None` if AWS does not know it.
    pub async fn describe(&self, key: K, name: &str) -> Result<Option<V>, AwsError> {
        let (reply, answer) = oneshot::channel();
        let gone = || AwsError::Transport { operation: self.operation, message: "describer stopped".into() };
        self.requests.send((key, name.to_string(), reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
