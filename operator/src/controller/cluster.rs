//! The Cluster controller.

use super::status::apply_status;
use super::{Context, ReconcileError};
use crate::aws::{AwsError, ecs_cluster};
use crate::core::cluster::{self as core, ClusterAction, ObservedCluster, Outcome};
use crate::core::conditions;
use crate::core::ownership::{self, Decision, Owner};
use crate::core::region;
use crate::crd::Cluster;
use crate::crd::common::DeletionPolicy;
use crate::crd::common::condition::{READY, SYNCED};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::time::Instant;

const KIND: &str = "Cluster";

/// Reconciles one Cluster object.
pub async fn reconcile(obj: Arc<Cluster>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    super::reconcile_with_finalizer(obj, ctx, KIND, apply, cleanup).await
}

struct Target {
    name: String,
    region: String,
    owner: Owner,
}

/// Where the cluster lives: once created, the name and region recorded in status
/// (the operator's default region may have changed since); before, the spec's.
fn target(obj: &Cluster, ctx: &Context) -> Target {
    let recorded = obj.status.as_ref().filter(|s| s.arn.is_some());
    Target {
        name: recorded
            .and_then(|s| s.cluster_name.clone())
            .unwrap_or_else(|| core::cluster_name(&obj.name_any(), &obj.spec)),
        region: recorded
            .and_then(|s| s.region.clone())
            .unwrap_or_else(|| ctx.aws.region_for(obj.spec.region.as_deref())),
        owner: Owner::new(&obj.namespace().unwrap_or_default(), KIND, &obj.name_any(), &ctx.config.instance_id),
    }
}

fn owned_providers(obj: &Cluster) -> Vec<String> {
    obj.status.as_ref().map(|s| s.owned_capacity_providers.clone()).unwrap_or_default()
}

async fn write_status(
    api: &Api<Cluster>,
    obj: &Cluster,
    t: &Target,
    observed: Option<&ObservedCluster>,
    outcome: &Outcome,
) -> Result<(), ReconcileError> {
    write_status_owning(api, obj, t, observed, outcome, &owned_providers(obj)).await
}

async fn write_status_owning(
    api: &Api<Cluster>,
    obj: &Cluster,
    t: &Target,
    observed: Option<&ObservedCluster>,
    outcome: &Outcome,
    owned: &[String],
) -> Result<(), ReconcileError> {
    let mut status = core::status(
        obj.status.as_ref(),
        obj.metadata.generation,
        &t.name,
        &t.region,
        observed,
        outcome,
        Timestamp::now(),
    );
    status.owned_capacity_providers = owned.to_vec();
    apply_status(api, &obj.name_any(), obj.status.as_ref(), &status).await?;
    Ok(())
}

async fn report_aws_error(
    api: &Api<Cluster>,
    obj: &Cluster,
    t: &Target,
    ctx: &Context,
    observed: Option<&ObservedCluster>,
    err: AwsError,
) -> Result<Action, ReconcileError> {
    let message = err.to_string();
    if super::is_new_problem(obj, &message) {
        ctx.event(obj, EventType::Warning, "AwsError", "Reconcile", message.clone()).await;
    }
    let outcome = if err.is_retryable() { Outcome::AwsRetrying(message) } else { Outcome::AwsError(message) };
    write_status(api, obj, t, observed, &outcome).await?;
    super::after_aws_error(err)
}

/// Whether the last reconcile left the Cluster synced and Ready with this
/// generation: at rest.
fn at_rest(obj: &Cluster) -> bool {
    let Some(status) = obj.status.as_ref() else { return false };
    let is_true = |type_: &str| conditions::find(&status.conditions, type_).is_some_and(|c| c.status == "True");
    status.observed_generation == obj.metadata.generation && is_true(SYNCED) && is_true(READY)
}

/// At rest, the cluster from the region's shared read if that read shows it ours
/// with nothing to change; `None` sends the reconcile on to a fresh read. Only
/// for clusters without Auto Scaling group capacity providers (the common
/// Fargate case): those are read and planned on every pass.
async fn quiet_at_rest(
    ctx: &Context,
    obj: &Cluster,
    t: &Target,
    desired: &core::DesiredCluster,
) -> Result<Option<ObservedCluster>, AwsError> {
    if !desired.asg_providers.is_empty() || !owned_providers(obj).is_empty() {
        return Ok(None);
    }
    let observed = ctx.clusters.describe_at_rest(&t.region, &t.name).await?;
    Ok(observed.filter(|o| {
        ownership::ownership(&o.tags, &t.owner) == ownership::Ownership::Ours
            && core::plan(desired, Some(o), &[], &[]).is_empty()
    }))
}

async fn apply(api: &Api<Cluster>, obj: &Cluster, ctx: &Context) -> Result<Action, ReconcileError> {
    let t = target(obj, ctx);
    let mut problems = core::validate(&obj.name_any(), &obj.spec);
    problems.extend(region::problem(&t.region));
    if !problems.is_empty() {
        let message = format!("invalid spec: {}", problems.join("; "));
        if super::is_new_problem(obj, &message) {
            ctx.event(obj, EventType::Warning, "InvalidSpec", "Validate", message.clone()).await;
        }
        write_status(api, obj, &t, None, &Outcome::Invalid(message)).await?;
        return Ok(Action::await_change());
    }
    let desired = core::desired(&obj.name_any(), &obj.spec, &t.region, &t.owner);
    if at_rest(obj) {
        match quiet_at_rest(ctx, obj, &t, &desired).await {
            Ok(Some(observed)) => {
                write_status(api, obj, &t, Some(&observed), &Outcome::Synced).await?;
                return Ok(ctx.resync(obj));
            }
            Ok(None) => {}
            Err(e) => return report_aws_error(api, obj, &t, ctx, None, e).await,
        }
    }
    let ecs = ctx.aws.ecs(&t.region);

    let observed = match ctx.clusters.describe(&t.region, &t.name).await {
        Ok(o) => o.filter(ObservedCluster::exists),
        Err(e) => return report_aws_error(api, obj, &t, ctx, None, e).await,
    };
    if let Some(o) = &observed {
        let resource = format!("ECS cluster {} in {}", t.name, t.region);
        match ownership::decide(&ownership::ownership(&o.tags, &t.owner), obj.spec.adoption_policy, &resource) {
            Decision::Manage => {}
            Decision::Adopt => {
                ctx.event(obj, EventType::Normal, "Adopted", "Adopt", format!("adopted existing {resource}")).await;
            }
            Decision::Conflict(message) => {
                if super::is_new_problem(obj, &message) {
                    ctx.event(obj, EventType::Warning, "Conflict", "Reconcile", message.clone()).await;
                }
                write_status(api, obj, &t, None, &Outcome::Conflict(message)).await?;
                return Ok(ctx.resync(obj));
            }
        }
    }

    // The providers the spec names and those this object created earlier.
    let mut owned = owned_providers(obj);
    let mut provider_names: Vec<String> = desired.asg_providers.iter().map(|p| p.name.clone()).collect();
    provider_names.extend(core::removed_providers(&desired, &owned).into_iter().cloned());
    let providers = match ecs_cluster::describe_capacity_providers(&ecs, &provider_names).await {
        Ok(p) => p,
        Err(e) => return report_aws_error(api, obj, &t, ctx, observed.as_ref(), e).await,
    };
    // Capacity providers of the same name: a conflict, or adopted by tagging them.
    for p in &providers {
        if owned.contains(&p.name) {
            continue;
        }
        let resource = format!("capacity provider {}", p.name);
        match ownership::decide(&ownership::ownership(&p.tags, &t.owner), obj.spec.adoption_policy, &resource) {
            // Ours by its tags (created by a reconcile whose status write was lost).
            Decision::Manage => owned.push(p.name.clone()),
            Decision::Adopt => {
                if let Err(e) = ecs_cluster::tag_resource(&ecs, &p.arn, &t.owner.tags()).await {
                    return report_aws_error(api, obj, &t, ctx, observed.as_ref(), e).await;
                }
                owned.push(p.name.clone());
                ctx.event(obj, EventType::Normal, "Adopted", "Adopt", format!("adopted existing {resource}")).await;
            }
            Decision::Conflict(message) => {
                if super::is_new_problem(obj, &message) {
                    ctx.event(obj, EventType::Warning, "Conflict", "Reconcile", message.clone()).await;
                }
                write_status(api, obj, &t, observed.as_ref(), &Outcome::Conflict(message)).await?;
                return Ok(ctx.resync(obj));
            }
        }
    }

    let actions = core::plan(&desired, observed.as_ref(), &providers, &owned);
    let mut current = observed.clone();
    for action in &actions {
        let (reason, note, result) = match action {
            ClusterAction::CreateCapacityProvider(p) => {
                let result = ecs_cluster::create_capacity_provider(&ecs, p, &t.owner.tags()).await;
                if result.is_ok() {
                    owned.push(p.name.clone());
                }
                (
                    "CapacityProviderCreated",
                    format!("created capacity provider {} for {}", p.name, p.auto_scaling_group_arn),
                    result,
                )
            }
            ClusterAction::DeleteCapacityProvider(name) => {
                let result = ecs_cluster::delete_capacity_provider(&ecs, name).await;
                if result.is_ok() {
                    owned.retain(|o| o != name);
                }
                (
                    "CapacityProviderDeleted",
                    format!("deleted capacity provider {name}: its entry left autoScalingGroupProviders"),
                    result,
                )
            }
            ClusterAction::UpdateCapacityProvider(p) => (
                "CapacityProviderUpdated",
                format!("updated managed scaling of capacity provider {}", p.name),
                ecs_cluster::update_capacity_provider(&ecs, p).await,
            ),
            ClusterAction::CreateCluster => match ecs_cluster::create_cluster(&ecs, &desired).await {
                Ok(created) => {
                    let note = format!("created ECS cluster {} ({})", created.name, created.arn);
                    current = Some(created);
                    ("Created", note, Ok(()))
                }
                Err(e) => ("Created", String::new(), Err(e)),
            },
            ClusterAction::SetContainerInsights(value) => (
                "Updated",
                format!("set containerInsights to {value}"),
                ecs_cluster::update_container_insights(&ecs, &desired.name, value).await,
            ),
            ClusterAction::PutCapacityProviders { providers, strategy } => (
                "Updated",
                format!(
                    "set capacity providers to [{}] with {} strategy entries",
                    providers.join(", "),
                    strategy.len()
                ),
                ecs_cluster::put_capacity_providers(&ecs, &desired.name, providers, strategy).await,
            ),
            ClusterAction::Tag(diff) => {
                let arn = current.as_ref().map(|c| c.arn.clone()).unwrap_or_default();
                let mut result = Ok(());
                if !diff.set.is_empty() {
                    result = ecs_cluster::tag_resource(&ecs, &arn, &diff.set).await;
                }
                if result.is_ok() && !diff.remove.is_empty() {
                    result = ecs_cluster::untag_resource(&ecs, &arn, &diff.remove).await;
                }
                let note =
                    format!("set tags {:?}, removed tags {:?}", diff.set.keys().collect::<Vec<_>>(), diff.remove);
                ("TagsUpdated", note, result)
            }
        };
        if let Err(e) = result {
            // What was created so far is recorded, so that it is cleaned up later.
            let message = e.to_string();
            if super::is_new_problem(obj, &message) {
                ctx.event(obj, EventType::Warning, "AwsError", "Reconcile", message.clone()).await;
            }
            let outcome = if e.is_retryable() { Outcome::AwsRetrying(message) } else { Outcome::AwsError(message) };
            write_status_owning(api, obj, &t, current.as_ref(), &outcome, &owned).await?;
            return super::after_aws_error(e);
        }
        ctx.event(obj, EventType::Normal, reason, "Reconcile", note).await;
    }
    if !actions.is_empty() {
        // Read back what ECS made of the changes, directly (not batched): the
        // status should show the result of this reconcile.
        let started = Instant::now();
        match ecs_cluster::describe_clusters(&ecs, std::slice::from_ref(&t.name)).await {
            Ok(found) => {
                current = found.into_iter().find(ObservedCluster::exists);
                ctx.clusters.note(&t.region, &t.name, current.as_ref(), started);
            }
            Err(e) => return report_aws_error(api, obj, &t, ctx, current.as_ref(), e).await,
        }
    }
    write_status_owning(api, obj, &t, current.as_ref(), &Outcome::Synced, &owned).await?;
    Ok(ctx.resync(obj))
}

async fn cleanup(api: &Api<Cluster>, obj: &Cluster, ctx: &Context) -> Result<Action, ReconcileError> {
    let t = target(obj, ctx);
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(
            obj,
            EventType::Normal,
            "Retained",
            "Delete",
            format!("left ECS cluster {} in place (deletionPolicy: Retain)", t.name),
        )
        .await;
        return Ok(Action::await_change());
    }
    if region::problem(&t.region).is_some() {
        // Nothing is created before the region is valid.
        return Ok(Action::await_change());
    }
    let ecs = ctx.aws.ecs(&t.region);
    let observed = ecs_cluster::describe_clusters(&ecs, std::slice::from_ref(&t.name))
        .await?
        .into_iter()
        .find(ObservedCluster::exists);
    if let Some(o) = &observed {
        if ownership::ownership(&o.tags, &t.owner) != ownership::Ownership::Ours {
            ctx.event(
                obj,
                EventType::Normal,
                "NotDeleted",
                "Delete",
                format!("ECS cluster {} is not owned by this object; left in place", t.name),
            )
            .await;
            return Ok(Action::await_change());
        }
        // Listing, not activeServicesCount: the count lags behind, and draining
        // services block deletion too.
        let services = ecs_cluster::count_services(&ecs, &t.name).await?;
        if services > 0 {
            let message = format!(
                "ECS cluster {} still has {services} active service(s); delete them first (deletion retries)",
                t.name
            );
            return blocked(api, obj, &t, ctx, observed.as_ref(), message).await;
        }
        match ecs_cluster::delete_cluster(&ecs, &t.name).await {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.code(),
                    Some(
                        "ClusterContainsServicesException"
                            | "ClusterContainsTasksException"
                            | "ClusterContainsContainerInstancesException"
                            | "UpdateInProgressException"
                    )
                ) =>
            {
                return blocked(
                    api,
                    obj,
                    &t,
                    ctx,
                    observed.as_ref(),
                    format!("ECS cannot delete cluster {} yet: {e}", t.name),
                )
                .await;
            }
            Err(e) => return Err(e.into()),
        }
        ctx.event(obj, EventType::Normal, "Deleted", "Delete", format!("deleted ECS cluster {}", t.name)).await;
    }
    let mut names = owned_providers(obj);
    names.extend(obj.spec.auto_scaling_group_providers.iter().map(|p| p.name.clone()));
    names.sort();
    names.dedup();
    for p in ecs_cluster::describe_capacity_providers(&ecs, &names).await? {
        if ownership::ownership(&p.tags, &t.owner) == ownership::Ownership::Ours {
            ecs_cluster::delete_capacity_provider(&ecs, &p.name).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "CapacityProviderDeleted",
                "Delete",
                format!("deleted capacity provider {}", p.name),
            )
            .await;
        }
    }
    Ok(Action::await_change())
}

async fn blocked(
    api: &Api<Cluster>,
    obj: &Cluster,
    t: &Target,
    ctx: &Context,
    observed: Option<&ObservedCluster>,
    message: String,
) -> Result<Action, ReconcileError> {
    if super::is_new_problem(obj, &message) {
        ctx.event(obj, EventType::Warning, "DeletionBlocked", "Delete", message.clone()).await;
    }
    write_status(api, obj, t, observed, &Outcome::DeletionBlocked(message.clone())).await?;
    Err(ReconcileError::DeletionBlocked(message))
}
