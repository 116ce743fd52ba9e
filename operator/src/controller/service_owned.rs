//! Removes the AWS resources a Service recorded but no longer wants (after an
//! edit moved or removed them, or when the Service is deleted), in dependency
//! order, forgetting each one once it is gone.

use super::Context;
use crate::aws::{AwsError, autoscaling, ecs_service, elbv2};
use crate::core::owned::{self, ServiceRemoval, forget};
use crate::crd::Service;
use crate::crd::service::{OwnedKind, OwnedResource};
use kube::runtime::events::EventType;

/// How far removal got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Everything stale is gone.
    Done,
    /// Something must happen first (a replacement to take over, a service to
    /// drain, a load balancer to release a target group): the message says what.
    Waiting(String),
}

/// Removes `stale` (in the order `owned::stale` gives), stopping at the first one
/// that must wait: what comes after it may still be in use by it.
/// `replacement_ready`: a service being replaced may go (its successor took over,
/// or the object is being deleted).
pub async fn remove(
    ctx: &Context,
    obj: &Service,
    stale: &[OwnedResource],
    records: &mut Vec<OwnedResource>,
    replacement_ready: bool,
) -> Result<Removal, AwsError> {
    for r in stale {
        let done = match r.kind {
            OwnedKind::ScalingPolicy => {
                let target = r.parent.clone().unwrap_or_default();
                autoscaling::delete_policy(&ctx.aws.autoscaling(&r.region), &target, &r.id).await?;
                note(ctx, obj, "AutoscalingPolicyDeleted", format!("deleted scaling policy {} of {target}", r.id))
                    .await;
                None
            }
            OwnedKind::ScalableTarget => {
                autoscaling::deregister(&ctx.aws.autoscaling(&r.region), &r.id).await?;
                let count = match (obj.metadata.deletion_timestamp.is_some(), obj.spec.desired_count) {
                    (true, _) => String::new(),
                    (false, Some(n)) => format!("; desiredCount {n} applies again"),
                    (false, None) => "; the current desired count stays (set desiredCount to choose one)".to_string(),
                };
                note(ctx, obj, "AutoscalingDeregistered", format!("deregistered scalable target {}{count}", r.id))
                    .await;
                None
            }
            OwnedKind::EcsService if !replacement_ready => {
                Some(format!("waiting for the new ECS service to complete its rollout before deleting {}", r.id))
            }
            OwnedKind::EcsService => remove_service(ctx, obj, r).await?,
            OwnedKind::ListenerRule => {
                elbv2::delete_rule(&ctx.aws.elbv2(&r.region), &r.id).await?;
                if let Some(listener) = crate::core::load_balancer::listener_of_rule(&r.id) {
                    ctx.listener_rules.invalidate((r.region.clone(), listener.clone()), &listener);
                }
                note(ctx, obj, "RuleDeleted", format!("deleted listener rule {}", r.id)).await;
                None
            }
            OwnedKind::Listener => {
                elbv2::delete_listener(&ctx.aws.elbv2(&r.region), &r.id).await?;
                note(ctx, obj, "ListenerDeleted", format!("deleted listener {}", r.id)).await;
                None
            }
            OwnedKind::LoadBalancer => {
                elbv2::delete_load_balancer(&ctx.aws.elbv2(&r.region), &r.id).await?;
                note(ctx, obj, "LoadBalancerDeleted", format!("deleted load balancer {}", r.id)).await;
                None
            }
            OwnedKind::TargetGroup => match elbv2::delete_target_group(&ctx.aws.elbv2(&r.region), &r.id).await {
                Ok(()) => {
                    if let Some(name) = r.id.split(":targetgroup/").nth(1).and_then(|p| p.split('/').next()) {
                        ctx.target_groups.invalidate((r.region.clone(), String::new()), name);
                    }
                    note(ctx, obj, "TargetGroupDeleted", format!("deleted target group {}", r.id)).await;
                    None
                }
                // Still used by a rule or listener being deleted: try again shortly.
                Err(e) if e.code() == Some("ResourceInUse") => {
                    Some(format!("waiting for the load balancer to release target group {}", r.id))
                }
                Err(e) => return Err(e),
            },
        };
        match done {
            None => forget(records, r),
            Some(waiting) => return Ok(Removal::Waiting(waiting)),
        }
    }
    Ok(Removal::Done)
}

/// One step of deleting an ECS service: delete, wait for draining. `None` once
/// it is gone.
async fn remove_service(ctx: &Context, obj: &Service, r: &OwnedResource) -> Result<Option<String>, AwsError> {
    let ecs = ctx.aws.ecs(&r.region);
    let cluster = r.parent.clone().unwrap_or_default();
    let name = owned::service_name_of(&r.id).to_string();
    // The cluster itself gone: so is the service.
    let cluster_gone = |e: AwsError| if e.code() == Some("ClusterNotFoundException") { Ok(None) } else { Err(e) };
    let waiting = Some(format!("waiting for ECS service {} to drain", r.id));
    // While it drains, the Services deleted together share their polls. The first
    // pass of deleting the object writes at once: DeleteService's answer (or its
    // ServiceNotFound) says what a read would. Otherwise (a replaced service, an
    // operator restarted while it drained) a fresh read, batched with the fresh
    // reads of other reconciles, tells whether it already drains.
    let first_deletion_pass = obj.metadata.deletion_timestamp.is_some() && !super::service::deletion_waited(obj);
    let known =
        ctx.services.describe_draining(&r.region, &cluster, &name).await.or_else(|e| cluster_gone(e).map(Some))?;
    let observed = match known {
        Some(seen) => Some(seen),
        None if first_deletion_pass => None,
        None => {
            let read = ctx.services.describe(&r.region, &cluster, &name).await.or_else(cluster_gone)?;
            if owned::service_removal(read.as_ref()) == ServiceRemoval::Draining {
                ctx.services.note_draining(&r.region, &cluster, &name, read.clone());
            }
            Some(read)
        }
    };
    match observed.as_ref().map(|seen| owned::service_removal(seen.as_ref())) {
        Some(ServiceRemoval::Gone) => return Ok(None),
        Some(ServiceRemoval::Draining) => return Ok(waiting),
        Some(ServiceRemoval::Delete) | None => {}
    }
    let deleted = ecs_service::delete_service(&ecs, &cluster, &name).await?;
    note(ctx, obj, "Deleted", format!("deleted ECS service {}", r.id)).await;
    // Real ECS drains first (the answer says DRAINING); the parts it used wait
    // until it is gone.
    Ok(match owned::service_removal(deleted.as_ref()) {
        ServiceRemoval::Gone => None,
        _ => {
            ctx.services.note_draining(&r.region, &cluster, &name, deleted);
            waiting
        }
    })
}

async fn note(ctx: &Context, obj: &Service, reason: &str, message: String) {
    ctx.event(obj, EventType::Normal, reason, "Cleanup", message).await;
}
