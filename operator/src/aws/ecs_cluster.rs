//! ECS cluster and capacity provider calls.

use super::AwsError;
use super::error::absent_if;
use crate::core::cluster::{DesiredAsgProvider, DesiredCluster, ObservedAsgProvider, ObservedCluster, StrategyItem};
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, CapacityProviderStrategyItem, ClusterField, ClusterSetting, ClusterSettingName,
    ManagedScaling, ManagedScalingStatus, ManagedTerminationProtection, Tag,
};
use std::collections::BTreeMap;

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn from_tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect()
}

pub(crate) fn to_strategy(items: &[StrategyItem]) -> Result<Vec<CapacityProviderStrategyItem>, AwsError> {
    items
        .iter()
        .map(|s| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&s.capacity_provider)
                .weight(s.weight)
                .base(s.base)
                .build()
                .map_err(|e| AwsError::Transport { operation: "BuildRequest", message: e.to_string() })
        })
        .collect()
}

fn observed(c: &aws_sdk_ecs::types::Cluster) -> ObservedCluster {
    ObservedCluster {
        name: c.cluster_name().unwrap_or_default().to_string(),
        arn: c.cluster_arn().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        settings: c
            .settings()
            .iter()
            .filter_map(|s| Some((s.name()?.as_str().to_string(), s.value()?.to_string())))
            .collect(),
        capacity_providers: c.capacity_providers().to_vec(),
        default_strategy: c
            .default_capacity_provider_strategy()
            .iter()
            .map(|s| StrategyItem {
                capacity_provider: s.capacity_provider().to_string(),
                weight: s.weight(),
                base: s.base(),
            })
            .collect(),
        tags: from_tags(c.tags()),
        registered_container_instances: c.registered_container_instances_count(),
        running_tasks: c.running_tasks_count(),
        pending_tasks: c.pending_tasks_count(),
        active_services: c.active_services_count(),
    }
}

/// Describes up to 100 clusters in one call. Clusters that do not exist are
/// missing from the result; deleted ones come back INACTIVE.
pub async fn describe_clusters(client: &Client, names: &[String]) -> Result<Vec<ObservedCluster>, AwsError> {
    let out = client
        .describe_clusters()
        .set_clusters(Some(names.to_vec()))
        .include(ClusterField::Tags)
        .include(ClusterField::Settings)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeClusters", e))?;
    Ok(out.clusters().iter().map(observed).collect())
}

pub async fn create_cluster(client: &Client, desired: &DesiredCluster) -> Result<ObservedCluster, AwsError> {
    let mut req = client.create_cluster().cluster_name(&desired.name).set_tags(Some(to_tags(&desired.tags)));
    if let Some(value) = &desired.container_insights {
        req = req.settings(ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value(value).build());
    }
    if !desired.capacity_providers.is_empty() {
        req = req
            .set_capacity_providers(Some(desired.capacity_providers.clone()))
            .set_default_capacity_provider_strategy(Some(to_strategy(&desired.default_strategy)?));
    }
    let out = req.send().await.map_err(|e| AwsError::from_sdk("CreateCluster", e))?;
    out.cluster()
        .map(observed)
        .ok_or_else(|| AwsError::Transport { operation: "CreateCluster", message: "response had no cluster".into() })
}

pub async fn update_container_insights(client: &Client, name: &str, value: &str) -> Result<(), AwsError> {
    client
        .update_cluster()
        .cluster(name)
        .settings(ClusterSetting::builder().name(ClusterSettingName::ContainerInsights).value(value).build())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateCluster", e))?;
    Ok(())
}

pub async fn put_capacity_providers(
    client: &Client,
    name: &str,
    providers: &[String],
    strategy: &[StrategyItem],
) -> Result<(), AwsError> {
    client
        .put_cluster_capacity_providers()
        .cluster(name)
        .set_capacity_providers(Some(providers.to_vec()))
        .set_default_capacity_provider_strategy(Some(to_strategy(strategy)?))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("PutClusterCapacityProviders", e))?;
    Ok(())
}

pub async fn tag_resource(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("TagResource", e))?;
    Ok(())
}

pub async fn untag_resource(client: &Client, arn: &str, keys: &[String]) -> Result<(), AwsError> {
    client
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UntagResource", e))?;
    Ok(())
}

pub async fn delete_cluster(client: &Client, name: &str) -> Result<(), AwsError> {
    let sent = client.delete_cluster().cluster(name).send().await.map_err(|e| AwsError::from_sdk("DeleteCluster", e));
    absent_if(sent, &["ClusterNotFoundException"]).map(|_| ())
}

fn managed_scaling(p: &DesiredAsgProvider) -> ManagedScaling {
    ManagedScaling::builder()
        .status(if p.managed_scaling { ManagedScalingStatus::Enabled } else { ManagedScalingStatus::Disabled })
        .set_target_capacity(p.target_capacity)
        .set_minimum_scaling_step_size(p.minimum_scaling_step_size)
        .set_maximum_scaling_step_size(p.maximum_scaling_step_size)
        .set_instance_warmup_period(p.instance_warmup_period)
        .build()
}

fn termination_protection(p: &DesiredAsgProvider) -> ManagedTerminationProtection {
    if p.managed_termination_protection {
        ManagedTerminationProtection::Enabled
    } else {
        ManagedTerminationProtection::Disabled
    }
}

/// Describes capacity providers by name; missing ones are left out.
pub async fn describe_capacity_providers(
    client: &Client,
    names: &[String],
) -> Result<Vec<ObservedAsgProvider>, AwsError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let out = client
        .describe_capacity_providers()
        .set_capacity_providers(Some(names.to_vec()))
        .include(aws_sdk_ecs::types::CapacityProviderField::Tags)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeCapacityProviders", e))?;
    Ok(out
        .capacity_providers()
        .iter()
        .filter(|p| p.status().map(|s| s.as_str()) != Some("INACTIVE"))
        .map(|p| {
            let asg = p.auto_scaling_group_provider();
            let scaling = asg.and_then(|a| a.managed_scaling());
            ObservedAsgProvider {
                name: p.name().unwrap_or_default().to_string(),
                arn: p.capacity_provider_arn().unwrap_or_default().to_string(),
                auto_scaling_group_arn: asg.map(|a| a.auto_scaling_group_arn().to_string()).unwrap_or_default(),
                managed_scaling: scaling.and_then(|s| s.status()).map(|s| s.as_str() == "ENABLED").unwrap_or(false),
                target_capacity: scaling.and_then(|s| s.target_capacity()),
                minimum_scaling_step_size: scaling.and_then(|s| s.minimum_scaling_step_size()),
                maximum_scaling_step_size: scaling.and_then(|s| s.maximum_scaling_step_size()),
                instance_warmup_period: scaling.and_then(|s| s.instance_warmup_period()),
                managed_termination_protection: asg
                    .and_then(|a| a.managed_termination_protection())
                    .map(|m| m.as_str() == "ENABLED")
                    .unwrap_or(false),
                tags: from_tags(p.tags()),
            }
        })
        .collect())
}

pub async fn create_capacity_provider(
    client: &Client,
    p: &DesiredAsgProvider,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let asg = AutoScalingGroupProvider::builder()
        .auto_scaling_group_arn(&p.auto_scaling_group_arn)
        .managed_scaling(managed_scaling(p))
        .managed_termination_protection(termination_protection(p))
        .build()
        .map_err(|e| AwsError::Transport { operation: "BuildRequest", message: e.to_string() })?;
    client
        .create_capacity_provider()
        .name(&p.name)
        .auto_scaling_group_provider(asg)
        .set_tags(Some(to_tags(tags)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateCapacityProvider", e))?;
    Ok(())
}

pub async fn update_capacity_provider(client: &Client, p: &DesiredAsgProvider) -> Result<(), AwsError> {
    let update = aws_sdk_ecs::types::AutoScalingGroupProviderUpdate::builder()
        .managed_scaling(managed_scaling(p))
        .managed_termination_protection(termination_protection(p))
        .build();
    client
        .update_capacity_provider()
        .name(&p.name)
        .auto_scaling_group_provider(update)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("UpdateCapacityProvider", e))?;
    Ok(())
}

pub async fn delete_capacity_provider(client: &Client, name: &str) -> Result<(), AwsError> {
    client
        .delete_capacity_provider()
        .capacity_provider(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteCapacityProvider", e))?;
    Ok(())
}

/// How many services that are ACTIVE or DRAINING the cluster still has (the
/// first page of up to 100 is enough to know whether deletion must wait).
/// Listing, then describing, because ListServices may also return INACTIVE ones.
pub async fn count_services(client: &Client, name: &str) -> Result<usize, AwsError> {
    let arns = match client.list_services().cluster(name).max_results(100).send().await {
        Ok(out) => out.service_arns().to_vec(),
        Err(e) => {
            let err = AwsError::from_sdk("ListServices", e);
            return if err.code() == Some("ClusterNotFoundException") { Ok(0) } else { Err(err) };
        }
    };
    let mut live = 0;
    for chunk in arns.chunks(10) {
        let out = client
            .describe_services()
            .cluster(name)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeServices", e))?;
        live += out.services().iter().filter(|s| s.status() != Some("INACTIVE")).count();
    }
    Ok(live)
}
