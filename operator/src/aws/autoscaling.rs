//! Application Auto Scaling calls for an ECS service's desired count.

use super::AwsError;
use super::error::absent_if;
use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

/// One target-tracking policy as the spec wants it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingPolicy {
    pub name: String,
    /// `ECSServiceAverageCPUUtilization`, `ECSServiceAverageMemoryUtilization` or
    /// `ALBRequestCountPerTarget`.
    pub metric: &'static str,
    pub target: f64,
    /// For ALBRequestCountPerTarget: `app/<lb>/<id>/targetgroup/<tg>/<id>`.
    pub resource_label: Option<String>,
    pub scale_in_cooldown: Option<i32>,
    pub scale_out_cooldown: Option<i32>,
}

/// The resource ID of an ECS service in Application Auto Scaling.
pub fn resource_id(cluster_name: &str, service_name: &str) -> String {
    format!("service/{cluster_name}/{service_name}")
}

/// (min, max) of the registered scalable target, if any.
pub async fn scalable_target(client: &Client, resource_id: &str) -> Result<Option<(i32, i32)>, AwsError> {
    let out = client
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeScalableTargets", e))?;
    Ok(out.scalable_targets().first().map(|t| (t.min_capacity(), t.max_capacity())))
}

pub async fn register(client: &Client, resource_id: &str, min: i32, max: i32) -> Result<(), AwsError> {
    client
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(min)
        .max_capacity(max)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RegisterScalableTarget", e))?;
    Ok(())
}

pub async fn deregister(client: &Client, resource_id: &str) -> Result<(), AwsError> {
    let sent = client
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeregisterScalableTarget", e));
    absent_if(sent, &["ObjectNotFoundException"]).map(|_| ())
}

/// The target-tracking policies on the target: (name, metric, target, label).
pub async fn policies(client: &Client, resource_id: &str) -> Result<Vec<TrackingPolicy>, AwsError> {
    let out = client
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeScalingPolicies", e))?;
    Ok(out
        .scaling_policies()
        .iter()
        .filter_map(|p| {
            let c = p.target_tracking_scaling_policy_configuration()?;
            let m = c.predefined_metric_specification()?;
            let metric = match m.predefined_metric_type().as_str() {
                "ECSServiceAverageCPUUtilization" => "ECSServiceAverageCPUUtilization",
                "ECSServiceAverageMemoryUtilization" => "ECSServiceAverageMemoryUtilization",
                "ALBRequestCountPerTarget" => "ALBRequestCountPerTarget",
                _ => return None,
            };
            Some(TrackingPolicy {
                name: p.policy_name().to_string(),
                metric,
                target: c.target_value(),
                resource_label: m.resource_label().map(str::to_string),
                scale_in_cooldown: c.scale_in_cooldown(),
                scale_out_cooldown: c.scale_out_cooldown(),
            })
        })
        .collect())
}

pub async fn put_policy(client: &Client, resource_id: &str, p: &TrackingPolicy) -> Result<(), AwsError> {
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::from(p.metric))
        .set_resource_label(p.resource_label.clone())
        .build()
        .map_err(|e| AwsError::Transport { operation: "BuildRequest", message: e.to_string() })?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(p.target)
        .predefined_metric_specification(metric)
        .set_scale_in_cooldown(p.scale_in_cooldown)
        .set_scale_out_cooldown(p.scale_out_cooldown)
        .build()
        .map_err(|e| AwsError::Transport { operation: "BuildRequest", message: e.to_string() })?;
    client
        .put_scaling_policy()
        .policy_name(&p.name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutScalingPolicy", e))?;
    Ok(())
}

pub async fn delete_policy(client: &Client, resource_id: &str, name: &str) -> Result<(), AwsError> {
    let sent = client
        .delete_scaling_policy()
        .policy_name(name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteScalingPolicy", e));
    absent_if(sent, &["ObjectNotFoundException"]).map(|_| ())
}
