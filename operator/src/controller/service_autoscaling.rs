//! Application Auto Scaling of a Service's desired count.

use super::Context;
use crate::aws::AwsError;
use crate::aws::autoscaling::{self, TrackingPolicy};
use crate::crd::Service;
use crate::crd::service::AutoscalingSpec;
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

/// Registers the scalable target and policies when they differ; returns the
/// resource ID. The desired count itself is left to the autoscaler.
pub async fn ensure(
    ctx: &Context,
    obj: &Service,
    region: &str,
    cluster: &str,
    service: &str,
    spec: &AutoscalingSpec,
    resource_label: Option<String>,
) -> Result<String, AwsError> {
    let client = ctx.aws.autoscaling(region);
    let id = autoscaling::resource_id(cluster, service);
    if autoscaling::scalable_target(&client, &id).await? != Some((spec.min_capacity, spec.max_capacity)) {
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
    let wanted = desired_policies(service, spec, resource_label);
    let existing = autoscaling::policies(&client, &id).await?;
    for p in &wanted {
        if !existing.iter().any(|e| e == p) {
            autoscaling::put_policy(&client, &id, p).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "AutoscalingPolicySet",
                "Reconcile",
                format!("policy {}: {} at {}", p.name, p.metric, p.target),
            )
            .await;
        }
    }
    for e in existing
        .iter()
        .filter(|e| e.name.starts_with(&format!("{service}-")) && !wanted.iter().any(|w| w.name == e.name))
    {
        autoscaling::delete_policy(&client, &id, &e.name).await?;
        ctx.event(
            obj,
            EventType::Normal,
            "AutoscalingPolicyDeleted",
            "Reconcile",
            format!("deleted policy {}", e.name),
        )
        .await;
    }
    Ok(id)
}

pub async fn remove(ctx: &Context, obj: &Service, region: &str, resource_id: &str) -> Result<(), AwsError> {
    autoscaling::deregister(&ctx.aws.autoscaling(region), resource_id).await?;
    ctx.event(
        obj,
        EventType::Normal,
        "AutoscalingDeregistered",
        "Reconcile",
        format!("deregistered scalable target {resource_id}"),
    )
    .await;
    Ok(())
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
