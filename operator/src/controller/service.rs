//! The Service controller.

use super::service_autoscaling::AutoscalingOutcome;
use super::service_lb::{self, LbError, LbTarget};
use super::service_owned::{self, Removal};
use super::status::apply_status;
use super::{Context, Namespaces, ReconcileError, service_autoscaling};
use crate::aws::{AwsError, ecs_service};
use crate::core::conditions;
use crate::core::owned;
use crate::core::ownership::{self, Decision, Owner, Ownership};
use crate::core::service::{self as core, ObservedService, Resolved, ServicePlan};
use crate::core::service_status::{self, Outcome, StatusInputs};
use crate::core::tags;
use crate::crd::common::DeletionPolicy;
use crate::crd::common::condition::{READY, SYNCED};
use crate::crd::service::{LoadBalancerStatus, OwnedKind, OwnedResource};
use crate::crd::task_definition::NetworkMode;
use crate::crd::{Cluster, Service, TaskDefinition};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "Service";
const PERMANENT_ERROR_RETRY: Duration = Duration::from_secs(600);
/// While a reference is missing or not ready; the watches usually wake us sooner.
const WAITING_RETRY: Duration = Duration::from_secs(30);
/// While a rollout is under way, look more often than the resync period.
const ROLLOUT_POLL: Duration = Duration::from_secs(15);

struct Target {
    name: String,
    owner: Owner,
}

fn target(obj: &Service, ctx: &Context) -> Target {
    Target {
        name: core::service_name(&obj.name_any(), &obj.spec),
        owner: Owner::new(&obj.namespace().unwrap_or_default(), KIND, &obj.name_any(), &ctx.config.instance_id),
    }
}

fn is_new_problem(obj: &Service, message: &str) -> bool {
    obj.status.as_ref().and_then(|s| conditions::find(&s.conditions, SYNCED)).is_none_or(|c| c.message != message)
}

/// Runs the Service controller until shutdown. A change to a referenced
/// TaskDefinition or Cluster (a new revision, becoming Ready) reconciles every
/// Service that references it at once.
pub async fn run(client: kube::Client, namespaces: &Namespaces, ctx: Arc<Context>) {
    let (store, stream) = super::watch::<Service>(namespaces.apis(&client));
    let _ = ctx.service_store.set(store.clone());
    // The referenced kinds are watched into stores: a change reconciles the
    // Services that reference it, and `resolve` reads references from the stores
    // instead of asking the apiserver on every reconcile.
    let (td_store, td_stream) = reference_watch::<TaskDefinition>(namespaces.apis(&client));
    let (cluster_store, cluster_stream) = reference_watch::<Cluster>(namespaces.apis(&client));
    let _ = ctx.reference_stores.set((cluster_store, td_store));
    let by_td = store.clone();
    let by_cluster = store.clone();
    Controller::for_stream(stream, store)
        .watches_stream(td_stream, move |td: TaskDefinition| {
            referencing(&by_td, &td, |s| s.spec.task_definition_ref.as_ref().map(|r| r.name.clone()))
        })
        .watches_stream(cluster_stream, move |c: Cluster| {
            referencing(&by_cluster, &c, |s| s.spec.cluster_ref.as_ref().map(|r| r.name.clone()))
        })
        .shutdown_on_signal()
        .run(reconcile, move |obj, err, ctx| ctx.error_action(KIND, obj.as_ref(), err), ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(kind = KIND, error = %e, "reconcile did not succeed");
            }
        })
        .await;
}

fn reference_watch<K>(
    apis: Vec<Api<K>>,
) -> (Store<K>, impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static)
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = kube::runtime::reflector::store::<K>();
    let streams = apis.into_iter().map(|api| watcher(api, watcher::Config::default()).default_backoff().boxed());
    (reader, futures::stream::select_all(streams).reflect(writer).touched_objects())
}

/// The object `name` of `namespace` from a watch store, once the store has listed.
async fn lookup<K>(store: Option<&Store<K>>, namespace: &str, name: &str) -> Option<Arc<K>>
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
    super::reconcile_with_finalizer(obj, ctx, KIND, apply, cleanup).await
}

/// What a reconcile learned so far, written to status whatever path it ends on:
/// the record of owned resources above all, so that nothing created is forgotten.
struct Report<'a> {
    api: &'a Api<Service>,
    obj: &'a Service,
    region: String,
    wanted_td: Option<String>,
    /// `Some` once the load balancer parts were brought in line (`Some(None)`: the
    /// spec has none); `None` keeps what status said.
    load_balancer: Option<Option<LoadBalancerStatus>>,
    /// The event watermark: newest published time and the ids published at it.
    event_watermark: Option<(String, Vec<String>)>,
    applied_hash: Option<String>,
    resources: Vec<OwnedResource>,
}

impl Report<'_> {
    async fn write(&self, observed: Option<&ObservedService>, outcome: &Outcome) -> Result<(), ReconcileError> {
        let autoscaling = self.obj.spec.autoscaling.as_ref().map(|a| (a.min_capacity, a.max_capacity));
        let mut status = service_status::status(
            self.obj.status.as_ref(),
            observed,
            outcome,
            StatusInputs {
                generation: self.obj.metadata.generation,
                region: &self.region,
                wanted_task_definition: self.wanted_td.as_deref(),
                autoscaling,
                load_balancer: None,
                last_event_time: None,
                now: Timestamp::now(),
            },
        );
        if let Some(lb) = &self.load_balancer {
            status.load_balancer = lb.clone();
        }
        if let Some((time, ids)) = &self.event_watermark {
            status.last_event_time = Some(time.clone());
            status.last_event_ids = ids.clone();
        }
        if self.applied_hash.is_some() {
            status.applied_config_hash = self.applied_hash.clone();
        }
        status.resources = self.resources.clone();
        status.autoscaling_resource_id =
            self.resources.iter().find(|r| r.kind == OwnedKind::ScalableTarget).map(|r| r.id.clone());
        apply_status(self.api, &self.obj.name_any(), self.obj.status.as_ref(), &status).await?;
        Ok(())
    }

    async fn aws_error(
        &self,
        ctx: &Context,
        observed: Option<&ObservedService>,
        err: AwsError,
    ) -> Result<Action, ReconcileError> {
        let message = err.to_string();
        if is_new_problem(self.obj, &message) {
            ctx.event(self.obj, EventType::Warning, "AwsError", "Reconcile", message.clone()).await;
        }
        self.write(observed, &Outcome::AwsError(message)).await?;
        if err.is_retryable() { Err(err.into()) } else { Ok(Action::requeue(PERMANENT_ERROR_RETRY)) }
    }

    async fn problem(
        &self,
        ctx: &Context,
        observed: Option<&ObservedService>,
        reason: &str,
        outcome: Outcome,
    ) -> Result<Action, ReconcileError> {
        let message = match &outcome {
            Outcome::Invalid(m) | Outcome::Conflict(m) | Outcome::Immutable(m) => m.clone(),
            other => format!("{other:?}"),
        };
        if is_new_problem(self.obj, &message) {
            ctx.event(self.obj, EventType::Warning, reason, "Reconcile", message).await;
        }
        self.write(observed, &outcome).await?;
        Ok(match outcome {
            Outcome::Invalid(_) => Action::await_change(),
            _ => ctx.resync(self.obj),
        })
    }
}

/// Whether the spec changed since it was last applied in full: a new generation,
/// or the last reconcile of this generation did not end Synced.
fn spec_changed(obj: &Service) -> bool {
    let Some(status) = obj.status.as_ref() else { return true };
    let synced = conditions::find(&status.conditions, SYNCED).is_some_and(|c| c.status == "True");
    status.observed_generation != obj.metadata.generation || !synced
}

/// Resolves the references; `Err(outcome)` is a waiting state.
async fn resolve(obj: &Service, ctx: &Context) -> Result<Resolved, Outcome> {
    let ns = obj.namespace().unwrap_or_default();
    let waiting = |reason: &str, message: String| Outcome::Waiting(reason.to_string(), message);
    let (cluster, cluster_region) = match (&obj.spec.cluster_ref, &obj.spec.cluster) {
        (Some(r), _) => {
            let Some(c) = lookup(ctx.reference_stores.get().map(|s| &s.0), &ns, &r.name).await else {
                return Err(waiting(
                    "WaitingForCluster",
                    format!("waiting for Cluster {} to exist in namespace {ns}", r.name),
                ));
            };
            let status = c.status.clone().unwrap_or_default();
            let ready = conditions::find(&status.conditions, READY);
            match (&status.cluster_name, ready) {
                (Some(name), Some(cond)) if cond.status == "True" => (name.clone(), status.region.clone()),
                _ => {
                    let why = ready.map(|c| c.message.clone()).unwrap_or_else(|| "not reconciled yet".into());
                    return Err(waiting(
                        "WaitingForCluster",
                        format!("waiting for Cluster {} to be Ready: {why}", r.name),
                    ));
                }
            }
        }
        (None, Some(external)) => (external.clone(), None),
        (None, None) => return Err(Outcome::Invalid("set clusterRef or cluster".into())),
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
    Ok(Resolved { cluster, task_definition, region, awsvpc })
}

fn client_token(obj: &Service) -> String {
    // Unique per object and generation, at most 36 characters: a retried create
    // after a crash is answered with the service the first one made.
    let uid: String = obj.uid().unwrap_or_default().chars().filter(|c| *c != '-').take(28).collect();
    format!("{uid}-{}", obj.metadata.generation.unwrap_or(0))
}

async fn apply(api: &Api<Service>, obj: &Service, ctx: &Context) -> Result<Action, ReconcileError> {
    let t = target(obj, ctx);
    let previous = obj.status.as_ref();
    let mut r = Report {
        api,
        obj,
        region: previous
            .and_then(|s| s.region.clone())
            .unwrap_or_else(|| ctx.aws.region_for(obj.spec.region.as_deref())),
        wanted_td: None,
        load_balancer: None,
        event_watermark: None,
        applied_hash: None,
        resources: previous.map(|s| s.resources.clone()).unwrap_or_default(),
    };
    let problems = core::validate(&obj.name_any(), &obj.spec);
    if !problems.is_empty() {
        let message = format!("invalid spec: {}", problems.join("; "));
        return r.problem(ctx, None, "InvalidSpec", Outcome::Invalid(message)).await;
    }
    let resolved = match resolve(obj, ctx).await {
        Ok(res) => res,
        Err(Outcome::Invalid(m)) => return r.problem(ctx, None, "InvalidSpec", Outcome::Invalid(m)).await,
        Err(waiting) => {
            r.write(None, &waiting).await?;
            return Ok(Action::requeue(WAITING_RETRY));
        }
    };
    if resolved.awsvpc && obj.spec.network_configuration.is_none() {
        let message = "the task definition uses networkMode awsvpc: set spec.networkConfiguration (subnets and \
                       security groups)"
            .to_string();
        return r.problem(ctx, None, "InvalidSpec", Outcome::Invalid(message)).await;
    }
    r.region = resolved.region.clone();
    r.wanted_td = Some(resolved.task_definition.clone());
    let changed = spec_changed(obj);

    // Observe the service where the spec wants it.
    let observed = match ctx.services.describe(&resolved.region, &resolved.cluster, &t.name).await {
        Ok(o) => o.filter(ObservedService::exists),
        Err(e) => return r.aws_error(ctx, None, e).await,
    };
    if let Some(o) = &observed {
        let mine = owned::ecs_service(&o.arn, &resolved.region, &o.cluster_arn);
        if !r.resources.contains(&mine) {
            let resource = format!("ECS service {} in cluster {}", t.name, resolved.cluster);
            match ownership::decide(&ownership::ownership(&o.tags, &t.owner), obj.spec.adoption_policy, &resource) {
                Decision::Manage => {}
                Decision::Adopt => {
                    ctx.event(obj, EventType::Normal, "Adopted", "Adopt", format!("adopted {resource}")).await
                }
                Decision::Conflict(m) => return r.problem(ctx, None, "Conflict", Outcome::Conflict(m)).await,
            }
            owned::record(&mut r.resources, mine);
        }
    }

    // Load balancer parts first: the service attaches to them.
    let mut wanted = Vec::new();
    let mut owner_and_user_tags = obj.spec.tags.clone();
    owner_and_user_tags.extend(t.owner.tags());
    let mut attachments = Vec::new();
    r.load_balancer = Some(None);
    if let Some(lb_spec) = &obj.spec.load_balancer {
        let lb_target = LbTarget {
            obj,
            owner: &t.owner,
            region: &resolved.region,
            awsvpc: resolved.awsvpc,
            tags: owner_and_user_tags.clone(),
            spec_changed: changed,
            need_listener_load_balancer: obj
                .spec
                .autoscaling
                .as_ref()
                .is_some_and(|a| a.target_requests_per_target.is_some()),
        };
        match service_lb::ensure(ctx, &lb_target, lb_spec, &mut r.resources).await {
            Ok(ensured) => {
                attachments = ensured.attachments;
                wanted.extend(ensured.wanted);
                r.load_balancer = Some(Some(ensured.status));
            }
            Err(e) => {
                r.load_balancer = None;
                return match e {
                    LbError::Aws(e) => r.aws_error(ctx, observed.as_ref(), e).await,
                    LbError::Conflict(m) => r.problem(ctx, observed.as_ref(), "Conflict", Outcome::Conflict(m)).await,
                    LbError::Immutable(m) => {
                        r.problem(ctx, observed.as_ref(), "ImmutableFieldChanged", Outcome::Immutable(m)).await
                    }
                };
            }
        }
    }

    let desired = core::desired(&obj.name_any(), &obj.spec, &resolved, &t.owner.tags(), attachments);
    let hash = core::config_hash(&desired.config);
    let previous_hash = previous.and_then(|s| s.applied_config_hash.as_deref());
    let config_changed = core::config_changed(previous_hash, &hash, !changed);
    let ecs = ctx.aws.ecs(&resolved.region);
    let mut current = observed.clone();
    let mut wrote = false;
    match core::plan(&desired, observed.as_ref(), config_changed) {
        ServicePlan::Create => match ecs_service::create_service(&ecs, &desired, &client_token(obj)).await {
            Ok(created) => {
                owned::record(
                    &mut r.resources,
                    owned::ecs_service(&created.arn, &resolved.region, &created.cluster_arn),
                );
                let note = format!("created ECS service {} running {}", created.arn, desired.config.task_definition);
                ctx.event(obj, EventType::Normal, "Created", "Reconcile", note).await;
                current = Some(created);
                r.applied_hash = Some(hash.clone());
                wrote = true;
            }
            Err(e) => return r.aws_error(ctx, None, e).await,
        },
        ServicePlan::Update(update) => {
            if !update.is_empty() {
                if let Err(e) = ecs_service::update_service(&ecs, &resolved.cluster, &t.name, &update).await {
                    return r.aws_error(ctx, observed.as_ref(), e).await;
                }
                let note = match &update.task_definition {
                    Some(td) => format!("rolling out {td}; updated {}", update.fields().join(", ")),
                    None => format!("updated {}", update.fields().join(", ")),
                };
                ctx.event(obj, EventType::Normal, "Updated", "Reconcile", note).await;
                wrote = true;
            }
            r.applied_hash = Some(hash.clone());
        }
        ServicePlan::Immutable(fields) => {
            let message = format!(
                "cannot change {} of an existing ECS service; delete and recreate the Service (or revert the change)",
                fields.join(", ")
            );
            return r.problem(ctx, observed.as_ref(), "ImmutableFieldChanged", Outcome::Immutable(message)).await;
        }
    }
    if let Some(o) = &current {
        wanted.push(owned::ecs_service(&o.arn, &resolved.region, &o.cluster_arn));
    }
    if let Some(o) = &observed {
        let diff = tags::diff(&desired.tags, &o.tags);
        if !diff.is_empty() {
            let mut result = Ok(());
            if !diff.set.is_empty() {
                result = ecs_service::tag_resource(&ecs, &o.arn, &diff.set).await;
            }
            if result.is_ok() && !diff.remove.is_empty() {
                result = ecs_service::untag_resource(&ecs, &o.arn, &diff.remove).await;
            }
            if let Err(e) = result {
                return r.aws_error(ctx, current.as_ref(), e).await;
            }
            let note = format!("set tags {:?}, removed {:?}", diff.set.keys().collect::<Vec<_>>(), diff.remove);
            ctx.event(obj, EventType::Normal, "TagsUpdated", "Reconcile", note).await;
        }
    }

    // Autoscaling after the service exists: the scalable target needs it.
    let mut pending = None;
    if let Some(a) = &obj.spec.autoscaling {
        let label = match r.load_balancer.as_ref().and_then(|lb| lb.as_ref()) {
            Some(lb) => match (&lb.load_balancer_arn, &lb.target_group_arn) {
                (Some(l), Some(tg)) => service_autoscaling::resource_label(l, tg),
                _ => None,
            },
            None => None,
        };
        let cluster = cluster_name(&resolved.cluster);
        let outcome =
            service_autoscaling::ensure(ctx, obj, &resolved.region, &cluster, &t.name, a, label, &mut r.resources)
                .await;
        match outcome {
            Ok(AutoscalingOutcome::Ensured(parts)) => wanted.extend(parts),
            Ok(AutoscalingOutcome::Recorded) => {
                pending = Some("recorded the scalable target; registering it next".to_string());
                wanted.extend(r.resources.iter().filter(|x| x.kind == OwnedKind::ScalableTarget).cloned());
            }
            Ok(AutoscalingOutcome::Conflict(m)) => {
                return r.problem(ctx, current.as_ref(), "Conflict", Outcome::Conflict(m)).await;
            }
            Err(e) => return r.aws_error(ctx, current.as_ref(), e).await,
        }
    }

    // Read back after writes so that status shows this reconcile's result.
    if wrote || r.applied_hash.as_deref() != previous_hash {
        match ecs_service::describe_services(&ecs, &resolved.cluster, std::slice::from_ref(&t.name)).await {
            Ok(found) => current = found.into_iter().find(ObservedService::exists).or(current),
            Err(e) => return r.aws_error(ctx, current.as_ref(), e).await,
        }
    }

    // What the spec no longer wants goes, once its replacement serves.
    let stale = owned::stale(&r.resources, &wanted);
    let removal = match service_owned::remove(
        ctx,
        obj,
        &stale,
        &mut r.resources,
        owned::has_taken_over(current.as_ref()),
    )
    .await
    {
        Ok(removal) => removal,
        Err(e) => return r.aws_error(ctx, current.as_ref(), e).await,
    };

    // ECS service events become Kubernetes Events, each once.
    if let Some(o) = &current {
        let last_seen = previous.and_then(|s| s.last_event_time.as_deref()).and_then(|t| t.parse::<Timestamp>().ok());
        let seen_ids = previous.map(|s| s.last_event_ids.clone()).unwrap_or_default();
        let fresh = core::new_events(&o.events, last_seen, &seen_ids, 5);
        for e in &fresh {
            let lower = e.message.to_ascii_lowercase();
            let warning = ["unable", "failed", "error", "unhealthy", "stopped"].iter().any(|w| lower.contains(w));
            let type_ = if warning { EventType::Warning } else { EventType::Normal };
            ctx.event(obj, type_, "EcsServiceEvent", "Observe", e.message.clone()).await;
        }
        r.event_watermark =
            core::event_watermark(&fresh, last_seen, &seen_ids).map(|(time, ids)| (time.to_string(), ids));
    }

    let outcome = match (&removal, pending) {
        (Removal::Waiting(m), _) => Outcome::Waiting("ReplacingResources".into(), m.clone()),
        (Removal::Done, Some(m)) => Outcome::Waiting("RegisteringAutoscaling".into(), m),
        (Removal::Done, None) => Outcome::Synced,
    };
    r.write(current.as_ref(), &outcome).await?;
    if outcome != Outcome::Synced {
        return Ok(Action::requeue(Duration::from_secs(if matches!(removal, Removal::Done) { 1 } else { 5 })));
    }
    let rolling = current.as_ref().is_some_and(|o| {
        o.deployments.len() > 1 || o.deployments.iter().any(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"))
    });
    Ok(if rolling { Action::requeue(ROLLOUT_POLL.min(ctx.config.resync)) } else { ctx.resync(obj) })
}

/// The cluster name in a cluster reference that may be an ARN.
fn cluster_name(cluster: &str) -> String {
    cluster.rsplit_once(":cluster/").map(|(_, n)| n.to_string()).unwrap_or_else(|| cluster.to_string())
}

/// Everything this object owns: its record, plus what an operator version that
/// kept no record (or a lost status write) left, found by name and tags.
async fn owned_resources(obj: &Service, ctx: &Context, t: &Target) -> Result<Vec<OwnedResource>, ReconcileError> {
    let status = obj.status.clone().unwrap_or_default();
    let region = status.region.clone().unwrap_or_else(|| ctx.aws.region_for(obj.spec.region.as_deref()));
    let mut all = status.resources.clone();
    if let (Some(arn), Some(cluster)) = (&status.arn, &status.cluster_arn)
        && !all.iter().any(|r| r.kind == OwnedKind::EcsService)
    {
        // Recorded by an older version only in status.arn: delete it only if its
        // tags say it is ours.
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
    for part in service_lb::discover(ctx, obj, &t.owner, &region).await? {
        owned::record(&mut all, part);
    }
    Ok(all)
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
                    now: Timestamp::now(),
                },
            );
            status.resources = records;
            apply_status(api, &obj.name_any(), obj.status.as_ref(), &status).await?;
            Err(ReconcileError::DeletionBlocked(message))
        }
    }
}
