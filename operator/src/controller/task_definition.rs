//! The TaskDefinition controller.

use super::status::apply_status;
use super::{Context, ReconcileError};
use crate::aws::{AwsError, ecs_task_definition as ecs_td};
use crate::core::ownership::{self, Decision, Owner};
use crate::core::task_definition::{self as core, Outcome, SPEC_HASH_TAG};
use crate::core::task_definition_request::register_request;
use crate::crd::TaskDefinition;
use crate::crd::common::DeletionPolicy;
use crate::crd::task_definition::KeptRevision;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use std::sync::Arc;

const KIND: &str = "TaskDefinition";

/// Reconciles one TaskDefinition object.
pub async fn reconcile(obj: Arc<TaskDefinition>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    super::reconcile_with_finalizer(obj, ctx, KIND, apply, cleanup).await
}

struct Target {
    family: String,
    region: String,
    owner: Owner,
}

/// Where the family lives: once a revision exists, the family and region recorded
/// in status (the operator's default region may have changed since); before, the
/// spec's.
fn target(obj: &TaskDefinition, ctx: &Context) -> Target {
    let recorded = obj.status.as_ref().filter(|s| s.arn.is_some());
    Target {
        family: recorded.and_then(|s| s.family.clone()).unwrap_or_else(|| core::family(&obj.name_any(), &obj.spec)),
        region: recorded
            .and_then(|s| s.region.clone())
            .unwrap_or_else(|| ctx.aws.region_for(obj.spec.region.as_deref())),
        owner: Owner::new(&obj.namespace().unwrap_or_default(), KIND, &obj.name_any(), &ctx.config.instance_id),
    }
}

struct Current {
    arn: String,
    revision: i32,
    hash: String,
}

async fn write_status(
    api: &Api<TaskDefinition>,
    obj: &TaskDefinition,
    t: &Target,
    current: Option<&Current>,
    kept: Vec<KeptRevision>,
    outcome: &Outcome,
) -> Result<(), ReconcileError> {
    let status = core::status(
        obj.status.as_ref(),
        obj.metadata.generation,
        &t.family,
        &t.region,
        current.map(|c| (c.arn.as_str(), c.revision, c.hash.as_str())),
        kept,
        outcome,
        Timestamp::now(),
    );
    apply_status(api, &obj.name_any(), obj.status.as_ref(), &status).await?;
    Ok(())
}

fn previous_kept(obj: &TaskDefinition) -> Vec<KeptRevision> {
    obj.status.as_ref().map(|s| s.revisions.clone()).unwrap_or_default()
}

async fn report_aws_error(
    api: &Api<TaskDefinition>,
    obj: &TaskDefinition,
    t: &Target,
    ctx: &Context,
    err: AwsError,
) -> Result<Action, ReconcileError> {
    let message = err.to_string();
    if super::is_new_problem(obj, &message) {
        ctx.event(obj, EventType::Warning, "AwsError", "Reconcile", message.clone()).await;
    }
    let outcome = if err.is_retryable() { Outcome::AwsRetrying(message) } else { Outcome::AwsError(message) };
    write_status(api, obj, t, None, previous_kept(obj), &outcome).await?;
    super::after_aws_error(err)
}

async fn apply(api: &Api<TaskDefinition>, obj: &TaskDefinition, ctx: &Context) -> Result<Action, ReconcileError> {
    let t = target(obj, ctx);
    let mut problems = core::validate(&obj.name_any(), &obj.spec);
    problems.extend(crate::core::region::problem(&t.region));
    if !problems.is_empty() {
        let message = format!("invalid spec: {}", problems.join("; "));
        if super::is_new_problem(obj, &message) {
            ctx.event(obj, EventType::Warning, "InvalidSpec", "Validate", message.clone()).await;
        }
        write_status(api, obj, &t, None, previous_kept(obj), &Outcome::Invalid(message)).await?;
        return Ok(Action::await_change());
    }
    let hash = core::spec_hash(&obj.name_any(), &obj.spec);
    let ecs = ctx.aws.ecs(&t.region);
    let active = match ecs_td::list_active_revisions(&ecs, &t.family).await {
        Ok(a) => a,
        Err(e) => return report_aws_error(api, obj, &t, ctx, e).await,
    };
    let previous = obj.status.as_ref();
    let mut kept: Vec<KeptRevision> = previous_kept(obj).into_iter().filter(|k| active.contains(&k.arn)).collect();

    // The current revision: still ACTIVE and registered from this very spec?
    let mut current = previous.and_then(|s| match (&s.arn, s.revision, &s.spec_hash) {
        (Some(arn), Some(revision), Some(h)) if *h == hash && active.contains(arn) => {
            Some(Current { arn: arn.clone(), revision, hash: h.clone() })
        }
        _ => None,
    });

    if current.is_none() {
        // Before registering, look at the newest ACTIVE revision we do not know of:
        // it may be ours from a reconcile that crashed before writing status (then
        // reuse it), or someone else's family (then it is a conflict).
        let known = |arn: &String| kept.iter().any(|k| &k.arn == arn);
        if let Some(newest) = active.iter().find(|a| !known(a)) {
            let described = match ecs_td::describe_revision(&ecs, newest).await {
                Ok(d) => d,
                Err(e) => return report_aws_error(api, obj, &t, ctx, e).await,
            };
            if let Some(rev) = described {
                let resource = format!("task definition family {} in {}", t.family, t.region);
                match ownership::decide(&ownership::ownership(&rev.tags, &t.owner), obj.spec.adoption_policy, &resource)
                {
                    Decision::Manage => {
                        kept.push(KeptRevision { revision: rev.revision, arn: rev.arn.clone() });
                        if rev.tags.get(SPEC_HASH_TAG) == Some(&hash) {
                            current = Some(Current { arn: rev.arn, revision: rev.revision, hash: hash.clone() });
                        }
                    }
                    Decision::Adopt => {
                        if previous.and_then(|s| s.arn.as_ref()).is_none() {
                            ctx.event(
                                obj,
                                EventType::Normal,
                                "Adopted",
                                "Adopt",
                                format!("registering new revisions into existing {resource}"),
                            )
                            .await;
                        }
                    }
                    Decision::Conflict(message) if previous.and_then(|s| s.arn.as_ref()).is_none() => {
                        if super::is_new_problem(obj, &message) {
                            ctx.event(obj, EventType::Warning, "Conflict", "Reconcile", message.clone()).await;
                        }
                        write_status(api, obj, &t, None, kept, &Outcome::Conflict(message)).await?;
                        return Ok(ctx.resync(obj));
                    }
                    // Someone registered a revision into a family we already manage:
                    // theirs is left alone; ours continue.
                    Decision::Conflict(_) => {}
                }
            }
        }
    }

    if current.is_none() {
        let mut tags = obj.spec.tags.clone();
        tags.extend(t.owner.tags());
        let request = register_request(&obj.name_any(), &obj.spec, &tags, &hash)?;
        let (arn, revision) = match ecs_td::register(&ecs, request).await {
            Ok(r) => r,
            Err(e) => return report_aws_error(api, obj, &t, ctx, e).await,
        };
        ctx.event(obj, EventType::Normal, "Registered", "Register", format!("registered {arn}")).await;
        kept.push(KeptRevision { revision, arn: arn.clone() });
        current = Some(Current { arn, revision, hash: hash.clone() });
    }

    // Until every Service is known, no revision is deregistered: one may be in use.
    let in_use = ctx.task_definitions_in_use().await;
    let limit = usize::try_from(obj.spec.revision_history_limit).unwrap_or(0);
    let current_arn = current.as_ref().map(|c| c.arn.as_str());
    let to_deregister = match &in_use {
        Some(in_use) => core::revisions_to_deregister(&kept, current_arn, limit, in_use),
        None => Vec::new(),
    };
    for old in to_deregister {
        if let Err(e) = ecs_td::deregister(&ecs, &old.arn).await {
            return report_aws_error(api, obj, &t, ctx, e).await;
        }
        ctx.event(
            obj,
            EventType::Normal,
            "Deregistered",
            "Cleanup",
            format!("deregistered {} (beyond revisionHistoryLimit {limit})", old.arn),
        )
        .await;
        kept.retain(|k| k.arn != old.arn);
    }
    write_status(api, obj, &t, current.as_ref(), kept, &Outcome::Synced).await?;
    Ok(ctx.resync(obj))
}

async fn cleanup(api: &Api<TaskDefinition>, obj: &TaskDefinition, ctx: &Context) -> Result<Action, ReconcileError> {
    let t = target(obj, ctx);
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(
            obj,
            EventType::Normal,
            "Retained",
            "Delete",
            format!("left the revisions of {} ACTIVE (deletionPolicy: Retain)", t.family),
        )
        .await;
        return Ok(Action::await_change());
    }
    if crate::core::region::problem(&t.region).is_some() {
        // Nothing is registered before the region is valid.
        return Ok(Action::await_change());
    }
    let ecs = ctx.aws.ecs(&t.region);
    let active = ecs_td::list_active_revisions(&ecs, &t.family).await?;
    let mut ours: Vec<String> = previous_kept(obj).into_iter().map(|k| k.arn).filter(|a| active.contains(a)).collect();
    // Revisions registered by a reconcile whose status write was lost are ours too.
    let unknown: Vec<&String> = active.iter().filter(|a| !ours.contains(a)).collect();
    for arn in unknown {
        if let Some(rev) = ecs_td::describe_revision(&ecs, arn).await?
            && ownership::ownership(&rev.tags, &t.owner) == ownership::Ownership::Ours
        {
            ours.push(rev.arn);
        }
    }
    // A revision a Service still runs (or is about to run) stays until that
    // Service has moved on or is gone: deregistering it would stop ECS from
    // starting replacement tasks for a new deployment.
    let in_use = ctx.task_definitions_in_use().await;
    let mut still_used = Vec::new();
    for arn in ours {
        if in_use.as_ref().is_none_or(|used| used.contains(&arn)) {
            still_used.push(arn);
            continue;
        }
        ecs_td::deregister(&ecs, &arn).await?;
        ctx.event(obj, EventType::Normal, "Deregistered", "Delete", format!("deregistered {arn}")).await;
    }
    if still_used.is_empty() {
        return Ok(Action::await_change());
    }
    let users = ctx.services_using(&still_used);
    let message = match in_use {
        None => "waiting for the Service watch to list every Service before deregistering revisions".to_string(),
        Some(_) => format!(
            "{} still used by Service(s) {}: deletion finishes once they run another task definition or are deleted",
            still_used.join(", "),
            users.join(", ")
        ),
    };
    if super::is_new_problem(obj, &message) {
        ctx.event(obj, EventType::Normal, "DeletionBlocked", "Delete", message.clone()).await;
    }
    let kept = previous_kept(obj).into_iter().filter(|k| still_used.contains(&k.arn)).collect();
    write_status(api, obj, &t, None, kept, &Outcome::DeletionBlocked(message.clone())).await?;
    Err(ReconcileError::DeletionBlocked(message))
}
