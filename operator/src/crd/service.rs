//! The `Service` custom resource: an ECS service, optionally behind an ALB, with
//! autoscaling.

use super::common::{AdoptionPolicy, DeletionPolicy, Tags};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An Amazon ECS service: keeps tasks of one task definition running, rolls them
/// out on change, and registers them with a load balancer.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ecs.operator.dev",
    version = "v1alpha1",
    kind = "Service",
    doc = "An Amazon ECS service managed by ecs-operator. Ready means the rollout completed and the running count equals the desired count.",
    namespaced,
    status = "ServiceStatus",
    shortname = "ecssvc",
    shortname = "ecss",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredCount"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.runningCount"}"#,
    printcolumn = r#"{"name":"Rollout","type":"string","jsonPath":".status.rolloutState"}"#,
    printcolumn = r#"{"name":"Task Definition","type":"string","priority":1,"jsonPath":".status.taskDefinitionArn"}"#,
    printcolumn = r#"{"name":"DNS","type":"string","priority":1,"jsonPath":".status.loadBalancer.dnsName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.clusterRef) != has(self.cluster)").message("set exactly one of clusterRef and cluster"))]
#[x_kube(validation = Rule::new("has(self.taskDefinitionRef) != has(self.taskDefinition)").message("set exactly one of taskDefinitionRef and taskDefinition"))]
#[x_kube(validation = Rule::new("!has(self.launchType) || size(self.capacityProviderStrategy) == 0").message("launchType and capacityProviderStrategy are mutually exclusive"))]
#[x_kube(validation = Rule::new("self.schedulingStrategy != 'DAEMON' || !has(self.autoscaling)").message("DAEMON services run one task per instance and cannot autoscale"))]
#[x_kube(validation = Rule::new("self.schedulingStrategy != 'DAEMON' || !has(self.launchType) || self.launchType != 'FARGATE'").message("Fargate does not support the DAEMON scheduling strategy"))]
#[x_kube(validation = Rule::new("!has(self.deployment) || self.deployment.strategy != 'BlueGreen' || (has(self.loadBalancer) && has(self.loadBalancer.blueGreen) && has(self.loadBalancer.targetGroup) && has(self.loadBalancer.rule))").message("BlueGreen needs loadBalancer.targetGroup, loadBalancer.listenerArn with rule, and loadBalancer.blueGreen"))]
#[x_kube(validation = Rule::new("self.schedulingStrategy == oldSelf.schedulingStrategy").message("schedulingStrategy cannot be changed in place: create a new Service"))]
#[x_kube(validation = Rule::new("self.schedulingStrategy != 'DAEMON' || !has(self.desiredCount)").message("DAEMON services run one task per container instance: remove desiredCount"))]
#[x_kube(validation = Rule::new("!has(oldSelf.serviceName) && !has(self.serviceName) || has(oldSelf.serviceName) && has(self.serviceName) && self.serviceName == oldSelf.serviceName").message("serviceName cannot be set, changed or removed after creation: create a new Service object instead"))]
#[x_kube(validation = Rule::new("!has(self.autoscaling) || !has(self.desiredCount) || (self.desiredCount >= self.autoscaling.minCapacity && self.desiredCount <= self.autoscaling.maxCapacity)").message("desiredCount must lie within autoscaling minCapacity and maxCapacity"))]
pub struct ServiceSpec {
    /// Name of the ECS service. Defaults to the object's name. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub service_name: Option<String>,

    /// AWS region. Defaults to the referenced Cluster's region, else the operator's.
    /// A change moves the service: the operator creates it in the new place, waits
    /// for its rollout, then deletes the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-\d$"))]
    pub region: Option<String>,

    /// A `Cluster` object in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<LocalRef>,
    /// An ECS cluster not managed here, by name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,

    /// A `TaskDefinition` object in this namespace: the service runs its current
    /// revision and rolls when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<LocalRef>,
    /// A task definition not managed here: `family`, `family:revision` or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub task_definition: Option<String>,

    /// Number of tasks to keep running (REPLICA only; default 1). With autoscaling,
    /// only the starting count: the autoscaler owns it afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub desired_count: Option<i32>,

    /// `REPLICA` (default) keeps desiredCount tasks; `DAEMON` one task per container
    /// instance. Cannot be changed.
    #[serde(default)]
    pub scheduling_strategy: SchedulingStrategy,

    /// `FARGATE`, `EC2` or `EXTERNAL`. Omit to use capacityProviderStrategy or the
    /// cluster's default strategy. Cannot be changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,

    /// Capacity providers to spread tasks over, instead of a launch type.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub capacity_provider_strategy: Vec<super::cluster::CapacityProviderStrategyItem>,

    /// Fargate platform version, for example `LATEST` or `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,

    /// VPC networking, required for task definitions in `awsvpc` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,

    /// How tasks are placed on EC2 capacity, in order of priority (at most 5).
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub placement_strategy: Vec<PlacementStrategy>,

    /// Rules tasks must satisfy on EC2 capacity (at most 10).
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub placement_constraints: Vec<PlacementConstraint>,

    /// Seconds ECS ignores failing load balancer health checks after a task starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 2147483647))]
    pub health_check_grace_period_seconds: Option<i32>,

    /// Allow `aws ecs execute-command` into the tasks.
    #[serde(default)]
    pub enable_execute_command: bool,

    /// Let ECS tag tasks with the cluster and service names.
    #[serde(default)]
    pub enable_ecs_managed_tags: bool,

    /// Copy tags to tasks from the `SERVICE` or the `TASK_DEFINITION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,

    /// Tags for the service and the load balancer resources the operator creates.
    #[serde(default)]
    pub tags: Tags,

    /// Cloud Map service registries the tasks register in.
    #[serde(default)]
    #[schemars(length(max = 1))]
    pub service_registries: Vec<ServiceRegistry>,

    /// How new task definitions are rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentSpec>,

    /// Registration with an Application Load Balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerSpec>,

    /// Application Auto Scaling of the desired count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,

    /// `Delete` (default): delete the service (with `force`: ECS stops its tasks),
    /// wait while it drains, then the load balancer parts and autoscaling the
    /// operator created. `Retain`: leave everything.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What to do when a same-named service or load balancer part already exists and
    /// this object did not create it: `Never` (Conflict) or `AdoptUnowned`.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
}

/// A reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulingStrategy {
    #[default]
    Replica,
    Daemon,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LaunchType {
    Fargate,
    Ec2,
    External,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropagateTags {
    Service,
    TaskDefinition,
    None,
}

/// awsvpc networking of the tasks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkConfiguration {
    /// Subnet IDs (1-16), ideally in several availability zones.
    #[schemars(length(min = 1, max = 16), inner(length(min = 1, max = 64)))]
    pub subnets: Vec<String>,
    /// Security group IDs (at most 5). Default: the VPC's default group.
    #[serde(default)]
    #[schemars(length(max = 5), inner(length(min = 1, max = 64)))]
    pub security_groups: Vec<String>,
    /// Give each task a public IP (Fargate in public subnets without a NAT).
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// A task placement strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// `spread`, `binpack` or `random`.
    #[serde(rename = "type")]
    pub type_: PlacementStrategyType,
    /// For spread: `attribute:ecs.availability-zone`, `instanceId`, ...; for
    /// binpack: `memory` or `cpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlacementStrategyType {
    Spread,
    Binpack,
    Random,
}

/// A task placement constraint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    /// `distinctInstance` (one task per host) or `memberOf` (with an expression).
    #[serde(rename = "type")]
    pub type_: PlacementConstraintType,
    /// Cluster query language expression, for `memberOf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2000))]
    pub expression: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum PlacementConstraintType {
    DistinctInstance,
    MemberOf,
}

/// A Cloud Map service registry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRegistry {
    /// ARN of the Cloud Map service.
    pub registry_arn: String,
    /// Port for SRV records (awsvpc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Container for SRV records (bridge and host mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// Container port for SRV records (bridge and host mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i32>,
}

/// How deployments roll out.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.strategy != 'BlueGreen' || !has(self.minimumHealthyPercent) || self.minimumHealthyPercent == 100").message("BlueGreen deployments keep minimumHealthyPercent at 100"))]
pub struct DeploymentSpec {
    /// `Rolling` (default) replaces tasks in place; `BlueGreen` starts a full new set
    /// behind the alternate target group, shifts traffic, waits bakeTimeMinutes,
    /// then stops the old set (ECS native blue/green; needs loadBalancer.blueGreen).
    #[serde(default)]
    pub strategy: DeploymentStrategy,
    /// Upper limit of running tasks during a rollout, in percent of desired (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100, max = 200))]
    pub maximum_percent: Option<i32>,
    /// Lower limit of healthy tasks during a rollout, in percent of desired (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: Option<i32>,
    /// Stop a rollout whose tasks keep failing, and optionally roll back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// Stop a rollout when CloudWatch alarms fire, and optionally roll back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
    /// BlueGreen: minutes both task sets stay up after traffic moved (0-1440).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1440))]
    pub bake_time_minutes: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeploymentStrategy {
    #[default]
    Rolling,
    BlueGreen,
}

/// The deployment circuit breaker.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CircuitBreaker {
    /// Turn the circuit breaker on.
    pub enable: bool,
    /// Roll back to the last completed deployment when it trips.
    #[serde(default)]
    pub rollback: bool,
}

/// CloudWatch alarms that stop a deployment.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    /// Alarm names.
    #[schemars(length(min = 1, max = 10))]
    pub alarm_names: Vec<String>,
    /// Roll back when an alarm fires.
    #[serde(default)]
    pub rollback: bool,
}

/// Registration of the tasks with an Application Load Balancer. Give exactly one of
/// `targetGroupArn` (existing) and `targetGroup` (created by the operator); with
/// `targetGroup`, route to it with `listenerArn` and `rule`, or with `create`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.targetGroupArn) != has(self.targetGroup)").message("set exactly one of targetGroupArn and targetGroup"))]
#[x_kube(validation = Rule::new("!has(self.targetGroupArn) || (!has(self.create) && !has(self.listenerArn))").message("with an existing targetGroupArn the operator does not route: remove create and listenerArn"))]
#[x_kube(validation = Rule::new("!has(self.targetGroup) || (has(self.create) != has(self.listenerArn))").message("a created targetGroup needs exactly one of listenerArn (with rule) and create"))]
#[x_kube(validation = Rule::new("!has(self.listenerArn) || has(self.rule)").message("listenerArn needs a rule"))]
pub struct LoadBalancerSpec {
    /// Container that receives the traffic.
    #[schemars(length(min = 1, max = 255))]
    pub container_name: String,
    /// Its port, as in the task definition's portMappings.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// An existing target group, by ARN. The operator neither creates nor deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// A target group the operator creates and owns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group: Option<TargetGroupSpec>,
    /// An existing listener to add a rule to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_arn: Option<String>,
    /// The rule that forwards to the target group: on `listenerArn`, or on the
    /// listener of `create` (whose default action then answers 404).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<ListenerRuleSpec>,
    /// A load balancer and listener the operator creates, forwarding to the target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create: Option<CreateLoadBalancerSpec>,
    /// Settings for ECS native blue/green deployments (`deployment.strategy:
    /// BlueGreen`): the operator creates an alternate target group like `targetGroup`
    /// and lets ECS shift the `rule` between the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenSpec>,
}

/// What ECS needs to run blue/green deployments behind the load balancer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenSpec {
    /// IAM role ECS assumes to modify the listener rule during a deployment.
    #[schemars(length(min = 1, max = 2048))]
    pub role_arn: String,
    /// A listener rule that sends test traffic to the new task set before production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listener_rule_arn: Option<String>,
}

/// A target group created by the operator. The target type follows the task
/// definition's network mode: `ip` for awsvpc, `instance` otherwise.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupSpec {
    /// VPC of the targets. Default: the VPC of the first subnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Protocol to the targets: `HTTP` (default) or `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<HttpProtocol>,
    /// Health check of the targets.
    #[serde(default)]
    pub health_check: TargetHealthCheck,
    /// Seconds a draining target keeps serving in-flight requests (0-3600, default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub deregistration_delay_seconds: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum HttpProtocol {
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
}

/// Target health check settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetHealthCheck {
    /// Path to request (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub path: Option<String>,
    /// Seconds between checks (5-300, default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 300))]
    pub interval_seconds: Option<i32>,
    /// Seconds before a check fails (2-120, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout_seconds: Option<i32>,
    /// Successes before a target is healthy (2-10, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 10))]
    pub healthy_threshold: Option<i32>,
    /// Failures before a target is unhealthy (2-10, default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 10))]
    pub unhealthy_threshold: Option<i32>,
    /// HTTP codes that mean healthy, for example `200` or `200-399` (default `200`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub matcher: Option<String>,
}

/// A listener rule forwarding to the target group.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("size(self.pathPatterns) + size(self.hostHeaders) > 0").message("a rule needs pathPatterns or hostHeaders"))]
pub struct ListenerRuleSpec {
    /// Rule priority on the listener, unique per listener (1-50000).
    #[schemars(range(min = 1, max = 50000))]
    pub priority: i32,
    /// Path patterns, for example `/api/*`.
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub path_patterns: Vec<String>,
    /// Host headers, for example `api.example.com`.
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub host_headers: Vec<String>,
}

/// A load balancer and listener created and owned by the operator. Subnets,
/// security groups and the listener change in place; the scheme cannot change
/// (remove `create` and add it again to get a new load balancer).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.scheme) ? self.scheme : 'internal') == (has(oldSelf.scheme) ? oldSelf.scheme : 'internal')").message("the scheme of a created load balancer cannot change: remove loadBalancer.create, apply, then add it back with the new scheme"))]
pub struct CreateLoadBalancerSpec {
    /// `internet-facing` or `internal` (default). Cannot be changed.
    #[serde(default)]
    pub scheme: LoadBalancerScheme,
    /// Subnets in at least two availability zones.
    #[schemars(length(min = 2, max = 16))]
    pub subnets: Vec<String>,
    /// Security groups of the load balancer.
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub security_groups: Vec<String>,
    /// The listener.
    pub listener: ListenerSpec,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancerScheme {
    InternetFacing,
    #[default]
    Internal,
}

/// The listener of a created load balancer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.protocol != 'HTTPS' || has(self.certificateArn)").message("an HTTPS listener needs certificateArn"))]
pub struct ListenerSpec {
    /// Port (default 80).
    #[serde(default = "default_listener_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `HTTP` (default) or `HTTPS`.
    #[serde(default = "default_listener_protocol")]
    pub protocol: HttpProtocol,
    /// ACM certificate for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_arn: Option<String>,
}

fn default_listener_port() -> i32 {
    80
}

fn default_listener_protocol() -> HttpProtocol {
    HttpProtocol::Http
}

/// Application Auto Scaling with target tracking.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minCapacity <= self.maxCapacity").message("minCapacity must not exceed maxCapacity"))]
#[x_kube(validation = Rule::new("has(self.targetCpuUtilization) || has(self.targetMemoryUtilization) || has(self.targetRequestsPerTarget)").message("set at least one target: targetCpuUtilization, targetMemoryUtilization or targetRequestsPerTarget"))]
pub struct AutoscalingSpec {
    /// Fewest tasks.
    #[schemars(range(min = 0, max = 10000))]
    pub min_capacity: i32,
    /// Most tasks.
    #[schemars(range(min = 1, max = 10000))]
    pub max_capacity: i32,
    /// Keep average CPU near this percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization: Option<i32>,
    /// Keep average memory near this percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_memory_utilization: Option<i32>,
    /// Keep ALB requests per target near this number (needs a created target group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub target_requests_per_target: Option<i32>,
    /// Seconds after a scale-in before another (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_cooldown_seconds: Option<i32>,
    /// Seconds after a scale-out before another (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out_cooldown_seconds: Option<i32>,
}

/// What the operator last saw of the ECS service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ARN of the ECS service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// ARN of the cluster it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Region of the service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The task definition the spec resolves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Status ECS reports: ACTIVE, DRAINING or INACTIVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// Rollout state of the PRIMARY deployment: IN_PROGRESS, COMPLETED or FAILED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    /// The deployments, PRIMARY first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployments: Vec<DeploymentStatus>,
    /// Load balancer parts and target health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerStatus>,
    /// Creation time of the newest ECS service event already published as a
    /// Kubernetes Event (RFC 3339), so that none is published twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<String>,
    /// Ids of the ECS service events published at exactly `lastEventTime`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_event_ids: Vec<String>,
    /// Hash of the service configuration last sent to ECS (internal: fields ECS does
    /// not report back are re-sent only when this changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_config_hash: Option<String>,
    /// The Application Auto Scaling resource ID the operator registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling_resource_id: Option<String>,
    /// Every AWS resource this object created (or adopted) and still owns, recorded
    /// as soon as it exists. Cleanup and replacement work from this list, never
    /// from the current spec: an edit that moves a part deletes the old one from
    /// here once the new one serves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<OwnedResource>,
    /// The task definition revision whose deployment failed and that ECS rolled back
    /// from (deployment circuit breaker with rollback). The operator does not deploy
    /// it again, which would only fail and roll back once more: apply a new revision
    /// (change the TaskDefinition) to deploy again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_task_definition_arn: Option<String>,
    /// BlueGreen Services: ECS's newest service deployment and the lifecycle stage it
    /// is in (from ListServiceDeployments and DescribeServiceDeployments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment: Option<ServiceDeploymentStatus>,
    /// Conditions: `Ready`, `Progressing`, `Degraded` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// An AWS resource a Service created and owns.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnedResource {
    /// What it is.
    pub kind: OwnedKind,
    /// Its ARN; for a scalable target the Application Auto Scaling resource ID; for
    /// a scaling policy its name.
    pub id: String,
    /// The region it lives in.
    pub region: String,
    /// For an ECS service its cluster ARN; for a scaling policy the resource ID of
    /// its scalable target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// The kinds of AWS resources a Service creates, in the order they are deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum OwnedKind {
    ScalingPolicy,
    ScalableTarget,
    EcsService,
    ListenerRule,
    Listener,
    LoadBalancer,
    TargetGroup,
}

/// An ECS service deployment (the unit ListServiceDeployments reports).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentStatus {
    /// Its ARN.
    pub arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, ROLLBACK_IN_PROGRESS,
    /// ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED.
    pub status: String,
    /// The stage a blue/green deployment is in: RECONCILE_SERVICE, PRE_SCALE_UP,
    /// SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT,
    /// PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME or CLEAN_UP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage: Option<String>,
    /// Why it is in that status, as ECS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

/// One deployment of the service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentStatus {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_state_reason: Option<String>,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
}

/// The load balancer parts of the service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// Blue/green: the alternate target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_target_group_arn: Option<String>,
    /// Targets reported healthy by the target group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_targets: Option<i32>,
    /// Targets not (yet) healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_targets: Option<i32>,
}
