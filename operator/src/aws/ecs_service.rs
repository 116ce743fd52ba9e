//! ECS service calls.

use super::AwsError;
use crate::core::cluster::StrategyItem;
use crate::core::service::{
    BlueGreenAttachment, DeploymentConfig, DesiredService, LoadBalancerAttachment, Network, ObservedDeployment,
    ObservedEvent, ObservedService, ServiceUpdate,
};
use crate::crd::service::ServiceDeploymentStatus;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AdvancedConfiguration, AssignPublicIp, AwsVpcConfiguration, DeploymentAlarms, DeploymentCircuitBreaker,
    DeploymentConfiguration, DeploymentStrategy, LaunchType, LoadBalancer, NetworkConfiguration, PlacementConstraint,
    PlacementConstraintType, PlacementStrategy, PlacementStrategyType, PropagateTags, SchedulingStrategy, ServiceField,
    ServiceRegistry, Tag,
};
use k8s_openapi::jiff::Timestamp;

fn build_error(e: impl std::fmt::Display) -> AwsError {
    AwsError::Transport { operation: "BuildRequest", message: e.to_string() }
}

use super::ecs_cluster::to_strategy as strategy;

pub(crate) fn network(n: &Network) -> Result<NetworkConfiguration, AwsError> {
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(n.subnets.clone()))
                .set_security_groups((!n.security_groups.is_empty()).then(|| n.security_groups.clone()))
                .assign_public_ip(if n.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
                .build()
                .map_err(build_error)?,
        )
        .build())
}

fn placement_strategy(items: &[(String, Option<String>)]) -> Vec<PlacementStrategy> {
    items
        .iter()
        .map(|(t, f)| {
            PlacementStrategy::builder().r#type(PlacementStrategyType::from(t.as_str())).set_field(f.clone()).build()
        })
        .collect()
}

fn placement_constraints(items: &[(String, Option<String>)]) -> Vec<PlacementConstraint> {
    items
        .iter()
        .map(|(t, e)| {
            PlacementConstraint::builder()
                .r#type(PlacementConstraintType::from(t.as_str()))
                .set_expression(e.clone())
                .build()
        })
        .collect()
}

fn registries(items: &[crate::core::service::Registry]) -> Vec<ServiceRegistry> {
    items
        .iter()
        .map(|(arn, port, container, container_port)| {
            ServiceRegistry::builder()
                .registry_arn(arn)
                .set_port(*port)
                .set_container_name(container.clone())
                .set_container_port(*container_port)
                .build()
        })
        .collect()
}

fn deployment(d: &DeploymentConfig) -> Result<DeploymentConfiguration, AwsError> {
    let breaker = d
        .circuit_breaker
        .map(|(enable, rollback)| DeploymentCircuitBreaker::builder().enable(enable).rollback(rollback).build());
    let alarms = match &d.alarms {
        Some((names, rollback)) => Some(
            DeploymentAlarms::builder()
                .set_alarm_names(Some(names.clone()))
                .enable(true)
                .rollback(*rollback)
                .build()
                .map_err(build_error)?,
        ),
        None => None,
    };
    Ok(DeploymentConfiguration::builder()
        .set_maximum_percent(d.maximum_percent)
        .set_minimum_healthy_percent(d.minimum_healthy_percent)
        .set_deployment_circuit_breaker(breaker)
        .set_alarms(alarms)
        .set_strategy(Some(if d.blue_green { DeploymentStrategy::BlueGreen } else { DeploymentStrategy::Rolling }))
        .set_bake_time_in_minutes(d.bake_time_minutes)
        .build())
}

fn load_balancers(items: &[LoadBalancerAttachment]) -> Result<Vec<LoadBalancer>, AwsError> {
    items
        .iter()
        .map(|lb| {
            let advanced = lb.blue_green.as_ref().map(|bg| {
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(&bg.alternate_target_group_arn)
                    .production_listener_rule(&bg.production_listener_rule)
                    .set_test_listener_rule(bg.test_listener_rule.clone())
                    .role_arn(&bg.role_arn)
                    .build()
            });
            Ok(LoadBalancer::builder()
                .target_group_arn(&lb.target_group_arn)
                .container_name(&lb.container_name)
                .container_port(lb.container_port)
                .set_advanced_configuration(advanced)
                .build())
        })
        .collect()
}

fn observed(s: &aws_sdk_ecs::types::Service) -> ObservedService {
    let to_ts = |d: Option<&aws_smithy_types::DateTime>| {
        // Full precision: events within one second must stay apart.
        d.and_then(|d| Timestamp::new(d.secs(), i32::try_from(d.subsec_nanos()).unwrap_or(0)).ok())
            .unwrap_or(Timestamp::UNIX_EPOCH)
    };
    ObservedService {
        arn: s.service_arn().unwrap_or_default().to_string(),
        name: s.service_name().unwrap_or_default().to_string(),
        cluster_arn: s.cluster_arn().unwrap_or_default().to_string(),
        status: s.status().unwrap_or_default().to_string(),
        task_definition: s.task_definition().unwrap_or_default().to_string(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        scheduling_strategy: s.scheduling_strategy().map(|x| x.as_str().to_string()),
        launch_type: s.launch_type().map(|x| x.as_str().to_string()),
        capacity_provider_strategy: s.capacity_provider_strategy.as_ref().map(|items| {
            items
                .iter()
                .map(|i| StrategyItem {
                    capacity_provider: i.capacity_provider().to_string(),
                    weight: i.weight(),
                    base: i.base(),
                })
                .collect()
        }),
        platform_version: s.platform_version().map(str::to_string),
        network: s.network_configuration().and_then(|n| n.awsvpc_configuration()).map(|a| Network {
            subnets: a.subnets().to_vec(),
            security_groups: a.security_groups().to_vec(),
            assign_public_ip: a.assign_public_ip().map(|p| p.as_str() == "ENABLED").unwrap_or(false),
        }),
        placement_strategy: s.placement_strategy.as_ref().map(|items| {
            items
                .iter()
                .map(|p| {
                    (p.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(), p.field().map(str::to_string))
                })
                .collect()
        }),
        placement_constraints: s.placement_constraints.as_ref().map(|items| {
            items
                .iter()
                .map(|c| {
                    (c.r#type().map(|t| t.as_str().to_string()).unwrap_or_default(), c.expression().map(str::to_string))
                })
                .collect()
        }),
        health_check_grace_period_seconds: s.health_check_grace_period_seconds(),
        // moto leaves enableExecuteCommand out, and the SDK then reads `false`:
        // only trust it when ECS sent a deployment configuration too.
        enable_execute_command: s.deployment_configuration().map(|_| s.enable_execute_command()),
        propagate_tags: s.propagate_tags().map(|p| p.as_str().to_string()),
        deployment: s.deployment_configuration().map(|d| DeploymentConfig {
            blue_green: d.strategy().map(|x| x.as_str() == "BLUE_GREEN").unwrap_or(false),
            maximum_percent: d.maximum_percent(),
            minimum_healthy_percent: d.minimum_healthy_percent(),
            circuit_breaker: d.deployment_circuit_breaker().map(|c| (c.enable(), c.rollback())),
            alarms: d.alarms().filter(|a| a.enable()).map(|a| {
                let mut names = a.alarm_names().to_vec();
                names.sort();
                (names, a.rollback())
            }),
            bake_time_minutes: d
                .strategy()
                .filter(|x| x.as_str() == "BLUE_GREEN")
                .and_then(|_| d.bake_time_in_minutes()),
        }),
        load_balancers: s.load_balancers.as_ref().map(|items| {
            items
                .iter()
                .map(|lb| LoadBalancerAttachment {
                    target_group_arn: lb.target_group_arn().unwrap_or_default().to_string(),
                    container_name: lb.container_name().unwrap_or_default().to_string(),
                    container_port: lb.container_port().unwrap_or_default(),
                    blue_green: lb.advanced_configuration().map(|a| BlueGreenAttachment {
                        alternate_target_group_arn: a.alternate_target_group_arn().unwrap_or_default().to_string(),
                        production_listener_rule: a.production_listener_rule().unwrap_or_default().to_string(),
                        test_listener_rule: a.test_listener_rule().map(str::to_string),
                        role_arn: a.role_arn().unwrap_or_default().to_string(),
                    }),
                })
                .collect()
        }),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
            .collect(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| ObservedDeployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| ObservedEvent {
                id: e.id().unwrap_or_default().to_string(),
                created_at: to_ts(e.created_at()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
    }
}

/// Describes up to 10 services of one cluster (the API's limit) in one call.
pub async fn describe_services(
    client: &Client,
    cluster: &str,
    names: &[String],
) -> Result<Vec<ObservedService>, AwsError> {
    let out = client
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeServices", e))?;
    Ok(out.services().iter().map(observed).collect())
}

fn tags(desired: &DesiredService) -> Vec<Tag> {
    desired.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Whether CreateService failed because an ACTIVE or DRAINING service holds the
/// name and the request is not a retry of the create that made it.
pub fn name_taken(err: &AwsError) -> bool {
    matches!(err, AwsError::Api { operation: "CreateService", code, message, .. }
        if code == "InvalidParameterException" && message.contains("not idempotent"))
}

/// Creates the service. `client_token` makes a retried create idempotent in ECS.
pub async fn create_service(
    client: &Client,
    d: &DesiredService,
    client_token: &str,
) -> Result<ObservedService, AwsError> {
    let c = &d.config;
    let out = client
        .create_service()
        .cluster(&d.cluster)
        .service_name(&d.name)
        .task_definition(&c.task_definition)
        .set_desired_count(d.initial_count)
        .scheduling_strategy(SchedulingStrategy::from(d.scheduling_strategy))
        .set_launch_type(d.launch_type.as_deref().map(LaunchType::from))
        .set_capacity_provider_strategy(
            (!c.capacity_provider_strategy.is_empty()).then(|| strategy(&c.capacity_provider_strategy)).transpose()?,
        )
        .set_platform_version(c.platform_version.clone())
        .set_network_configuration(c.network.as_ref().map(network).transpose()?)
        .set_placement_strategy((!c.placement_strategy.is_empty()).then(|| placement_strategy(&c.placement_strategy)))
        .set_placement_constraints(
            (!c.placement_constraints.is_empty()).then(|| placement_constraints(&c.placement_constraints)),
        )
        .set_health_check_grace_period_seconds(c.health_check_grace_period_seconds)
        .enable_execute_command(c.enable_execute_command)
        .enable_ecs_managed_tags(c.enable_ecs_managed_tags)
        .set_propagate_tags(c.propagate_tags.as_deref().map(PropagateTags::from))
        .set_service_registries((!c.service_registries.is_empty()).then(|| registries(&c.service_registries)))
        .deployment_configuration(deployment(&c.deployment)?)
        .set_load_balancers((!c.load_balancers.is_empty()).then(|| load_balancers(&c.load_balancers)).transpose()?)
        .set_tags(Some(tags(d)))
        .client_token(client_token)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateService", e))?;
    out.service()
        .map(observed)
        .ok_or_else(|| AwsError::Transport { operation: "CreateService", message: "response had no service".into() })
}

/// Sends the changed fields.
/// Returns the service as the answer shows it (its new deployment included).
pub async fn update_service(
    client: &Client,
    cluster: &str,
    name: &str,
    u: &ServiceUpdate,
) -> Result<Option<ObservedService>, AwsError> {
    let out = client
        .update_service()
        .cluster(cluster)
        .service(name)
        .set_task_definition(u.task_definition.clone())
        .set_desired_count(u.desired_count)
        .set_capacity_provider_strategy(u.capacity_provider_strategy.as_deref().map(strategy).transpose()?)
        .set_platform_version(u.platform_version.clone())
        .set_network_configuration(u.network.as_ref().map(network).transpose()?)
        .set_placement_strategy(u.placement_strategy.as_deref().map(placement_strategy))
        .set_placement_constraints(u.placement_constraints.as_deref().map(placement_constraints))
        .set_health_check_grace_period_seconds(u.health_check_grace_period_seconds)
        .set_enable_execute_command(u.enable_execute_command)
        .set_enable_ecs_managed_tags(u.enable_ecs_managed_tags)
        .set_propagate_tags(u.propagate_tags.as_deref().map(PropagateTags::from))
        .set_service_registries(u.service_registries.as_deref().map(registries))
        .set_deployment_configuration(u.deployment.as_ref().map(deployment).transpose()?)
        .set_load_balancers(u.load_balancers.as_deref().map(load_balancers).transpose()?)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateService", e))?;
    Ok(out.service().map(observed))
}

/// Deletes the service with `force` (ECS stops its tasks: no scaling to zero first).
/// Returns the service as the answer shows it (DRAINING), `None` when it was gone.
pub async fn delete_service(client: &Client, cluster: &str, name: &str) -> Result<Option<ObservedService>, AwsError> {
    match client.delete_service().cluster(cluster).service(name).force(true).send().await {
        Ok(out) => Ok(out.service().map(observed)),
        Err(e) => {
            let err = AwsError::from_sdk("DeleteService", e);
            if matches!(
                err.code(),
                Some("ServiceNotFoundException" | "ServiceNotActiveException" | "ClusterNotFoundException")
            ) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

pub async fn tag_resource(
    client: &Client,
    arn: &str,
    tags: &std::collections::BTreeMap<String, String>,
) -> Result<(), AwsError> {
    super::ecs_cluster::tag_resource(client, arn, tags).await
}

pub async fn untag_resource(client: &Client, arn: &str, keys: &[String]) -> Result<(), AwsError> {
    super::ecs_cluster::untag_resource(client, arn, keys).await
}

/// The newest service deployment of a service (ListServiceDeployments); with
/// `with_stage`, described too for its lifecycle stage (DescribeServiceDeployments).
/// `None` when ECS lists none.
pub async fn latest_service_deployment(
    client: &Client,
    cluster: &str,
    service: &str,
    with_stage: bool,
) -> Result<Option<ServiceDeploymentStatus>, AwsError> {
    let listed = client
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ListServiceDeployments", e))?;
    let newest = listed
        .service_deployments()
        .iter()
        .filter(|d| d.service_deployment_arn().is_some())
        .max_by_key(|d| d.created_at().map(|t| t.as_nanos()).unwrap_or_default());
    let Some(brief) = newest else { return Ok(None) };
    let arn = brief.service_deployment_arn().unwrap_or_default();
    let mut found = ServiceDeploymentStatus {
        arn: arn.to_string(),
        status: brief.status().map(|s| s.as_str().to_string()).unwrap_or_default(),
        lifecycle_stage: None,
        status_reason: brief.status_reason().map(str::to_string),
    };
    if with_stage {
        let described = client
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeServiceDeployments", e))?;
        if let Some(d) = described.service_deployments().first() {
            found.status = d.status().map(|s| s.as_str().to_string()).unwrap_or(found.status);
            found.lifecycle_stage = d.lifecycle_stage().map(|s| s.as_str().to_string());
            found.status_reason = d.status_reason().map(str::to_string).or(found.status_reason);
        }
    }
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(operation: &'static str, code: &str, message: &str) -> AwsError {
        AwsError::Api { operation, code: code.into(), message: message.into(), retryable: false }
    }

    #[test]
    fn a_taken_name_is_told_apart_from_other_create_failures() {
        assert!(name_taken(&api(
            "CreateService",
            "InvalidParameterException",
            "Creation of service was not idempotent."
        )));
        assert!(!name_taken(&api("CreateService", "InvalidParameterException", "subnets can not be empty.")));
        assert!(!name_taken(&api("CreateService", "ClusterNotFoundException", "Cluster not found.")));
        assert!(!name_taken(&api("UpdateService", "InvalidParameterException", "not idempotent")));
        let transport = AwsError::Transport { operation: "CreateService", message: "not idempotent".into() };
        assert!(!name_taken(&transport));
    }
}
