//! Task: the RunTask request a spec and its resolved references translate into.

use super::cluster::StrategyItem;
use super::service::Network;
use crate::crd::service::LaunchType;
use crate::crd::task::{TaskPropagateTags, TaskSpec};
use std::collections::BTreeMap;

/// `startedBy` when the spec sets none.
pub const DEFAULT_STARTED_BY: &str = "ecs-operator";

/// Tag on every task a Task starts: the RunTask clientToken of its attempt
/// (`<object uid>-<attempt>`), which finds tasks whose RunTask answer never
/// reached status.
pub const RUN_TAG: &str = "ecs.operator.dev/run";

/// The `startedBy` of the tasks of `spec`.
pub fn started_by(spec: &TaskSpec) -> String {
    spec.started_by.clone().unwrap_or_else(|| DEFAULT_STARTED_BY.to_string())
}

/// One container's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerChange {
    pub name: String,
    pub command: Option<Vec<String>>,
    pub environment: Vec<(String, String)>,
    pub cpu: Option<i32>,
    pub memory: Option<i32>,
    pub memory_reservation: Option<i32>,
}

/// Everything RunTask is called with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub cluster: String,
    pub task_definition: String,
    pub count: i32,
    pub launch_type: Option<&'static str>,
    pub capacity_provider_strategy: Vec<StrategyItem>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub overrides: Vec<ContainerChange>,
    pub started_by: String,
    pub tags: BTreeMap<String, String>,
    pub propagate_tags: Option<&'static str>,
    pub enable_ecs_managed_tags: bool,
    pub enable_execute_command: bool,
    pub client_token: String,
}

/// The RunTask request of `spec` for `cluster` and `task_definition` (resolved),
/// with the operator's `owner_tags` added and `client_token` for the attempt.
pub fn run_request(
    spec: &TaskSpec,
    cluster: &str,
    task_definition: &str,
    owner_tags: &BTreeMap<String, String>,
    client_token: String,
) -> RunRequest {
    let mut tags = spec.tags.clone();
    tags.extend(owner_tags.clone());
    RunRequest {
        cluster: cluster.to_string(),
        task_definition: task_definition.to_string(),
        count: spec.count,
        launch_type: spec.launch_type.map(|l| match l {
            LaunchType::Fargate => "FARGATE",
            LaunchType::Ec2 => "EC2",
            LaunchType::External => "EXTERNAL",
        }),
        capacity_provider_strategy: super::cluster::strategy_items(&spec.capacity_provider_strategy),
        platform_version: spec.platform_version.clone(),
        network: spec.network_configuration.as_ref().map(|n| Network {
            subnets: n.subnets.clone(),
            security_groups: n.security_groups.clone(),
            assign_public_ip: n.assign_public_ip,
        }),
        overrides: spec
            .overrides
            .iter()
            .map(|o| ContainerChange {
                name: o.name.clone(),
                command: o.command.clone(),
                environment: o.environment.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                cpu: o.cpu,
                memory: o.memory,
                memory_reservation: o.memory_reservation,
            })
            .collect(),
        started_by: started_by(spec),
        tags,
        propagate_tags: spec.propagate_tags.map(|p| match p {
            TaskPropagateTags::TaskDefinition => "TASK_DEFINITION",
            TaskPropagateTags::None => "NONE",
        }),
        enable_ecs_managed_tags: spec.enable_ecs_managed_tags,
        enable_execute_command: spec.enable_execute_command,
        client_token,
    }
}

/// The task definition `revision` of the family of `arn` (a TaskDefinition's
/// current revision ARN), for a pinned `taskDefinitionRef.revision`.
pub fn pinned_revision(arn: &str, revision: i32) -> Option<String> {
    let (base, _) = arn.rsplit_once(':')?;
    base.contains(":task-definition/").then(|| format!("{base}:{revision}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::cluster::CapacityProviderStrategyItem;
    use crate::crd::service::NetworkConfiguration;
    use crate::crd::task::ContainerOverride;

    #[test]
    fn a_spec_becomes_a_run_task_request_with_the_owner_tags_and_the_token() {
        let spec = TaskSpec {
            count: 3,
            launch_type: Some(LaunchType::Fargate),
            network_configuration: Some(NetworkConfiguration {
                subnets: vec!["subnet-b".into(), "subnet-a".into()],
                security_groups: vec!["sg-1".into()],
                assign_public_ip: true,
            }),
            overrides: vec![ContainerOverride {
                name: "app".into(),
                command: Some(vec!["migrate".into(), "--up".into()]),
                environment: [("DB".to_string(), "main".to_string())].into(),
                cpu: Some(256),
                memory: None,
                memory_reservation: Some(128),
            }],
            tags: [("team".to_string(), "data".to_string())].into(),
            propagate_tags: Some(TaskPropagateTags::TaskDefinition),
            ..TaskSpec::default()
        };
        let owner: BTreeMap<String, String> = [("ecs.operator.dev/owner".to_string(), "x".to_string())].into();
        let r = run_request(&spec, "prod", "arn:td:1", &owner, "uid-1".into());
        assert_eq!((r.cluster.as_str(), r.task_definition.as_str(), r.count), ("prod", "arn:td:1", 3));
        assert_eq!(r.launch_type, Some("FARGATE"));
        assert_eq!(r.network.as_ref().map(|n| n.subnets.clone()), Some(vec!["subnet-b".into(), "subnet-a".into()]));
        assert_eq!(r.overrides[0].command.as_deref(), Some(&["migrate".to_string(), "--up".to_string()][..]));
        assert_eq!(r.overrides[0].environment, vec![("DB".to_string(), "main".to_string())]);
        assert_eq!((r.overrides[0].cpu, r.overrides[0].memory_reservation), (Some(256), Some(128)));
        assert_eq!(r.tags.len(), 2);
        assert_eq!(r.started_by, DEFAULT_STARTED_BY);
        assert_eq!(r.propagate_tags, Some("TASK_DEFINITION"));
        assert_eq!(r.client_token, "uid-1");
    }

    #[test]
    fn a_capacity_provider_strategy_fills_ecs_defaults_and_started_by_is_kept() {
        let spec = TaskSpec {
            count: 1,
            capacity_provider_strategy: vec![CapacityProviderStrategyItem {
                capacity_provider: "FARGATE_SPOT".into(),
                weight: None,
                base: Some(1),
            }],
            started_by: Some("nightly/report".into()),
            ..TaskSpec::default()
        };
        let r = run_request(&spec, "c", "td", &BTreeMap::new(), "t".into());
        assert_eq!(r.launch_type, None);
        assert_eq!(
            r.capacity_provider_strategy,
            vec![StrategyItem { capacity_provider: "FARGATE_SPOT".into(), weight: 0, base: 1 }]
        );
        assert_eq!(r.started_by, "nightly/report");
    }

    #[test]
    fn a_pinned_revision_replaces_the_revision_of_the_current_arn() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";
        assert_eq!(
            pinned_revision(arn, 3).as_deref(),
            Some("arn:aws:ecs:us-east-1:123456789012:task-definition/web:3")
        );
        assert_eq!(pinned_revision("web", 3), None);
    }
}
