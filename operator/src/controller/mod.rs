//! The controllers: kube-runtime `Controller`s that wire watches, finalizers,
//! status patches, Events, error policy and requeues around the pure core.

pub mod cluster;
pub mod context;
pub mod error;
pub mod events;
pub mod service;
pub mod service_apply;
pub mod service_autoscaling;
pub mod service_lb;
pub mod service_owned;
pub mod status;
pub mod task;
pub mod task_definition;

pub use context::{Context, ControllerConfig};
pub use error::ReconcileError;

use crate::crd::common::FINALIZER;
use futures::StreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Permanent AWS errors wait for a spec change, but look again now and then in
/// case the cause was outside the spec (IAM, quotas).
pub const PERMANENT_ERROR_RETRY: std::time::Duration = std::time::Duration::from_secs(600);

/// What to do after an AWS error has been reported in status: transient errors go
/// to the error policy (per-object backoff), permanent ones wait.
pub fn after_aws_error(err: crate::aws::AwsError) -> Result<Action, ReconcileError> {
    if err.is_retryable() { Err(err.into()) } else { Ok(Action::requeue(PERMANENT_ERROR_RETRY)) }
}

/// The kinds whose status carries conditions.
pub trait Conditioned {
    fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition];
}

macro_rules! conditioned {
    ($($kind:ty),*) => {$(
        impl Conditioned for $kind {
            fn conditions(&self) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                self.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or(&[])
            }
        }
    )*};
}
conditioned!(crate::crd::Cluster, crate::crd::TaskDefinition, crate::crd::Service, crate::crd::Task);

/// Whether `message` is news: a problem that persists across resyncs (the same
/// Synced message) gets one Event, not one a minute.
pub fn is_new_problem<K: Conditioned>(obj: &K, message: &str) -> bool {
    crate::core::conditions::find(obj.conditions(), crate::crd::common::condition::SYNCED)
        .is_none_or(|c| c.message != message)
}

/// What an installation watches: all namespaces or the listed ones, and
/// optionally only objects whose labels match a selector (sharding).
#[derive(Debug, Clone, Default)]
pub struct WatchScope {
    /// Empty: all namespaces.
    pub namespaces: Vec<String>,
    pub label_selector: Option<String>,
}

impl WatchScope {
    /// One `Api` per watched namespace.
    pub fn apis<K>(&self, client: &kube::Client) -> Vec<Api<K>>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        if self.namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            self.namespaces.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect()
        }
    }

    /// The watch events of `K` in scope: one watch per namespace, merged, each
    /// retrying with kube's default backoff.
    pub fn events<K>(
        &self,
        client: &kube::Client,
    ) -> impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Debug
            + Send
            + 'static,
    {
        let config = match &self.label_selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        };
        let streams =
            self.apis::<K>(client).into_iter().map(move |api| watcher(api, config.clone()).default_backoff().boxed());
        // The watch stores hold every watched object: without managedFields (often
        // half an object, and nothing here reads them) memory stays small.
        futures::stream::select_all(streams).modify(|obj: &mut K| obj.meta_mut().managed_fields = None)
    }
}

/// Resolves once the operator is told to stop.
pub async fn stopped(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Marks `name` as listed in the probes once `store` has listed.
pub fn report_listed<K>(ctx: &Context, name: &'static str, store: &Store<K>)
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    ctx.probes.expect_watch(name);
    let store = store.clone();
    let probes = ctx.probes.clone();
    tokio::spawn(async move {
        // kube's readiness signal wakes only the last task that waited on it (the
        // controller's own wait), so look again every 250 ms instead of waiting once.
        loop {
            match tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready()).await {
                Ok(Ok(())) => return probes.watch_listed(name),
                Ok(Err(_)) => return,
                Err(_) => {}
            }
        }
    });
}

// Reconcile on spec changes, deletion and finalizer changes, not on our own status
// writes (those would double every reconcile and its AWS reads).
fn relevant_change<K: Resource>(obj: &K) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    predicates::generation(obj).hash(&mut hasher);
    obj.meta().deletion_timestamp.is_some().hash(&mut hasher);
    predicates::finalizers(obj).hash(&mut hasher);
    // Annotations can carry a request to reconcile now (`ecs.operator.dev/reconcile-at`).
    obj.meta().annotations.hash(&mut hasher);
    Some(hasher.finish())
}

/// A watch of `K` in `scope` filtered to relevant changes, with the store it fills.
pub fn watch<K>(
    scope: &WatchScope,
    client: &kube::Client,
) -> (Store<K>, impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream = scope
        .events::<K>(client)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(relevant_change, Default::default());
    (reader, stream)
}

/// One reconcile behind the finalizer: `apply` while the object lives, `cleanup`
/// once it is being deleted (the finalizer goes when `cleanup` succeeds). Records
/// the reconcile's duration and result in the metrics.
pub async fn reconcile_with_finalizer<K>(
    obj: Arc<K>,
    ctx: Arc<Context>,
    kind: &'static str,
    apply: impl AsyncFnOnce(&Api<K>, &K, &Context) -> Result<Action, ReconcileError>,
    cleanup: impl AsyncFnOnce(&Api<K>, &K, &Context) -> Result<Action, ReconcileError>,
) -> Result<Action, ReconcileError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + Debug,
{
    let started = std::time::Instant::now();
    let generation = obj.meta().generation;
    tracing::debug!(kind, name = %obj.name_any(), generation, "reconcile started");
    let _in_flight = ctx.probes.reconcile_started(context::key(kind, obj.as_ref()));
    let namespace = obj.meta().namespace.clone().ok_or_else(|| ReconcileError::NoNamespace(obj.name_any()))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, obj.clone(), |event| async {
        match event {
            FinalizerEvent::Apply(o) => apply(&api, &o, &ctx).await,
            FinalizerEvent::Cleanup(o) => cleanup(&api, &o, &ctx).await,
        }
    })
    .await
    .map_err(ReconcileError::from);
    ctx.finished(kind, obj.as_ref(), started, result.is_ok());
    tracing::debug!(kind, name = %obj.name_any(), generation, ok = result.is_ok(), seconds = started.elapsed().as_secs_f64(), "reconcile ended");
    result
}

/// A controller of the objects `stream` brings, with the settings of every
/// controller: bounded concurrency, and no backoff shared by its watches.
pub(crate) fn controller_for<K>(
    stream: impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    reader: Store<K>,
    ctx: &Context,
) -> Controller<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let config = kube::runtime::controller::Config::default().concurrency(ctx.config.max_concurrent_reconciles);
    Controller::for_stream(stream, reader).with_config(config).trigger_backoff(EachWatchBacksOff)
}

/// The backoff a controller puts over all its watches merged: none, since each
/// watch backs off on its own (`WatchScope::events`). kube-runtime's default there
/// is one backoff shared by every watch of the controller: after an API server
/// restart, each watch's 410 Expired paused the events of all of them, and the
/// pauses grew (seen: 56 s, 44 s, 36 s in a row, edits applied 3 minutes late).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EachWatchBacksOff;

impl Iterator for EachWatchBacksOff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        // `None` would end the stream; no pause is zero.
        Some(Duration::ZERO)
    }
}

impl kube::runtime::utils::Backoff for EachWatchBacksOff {
    fn reset(&mut self) {}
}

/// Runs one controller until `shutdown` (reconciles under way finish).
pub async fn run_controller<K, R, RFut>(
    scope: &WatchScope,
    ctx: Arc<Context>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    kind: &'static str,
    reconcile: R,
) where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
    R: FnMut(Arc<K>, Arc<Context>) -> RFut + Send + 'static,
    RFut: Future<Output = Result<Action, ReconcileError>> + Send + 'static,
{
    let (reader, stream) = watch::<K>(scope, &ctx.client);
    report_listed(&ctx, kind, &reader);
    controller_for(stream, reader, &ctx)
        .graceful_shutdown_on(stopped(shutdown))
        .run(reconcile, move |obj, err, ctx| ctx.error_action(kind, obj.as_ref(), err), ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(kind, error = %e, "reconcile did not succeed");
            }
        })
        .await;
}
