//! Application Auto Scaling of a Service's desired count.

use super::Context;
use crate::aws::AwsError;
use crate::aws::autoscaling::{self, TrackingPolicy};
use crate::core::owned::{self, record};
use crate::core::ownership::{self, Decision, Ownership};
use crate::crd::Service;
use crate::crd::service::{AutoscalingSpec, OwnedKind, OwnedResource};
use kube::runtime::events::EventType;

/// The policies the spec asks for. Their names start with the service name, so the
/// operator can tell its own policies from others on the same target.
pub fn desired_policies(service: &str, spec: &AutoscalingSpec, resource_label: Option<String>) -> Vec<TrackingPolicy> {
    let mut out = Vec::new();
    let mut add = |suffix: &str, metric: &'static str, target: Option<i32>, label: Option<String>| {
        if let Some(target) = target {
            out.push(TrackingPolicy {
                name: format!("{service}-{suffix}"),
                metric,
                target: f64::from(target),
                resource_label: label,
                scale_in_cooldown: spec.scale_in_cooldown_seconds,
                scale_out_cooldown: spec.scale_out_cooldown_seconds,
            });
        }
    };
    add("cpu", "ECSServiceAverageCPUUtilization", spec.target_cpu_utilization, None);
    add("memory", "ECSServiceAverageMemoryUtilization", spec.target_memory_utilization, None);
    add("requests", "ALBRequestCountPerTarget", spec.target_requests_per_target, resource_label);
    out
}

/// The ALB resource label of a target group behind a load balancer:
/// `app/<lb-name>/<lb-id>/targetgroup/<tg-name>/<tg-id>`.
pub fn resource_label(load_balancer_arn: &str, target_group_arn: &str) -> Option<String> {
    let lb = load_balancer_arn.split_once(":loadbalancer/")?.1;
    let tg = target_group_arn.rsplit_once(':')?.1;
    Some(format!("{lb}/{tg}"))
}

/// How autoscaling was brought in line.
#[derive(Debug)]
pub enum AutoscalingOutcome {
    /// In line; these are the resources the spec wants.
    Ensured(Vec<OwnedResource>),
    /// The scalable target is recorded in this reconcile's status and registered
    /// in the next one: a crash in between never leaves a target nobody owns.
    Recorded,
    /// Someone else's scalable target is on this service.
    Conflict(String),
}

/// Registers the scalable target and policies when they differ. Only targets
/// this object registered (or adopted) are changed, and only policies it put
/// are ever deleted (through its record, once they are stale).
#[allow(clippy::too_many_arguments)]
pub async fn ensure(
    ctx: &Context,
    obj: &Service,
    region: &str,
    cluster: &str,
    service: &str,
    spec: &AutoscalingSpec,
    resource_label: Option<String>,
    records: &mut Vec<OwnedResource>,
) -> Result<AutoscalingOutcome, AwsError> {
    let client = ctx.aws.autoscaling(region);
    let id = autoscaling::resource_id(cluster, service);
    let target = owned::resource(OwnedKind::ScalableTarget, &id, region, None);
    // Recorded in the status this reconcile started from (or, before records
    // existed, in autoscalingResourceId).
    let previous = obj.status.as_ref();
    let persisted = previous
        .is_some_and(|s| s.resources.contains(&target) || s.autoscaling_resource_id.as_deref() == Some(id.as_str()));
    let existing = autoscaling::scalable_target(&client, &id).await?;
    match existing {
        Some(_) if !persisted => {
            // Application Auto Scaling has no tags the bed can show; the record in
            // status is the proof of ownership.
            let what = format!("scalable target {id}");
            match ownership::decide(&Ownership::Unowned, obj.spec.adoption_policy, &what) {
                Decision::Adopt => {
                    ctx.event(obj, EventType::Normal, "Adopted", "Adopt", format!("adopted {what}")).await;
                }
                Decision::Conflict(m) => return Ok(AutoscalingOutcome::Conflict(m)),
                Decision::Manage => {}
            }
        }
        None if !persisted => {
            record(records, target);
            return Ok(AutoscalingOutcome::Recorded);
        }
        _ => {}
    }
    record(records, target.clone());
    if existing != Some((spec.min_capacity, spec.max_capacity)) {
        autoscaling::register(&client, &id, spec.min_capacity, spec.max_capacity).await?;
        ctx.event(
            obj,
            EventType::Normal,
            "AutoscalingRegistered",
            "Reconcile",
            format!("scalable target {id}: {} to {} tasks", spec.min_capacity, spec.max_capacity),
        )
        .await;
    }
    let mut wanted = vec![target];
    let existing = autoscaling::policies(&client, &id).await?;
    for p in desired_policies(service, spec, resource_label) {
        if !existing.contains(&p) {
            autoscaling::put_policy(&client, &id, &p).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "AutoscalingPolicySet",
                "Reconcile",
                format!("policy {}: {} at {}", p.name, p.metric, p.target),
            )
            .await;
        }
        let policy = owned::resource(OwnedKind::ScalingPolicy, &p.name, region, Some(&id));
        record(records, policy.clone());
        wanted.push(policy);
    }
    Ok(AutoscalingOutcome::Ensured(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_follow_the_spec() {
        let spec = AutoscalingSpec {
            min_capacity: 2,
            max_capacity: 10,
            target_cpu_utilization: Some(60),
            target_memory_utilization: None,
            target_requests_per_target: Some(500),
            scale_in_cooldown_seconds: Some(300),
            scale_out_cooldown_seconds: None,
        };
        let p = desired_policies("api", &spec, Some("app/x/1/targetgroup/y/2".into()));
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].name.as_str(), p[0].metric, p[0].target),
            ("api-cpu", "ECSServiceAverageCPUUtilization", 60.0)
        );
        assert_eq!(p[1].resource_label.as_deref(), Some("app/x/1/targetgroup/y/2"));
    }

    #[test]
    fn resource_label_from_arns() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        let tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/943f017f100becff";
        assert_eq!(
            resource_label(lb, tg).as_deref(),
            Some("app/web/50dc6c495c0c9188/targetgroup/api/943f017f100becff")
        );
    }
}
