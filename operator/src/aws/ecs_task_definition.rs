//! ECS task definition calls.

use super::AwsError;
use crate::core::task_definition::ObservedRevision;
use crate::core::task_definition_request::RegisterRequest;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{SortOrder, TaskDefinitionField, TaskDefinitionStatus};

/// ARNs of the ACTIVE revisions of exactly `family`, newest first.
pub async fn list_active_revisions(client: &Client, family: &str) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut pages = client
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(SortOrder::Desc)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListTaskDefinitions", e))?;
        // familyPrefix matches prefixes: "api" also lists "api-worker".
        arns.extend(
            page.task_definition_arns()
                .iter()
                .filter(|arn| crate::core::task_definition::family_of_arn(arn) == Some(family))
                .cloned(),
        );
    }
    Ok(arns)
}

/// One revision with its tags.
pub async fn describe_revision(client: &Client, arn: &str) -> Result<Option<ObservedRevision>, AwsError> {
    let out =
        match client.describe_task_definition().task_definition(arn).include(TaskDefinitionField::Tags).send().await {
            Ok(out) => out,
            Err(e) => {
                let err = AwsError::from_sdk("DescribeTaskDefinition", e);
                // ECS answers ClientException for an unknown revision.
                if err.code() == Some("ClientException") {
                    return Ok(None);
                }
                return Err(err);
            }
        };
    Ok(out.task_definition().map(|td| ObservedRevision {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        revision: td.revision(),
        active: td.status().map(|s| s.as_str() == "ACTIVE").unwrap_or(false),
        tags: out.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect(),
    }))
}

/// Registers a new revision; returns its ARN and number.
pub async fn register(client: &Client, request: RegisterRequest) -> Result<(String, i32), AwsError> {
    let out = client
        .register_task_definition()
        .family(request.family)
        .set_container_definitions(Some(request.containers))
        .set_network_mode(request.network_mode)
        .set_requires_compatibilities(Some(request.requires_compatibilities))
        .set_cpu(request.cpu)
        .set_memory(request.memory)
        .set_runtime_platform(request.runtime_platform)
        .set_task_role_arn(request.task_role_arn)
        .set_execution_role_arn(request.execution_role_arn)
        .set_volumes(Some(request.volumes))
        .set_ephemeral_storage(request.ephemeral_storage)
        .set_tags(Some(request.tags))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RegisterTaskDefinition", e))?;
    let td = out.task_definition().ok_or_else(|| AwsError::Transport {
        operation: "RegisterTaskDefinition",
        message: "response had no task definition".into(),
    })?;
    Ok((td.task_definition_arn().unwrap_or_default().to_string(), td.revision()))
}

/// Deregisters one revision (it becomes INACTIVE). An unknown one is not an error.
pub async fn deregister(client: &Client, arn: &str) -> Result<(), AwsError> {
    match client.deregister_task_definition().task_definition(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = AwsError::from_sdk("DeregisterTaskDefinition", e);
            if err.code() == Some("ClientException") && err.to_string().contains("not found") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}
