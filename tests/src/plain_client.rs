//! The benchmark's baseline: a plain AWS client that makes the minimal calls that
//! create what a bench fleet asks of the operator (clusters, one task definition,
//! a target group and a listener rule for each Service with a load balancer, the
//! services), then waits as `aws ecs wait services-stable` does: DescribeServices,
//! ten services a call, until every service runs its desired count in one
//! completed deployment. Its AWS clients are the operator's own (`AwsClients`),
//! so it is paced by the same client-side rate limits: the two are compared at the
//! same AWS budget, and the difference is the operator's own overhead.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, LaunchType, LoadBalancer,
    NetworkConfiguration, NetworkMode, PortMapping,
};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, PathPatternConditionConfig, ProtocolEnum, RuleCondition, TargetTypeEnum,
};
use ecs_operator::aws::AwsClients;
use futures::{StreamExt, TryStreamExt};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// DescribeServices takes at most ten services a call.
const DESCRIBE_BATCH: usize = 10;
/// Creates in flight at once: the operator's default `--max-concurrent-reconciles`.
const IN_FLIGHT: usize = 32;
const POLL: Duration = Duration::from_secs(1);

/// One service to create.
#[derive(Debug, Clone)]
pub struct PlainService {
    pub name: String,
    pub cluster: String,
    /// A rule on `PlainFleet::listener` at this priority, forwarding to a target
    /// group of the service's own.
    pub rule_priority: Option<i32>,
}

/// What the plain client creates.
#[derive(Debug, Clone)]
pub struct PlainFleet {
    pub clusters: Vec<String>,
    pub family: String,
    pub vpc_id: String,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub listener: String,
    /// Prefix of the target group names (at most 32 characters in all).
    pub target_group_prefix: String,
    pub services: Vec<PlainService>,
}

/// Creates `fleet` and waits until every service is stable; returns the time
/// that took. Gives up after `timeout`.
pub async fn create_and_wait(
    aws: &AwsClients,
    region: &str,
    fleet: &PlainFleet,
    timeout: Duration,
) -> Result<Duration, String> {
    let started = Instant::now();
    let ecs = aws.ecs(region);
    let elb = aws.elbv2(region);
    for cluster in &fleet.clusters {
        ecs.create_cluster()
            .cluster_name(cluster)
            .capacity_providers("FARGATE")
            .send()
            .await
            .map_err(|e| format!("CreateCluster {cluster}: {e:?}"))?;
    }
    let container = ContainerDefinition::builder()
        .name("api")
        .image("nginx:1.27")
        .port_mappings(PortMapping::builder().container_port(3000).build())
        .build();
    let td = ecs
        .register_task_definition()
        .family(&fleet.family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container)
        .send()
        .await
        .map_err(|e| format!("RegisterTaskDefinition: {e:?}"))?;
    let td_arn =
        td.task_definition().and_then(|t| t.task_definition_arn()).ok_or("no task definition ARN")?.to_string();

    let network = NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(fleet.subnets.clone()))
                .security_groups(&fleet.security_group)
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .build();
    futures::stream::iter(fleet.services.iter().enumerate())
        .map(|(i, s)| {
            let (ecs, elb, network, td_arn) = (ecs.clone(), elb.clone(), network.clone(), td_arn.clone());
            async move {
                let mut create = ecs
                    .create_service()
                    .cluster(&s.cluster)
                    .service_name(&s.name)
                    .task_definition(td_arn)
                    .desired_count(1)
                    .launch_type(LaunchType::Fargate)
                    .network_configuration(network);
                if let Some(priority) = s.rule_priority {
                    let tg = elb
                        .create_target_group()
                        .name(format!("{}{i}", fleet.target_group_prefix))
                        .protocol(ProtocolEnum::Http)
                        .port(3000)
                        .vpc_id(&fleet.vpc_id)
                        .target_type(TargetTypeEnum::Ip)
                        .health_check_path("/")
                        .send()
                        .await
                        .map_err(|e| format!("CreateTargetGroup for {}: {e:?}", s.name))?;
                    let tg_arn = tg
                        .target_groups()
                        .first()
                        .and_then(|t| t.target_group_arn())
                        .ok_or("no target group ARN")?
                        .to_string();
                    let path = PathPatternConditionConfig::builder().values(format!("/{}/*", s.name)).build();
                    elb.create_rule()
                        .listener_arn(&fleet.listener)
                        .priority(priority)
                        .conditions(RuleCondition::builder().field("path-pattern").path_pattern_config(path).build())
                        .actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&tg_arn).build())
                        .send()
                        .await
                        .map_err(|e| format!("CreateRule for {}: {e:?}", s.name))?;
                    create = create.load_balancers(
                        LoadBalancer::builder()
                            .target_group_arn(tg_arn)
                            .container_name("api")
                            .container_port(3000)
                            .build(),
                    );
                }
                create.send().await.map_err(|e| format!("CreateService {}: {e:?}", s.name))?;
                Ok::<(), String>(())
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<()>>()
        .await?;

    let mut waiting: BTreeSet<(String, String)> =
        fleet.services.iter().map(|s| (s.cluster.clone(), s.name.clone())).collect();
    while !waiting.is_empty() {
        if started.elapsed() > timeout {
            return Err(format!("{} services not stable after {timeout:?}", waiting.len()));
        }
        tokio::time::sleep(POLL).await;
        let pending: Vec<(String, String)> = waiting.iter().cloned().collect();
        for cluster in &fleet.clusters {
            let names: Vec<&String> = pending.iter().filter(|(c, _)| c == cluster).map(|(_, n)| n).collect();
            for chunk in names.chunks(DESCRIBE_BATCH) {
                let out = ecs
                    .describe_services()
                    .cluster(cluster)
                    .set_services(Some(chunk.iter().map(|n| n.to_string()).collect()))
                    .send()
                    .await
                    .map_err(|e| format!("DescribeServices: {e:?}"))?;
                for s in out.services() {
                    if is_stable(s) {
                        waiting.remove(&(cluster.clone(), s.service_name().unwrap_or_default().to_string()));
                    }
                }
            }
        }
    }
    Ok(started.elapsed())
}

/// What `services-stable` waits for: one deployment, running what it wants, and
/// (where ECS reports it) its rollout completed.
fn is_stable(s: &aws_sdk_ecs::types::Service) -> bool {
    let [d] = s.deployments() else { return false };
    let completed = d.rollout_state().is_none_or(|r| r.as_str() == "COMPLETED");
    completed && s.running_count() == s.desired_count() && d.running_count() == d.desired_count()
}
