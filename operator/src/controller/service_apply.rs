//! The Service reconcile as a pipeline of stages: resolve the references,
//! observe the ECS service, bring the load balancer parts in line, plan the ECS
//! changes (a pure value), act on the plan, autoscaling, remove what the spec no
//! longer wants, publish ECS events, and write status. A stage that cannot go on
//! returns a `Halt`, which becomes the status and the requeue.

use super::service::{Target, resolve, target};
use super::service_autoscaling::{self, AutoscalingOutcome};
use super::service_lb::{self, EnsuredLoadBalancer, LbError, LbTarget};
use super::service_owned::{self, Removal};
use super::status::apply_status;
use super::{Context, ReconcileError, is_new_problem};
use crate::aws::{AwsError, ecs_service};
use crate::core::conditions;
use crate::core::load_balancer::LastTargetHealth;
use crate::core::owned;
use crate::core::ownership::{self, Decision};
use crate::core::service::{self as core, DesiredService, ObservedService, Resolved, ServicePlan};
use crate::core::service_status::{self, Outcome, StatusInputs};
use crate::core::tags;
use crate::crd::Service;
use crate::crd::common::condition::{READY, SYNCED};
use crate::crd::service::{DeploymentStrategy, LoadBalancerStatus, OwnedKind, OwnedResource, ServiceDeploymentStatus};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use std::time::Duration;

/// While a reference is missing or not ready; the watches usually wake us sooner.
const WAITING_RETRY: Duration = Duration::from_secs(30);

/// Why the pipeline stopped before its end.
enum Halt {
    /// Something the user must change or wait out: (Event reason, outcome, the
    /// service as observed).
    Problem(&'static str, Outcome, Option<ObservedService>),
    Aws(AwsError, Option<ObservedService>),
    /// A reference is not there yet.
    Waiting(Outcome),
}

type Stage<T> = Result<T, Halt>;

fn aws(observed: Option<&ObservedService>) -> impl FnOnce(AwsError) -> Halt + '_ {
    move |e| Halt::Aws(e, observed.cloned())
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
    /// `Some` once decided: the wanted task definition ECS rolled back from.
    rolled_back_from: Option<Option<String>>,
    /// `Some` once read: a BlueGreen Service's newest ECS service deployment.
    service_deployment: Option<Option<ServiceDeploymentStatus>>,
    resources: Vec<OwnedResource>,
}

impl Report<'_> {
    async fn write(&self, observed: Option<&ObservedService>, outcome: &Outcome) -> Result<(), ReconcileError> {
        let autoscaling = self.obj.spec.autoscaling.as_ref().map(|a| (a.min_capacity, a.max_capacity));
        let previous_rollback = self.obj.status.as_ref().and_then(|s| s.rolled_back_task_definition_arn.clone());
        let rolled_back_from = self.rolled_back_from.clone().unwrap_or(previous_rollback);
        let deployment = match &self.service_deployment {
            Some(read) => read.as_ref(),
            None => self.obj.status.as_ref().and_then(|s| s.service_deployment.as_ref()),
        };
        let rollback_reason =
            deployment.filter(|d| d.status.starts_with("ROLLBACK_")).and_then(|d| d.status_reason.as_deref());
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
                rolled_back_from: rolled_back_from.as_deref(),
                rollback_reason,
                now: Timestamp::now(),
            },
        );
        if let Some(deployment) = &self.service_deployment {
            status.service_deployment = deployment.clone();
        }
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

    /// Writes why the pipeline stopped, with a Warning Event when it is news.
    async fn halt(&self, ctx: &Context, halt: Halt) -> Result<Action, ReconcileError> {
        match halt {
            Halt::Problem(reason, outcome, observed) => self.problem(ctx, observed.as_ref(), reason, outcome).await,
            Halt::Aws(err, observed) => self.aws_error(ctx, observed.as_ref(), err).await,
            Halt::Waiting(outcome) => {
                self.write(None, &outcome).await?;
                Ok(Action::requeue(WAITING_RETRY))
            }
        }
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
        let outcome = if err.is_retryable() { Outcome::AwsRetrying(message) } else { Outcome::AwsError(message) };
        self.write(observed, &outcome).await?;
        super::after_aws_error(err)
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

/// Whether the last reconcile found the Service Ready (its rollout done): at rest.
fn is_ready(obj: &Service) -> bool {
    obj.status.as_ref().and_then(|s| conditions::find(&s.conditions, READY)).is_some_and(|c| c.status == "True")
}

/// Reconciles a live Service object.
pub async fn apply(api: &Api<Service>, obj: &Service, ctx: &Context) -> Result<Action, ReconcileError> {
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
        rolled_back_from: None,
        service_deployment: None,
        resources: previous.map(|s| s.resources.clone()).unwrap_or_default(),
    };
    match pipeline(&mut r, obj, ctx).await {
        Ok((current, outcome, action)) => {
            r.write(current.as_ref(), &outcome).await?;
            Ok(action)
        }
        Err(halt) => r.halt(ctx, halt).await,
    }
}

/// Whether this edit's pass looks for unrecorded load balancer parts
/// (`core::edit_may_find_unrecorded_lb_parts`): an edit of a Service that had no
/// load balancer reads none of them.
fn may_find_unrecorded_lb_parts(obj: &Service) -> bool {
    let Some(status) = obj.status.as_ref() else { return true };
    let synced = conditions::find(&status.conditions, SYNCED).is_some_and(|c| c.status == "True");
    let with_lb = status.load_balancer.is_some() || core::records_load_balancer_parts(&status.resources);
    core::edit_may_find_unrecorded_lb_parts(
        obj.metadata.generation,
        status.observed_generation.filter(|_| synced),
        with_lb,
    )
}

async fn pipeline(
    r: &mut Report<'_>,
    obj: &Service,
    ctx: &Context,
) -> Stage<(Option<ObservedService>, Outcome, Action)> {
    let t = target(obj, ctx);
    let resolved = resolve_references(obj, ctx).await?;
    r.region = resolved.region.clone();
    r.wanted_td = Some(resolved.task_definition.clone());
    let edited = obj.metadata.generation.is_some_and(|g| g > 1);
    if edited
        && obj.status.as_ref().and_then(|s| s.observed_generation) != obj.metadata.generation
        && may_find_unrecorded_lb_parts(obj)
    {
        // After an edit: load balancer parts a reconcile created but could not
        // record (the operator was stopped before its status write) are found by
        // name and tags, so that what the edit no longer wants still goes. (Before
        // any edit the spec still wants them, and `ensure` claims them.)
        let found = service_lb::discover(ctx, obj, &t.owner, &resolved.region).await.map_err(aws(None))?;
        for part in found {
            owned::record(&mut r.resources, part);
        }
    }
    let at_rest = !spec_changed(obj) && is_ready(obj);
    let read = match (spec_changed(obj), at_rest) {
        (true, _) if never_created(obj, &r.resources) => Read::CreateFirst,
        (true, _) => Read::Fresh,
        (false, true) => Read::AtRest,
        (false, false) => Read::Rolling,
    };
    let mut observed = observe(ctx, obj, &t, &resolved, &mut r.resources, read).await?;

    // The load balancer parts first: the service attaches to them.
    let mut wanted = Vec::new();
    let lb = ensure_load_balancer(ctx, obj, &t, &resolved, &mut r.resources, observed.as_ref(), at_rest).await?;
    let attachments = match lb {
        Some(EnsuredLoadBalancer { attachments, status, wanted: parts }) => {
            wanted.extend(parts);
            r.load_balancer = Some(Some(status));
            attachments
        }
        None => {
            r.load_balancer = Some(None);
            Vec::new()
        }
    };

    let desired = core::desired(&obj.name_any(), &obj.spec, &resolved, &t.owner.tags(), attachments);
    let hash = core::config_hash(&desired.config);
    let previous_hash = obj.status.as_ref().and_then(|s| s.applied_config_hash.as_deref());
    let config_changed = core::config_changed(previous_hash, &hash, !spec_changed(obj));
    let mut plan = core::plan(&desired, observed.as_ref(), config_changed);
    if matches!(read, Read::Rolling | Read::AtRest) && core::plan_writes(&plan) {
        // A write is planned from a fresh read only, never from a shared one.
        let planned = match &plan {
            ServicePlan::Update(u) => u.fields().join(","),
            other => format!("{other:?}"),
        };
        tracing::debug!(service = %t.name, planned, "the shared read plans a write: reading afresh");
        observed = observe(ctx, obj, &t, &resolved, &mut r.resources, Read::Fresh).await?;
        plan = core::plan(&desired, observed.as_ref(), config_changed);
    }
    let applied = previous_hash == Some(hash.as_str());
    let plan = hold_after_rollback(ctx, r, &resolved, observed.as_ref(), applied, plan).await?;
    let acted = act(ctx, obj, &t, &resolved, &desired, plan, observed.as_ref(), &mut r.resources).await;
    let (mut current, wrote) = match acted {
        Err(Halt::Aws(e, _)) if read == Read::CreateFirst && ecs_service::name_taken(&e) => {
            // An ECS service the operator has no record of holds the name (made
            // outside, or by a pass of an older generation that could not record
            // it): read it, and plan against it as any other pass does.
            observed = observe(ctx, obj, &t, &resolved, &mut r.resources, Read::Fresh).await?;
            let plan = core::plan(&desired, observed.as_ref(), config_changed);
            let plan = hold_after_rollback(ctx, r, &resolved, observed.as_ref(), applied, plan).await?;
            act(ctx, obj, &t, &resolved, &desired, plan, observed.as_ref(), &mut r.resources).await?
        }
        acted => acted?,
    };
    r.applied_hash = Some(hash);
    if let Some(o) = &current {
        wanted.push(owned::ecs_service(&o.arn, &resolved.region, &o.cluster_arn));
    }
    sync_tags(ctx, obj, &resolved, &desired, observed.as_ref()).await?;

    // Autoscaling after the service exists: the scalable target needs it.
    let pending = autoscale(ctx, obj, &t, &resolved, r, &mut wanted, current.as_ref()).await?;

    // Read back after a write whose answer lacked the service, so that status
    // shows this reconcile's result; the answers to CreateService and
    // UpdateService are the service as written.
    if wrote == Written::ReadBack {
        // Batched: Services updated together share their read-backs.
        let found =
            ctx.services.describe(&resolved.region, &resolved.cluster, &t.name).await.map_err(aws(current.as_ref()))?;
        current = found.or(current);
    }

    // What the spec no longer wants goes, once its replacement serves.
    let stale = owned::stale(&r.resources, &wanted);
    let taken_over = owned::has_taken_over(current.as_ref());
    let removal =
        service_owned::remove(ctx, obj, &stale, &mut r.resources, taken_over).await.map_err(aws(current.as_ref()))?;

    if let Some(o) = &current {
        r.event_watermark = publish_events(ctx, obj, o).await;
        if let Some(read) = blue_green_deployment(ctx, obj, &resolved, o).await.map_err(aws(current.as_ref()))? {
            r.service_deployment = Some(read);
        }
    }

    Ok(match (removal, pending) {
        (Removal::Waiting(m), _) => {
            (current, Outcome::Waiting("ReplacingResources".into(), m), Action::requeue(Duration::from_secs(5)))
        }
        (Removal::Done, Some(m)) => {
            (current, Outcome::Waiting("RegisteringAutoscaling".into(), m), Action::requeue(Duration::from_secs(1)))
        }
        (Removal::Done, None) => {
            let rolling = current.as_ref().is_some_and(|o| {
                o.deployments.len() > 1
                    || o.deployments.iter().any(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"))
            });
            let action =
                if rolling { Action::requeue(ctx.config.rollout_poll.min(ctx.config.resync)) } else { ctx.resync(obj) };
            (current, Outcome::Synced, action)
        }
    })
}

/// Validation and references: what the spec resolves to, or why it cannot yet.
async fn resolve_references(obj: &Service, ctx: &Context) -> Stage<Resolved> {
    let invalid = |m: String| Halt::Problem("InvalidSpec", Outcome::Invalid(m), None);
    let problems = core::validate(&obj.name_any(), &obj.spec);
    if !problems.is_empty() {
        return Err(invalid(format!("invalid spec: {}", problems.join("; "))));
    }
    let resolved = match resolve(obj, ctx).await {
        Ok(res) => res,
        Err(Outcome::Invalid(m)) => return Err(invalid(m)),
        Err(waiting) => return Err(Halt::Waiting(waiting)),
    };
    if resolved.awsvpc && obj.spec.network_configuration.is_none() {
        return Err(invalid(
            "the task definition uses networkMode awsvpc: set spec.networkConfiguration (subnets and security \
             groups)"
                .to_string(),
        ));
    }
    Ok(resolved)
}

/// `plan`, held at the revision ECS runs when ECS rolled back from the wanted
/// task definition (recorded in `r`).
async fn hold_after_rollback(
    ctx: &Context,
    r: &mut Report<'_>,
    resolved: &Resolved,
    observed: Option<&ObservedService>,
    applied: bool,
    plan: ServicePlan,
) -> Stage<ServicePlan> {
    let previous_rollback = r.obj.status.as_ref().and_then(|s| s.rolled_back_task_definition_arn.as_deref());
    let mut rolled_back = service_status::rolled_back_from(previous_rollback, observed, &resolved.task_definition);
    if rolled_back.is_none()
        && let Some(o) = observed
        && core::reverted_after_apply(o, &resolved.task_definition, applied)
    {
        // ECS runs another revision than the one already sent: a rollback the last
        // look missed (it can finish between two looks), or a change made outside.
        let ecs = ctx.aws.ecs(&resolved.region);
        let newest = ecs_service::latest_service_deployment(&ecs, &resolved.cluster, &o.arn, false)
            .await
            .map_err(aws(Some(o)))?;
        if newest.as_ref().is_some_and(|d| d.status.starts_with("ROLLBACK_")) {
            rolled_back = Some(resolved.task_definition.clone());
            r.service_deployment = Some(newest);
        }
    }
    let held = if rolled_back.is_some() { core::hold_task_definition(plan) } else { plan };
    r.rolled_back_from = Some(rolled_back);
    Ok(held)
}

/// Whether no ECS service was ever recorded for the object: its first pass
/// creates without reading first.
fn never_created(obj: &Service, records: &[OwnedResource]) -> bool {
    let recorded = records.iter().any(|r| r.kind == OwnedKind::EcsService);
    !recorded && obj.status.as_ref().and_then(|s| s.arn.as_deref()).is_none()
}

/// How a reconcile reads its ECS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// No read: nothing was ever recorded, so the pass sends CreateService with
    /// the object's client token. ECS answers a retry of a create that went
    /// through (the status write after it did not) with the service it made; a
    /// name held by any other service fails the create, and the pass then reads
    /// it fresh.
    CreateFirst,
    /// Its own read (batched with others asking at the same moment): the spec
    /// changed, or a write is planned.
    Fresh,
    /// The spec is applied and the rollout goes on: the cluster's shared read of
    /// rolling services, at most a rollout poll old.
    Rolling,
    /// Applied and Ready: the cluster's shared read, at most a resync old.
    AtRest,
}

/// The ECS service where the spec wants it, if it exists and is ours (recorded,
/// tagged, or adopted).
async fn observe(
    ctx: &Context,
    obj: &Service,
    t: &Target,
    resolved: &Resolved,
    records: &mut Vec<OwnedResource>,
    read: Read,
) -> Stage<Option<ObservedService>> {
    let (region, cluster) = (&resolved.region, &resolved.cluster);
    let observed = match read {
        Read::CreateFirst => return Ok(None),
        Read::Fresh => ctx.services.describe(region, cluster, &t.name).await,
        Read::Rolling => ctx.services.describe_rolling(region, cluster, &t.name).await,
        Read::AtRest => ctx.services.describe_at_rest(region, cluster, &t.name).await,
    };
    let observed = observed.map_err(aws(None))?.filter(ObservedService::exists);
    if let Some(o) = &observed {
        let mine = owned::ecs_service(&o.arn, &resolved.region, &o.cluster_arn);
        if !records.contains(&mine) {
            let resource = format!("ECS service {} in cluster {}", t.name, resolved.cluster);
            match ownership::decide(&ownership::ownership(&o.tags, &t.owner), obj.spec.adoption_policy, &resource) {
                Decision::Manage => {}
                Decision::Adopt => {
                    ctx.event(obj, EventType::Normal, "Adopted", "Adopt", format!("adopted {resource}")).await
                }
                Decision::Conflict(m) => return Err(Halt::Problem("Conflict", Outcome::Conflict(m), None)),
            }
            owned::record(records, mine);
        }
    }
    Ok(observed)
}

async fn ensure_load_balancer(
    ctx: &Context,
    obj: &Service,
    t: &Target,
    resolved: &Resolved,
    records: &mut Vec<OwnedResource>,
    observed: Option<&ObservedService>,
    at_rest: bool,
) -> Stage<Option<EnsuredLoadBalancer>> {
    let Some(spec) = &obj.spec.load_balancer else { return Ok(None) };
    let previous = obj.status.as_ref();
    let last_health = match (previous, previous.and_then(|s| s.load_balancer.as_ref()), observed) {
        (Some(s), Some(lb), Some(o)) if at_rest => match (lb.healthy_targets, lb.unhealthy_targets, s.running_count) {
            (Some(h), Some(u), Some(running)) => {
                Some(LastTargetHealth { counts: (h, u), running_then: running, running_now: o.running_count })
            }
            _ => None,
        },
        _ => None,
    };
    let mut tags = obj.spec.tags.clone();
    tags.extend(t.owner.tags());
    let lb_target = LbTarget {
        obj,
        owner: &t.owner,
        region: &resolved.region,
        awsvpc: resolved.awsvpc,
        tags,
        spec_changed: spec_changed(obj),
        last_health,
        need_listener_load_balancer: obj
            .spec
            .autoscaling
            .as_ref()
            .is_some_and(|a| a.target_requests_per_target.is_some()),
    };
    service_lb::ensure(ctx, &lb_target, spec, records).await.map(Some).map_err(|e| match e {
        LbError::Aws(e) => Halt::Aws(e, observed.cloned()),
        LbError::Conflict(m) => Halt::Problem("Conflict", Outcome::Conflict(m), observed.cloned()),
        LbError::Immutable(m) => Halt::Problem("ImmutableFieldChanged", Outcome::Immutable(m), observed.cloned()),
    })
}

/// What `act` wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Nothing,
    /// A write whose answer is the service as it now is.
    Answered,
    /// A write whose answer lacked the service: read it back.
    ReadBack,
}

/// Carries out the plan: (the service as it now is, what was written).
#[allow(clippy::too_many_arguments)]
async fn act(
    ctx: &Context,
    obj: &Service,
    t: &Target,
    resolved: &Resolved,
    desired: &DesiredService,
    plan: ServicePlan,
    observed: Option<&ObservedService>,
    records: &mut Vec<OwnedResource>,
) -> Stage<(Option<ObservedService>, Written)> {
    let ecs = ctx.aws.ecs(&resolved.region);
    match plan {
        ServicePlan::Create => {
            let started = std::time::Instant::now();
            let created = ecs_service::create_service(&ecs, desired, &client_token(obj)).await.map_err(aws(None))?;
            ctx.services.note_written(&resolved.region, &resolved.cluster, &t.name, &created, started);
            owned::record(records, owned::ecs_service(&created.arn, &resolved.region, &created.cluster_arn));
            let note = format!("created ECS service {} running {}", created.arn, desired.config.task_definition);
            ctx.event(obj, EventType::Normal, "Created", "Reconcile", note).await;
            Ok((Some(created), Written::Answered))
        }
        ServicePlan::Update(update) if update.is_empty() => Ok((observed.cloned(), Written::Nothing)),
        ServicePlan::Update(update) => {
            let started = std::time::Instant::now();
            let answer =
                ecs_service::update_service(&ecs, &desired.cluster, &t.name, &update).await.map_err(aws(observed))?;
            if let Some(a) = &answer {
                ctx.services.note_written(&resolved.region, &resolved.cluster, &t.name, a, started);
            }
            let note = match &update.task_definition {
                Some(td) => format!("rolling out {td}; updated {}", update.fields().join(", ")),
                None => format!("updated {}", update.fields().join(", ")),
            };
            ctx.event(obj, EventType::Normal, "Updated", "Reconcile", note).await;
            // The answer is the service as updated: no read back.
            Ok(match answer {
                Some(a) => (Some(a), Written::Answered),
                None => (observed.cloned(), Written::ReadBack),
            })
        }
        ServicePlan::Immutable(fields) => {
            let message = format!(
                "cannot change {} of an existing ECS service; delete and recreate the Service (or revert the change)",
                fields.join(", ")
            );
            Err(Halt::Problem("ImmutableFieldChanged", Outcome::Immutable(message), observed.cloned()))
        }
    }
}

/// The ECS service's tags follow the spec (user tags plus ownership tags).
async fn sync_tags(
    ctx: &Context,
    obj: &Service,
    resolved: &Resolved,
    desired: &DesiredService,
    observed: Option<&ObservedService>,
) -> Stage<()> {
    let Some(o) = observed else { return Ok(()) };
    let diff = tags::diff(&desired.tags, &o.tags);
    if diff.is_empty() {
        return Ok(());
    }
    let ecs = ctx.aws.ecs(&resolved.region);
    if !diff.set.is_empty() {
        ecs_service::tag_resource(&ecs, &o.arn, &diff.set).await.map_err(aws(observed))?;
    }
    if !diff.remove.is_empty() {
        ecs_service::untag_resource(&ecs, &o.arn, &diff.remove).await.map_err(aws(observed))?;
    }
    let note = format!("set tags {:?}, removed {:?}", diff.set.keys().collect::<Vec<_>>(), diff.remove);
    ctx.event(obj, EventType::Normal, "TagsUpdated", "Reconcile", note).await;
    Ok(())
}

/// Autoscaling: adds what it wants to `wanted`; `Some(message)` while the scalable
/// target is only recorded (registered in the next reconcile).
async fn autoscale(
    ctx: &Context,
    obj: &Service,
    t: &Target,
    resolved: &Resolved,
    r: &mut Report<'_>,
    wanted: &mut Vec<OwnedResource>,
    current: Option<&ObservedService>,
) -> Stage<Option<String>> {
    let Some(spec) = &obj.spec.autoscaling else { return Ok(None) };
    let label = match r.load_balancer.as_ref().and_then(|lb| lb.as_ref()) {
        Some(LoadBalancerStatus { load_balancer_arn: Some(l), target_group_arn: Some(tg), .. }) => {
            service_autoscaling::resource_label(l, tg)
        }
        _ => None,
    };
    let cluster = cluster_name(&resolved.cluster);
    let outcome =
        service_autoscaling::ensure(ctx, obj, &resolved.region, &cluster, &t.name, spec, label, &mut r.resources)
            .await
            .map_err(aws(current))?;
    match outcome {
        AutoscalingOutcome::Ensured(parts) => {
            wanted.extend(parts);
            Ok(None)
        }
        AutoscalingOutcome::Recorded => {
            wanted.extend(r.resources.iter().filter(|x| x.kind == OwnedKind::ScalableTarget).cloned());
            Ok(Some("recorded the scalable target; registering it next".to_string()))
        }
        AutoscalingOutcome::Conflict(m) => Err(Halt::Problem("Conflict", Outcome::Conflict(m), current.cloned())),
    }
}

/// ECS service events become Kubernetes Events, each once; returns the new
/// watermark.
async fn publish_events(ctx: &Context, obj: &Service, o: &ObservedService) -> Option<(String, Vec<String>)> {
    let previous = obj.status.as_ref();
    let last_seen = previous.and_then(|s| s.last_event_time.as_deref()).and_then(|t| t.parse::<Timestamp>().ok());
    let seen_ids = previous.map(|s| s.last_event_ids.clone()).unwrap_or_default();
    let fresh = core::new_events(&o.events, last_seen, &seen_ids, 5);
    for e in &fresh {
        let lower = e.message.to_ascii_lowercase();
        let warning = ["unable", "failed", "error", "unhealthy", "stopped"].iter().any(|w| lower.contains(w));
        let type_ = if warning { EventType::Warning } else { EventType::Normal };
        ctx.event(obj, type_, "EcsServiceEvent", "Observe", e.message.clone()).await;
    }
    core::event_watermark(&fresh, last_seen, &seen_ids).map(|(time, ids)| (time.to_string(), ids))
}

/// A BlueGreen Service's newest ECS service deployment, read while a deployment is
/// under way (or was at the last look); `None` keeps what status says. Other
/// Services show one only after a rollback (read when it is found).
async fn blue_green_deployment(
    ctx: &Context,
    obj: &Service,
    resolved: &Resolved,
    o: &ObservedService,
) -> Result<Option<Option<ServiceDeploymentStatus>>, AwsError> {
    let blue_green = obj.spec.deployment.as_ref().is_some_and(|d| d.strategy == DeploymentStrategy::BlueGreen);
    if !blue_green {
        return Ok(None);
    }
    let previous = obj.status.as_ref().and_then(|s| s.service_deployment.as_ref());
    if !core::deployment_may_change(o, previous) {
        return Ok(None);
    }
    let ecs = ctx.aws.ecs(&resolved.region);
    Ok(Some(ecs_service::latest_service_deployment(&ecs, &resolved.cluster, &o.arn, true).await?))
}

fn client_token(obj: &Service) -> String {
    // Unique per object and generation, at most 36 characters: a retried create
    // after a crash is answered with the service the first one made.
    let uid: String = obj.uid().unwrap_or_default().chars().filter(|c| *c != '-').take(28).collect();
    format!("{uid}-{}", obj.metadata.generation.unwrap_or(0))
}

/// The cluster name in a cluster reference that may be an ARN.
fn cluster_name(cluster: &str) -> String {
    cluster.rsplit_once(":cluster/").map(|(_, n)| n.to_string()).unwrap_or_else(|| cluster.to_string())
}
