//! What every reconcile shares: clients, configuration, the event publisher,
//! metrics and the per-object retry backoff.

use super::ReconcileError;
use super::events::EventPublisher;
use crate::aws::AwsClients;
use crate::aws::cluster_describer::ClusterDescriber;
use crate::aws::ecs_task::TaskDescriber;
use crate::aws::service_describer::ServiceDescriber;
use crate::aws::shared_reads::SharedReads;
use crate::core::load_balancer::{ObservedRule, ObservedTargetGroup};
use crate::crd::{Cluster, Service, Task, TaskDefinition};
use crate::metrics::{KindLabels, Metrics, ReconcileLabels};
use futures::FutureExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Settings of the controllers.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// How often a healthy object is compared with AWS again (drift detection).
    pub resync: Duration,
    /// How often a Service is looked at while its rollout is under way, and a
    /// blocked deletion retried (at most every 15 s).
    pub rollout_poll: Duration,
    /// Names this operator installation in ownership tags.
    pub instance_id: String,
    /// Reconciles of one kind that may run at once.
    pub max_concurrent_reconciles: u16,
}

/// Shared state of all controllers.
pub struct Context {
    pub client: kube::Client,
    pub aws: Arc<AwsClients>,
    pub clusters: ClusterDescriber,
    pub metrics: Metrics,
    pub config: ControllerConfig,
    /// What /healthz and /readyz read: watches listed, reconciles under way.
    pub probes: Arc<crate::probes::Probes>,
    events: EventPublisher,
    failures: Mutex<FailureCounts>,
    pub services: ServiceDescriber,
    /// Listener rules read once per listener and resync period, shared by the
    /// Services with a rule on the listener.
    pub listener_rules: SharedReads<Vec<ObservedRule>>,
    /// Target groups by name, read 20 a call once per region and resync period
    /// (key: the region and "").
    pub target_groups: SharedReads<Option<ObservedTargetGroup>>,
    /// The VPC of a listener's load balancer, by region and listener ARN (for
    /// target groups whose spec names no VPC). A listener stays on its load
    /// balancer, and a load balancer in its VPC, for life: read once an hour.
    pub listener_vpcs: SharedReads<Option<String>>,
    /// The Service objects the Service controller watches (with their status):
    /// the task definition revisions their deployments use are never deregistered.
    pub service_store: OnceLock<Store<Service>>,
    /// The Task objects the Task controller watches: the task definition revisions
    /// unfinished Tasks run (or will retry with) are never deregistered.
    pub task_store: OnceLock<Store<Task>>,
    /// DescribeTasks of running Tasks, batched per region and cluster.
    pub tasks: TaskDescriber,
    /// The Cluster and TaskDefinition objects Services reference, as watched.
    pub reference_stores: OnceLock<(Store<Cluster>, Store<TaskDefinition>)>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("config", &self.config).finish_non_exhaustive()
    }
}

/// How often a deletion that waits (a service draining) looks again: like a
/// rollout, at most every 15 s.
fn wait_poll(config: &ControllerConfig) -> Duration {
    config.rollout_poll.min(Duration::from_secs(15))
}

const LISTENER_VPC_MAX_AGE: Duration = Duration::from_secs(3600);

/// Retries of transient errors back off from 5 s to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let seconds = 5u64.saturating_mul(2u64.saturating_pow(failures.saturating_sub(1).min(6)));
    Duration::from_secs(seconds.min(300))
}

/// Consecutive failures per object, for the backoff. Bounded: past `MAX_TRACKED`
/// objects, entries not updated for twice the longest backoff are dropped (their
/// objects are no longer retried: deleted, or fixed by a reconcile that never ran).
#[derive(Debug, Default)]
pub struct FailureCounts {
    counts: HashMap<String, (u32, Instant)>,
}

impl FailureCounts {
    pub const MAX_TRACKED: usize = 10_000;
    const STALE: Duration = Duration::from_secs(600);

    /// Records one more failure of `key` at `now`; returns how many in a row.
    pub fn failed(&mut self, key: String, now: Instant) -> u32 {
        if self.counts.len() >= Self::MAX_TRACKED && !self.counts.contains_key(&key) {
            self.counts.retain(|_, (_, at)| now.saturating_duration_since(*at) < Self::STALE);
        }
        let entry = self.counts.entry(key).or_insert((0, now));
        *entry = (entry.0.saturating_add(1), now);
        entry.0
    }

    /// Forgets `key` (it succeeded).
    pub fn succeeded(&mut self, key: &str) {
        self.counts.remove(key);
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

pub(super) fn key<K: Resource>(kind: &str, obj: &K) -> String {
    format!("{kind}/{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

impl Context {
    pub fn new(
        client: kube::Client,
        aws: Arc<AwsClients>,
        metrics: Metrics,
        config: ControllerConfig,
        probes: Arc<crate::probes::Probes>,
    ) -> Self {
        let instance = std::env::var("POD_NAME").unwrap_or_else(|_| config.instance_id.clone());
        let aws_for_services = aws.clone();
        let resync = config.resync;
        let wait = wait_poll(&config);
        let rollout_poll = config.rollout_poll.min(resync);
        Self {
            events: EventPublisher::new(client.clone(), "ecs-operator", &instance),
            clusters: ClusterDescriber::start(aws.clone(), resync),
            tasks: TaskDescriber::start(aws.clone()),
            client,
            aws,
            metrics,
            config,
            probes,
            failures: Mutex::new(FailureCounts::default()),
            services: ServiceDescriber::start(aws_for_services, resync, rollout_poll, wait),
            listener_rules: SharedReads::new(resync, resync * 5),
            target_groups: SharedReads::new(resync, resync * 5),
            listener_vpcs: SharedReads::new(LISTENER_VPC_MAX_AGE, LISTENER_VPC_MAX_AGE * 2),
            service_store: OnceLock::new(),
            task_store: OnceLock::new(),
            reference_stores: OnceLock::new(),
        }
    }

    /// Task definition ARNs that Services reference or that their deployments still
    /// run, or that unfinished Tasks run or will retry with; `None` while the
    /// Service or Task watch has not listed everything yet (then nothing may be
    /// deregistered: ECS runs no new task of an INACTIVE revision).
    pub async fn task_definitions_in_use(&self) -> Option<BTreeSet<String>> {
        let services = self.service_store.get()?;
        let tasks = self.task_store.get()?;
        for store in [services.wait_until_ready().boxed(), tasks.wait_until_ready().boxed()] {
            tokio::time::timeout(Duration::from_secs(10), store).await.ok()?.ok()?;
        }
        let by_services = services
            .state()
            .into_iter()
            .filter_map(|s| s.status.clone())
            .flat_map(|s| s.deployments.into_iter().map(|d| d.task_definition).chain(s.task_definition_arn));
        let by_tasks = tasks
            .state()
            .into_iter()
            .filter_map(|t| t.status.clone())
            .filter(|s| !crate::core::task::finished(s))
            .filter_map(|s| s.task_definition_arn);
        Some(by_services.chain(by_tasks).collect())
    }

    /// The Services (`namespace/name`) whose status names one of `arns` as their
    /// task definition or a deployment's.
    pub fn services_using(&self, arns: &[String]) -> Vec<String> {
        let Some(store) = self.service_store.get() else { return Vec::new() };
        let mut users: Vec<String> = store
            .state()
            .iter()
            .filter(|s| {
                s.status.as_ref().is_some_and(|st| {
                    st.task_definition_arn
                        .iter()
                        .chain(st.deployments.iter().map(|d| &d.task_definition))
                        .any(|a| arns.contains(a))
                })
            })
            .map(|s| format!("{}/{}", s.namespace().unwrap_or_default(), s.name_any()))
            .collect();
        users.sort();
        users
    }

    /// Publishes a Kubernetes Event on `obj`. Failing to publish is logged, never fatal.
    pub async fn event<K>(&self, obj: &K, type_: EventType, reason: &str, action: &str, note: String)
    where
        K: Resource<DynamicType = ()>,
    {
        if let Err(e) = self.events.publish(obj.object_ref(&()), type_, reason, action, &note).await {
            tracing::warn!(error = %e, reason, "could not publish event");
        }
    }

    /// The requeue after a successful reconcile: the resync period, spread by up to
    /// 10% per object so that objects do not all resync at once.
    pub fn resync<K: Resource>(&self, obj: &K) -> Action {
        let spread = obj.meta().uid.as_deref().map(|u| u.bytes().map(u64::from).sum::<u64>() % 100).unwrap_or(0);
        let base = self.config.resync;
        Action::requeue(base + base.mul_f64(spread as f64 / 1000.0))
    }

    /// Records the end of a reconcile: its duration, and a success (which resets the
    /// backoff). A failed reconcile is counted once, by the error policy
    /// (`error_action`), as `error` or `requeue`.
    pub fn finished<K: Resource>(&self, kind: &'static str, obj: &K, started: Instant, ok: bool) {
        self.metrics.reconcile_duration.get_or_create(&KindLabels { kind }).observe(started.elapsed().as_secs_f64());
        if !ok {
            return;
        }
        self.metrics.reconciles.get_or_create(&ReconcileLabels { kind, result: "success" }).inc();
        if let Ok(mut failures) = self.failures.lock() {
            failures.succeeded(&key(kind, obj));
        }
    }

    /// The error policy: waits retry at the rollout poll period (at most 15 s), other
    /// errors back off per object.
    pub fn error_action<K: Resource>(&self, kind: &'static str, obj: &K, err: &ReconcileError) -> Action {
        if err.is_wait() {
            // A deletion waits for ECS (a service draining) or for other objects.
            self.metrics.reconciles.get_or_create(&ReconcileLabels { kind, result: "requeue" }).inc();
            return Action::requeue(wait_poll(&self.config));
        }
        self.metrics.reconciles.get_or_create(&ReconcileLabels { kind, result: "error" }).inc();
        let count = match self.failures.lock() {
            Ok(mut failures) => failures.failed(key(kind, obj), Instant::now()),
            Err(_) => 1,
        };
        tracing::warn!(kind, name = %obj.name_any(), error = %err, retry_in = ?backoff(count), "reconcile failed");
        Action::requeue(backoff(count))
    }
}

#[cfg(test)]
mod tests {
    use super::{FailureCounts, backoff};
    use std::time::{Duration, Instant};

    #[test]
    fn failures_count_in_a_row_and_reset_on_success() {
        let mut f = FailureCounts::default();
        let now = Instant::now();
        assert_eq!(f.failed("Service/ns/a".into(), now), 1);
        assert_eq!(f.failed("Service/ns/a".into(), now), 2);
        assert_eq!(f.failed("Service/ns/b".into(), now), 1);
        f.succeeded("Service/ns/a");
        assert_eq!(f.failed("Service/ns/a".into(), now), 1);
    }

    #[test]
    fn the_failure_map_is_bounded_by_dropping_objects_no_longer_retried() {
        let mut f = FailureCounts::default();
        let start = Instant::now();
        for i in 0..FailureCounts::MAX_TRACKED {
            f.failed(format!("Service/ns/old-{i}"), start);
        }
        // One object still failing (retried within the longest backoff).
        let later = start + Duration::from_secs(300);
        assert_eq!(f.failed("Service/ns/old-0".into(), later), 2);
        assert_eq!(f.len(), FailureCounts::MAX_TRACKED);
        // A new object past the bound: entries untouched for 10 minutes go.
        let much_later = start + Duration::from_secs(700);
        assert_eq!(f.failed("Service/ns/new".into(), much_later), 1);
        assert_eq!(f.len(), 2, "old-0 (failed 400 s ago) and new stay");
        assert_eq!(f.failed("Service/ns/old-0".into(), much_later), 3);
    }

    #[test]
    fn backoff_doubles_from_five_seconds_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(4), Duration::from_secs(40));
        assert_eq!(backoff(7), Duration::from_secs(300));
        assert_eq!(backoff(100), Duration::from_secs(300));
    }
}
