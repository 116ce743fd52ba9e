//! The `Cluster` custom resource: one ECS cluster.

use super::common::{AdoptionPolicy, DeletionPolicy, Tags};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An Amazon ECS cluster: a named group of capacity (Fargate, Fargate Spot, or
/// EC2 instances from Auto Scaling groups) that services and tasks run on.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ecs.operator.dev",
    version = "v1alpha1",
    kind = "Cluster",
    doc = "An Amazon ECS cluster managed by ecs-operator. See spec for the fields.",
    namespaced,
    status = "ClusterStatus",
    shortname = "ecscluster",
    shortname = "ecsc",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"ECS Status","type":"string","jsonPath":".status.ecsStatus"}"#,
    printcolumn = r#"{"name":"Services","type":"integer","jsonPath":".status.activeServices"}"#,
    printcolumn = r#"{"name":"Running","type":"integer","jsonPath":".status.runningTasks"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","priority":1,"jsonPath":".status.arn"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.defaultCapacityProviderStrategy.all(s, s.capacityProvider in self.capacityProviders)").message("every defaultCapacityProviderStrategy entry must name a provider listed in capacityProviders"))]
#[x_kube(validation = Rule::new("self.autoScalingGroupProviders.all(p, p.name in self.capacityProviders)").message("every autoScalingGroupProviders entry must also be listed in capacityProviders"))]
#[x_kube(validation = Rule::new("!has(oldSelf.region) && !has(self.region) || has(oldSelf.region) && has(self.region) && self.region == oldSelf.region").message("region cannot be set, changed or removed after creation: create a new Cluster object instead"))]
#[x_kube(validation = Rule::new("!has(oldSelf.clusterName) && !has(self.clusterName) || has(oldSelf.clusterName) && has(self.clusterName) && self.clusterName == oldSelf.clusterName").message("clusterName cannot be changed: create a new Cluster object instead"))]
pub struct ClusterSpec {
    /// Name of the ECS cluster. Defaults to the object's name. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub cluster_name: Option<String>,

    /// AWS region of the cluster. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-\d$"))]
    pub region: Option<String>,

    /// CloudWatch Container Insights for the cluster: `enabled`, `enhanced` or
    /// `disabled`. When unset the operator leaves the account default alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_insights: Option<ContainerInsights>,

    /// Capacity providers available to the cluster: `FARGATE`, `FARGATE_SPOT`, the
    /// names of `autoScalingGroupProviders` below, or existing capacity providers.
    #[serde(default)]
    #[schemars(length(max = 20), inner(length(min = 1, max = 255)), extend("x-kubernetes-list-type" = "set"))]
    pub capacity_providers: Vec<String>,

    /// Capacity providers backed by EC2 Auto Scaling groups that the operator
    /// creates, owns and attaches to this cluster.
    #[serde(default)]
    #[schemars(length(max = 10), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub auto_scaling_group_providers: Vec<AutoScalingGroupProvider>,

    /// How tasks are spread over capacity providers when a service or task does
    /// not say. Every entry must name one of `capacityProviders`.
    #[serde(default)]
    #[schemars(length(max = 10))]
    #[x_kube(validation = Rule::new("self.filter(s, has(s.base) && s.base > 0).size() <= 1").message("only one capacity provider in a strategy can have a base"))]
    pub default_capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,

    /// Tags for the ECS cluster. The operator adds its ownership tags
    /// (`ecs.operator.dev/*`) besides these.
    #[serde(default)]
    pub tags: Tags,

    /// What happens to the ECS cluster when this object is deleted: `Delete` (default)
    /// or `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What to do when an ECS cluster with this name already exists and this object
    /// did not create it: `Never` (default: report a Conflict) or `AdoptUnowned`.
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
}

/// CloudWatch Container Insights level.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContainerInsights {
    Enabled,
    Enhanced,
    Disabled,
}

impl ContainerInsights {
    /// The value ECS uses for the `containerInsights` cluster setting.
    pub fn as_ecs(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Enhanced => "enhanced",
            Self::Disabled => "disabled",
        }
    }
}

/// One entry of a capacity provider strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CapacityProviderStrategyItem {
    /// Name of the capacity provider.
    #[schemars(length(min = 1, max = 255))]
    pub capacity_provider: String,
    /// Relative share of tasks placed on this provider after `base` is met (0-1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub weight: Option<i32>,
    /// Minimum number of tasks placed on this provider (0-100000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100000))]
    pub base: Option<i32>,
}

/// A capacity provider backed by an existing EC2 Auto Scaling group. Removing an
/// entry detaches and deletes the capacity provider the operator created for it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.autoScalingGroupArn == oldSelf.autoScalingGroupArn").message("ECS cannot move a capacity provider to another Auto Scaling group: give the entry a new name to create a new capacity provider"))]
pub struct AutoScalingGroupProvider {
    /// Name of the capacity provider to create. Must not start with `aws`, `ecs`
    /// or `fargate`.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub name: String,
    /// ARN of the Auto Scaling group whose instances join the cluster. Cannot be
    /// changed.
    #[schemars(length(min = 1, max = 1600))]
    pub auto_scaling_group_arn: String,
    /// Let ECS scale the Auto Scaling group to fit the tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_scaling: Option<ManagedScaling>,
    /// Stop scale-in from terminating instances that run tasks. Needs instance scale-in
    /// protection on the Auto Scaling group and managed scaling.
    #[serde(default)]
    pub managed_termination_protection: bool,
}

/// Managed scaling of an Auto Scaling group capacity provider.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedScaling {
    /// Target utilisation of the group's capacity in percent (1-100). Default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_capacity: Option<i32>,
    /// Most instances added or removed in one step (1-10000). Default 10000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub maximum_scaling_step_size: Option<i32>,
    /// Fewest instances added or removed in one step (1-10000). Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub minimum_scaling_step_size: Option<i32>,
    /// Seconds a new instance takes to contribute to metrics. Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 10000))]
    pub instance_warmup_period: Option<i32>,
}

/// What the operator last saw of the ECS cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// ARN of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Name of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Region of the ECS cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Status ECS reports: ACTIVE, PROVISIONING, DEPROVISIONING, FAILED or INACTIVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_status: Option<String>,
    /// Container instances registered with the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_container_instances: Option<i32>,
    /// Tasks in the RUNNING state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_tasks: Option<i32>,
    /// Tasks in the PENDING state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_tasks: Option<i32>,
    /// Services in the ACTIVE state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_services: Option<i32>,
    /// Capacity providers attached to the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_providers: Vec<String>,
    /// Auto Scaling group capacity providers this object created (or adopted) and
    /// still owns: deleted when their entry is removed or the Cluster is deleted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owned_capacity_providers: Vec<String>,
    /// Conditions: `Ready` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
