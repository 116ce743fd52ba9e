//! The Service controller.

use super::service_lb;
use super::service_owned::{self, Removal};
use super::status::apply_status;
use super::{Context, ReconcileError, WatchScope};
use crate::aws::ecs_service;
use crate::core::conditions;
use crate::core::owned;
use crate::core::ownership::{self, Owner, Ownership};
use crate::core::service::{self as core, Resolved};
use crate::core::service_status::{self, Outcome, StatusInputs};
use crate::crd::common::DeletionPolicy;
use crate::crd::common::condition::{READY, SYNCED};
use crate::crd::service::{LocalRef, OwnedKind, OwnedResource};
use crate::crd::task_definition::NetworkMode;
use crate::crd::{Cluster, Service, TaskDefinition};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "Service";

/// The ECS service name and the owner of everything a Service object creates.
pub(super) struct Target {
    pub(super) name: String,
    pub(super) owner: Owner,
}

pub(super) fn target(obj: &Service, ctx: &Context) -> Target {
    Target {
        name: core::service_name(&obj.name_any(), &obj.spec),
        owner: Owner::new(&obj.namespace().unwrap_or_default(), KIND, &obj.name_any(), &ctx.config.instance_id),
    }
}

/// Runs the Service controller until shutdown. A change to a referenced
/// TaskDefinition or Cluster (a new revision, becoming Ready) reconciles every
/// Service that references it at once.
pub async fn run(scope: &WatchScope, ctx: Arc<Context>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let client = ctx.client.clone();
    let (store, stream) = super::watch::<Service>(scope, &client);
    super::report_listed(&ctx, KIND, &store);
    let _ = ctx.service_store.set(store.clone());
    // The referenced kinds are watched into stores: a change reconciles the
    // Services that reference it, and `resolve` reads references from the stores
    // instead of asking the apiserver on every reconcile.
    let (td_store, td_stream) = reference_watch::<TaskDefinition>(scope, &client, task_definition_as_resolved);
    let (cluster_store, cluster_stream) = reference_watch::<Cluster>(scope, &client, cluster_as_resolved);
    super::report_listed(&ctx, "TaskDefinition (Service references)", &td_store);
    super::report_listed(&ctx, "Cluster (Service references)", &cluster_store);
    let _ = ctx.reference_stores.set((cluster_store, td_store));
    let by_td = store.clone();
    let by_cluster = store.clone();
    super::controller_for(stream, store, &ctx)
        .watches_stream(td_stream, move |td: TaskDefinition| {
            referencing(&by_td, &td, |s| s.spec.task_definition_ref.as_ref().map(|r| r.name.clone()))
        })
        .watches_stream(cluster_stream, move |c: Cluster| {
            referencing(&by_cluster, &c, |s| s.spec.cluster_ref.as_ref().map(|r| r.name.clone()))
        })
        .graceful_shutdown_on(super::stopped(shutdown))
        .run(reconcile, move |obj, err, ctx| ctx.error_action(KIND, obj.as_ref(), err), ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(kind = KIND, error = %e, "reconcile did not succeed");
            }
        })
        .await;
}

fn reference_watch<K>(
    scope: &WatchScope,
    client: &kube::Client,
    as_resolved: fn(&K) -> Option<u64>,
) -> (Store<K>, impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = kube::runtime::reflector::store::<K>();
    let stream = scope.events::<K>(client).reflect(writer).touched_objects();
    (reader, stream.predicate_filter(as_resolved, Default::default()))
}

// A reference wakes the Services that use it only when what `resolve` reads of it
// changed (hashed below): a new spec, or status written with the same revision,
// wakes nobody, so a TaskDefinition change fans out to its N Services once, when
// the new revision is registered, not once per write to its status.
fn ready_of(conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition]) -> Option<(String, String)> {
    conditions::find(conditions, READY).map(|c| (c.status.clone(), c.message.clone()))
}

fn hash_of(value: impl std::hash::Hash) -> Option<u64> {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    Some(hasher.finish())
}

fn task_definition_as_resolved(td: &TaskDefinition) -> Option<u64> {
    let status = td.status.as_ref();
    hash_of((
        status.and_then(|s| s.arn.as_deref()),
        status.and_then(|s| ready_of(&s.conditions)),
        td.spec.network_mode == Some(NetworkMode::Awsvpc),
    ))
}

fn cluster_as_resolved(c: &Cluster) -> Option<u64> {
    let status = c.status.as_ref();
    hash_of((
        status.and_then(|s| s.cluster_name.as_deref()),
        status.and_then(|s| s.region.as_deref()),
        status.and_then(|s| ready_of(&s.conditions)),
    ))
}

/// The object `name` of `namespace` from a watch store, once the store has listed.
pub(super) async fn lookup<K>(store: Option<&Store<K>>, namespace: &str, name: &str) -> Option<Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone,
{
    let store = store?;
    let _ = tokio::time::timeout(Duration::from_secs(10), store.wait_until_ready()).await;
    store.get(&ObjectRef::new(name).within(namespace))
}

fn referencing<K: ResourceExt>(
    store: &Store<Service>,
    obj: &K,
    reference: impl Fn(&Service) -> Option<String>,
) -> Vec<ObjectRef<Service>> {
    let ns = obj.namespace();
    let name = obj.name_any();
    store
        .state()
        .iter()
        .filter(|s| s.namespace() == ns && reference(s).as_deref() == Some(name.as_str()))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Reconciles one Service object.
pub async fn reconcile(obj: Arc<Service>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    super::reconcile_with_finalizer(obj, ctx, KIND, super::service_apply::apply, cleanup).await
}

/// The ECS cluster (name or ARN) and, for a `Cluster` object, its region, of a
/// `clusterRef` or `cluster`; `None` if neither is set; `Err((reason, message))`
/// while the referenced Cluster is missing or not Ready.
pub(super) async fn resolve_cluster(
    ctx: &Context,
    ns: &str,
    cluster_ref: Option<&LocalRef>,
    cluster: Option<&String>,
) -> Result<Option<(String, Option<String>)>, (String, String)> {
    let waiting = |message: String| ("WaitingForCluster".to_string(), message);
    match (cluster_ref, cluster) {
        (Some(r), _) => {
            let Some(c) = lookup(ctx.reference_stores.get().map(|s| &s.0), ns, &r.name).await else {
                return Err(waiting(format!("waiting for Cluster {} to exist in namespace {ns}", r.name)));
            };
            let status = c.status.clone().unwrap_or_default();
            let ready = conditions::find(&status.conditions, READY);
            match (&status.cluster_name, ready) {
                (Some(name), Some(cond)) if cond.status == "True" => Ok(Some((name.clone(), status.region.clone()))),
                _ => {
                    let why = ready.map(|c| c.message.clone()).unwrap_or_else(|| "not reconciled yet".into());
                    Err(waiting(format!("waiting for Cluster {} to be Ready: {why}", r.name)))
                }
            }
        }
        (None, Some(external)) => Ok(Some((external.clone(), None))),
        (None, None) => Ok(None),
    }
}

/// Resolves the references; `Err(outcome)` is a waiting state.
pub(super) async fn resolve(obj: &Service, ctx: &Context) -> Result<Resolved, Outcome> {
    let ns = obj.namespace().unwrap_or_default();
    let waiting = |reason: &str, message: String| Outcome::Waiting(reason.to_string(), message);
    let (cluster, cluster_region) =
        match resolve_cluster(ctx, &ns, obj.spec.cluster_ref.as_ref(), obj.spec.cluster.as_ref()).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(Outcome::Invalid("set clusterRef or cluster".into())),
            Err((reason, message)) => return Err(waiting(&reason, message)),
        };
    let (task_definition, awsvpc) = match (&obj.spec.task_definition_ref, &obj.spec.task_definition) {
        (Some(r), _) => {
            let Some(td) = lookup(ctx.reference_stores.get().map(|s| &s.1), &ns, &r.name).await else {
                return Err(waiting(
                    "WaitingForTaskDefinition",
                    format!("waiting for TaskDefinition {} to exist in namespace {ns}", r.name),
                ));
            };
            // The newest registered revision, even while a later spec is invalid:
            // the service keeps running what last worked.
            let Some(arn) = td.status.as_ref().and_then(|s| s.arn.clone()) else {
                let why = td
                    .status
                    .as_ref()
                    .and_then(|s| conditions::find(&s.conditions, READY))
                    .map(|c| c.message.clone())
                    .unwrap_or_else(|| "not reconciled yet".into());
                return Err(waiting(
                    "WaitingForTaskDefinition",
                    format!("waiting for TaskDefinition {} to register a revision: {why}", r.name),
                ));
            };
            (arn, td.spec.network_mode == Some(NetworkMode::Awsvpc))
        }
        (None, Some(external)) => (external.clone(), obj.spec.network_configuration.is_some()),
        (None, None) => return Err(Outcome::Invalid("set taskDefinitionRef or taskDefinition".into())),
    };
    let region = ctx.aws.region_for(obj.spec.region.as_deref().or(cluster_region.as_deref()));
    if let Some(problem) = crate::core::region::problem(&region) {
        return Err(Outcome::Invalid(problem));
    }
    Ok(Resolved { cluster, task_definition, region, awsvpc })
}

/// Everything this object owns: its record, plus what an operator version that
/// kept no record (or a lost status write) left, found by name and tags.
async fn owned_resources(obj: &Service, ctx: &Context, t: &Target) -> Result<Vec<OwnedResource>, ReconcileError> {
    let status = obj.status.clone().unwrap_or_default();
    let region = status.region.clone().unwrap_or_else(|| ctx.aws.region_for(obj.spec.region.as_deref()));
    let mut all = status.resources.clone();
    if let (Some(arn), Some(cluster)) = (&status.arn, &status.cluster_arn)
        && !all.iter().any(|r| r.kind == OwnedKind::EcsService)
        && !deletion_waited(obj)
    {
        // Recorded by an older version only in status.arn: delete it only if its
        // tags say it is ours. (Once a pass of the deletion waited, the record is
        // this version's: a service missing from it was deleted and forgotten.)
        let found =
            ecs_service::describe_services(&ctx.aws.ecs(&region), cluster, std::slice::from_ref(&t.name)).await?;
        if found
            .iter()
            .any(|s| s.exists() && &s.arn == arn && ownership::ownership(&s.tags, &t.owner) == Ownership::Ours)
        {
            owned::record(&mut all, owned::ecs_service(arn, &region, cluster));
        }
    }
    if let Some(id) = &status.autoscaling_resource_id {
        owned::record(&mut all, owned::resource(OwnedKind::ScalableTarget, id, &region, None));
    }
    // Nothing is created before the region is valid: no discovery in a region
    // that is none. Once per deletion: a pass that had to wait wrote what it
    // found to status (reason Deleting), and the passes after it start from there.
    let synced = conditions::find(&status.conditions, SYNCED).is_some_and(|c| c.status == "True");
    let may_hold = core::may_hold_unrecorded_lb_parts(
        obj.spec.load_balancer.is_some(),
        core::spec_generation(obj.metadata.generation, obj.metadata.deletion_timestamp.is_some()),
        status.observed_generation.filter(|_| synced),
    );
    if may_hold && !deletion_waited(obj) && crate::core::region::problem(&region).is_none() {
        for part in service_lb::discover(ctx, obj, &t.owner, &region).await? {
            owned::record(&mut all, part);
        }
    }
    Ok(all)
}

/// Whether a pass of this object's deletion already had to wait (and wrote so to
/// status, reason Deleting).
pub(super) fn deletion_waited(obj: &Service) -> bool {
    let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice()).unwrap_or_default();
    conditions::find(conditions, SYNCED).is_some_and(|c| c.reason == "Deleting")
}

async fn cleanup(api: &Api<Service>, obj: &Service, ctx: &Context) -> Result<Action, ReconcileError> {
    let t = target(obj, ctx);
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(
            obj,
            EventType::Normal,
            "Retained",
            "Delete",
            format!("left ECS service {} and its load balancer parts in place (deletionPolicy: Retain)", t.name),
        )
        .await;
        return Ok(Action::await_change());
    }
    let mut records = owned_resources(obj, ctx, &t).await?;
    let stale = owned::stale(&records, &[]);
    match service_owned::remove(ctx, obj, &stale, &mut records, true).await? {
        Removal::Done => Ok(Action::await_change()),
        Removal::Waiting(message) => {
            let region = obj.status.as_ref().and_then(|s| s.region.clone()).unwrap_or_default();
            let mut status = service_status::status(
                obj.status.as_ref(),
                None,
                &Outcome::Deleting(message.clone()),
                StatusInputs {
                    generation: obj.metadata.generation,
                    region: &region,
                    wanted_task_definition: None,
                    autoscaling: None,
                    load_balancer: None,
                    last_event_time: None,
                    rolled_back_from: obj.status.as_ref().and_then(|s| s.rolled_back_task_definition_arn.as_deref()),
                    rollback_reason: None,
                    now: Timestamp::now(),
                },
            );
            status.resources = records;
            apply_status(api, &obj.name_any(), obj.status.as_ref(), &status).await?;
            Err(ReconcileError::DeletionBlocked(message))
        }
    }
}
