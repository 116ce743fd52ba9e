//! The `Task` custom resource: a one-off run of ECS tasks (RunTask), modelled on
//! the Kubernetes Job: a migration before a rollout, a batch, a maintenance command.

use super::cluster::CapacityProviderStrategyItem;
use super::common::Tags;
use super::service::{LaunchType, LocalRef, NetworkConfiguration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A one-off run of Amazon ECS tasks, like a Job: `count` tasks are started with
/// RunTask and tracked until they stop. The spec cannot change: a new run is a new
/// Task object.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ecs.operator.dev",
    version = "v1alpha1",
    kind = "Task",
    doc = "A one-off run of Amazon ECS tasks (RunTask) managed by ecs-operator, like a Job. Complete (and Ready) once every task of an attempt exited 0; Failed after backoffLimit failed attempts or activeDeadlineSeconds.",
    namespaced,
    status = "TaskStatus",
    shortname = "ecstask",
    category = "ecs",
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Attempts","type":"integer","jsonPath":".status.attempts"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Task Definition","type":"string","priority":1,"jsonPath":".status.taskDefinitionArn"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("a Task's spec cannot be changed (as a Job's template): create a new Task"))]
#[x_kube(validation = Rule::new("has(self.clusterRef) != has(self.cluster)").message("set exactly one of clusterRef and cluster"))]
#[x_kube(validation = Rule::new("has(self.taskDefinitionRef) != has(self.taskDefinition)").message("set exactly one of taskDefinitionRef and taskDefinition"))]
#[x_kube(validation = Rule::new("!has(self.launchType) || size(self.capacityProviderStrategy) == 0").message("launchType and capacityProviderStrategy are mutually exclusive"))]
pub struct TaskSpec {
    /// AWS region. Defaults to the referenced Cluster's region, else the operator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z]{2}(-[a-z]+)+-\d$"))]
    pub region: Option<String>,

    /// A `Cluster` object in this namespace; the run waits until it is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_ref: Option<LocalRef>,
    /// An ECS cluster not managed here, by name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub cluster: Option<String>,

    /// A `TaskDefinition` object in this namespace: the run uses the revision that is
    /// current when the Task starts (recorded in status.taskDefinitionArn; every retry
    /// uses the same one), or the pinned `revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_ref: Option<TaskDefinitionRef>,
    /// A task definition not managed here: `family`, `family:revision` or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub task_definition: Option<String>,

    /// Tasks started per attempt (1-10, RunTask's limit; default 1). The attempt
    /// succeeds when every one of them exits 0.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 10))]
    pub count: i32,

    /// `FARGATE`, `EC2` or `EXTERNAL`. Omit to use capacityProviderStrategy or the
    /// cluster's default strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,

    /// Capacity providers to place the tasks on, instead of a launch type.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,

    /// Fargate platform version, for example `LATEST` or `1.4.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_version: Option<String>,

    /// VPC networking, required for task definitions in `awsvpc` mode (Fargate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,

    /// Per-container changes to the task definition for this run.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub overrides: Vec<ContainerOverride>,

    /// `startedBy` of the tasks (up to 128 letters, digits, `-`, `_` and `/`):
    /// `aws ecs list-tasks --started-by` finds them. Default: `ecs-operator`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[a-zA-Z0-9_/-]+$"))]
    pub started_by: Option<String>,

    /// Tags for the tasks (the operator adds its ownership tags).
    #[serde(default)]
    pub tags: Tags,

    /// Copy the task definition's tags to the tasks (`TASK_DEFINITION`) or not (`NONE`, default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<TaskPropagateTags>,

    /// Let ECS tag the tasks with the cluster name.
    #[serde(default)]
    pub enable_ecs_managed_tags: bool,

    /// Allow `aws ecs execute-command` into the tasks.
    #[serde(default)]
    pub enable_execute_command: bool,

    /// Seconds from the first start after which running tasks are stopped and the
    /// Task is Failed (reason DeadlineExceeded), whatever the retries left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,

    /// Attempts that may fail (a task exited non-zero, or failed to start) before the
    /// Task is Failed (reason BackoffLimitExceeded). Default 0: a failed run is not
    /// repeated unless you say so (a migration may not be safe to re-run). Retries
    /// wait 10 s, doubling up to 6 minutes.
    #[serde(default)]
    #[schemars(range(min = 0, max = 100))]
    pub backoff_limit: i32,

    /// Seconds after the Task finished (Complete or Failed) after which the operator
    /// deletes the Task object. Unset: it stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i64>,

    /// `Delete` (default): deleting the Task while its tasks run stops them
    /// (StopTask). `Retain`: they run on; only the Kubernetes object goes away.
    #[serde(default)]
    pub deletion_policy: super::common::DeletionPolicy,
}

fn one() -> i32 {
    1
}

/// A `TaskDefinition` object in this namespace, optionally pinned to a revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionRef {
    /// Name of the TaskDefinition object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// A revision of its family to run instead of the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub revision: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskPropagateTags {
    TaskDefinition,
    None,
}

/// Changes to one container of the task definition for this run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    /// Name of the container in the task definition.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The command to run instead of the image's or the task definition's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables to add or replace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// CPU units for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cpu: Option<i32>,
    /// Hard memory limit of the container (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory: Option<i32>,
    /// Soft memory limit of the container (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub memory_reservation: Option<i32>,
}

/// What the Task's tasks did, attempt by attempt.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Pending` (waiting for references or to start), `Running`, `Succeeded` or `Failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<TaskPhase>,
    /// Region the tasks run in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The cluster the tasks run in (name or ARN, as resolved at the first start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The task definition every attempt runs, resolved at the first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// When the first attempt was started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When the Task finished: Complete or Failed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<String>,
    /// Attempts started so far (the current one included).
    #[serde(default)]
    pub attempts: i32,
    /// Attempts that failed.
    #[serde(default)]
    pub failed: i32,
    /// Why the last failed attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// When the next attempt may start, after a failed one (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_time: Option<String>,
    /// The tasks of every attempt, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskRun>,
    /// What RunTask could not start, per attempt (ECS `failures`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub start_failures: Vec<StartFailure>,
    /// Complete, Failed, Ready and Synced.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TaskPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// One ECS task of an attempt, as DescribeTasks last reported it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRun {
    /// The attempt (1, 2, ...) that started it.
    pub attempt: i32,
    /// ARN of the ECS task.
    pub arn: String,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, ..., STOPPED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// Why ECS stopped it: EssentialContainerExited, TaskFailedToStart, UserInitiated, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<String>,
    /// Every container: its last status, exit code and reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerRun>,
}

/// One container of a task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRun {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A task RunTask could not start (its `failures`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartFailure {
    pub attempt: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
