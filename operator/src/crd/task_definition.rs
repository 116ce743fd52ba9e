//! The `TaskDefinition` custom resource: a family of ECS task definition revisions.

use super::common::{AdoptionPolicy, DeletionPolicy, Tags};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An Amazon ECS task definition family. Every change to the spec registers a new
/// revision; older revisions are deregistered beyond `revisionHistoryLimit`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ecs.operator.dev",
    version = "v1alpha1",
    kind = "TaskDefinition",
    doc = "An Amazon ECS task definition family managed by ecs-operator. Every spec change registers a new revision.",
    namespaced,
    status = "TaskDefinitionStatus",
    shortname = "ecstd",
    shortname = "taskdef",
    category = "ecs",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Family","type":"string","jsonPath":".status.family"}"#,
    printcolumn = r#"{"name":"Revision","type":"integer","jsonPath":".status.revision"}"#,
    printcolumn = r#"{"name":"ARN","type":"string","priority":1,"jsonPath":".status.arn"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!('FARGATE' in self.requiresCompatibilities) || (has(self.networkMode) && self.networkMode == 'awsvpc')").message("FARGATE requires networkMode: awsvpc"))]
#[x_kube(validation = Rule::new("!('FARGATE' in self.requiresCompatibilities) || (has(self.cpu) && has(self.memory))").message("FARGATE requires task-level cpu and memory"))]
#[x_kube(validation = Rule::new("has(self.memory) || self.containers.all(c, has(c.memory) || has(c.memoryReservation))").message("without task-level memory, every container needs memory or memoryReservation"))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || !(self.networkMode in ['awsvpc', 'host']) || self.containers.all(c, c.portMappings.all(p, !has(p.hostPort) || p.hostPort == p.containerPort))").message("in awsvpc and host network mode, hostPort must be omitted or equal containerPort"))]
#[x_kube(validation = Rule::new("!has(oldSelf.family) && !has(self.family) || has(oldSelf.family) && has(self.family) && self.family == oldSelf.family").message("family cannot be set, changed or removed after creation: create a new TaskDefinition object instead"))]
#[x_kube(validation = Rule::new("!has(oldSelf.region) && !has(self.region) || has(oldSelf.region) && has(self.region) && self.region == oldSelf.region").message("region cannot be set, changed or removed after creation: create a new TaskDefinition object instead"))]
#[x_kube(validation = Rule::new("self.containers.exists(c, c.essential)").message("at least one container must be essential"))]
#[x_kube(validation = Rule::new("!has(self.networkMode) || self.networkMode != 'none' || self.containers.all(c, size(c.portMappings) == 0)").message("networkMode none does not allow portMappings"))]
pub struct TaskDefinitionSpec {
    /// Task definition family. Defaults to the object's name. Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub family: Option<String>,

    /// AWS region. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-\d$"))]
    pub region: Option<String>,

    /// The containers of the task: 1 to 10, names unique.
    #[schemars(length(min = 1, max = 10), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub containers: Vec<ContainerDefinition>,

    /// Docker networking mode: `awsvpc` (required for Fargate), `bridge`, `host` or
    /// `none`. ECS defaults to `bridge` on EC2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,

    /// Launch types the task definition is validated against: `FARGATE`, `EC2`,
    /// `EXTERNAL`, `MANAGED_INSTANCES`.
    #[serde(default)]
    #[schemars(length(max = 4), extend("x-kubernetes-list-type" = "set"))]
    pub requires_compatibilities: Vec<Compatibility>,

    /// Task CPU units as a string ("256" = 0.25 vCPU; "1 vCPU" also accepted).
    /// Required for Fargate, where it must pair with a valid `memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub cpu: Option<String>,

    /// Task memory in MiB as a string ("512"; "1 GB" also accepted). Required for Fargate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub memory: Option<String>,

    /// Operating system and CPU architecture the task runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,

    /// IAM role the containers assume to call AWS APIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub task_role_arn: Option<String>,

    /// IAM role ECS uses to pull images, write logs and read secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub execution_role_arn: Option<String>,

    /// Data volumes the containers can mount by name.
    #[serde(default)]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub volumes: Vec<Volume>,

    /// Ephemeral storage for Fargate tasks in GiB (21-200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 21, max = 200))]
    pub ephemeral_storage_gib: Option<i32>,

    /// Tags for every revision the operator registers.
    #[serde(default)]
    pub tags: Tags,

    /// How many revisions older than the current one stay ACTIVE (default 5).
    /// Older ones are deregistered, except revisions a service deployment still uses.
    #[serde(default = "default_revision_history_limit")]
    #[schemars(range(min = 0, max = 100))]
    pub revision_history_limit: i32,

    /// What happens to the revisions when this object is deleted: `Delete` (default,
    /// deregister them) or `Retain`.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What to do when the family already has ACTIVE revisions this object did not
    /// register: `Never` (default: report a Conflict) or `AdoptUnowned` (register new
    /// revisions into the family; revisions not registered by the operator are never
    /// deregistered).
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
}

fn default_revision_history_limit() -> i32 {
    5
}

fn default_true() -> bool {
    true
}

/// Docker networking mode of the task.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    Awsvpc,
    Bridge,
    Host,
    None,
}

/// A launch type a task definition is validated against.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    Fargate,
    Ec2,
    External,
    ManagedInstances,
}

/// Operating system and CPU architecture.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimePlatform {
    /// `X86_64` or `ARM64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    /// For example `LINUX` or `WINDOWS_SERVER_2022_CORE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub operating_system_family: Option<String>,
}

/// CPU architecture of the task.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CpuArchitecture {
    #[serde(rename = "X86_64")]
    X86_64,
    #[serde(rename = "ARM64")]
    Arm64,
}

/// One container of the task.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.memory) || !has(self.memoryReservation) || self.memory >= self.memoryReservation").message("memory (the hard limit) must be at least memoryReservation (the soft limit)"))]
pub struct ContainerDefinition {
    /// Container name, unique in the task. Other containers refer to it in `dependsOn`,
    /// and services in their load balancer settings.
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-zA-Z0-9_-]+$"))]
    pub name: String,
    /// Image reference, for example `123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.4.2`.
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
    /// CPU units reserved for the container (1024 = 1 vCPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 196608))]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB: the container is killed above it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 6, max = 1048576))]
    pub memory: Option<i32>,
    /// Soft memory reservation in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 4, max = 1048576))]
    pub memory_reservation: Option<i32>,
    /// Ports the container listens on.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub port_mappings: Vec<PortMapping>,
    /// Environment variables as a map; order never matters.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Environment variables from secrets: variable name to the ARN of a Secrets
    /// Manager secret (optionally with `:json-key::`) or the name or ARN of an SSM
    /// parameter. The execution role must be allowed to read them.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// Working directory for the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// If an essential container stops, the whole task stops. Default true; at least
    /// one container must be essential.
    #[serde(default = "default_true")]
    pub essential: bool,
    /// Container health check, run by the container agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Where the container's logs go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Containers that must reach a state before this one starts.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub depends_on: Vec<ContainerDependency>,
    /// Volumes of the task mounted into this container.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub mount_points: Vec<MountPoint>,
    /// Resource limits (nofile, nproc, ...).
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub ulimits: Vec<Ulimit>,
    /// Mount the root filesystem read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// User (and group) the container runs as, for example `1000:1000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Seconds to wait after SIGTERM before the container is killed (max 120 on Fargate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 120))]
    pub stop_timeout: Option<i32>,
}

/// A container port exposed by the task.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port the container listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub container_port: i32,
    /// Port on the host. Omit in awsvpc and host mode (it equals containerPort); omit
    /// or set 0 in bridge mode for a dynamic host port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub host_port: Option<i32>,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    /// Name of the port, used by Service Connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub name: Option<String>,
    /// Application protocol for Service Connect: `http`, `http2` or `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
}

/// Transport protocol of a port mapping.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransportProtocol {
    Tcp,
    Udp,
}

/// Application protocol of a port mapping.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    Http,
    Http2,
    Grpc,
}

/// A container health check.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `["CMD", "exe", "arg"]` or `["CMD-SHELL", "curl -f http://localhost/ || exit 1"]`.
    #[schemars(length(min = 1))]
    pub command: Vec<String>,
    /// Seconds between checks (5-300, default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 300))]
    pub interval: Option<i32>,
    /// Seconds before a check counts as failed (2-120, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2, max = 120))]
    pub timeout: Option<i32>,
    /// Failures in a row before the container is unhealthy (1-10, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub retries: Option<i32>,
    /// Grace period in seconds before failures count (0-300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 300))]
    pub start_period: Option<i32>,
}

/// Log routing of a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// Log driver, for example `awslogs`, `awsfirelens`, `json-file`, `splunk`.
    #[schemars(length(min = 1, max = 64))]
    pub log_driver: String,
    /// Driver options, for example `awslogs-group`, `awslogs-region`, `awslogs-stream-prefix`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Driver options read from secrets: option name to secret or parameter ARN.
    #[serde(default)]
    pub secret_options: BTreeMap<String, String>,
}

/// A start-up dependency on another container of the task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// Name of the other container.
    pub container_name: String,
    /// `START`, `COMPLETE`, `SUCCESS` or `HEALTHY`.
    pub condition: DependencyCondition,
}

/// The state a dependency must reach.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DependencyCondition {
    Start,
    Complete,
    Success,
    Healthy,
}

/// A task volume mounted into a container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    /// Name of a volume in `volumes`.
    pub source_volume: String,
    /// Path inside the container.
    pub container_path: String,
    /// Mount read-only. Default false.
    #[serde(default)]
    pub read_only: bool,
}

/// A resource limit for the container.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ulimit {
    /// Limit name, for example `nofile`.
    pub name: String,
    /// Soft limit.
    pub soft_limit: i32,
    /// Hard limit.
    pub hard_limit: i32,
}

/// A data volume of the task.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.hostPath) && has(self.efs))").message("a volume is either hostPath or efs, not both"))]
pub struct Volume {
    /// Volume name, referenced by `mountPoints[].sourceVolume`.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Path on the host (EC2 only). Omit both `hostPath` and `efs` for a task-scoped
    /// empty volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// An Amazon EFS file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs: Option<EfsVolume>,
}

/// An Amazon EFS volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolume {
    /// EFS file system ID, for example `fs-12345678`.
    pub file_system_id: String,
    /// Directory of the file system to mount. Default `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// Encrypt data in transit. Required when `accessPointId` or `iam` is set.
    #[serde(default)]
    pub transit_encryption: bool,
    /// EFS access point ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// Use the task role for EFS authorization.
    #[serde(default)]
    pub iam: bool,
}

/// What the operator last saw of the task definition family.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Task definition family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Region of the family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The newest revision registered for the current spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i32>,
    /// ARN of that revision: what services of this spec run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// Hash of the normalised spec that revision was registered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// Revisions registered by this object that are still ACTIVE, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<KeptRevision>,
    /// Conditions: `Ready` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A revision the operator registered that is still ACTIVE.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeptRevision {
    /// Revision number.
    pub revision: i32,
    /// ARN of the revision.
    pub arn: String,
}
