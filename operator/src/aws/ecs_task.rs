//! ECS standalone task calls: RunTask, DescribeTasks (batched per cluster, 100
//! a call) and StopTask.

use super::batcher::{Batcher, Described};
use super::ecs_cluster::to_strategy;
use super::{AwsClients, AwsError};
use crate::core::task_request::RunRequest;
use crate::crd::task::{ContainerRun, StartFailure, TaskRun};
use aws_sdk_ecs::types::{
    ContainerOverride, DesiredStatus, KeyValuePair, LaunchType, PropagateTags, Tag, Task as EcsTask, TaskField,
    TaskOverride,
};
use futures::FutureExt;
use k8s_openapi::jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;

fn time(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| Timestamp::from_second(d.secs()).ok()).map(|t| t.to_string())
}

fn observed(t: &EcsTask) -> TaskRun {
    TaskRun {
        attempt: 0,
        arn: t.task_arn().unwrap_or_default().to_string(),
        last_status: t.last_status().map(str::to_string),
        stop_code: t.stop_code().map(|c| c.as_str().to_string()),
        stopped_reason: t.stopped_reason().map(str::to_string),
        started_at: time(t.started_at()),
        stopped_at: time(t.stopped_at()),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerRun {
                name: c.name().unwrap_or_default().to_string(),
                last_status: c.last_status().map(str::to_string),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_string),
            })
            .collect(),
    }
}

impl Described for TaskRun {
    fn answers(&self, name_or_arn: &str) -> bool {
        self.arn == name_or_arn
    }

    fn rank(&self) -> bool {
        true
    }
}

/// Starts the tasks of `r`: the tasks ECS started and what it could not start.
pub async fn run_task(
    client: &aws_sdk_ecs::Client,
    r: &RunRequest,
) -> Result<(Vec<TaskRun>, Vec<StartFailure>), AwsError> {
    let overrides: Vec<ContainerOverride> = r
        .overrides
        .iter()
        .map(|o| {
            ContainerOverride::builder()
                .name(&o.name)
                .set_command(o.command.clone())
                .set_environment((!o.environment.is_empty()).then(|| {
                    o.environment.iter().map(|(k, v)| KeyValuePair::builder().name(k).value(v).build()).collect()
                }))
                .set_cpu(o.cpu)
                .set_memory(o.memory)
                .set_memory_reservation(o.memory_reservation)
                .build()
        })
        .collect();
    let tags: Vec<Tag> = r.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let network = r.network.as_ref().map(super::ecs_service::network).transpose()?;
    let mut req = client
        .run_task()
        .cluster(&r.cluster)
        .task_definition(&r.task_definition)
        .count(r.count)
        .set_launch_type(r.launch_type.map(LaunchType::from))
        .set_platform_version(r.platform_version.clone())
        .set_network_configuration(network)
        .started_by(&r.started_by)
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_propagate_tags(r.propagate_tags.map(PropagateTags::from))
        .enable_ecs_managed_tags(r.enable_ecs_managed_tags)
        .enable_execute_command(r.enable_execute_command)
        .client_token(&r.client_token);
    if !overrides.is_empty() {
        req = req.overrides(TaskOverride::builder().set_container_overrides(Some(overrides)).build());
    }
    if !r.capacity_provider_strategy.is_empty() {
        req = req.set_capacity_provider_strategy(Some(to_strategy(&r.capacity_provider_strategy)?));
    }
    let out = req.send().await.map_err(|e| AwsError::from_sdk("RunTask", e))?;
    let tasks = out.tasks().iter().map(observed).collect();
    let failures = out
        .failures()
        .iter()
        .map(|f| StartFailure {
            attempt: 0,
            arn: f.arn().map(str::to_string),
            reason: f.reason().map(str::to_string),
            detail: f.detail().map(str::to_string),
        })
        .collect();
    Ok((tasks, failures))
}

/// Stops the task `arn` with `reason` (shown as its stoppedReason). A task ECS no
/// longer knows is already stopped.
pub async fn stop_task(client: &aws_sdk_ecs::Client, cluster: &str, arn: &str, reason: &str) -> Result<(), AwsError> {
    let reason: String = reason.chars().take(255).collect();
    let result = client.stop_task().cluster(cluster).task(arn).reason(reason).send().await;
    let result = result.map(|_| ()).map_err(|e| AwsError::from_sdk("StopTask", e));
    super::error::absent_if(result, &["InvalidParameterException"]).map(|_| ())
}

/// The tasks of `cluster` started by `started_by` that are not stopped, with
/// their tags (ListTasks, then DescribeTasks with TAGS, 100 a call).
pub async fn list_running(
    client: &aws_sdk_ecs::Client,
    cluster: &str,
    started_by: &str,
) -> Result<Vec<(String, BTreeMap<String, String>)>, AwsError> {
    let mut arns = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = client
            .list_tasks()
            .cluster(cluster)
            .started_by(started_by)
            .desired_status(DesiredStatus::Running)
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListTasks", e))?;
        arns.extend(out.task_arns().iter().cloned());
        match out.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => break,
        }
    }
    let mut found = Vec::new();
    for chunk in arns.chunks(100) {
        let out = client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .include(TaskField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTasks", e))?;
        for t in out.tasks() {
            let tags =
                t.tags().iter().filter_map(|tag| Some((tag.key()?.to_string(), tag.value()?.to_string()))).collect();
            found.push((t.task_arn().unwrap_or_default().to_string(), tags));
        }
    }
    Ok(found)
}

async fn describe_all(client: &aws_sdk_ecs::Client, cluster: &str, arns: &[String]) -> Result<Vec<TaskRun>, AwsError> {
    let mut found = Vec::new();
    for chunk in arns.chunks(100) {
        let out = client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTasks", e))?;
        found.extend(out.tasks().iter().map(observed));
    }
    Ok(found)
}

/// DescribeTasks shared by the Task reconciles that ask within a short window:
/// one call per region and cluster for up to 100 tasks.
#[derive(Debug, Clone)]
pub struct TaskDescriber {
    batcher: Batcher<(String, String), TaskRun>,
}

impl TaskDescriber {
    pub fn start(aws: Arc<AwsClients>) -> Self {
        let batcher = Batcher::start("DescribeTasks", move |(region, cluster): (String, String), arns: Vec<String>| {
            let client = aws.ecs(&region);
            async move { describe_all(&client, &cluster, &arns).await }.boxed()
        });
        Self { batcher }
    }

    /// The tasks of `arns` ECS still knows (it forgets stopped tasks after about
    /// an hour).
    pub async fn describe(&self, region: &str, cluster: &str, arns: &[String]) -> Result<Vec<TaskRun>, AwsError> {
        let key = (region.to_string(), cluster.to_string());
        let answers = futures::future::join_all(arns.iter().map(|a| self.batcher.describe(key.clone(), a))).await;
        let mut found = Vec::new();
        for answer in answers {
            found.extend(answer?);
        }
        Ok(found)
    }
}
