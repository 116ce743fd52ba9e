//! Cluster: validation, desired state, the plan that brings ECS in line, and status.

use super::conditions::{self, ConditionUpdate};
use super::ownership::Owner;
use super::tags::{self, TagDiff};
use crate::crd::cluster::{ClusterSpec, ClusterStatus};
use crate::crd::common::condition::{READY, SYNCED};
use k8s_openapi::jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Built-in capacity providers that need no creation.
pub const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

/// One entry of a capacity provider strategy, with ECS's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StrategyItem {
    pub capacity_provider: String,
    pub weight: i32,
    pub base: i32,
}

/// A spec's capacity provider strategy with ECS's defaults filled in (weight
/// and base 0), in the spec's order.
pub fn strategy_items(spec: &[crate::crd::cluster::CapacityProviderStrategyItem]) -> Vec<StrategyItem> {
    spec.iter()
        .map(|s| StrategyItem {
            capacity_provider: s.capacity_provider.clone(),
            weight: s.weight.unwrap_or(0),
            base: s.base.unwrap_or(0),
        })
        .collect()
}

/// An Auto Scaling group capacity provider as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredAsgProvider {
    pub name: String,
    pub auto_scaling_group_arn: String,
    pub managed_scaling: bool,
    pub target_capacity: Option<i32>,
    pub minimum_scaling_step_size: Option<i32>,
    pub maximum_scaling_step_size: Option<i32>,
    pub instance_warmup_period: Option<i32>,
    pub managed_termination_protection: bool,
}

/// An Auto Scaling group capacity provider as ECS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedAsgProvider {
    pub name: String,
    pub arn: String,
    pub auto_scaling_group_arn: String,
    pub managed_scaling: bool,
    pub target_capacity: Option<i32>,
    pub minimum_scaling_step_size: Option<i32>,
    pub maximum_scaling_step_size: Option<i32>,
    pub instance_warmup_period: Option<i32>,
    pub managed_termination_protection: bool,
    pub tags: BTreeMap<String, String>,
}

/// The ECS cluster the spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredCluster {
    pub name: String,
    pub region: String,
    /// `enabled`, `enhanced`, `disabled`, or `None` to leave the setting alone.
    pub container_insights: Option<String>,
    pub capacity_providers: Vec<String>,
    pub default_strategy: Vec<StrategyItem>,
    pub asg_providers: Vec<DesiredAsgProvider>,
    /// User tags plus the ownership tags.
    pub tags: BTreeMap<String, String>,
}

/// The ECS cluster as DescribeClusters reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedCluster {
    pub name: String,
    pub arn: String,
    pub status: String,
    pub settings: BTreeMap<String, String>,
    pub capacity_providers: Vec<String>,
    pub default_strategy: Vec<StrategyItem>,
    pub tags: BTreeMap<String, String>,
    pub registered_container_instances: i32,
    pub running_tasks: i32,
    pub pending_tasks: i32,
    pub active_services: i32,
}

impl ObservedCluster {
    /// Whether the cluster exists for practical purposes: ECS keeps deleted clusters
    /// visible as INACTIVE for a while, and CreateCluster then makes a new one.
    pub fn exists(&self) -> bool {
        self.status != "INACTIVE"
    }
}

/// One change to make in ECS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterAction {
    CreateCapacityProvider(DesiredAsgProvider),
    UpdateCapacityProvider(DesiredAsgProvider),
    CreateCluster,
    SetContainerInsights(String),
    PutCapacityProviders {
        providers: Vec<String>,
        strategy: Vec<StrategyItem>,
    },
    Tag(TagDiff),
    /// A capacity provider this object created whose entry left the spec: deleted
    /// after the cluster no longer lists it.
    DeleteCapacityProvider(String),
}

/// The ECS cluster name of an object: `spec.clusterName`, else the object's name.
pub fn cluster_name(object_name: &str, spec: &ClusterSpec) -> String {
    spec.cluster_name.clone().unwrap_or_else(|| object_name.to_string())
}

/// Problems the schema cannot catch, as messages saying what to change.
pub fn validate(object_name: &str, spec: &ClusterSpec) -> Vec<String> {
    let mut problems = tags::validate(&spec.tags, "spec.tags");
    let name = cluster_name(object_name, spec);
    if name.len() > 255 || name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems.push(format!(
            "the ECS cluster name {name:?} must be 1-255 letters, digits, hyphens or underscores; set spec.clusterName"
        ));
    }
    for provider in &spec.auto_scaling_group_providers {
        let lower = provider.name.to_ascii_lowercase();
        if ["aws", "ecs", "fargate"].iter().any(|p| lower.starts_with(p)) {
            problems.push(format!(
                "autoScalingGroupProviders {:?}: a capacity provider name cannot start with aws, ecs or fargate",
                provider.name
            ));
        }
        if !provider.auto_scaling_group_arn.starts_with("arn:")
            || !provider.auto_scaling_group_arn.contains(":autoScalingGroup:")
        {
            problems.push(format!(
                "autoScalingGroupProviders {:?}: autoScalingGroupArn must be an Auto Scaling group ARN \
                 (arn:aws:autoscaling:<region>:<account>:autoScalingGroup:<id>:autoScalingGroupName/<name>)",
                provider.name
            ));
        }
        if provider.managed_termination_protection && provider.managed_scaling.is_none() {
            problems.push(format!(
                "autoScalingGroupProviders {:?}: managedTerminationProtection needs managedScaling",
                provider.name
            ));
        }
        if let Some(s) = &provider.managed_scaling
            && let (Some(min), Some(max)) = (s.minimum_scaling_step_size, s.maximum_scaling_step_size)
            && min > max
        {
            problems.push(format!(
                "autoScalingGroupProviders {:?}: minimumScalingStepSize ({min}) is above maximumScalingStepSize ({max})",
                provider.name
            ));
        }
    }
    let uses_fargate = spec.capacity_providers.iter().any(|p| FARGATE_PROVIDERS.contains(&p.as_str()));
    if uses_fargate && !spec.auto_scaling_group_providers.is_empty() {
        problems.push(
            "capacityProviders mixes Fargate and Auto Scaling group providers; ECS does not allow both in one \
             cluster's strategy"
                .to_string(),
        );
    }
    problems
}

/// Translates the spec into the cluster it asks for.
pub fn desired(object_name: &str, spec: &ClusterSpec, region: &str, owner: &Owner) -> DesiredCluster {
    let mut tags = spec.tags.clone();
    tags.extend(owner.tags());
    let mut default_strategy = strategy_items(&spec.default_capacity_provider_strategy);
    default_strategy.sort();
    DesiredCluster {
        name: cluster_name(object_name, spec),
        region: region.to_string(),
        container_insights: spec.container_insights.map(|c| c.as_ecs().to_string()),
        capacity_providers: spec.capacity_providers.clone(),
        default_strategy,
        asg_providers: spec
            .auto_scaling_group_providers
            .iter()
            .map(|p| DesiredAsgProvider {
                name: p.name.clone(),
                auto_scaling_group_arn: p.auto_scaling_group_arn.clone(),
                managed_scaling: p.managed_scaling.is_some(),
                target_capacity: p.managed_scaling.as_ref().and_then(|m| m.target_capacity),
                minimum_scaling_step_size: p.managed_scaling.as_ref().and_then(|m| m.minimum_scaling_step_size),
                maximum_scaling_step_size: p.managed_scaling.as_ref().and_then(|m| m.maximum_scaling_step_size),
                instance_warmup_period: p.managed_scaling.as_ref().and_then(|m| m.instance_warmup_period),
                managed_termination_protection: p.managed_termination_protection,
            })
            .collect(),
        tags,
    }
}

// Only compare what the spec sets: ECS fills in defaults for the rest.
fn asg_provider_differs(desired: &DesiredAsgProvider, observed: &ObservedAsgProvider) -> bool {
    fn differs(want: Option<i32>, have: Option<i32>) -> bool {
        want.is_some() && want != have
    }
    desired.managed_scaling != observed.managed_scaling
        || desired.managed_termination_protection != observed.managed_termination_protection
        || differs(desired.target_capacity, observed.target_capacity)
        || differs(desired.minimum_scaling_step_size, observed.minimum_scaling_step_size)
        || differs(desired.maximum_scaling_step_size, observed.maximum_scaling_step_size)
        || differs(desired.instance_warmup_period, observed.instance_warmup_period)
}

/// The capacity providers this object owns that the spec no longer names.
pub fn removed_providers<'a>(desired: &DesiredCluster, owned: &'a [String]) -> Vec<&'a String> {
    owned.iter().filter(|name| !desired.asg_providers.iter().any(|p| &p.name == *name)).collect()
}

/// The changes that bring ECS in line with `desired`, in the order to make them.
/// `owned`: the capacity providers this object created (from status); those the
/// spec no longer names are deleted last, once the cluster no longer lists them.
/// An empty plan means nothing to write.
pub fn plan(
    desired: &DesiredCluster,
    observed: Option<&ObservedCluster>,
    observed_providers: &[ObservedAsgProvider],
    owned: &[String],
) -> Vec<ClusterAction> {
    let mut actions = Vec::new();
    for provider in &desired.asg_providers {
        match observed_providers.iter().find(|o| o.name == provider.name) {
            None => actions.push(ClusterAction::CreateCapacityProvider(provider.clone())),
            Some(o) if asg_provider_differs(provider, o) => {
                actions.push(ClusterAction::UpdateCapacityProvider(provider.clone()))
            }
            Some(_) => {}
        }
    }
    let Some(observed) = observed.filter(|o| o.exists()) else {
        actions.push(ClusterAction::CreateCluster);
        return actions;
    };
    if let Some(insights) = &desired.container_insights
        && observed.settings.get("containerInsights") != Some(insights)
    {
        actions.push(ClusterAction::SetContainerInsights(insights.clone()));
    }
    let want: BTreeSet<&String> = desired.capacity_providers.iter().collect();
    let have: BTreeSet<&String> = observed.capacity_providers.iter().collect();
    let mut have_strategy = observed.default_strategy.clone();
    have_strategy.sort();
    if want != have || desired.default_strategy != have_strategy {
        actions.push(ClusterAction::PutCapacityProviders {
            providers: desired.capacity_providers.clone(),
            strategy: desired.default_strategy.clone(),
        });
    }
    let tag_diff = tags::diff(&desired.tags, &observed.tags);
    if !tag_diff.is_empty() {
        actions.push(ClusterAction::Tag(tag_diff));
    }
    for name in removed_providers(desired, owned) {
        if observed_providers.iter().any(|p| &p.name == name) {
            actions.push(ClusterAction::DeleteCapacityProvider(name.clone()));
        }
    }
    actions
}

/// How the last reconcile ended, for status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// ECS matches the spec.
    Synced,
    /// The spec cannot be applied as written; no AWS call was made.
    Invalid(String),
    /// A same-named resource is not ours.
    Conflict(String),
    /// AWS refused the request; retrying the same spec cannot help.
    AwsError(String),
    /// AWS failed in a way that retrying may fix (throttling, a server error).
    AwsRetrying(String),
    /// Deletion waits for something.
    DeletionBlocked(String),
}

/// The status to write after a reconcile.
pub fn status(
    previous: Option<&ClusterStatus>,
    generation: Option<i64>,
    desired_name: &str,
    region: &str,
    observed: Option<&ObservedCluster>,
    outcome: &Outcome,
    now: Timestamp,
) -> ClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = generation;
    let observed = observed.filter(|o| o.exists());
    // Name and region say where the cluster lives, for cleanup: once a cluster
    // exists they are what it was created with, whatever the operator's default
    // region says later.
    if status.arn.is_none() || observed.is_some() {
        status.cluster_name = Some(desired_name.to_string());
        status.region = Some(region.to_string());
    }
    if let Some(o) = observed {
        status.arn = Some(o.arn.clone());
        status.ecs_status = Some(o.status.clone());
        status.registered_container_instances = Some(o.registered_container_instances);
        status.running_tasks = Some(o.running_tasks);
        status.pending_tasks = Some(o.pending_tasks);
        status.active_services = Some(o.active_services);
        let mut providers = o.capacity_providers.clone();
        providers.sort();
        status.capacity_providers = providers;
    } else if matches!(outcome, Outcome::Synced | Outcome::Invalid(_)) {
        status.ecs_status = None;
    }
    let (synced, sync_reason, sync_message) = match outcome {
        Outcome::Synced => (true, "Synced", "the ECS cluster matches the spec".to_string()),
        Outcome::Invalid(m) => (false, "Invalid", m.clone()),
        Outcome::Conflict(m) => (false, "Conflict", m.clone()),
        Outcome::AwsError(m) => (false, "AwsError", m.clone()),
        Outcome::AwsRetrying(m) => (false, "AwsRetrying", m.clone()),
        Outcome::DeletionBlocked(m) => (false, "DeletionBlocked", m.clone()),
    };
    conditions::set(
        &mut status.conditions,
        ConditionUpdate { type_: SYNCED, status: synced, reason: sync_reason, message: sync_message.clone() },
        generation,
        now,
    );
    let ready = match (observed, outcome) {
        (Some(o), Outcome::Synced) if o.status == "ACTIVE" => ConditionUpdate {
            type_: READY,
            status: true,
            reason: "Active",
            message: format!("ECS cluster {} is ACTIVE", o.name),
        },
        (Some(o), Outcome::Synced) => ConditionUpdate {
            type_: READY,
            status: false,
            reason: "NotActive",
            message: format!("ECS cluster {} is {}", o.name, o.status),
        },
        (_, Outcome::Synced) => ConditionUpdate {
            type_: READY,
            status: false,
            reason: "NotFound",
            message: "the ECS cluster does not exist yet".into(),
        },
        _ => ConditionUpdate { type_: READY, status: false, reason: sync_reason, message: sync_message },
    };
    conditions::set(&mut status.conditions, ready, generation, now);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::cluster::{
        AutoScalingGroupProvider, CapacityProviderStrategyItem, ContainerInsights, ManagedScaling,
    };

    fn owner() -> Owner {
        Owner::new("shop", "Cluster", "web", "default")
    }

    fn spec() -> ClusterSpec {
        ClusterSpec {
            container_insights: Some(ContainerInsights::Enabled),
            capacity_providers: vec!["FARGATE".into(), "FARGATE_SPOT".into()],
            default_capacity_provider_strategy: vec![
                CapacityProviderStrategyItem { capacity_provider: "FARGATE_SPOT".into(), weight: Some(3), base: None },
                CapacityProviderStrategyItem { capacity_provider: "FARGATE".into(), weight: Some(1), base: Some(1) },
            ],
            tags: BTreeMap::from([("team".into(), "shop".into())]),
            ..Default::default()
        }
    }

    fn matching_observed(desired: &DesiredCluster) -> ObservedCluster {
        ObservedCluster {
            name: desired.name.clone(),
            arn: format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", desired.name),
            status: "ACTIVE".into(),
            settings: BTreeMap::from([("containerInsights".into(), "enabled".into())]),
            // ECS reports providers and strategy in its own order.
            capacity_providers: vec!["FARGATE_SPOT".into(), "FARGATE".into()],
            default_strategy: vec![
                StrategyItem { capacity_provider: "FARGATE".into(), weight: 1, base: 1 },
                StrategyItem { capacity_provider: "FARGATE_SPOT".into(), weight: 3, base: 0 },
            ],
            tags: desired.tags.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn desired_defaults_the_name_and_adds_owner_tags() {
        let d = desired("web", &spec(), "eu-west-1", &owner());
        assert_eq!(d.name, "web");
        assert_eq!(d.region, "eu-west-1");
        assert_eq!(d.tags.get("team").map(String::as_str), Some("shop"));
        assert_eq!(d.tags.get(super::super::ownership::OWNER_TAG).map(String::as_str), Some("shop/Cluster/web"));
        let named = desired("web", &ClusterSpec { cluster_name: Some("prod-web".into()), ..spec() }, "r", &owner());
        assert_eq!(named.name, "prod-web");
    }

    #[test]
    fn a_missing_or_inactive_cluster_is_created() {
        let d = desired("web", &spec(), "r", &owner());
        assert_eq!(plan(&d, None, &[], &[]), vec![ClusterAction::CreateCluster]);
        let inactive = ObservedCluster { status: "INACTIVE".into(), ..matching_observed(&d) };
        assert_eq!(plan(&d, Some(&inactive), &[], &[]), vec![ClusterAction::CreateCluster]);
    }

    #[test]
    fn a_matching_cluster_needs_no_write_whatever_the_order() {
        let d = desired("web", &spec(), "r", &owner());
        assert!(plan(&d, Some(&matching_observed(&d)), &[], &[]).is_empty());
    }

    #[test]
    fn unset_container_insights_is_left_alone() {
        let d = desired("web", &ClusterSpec { container_insights: None, ..spec() }, "r", &owner());
        let mut o = matching_observed(&d);
        o.settings.insert("containerInsights".into(), "disabled".into());
        assert!(plan(&d, Some(&o), &[], &[]).is_empty());
    }

    #[test]
    fn drift_in_settings_providers_and_tags_is_corrected() {
        let d = desired("web", &spec(), "r", &owner());
        let mut o = matching_observed(&d);
        o.settings.insert("containerInsights".into(), "disabled".into());
        o.capacity_providers = vec!["FARGATE".into()];
        o.tags.insert("team".into(), "someone-else".into());
        o.tags.insert("stray".into(), "x".into());
        let actions = plan(&d, Some(&o), &[], &[]);
        assert_eq!(actions.len(), 3);
        assert_eq!(actions[0], ClusterAction::SetContainerInsights("enabled".into()));
        assert!(matches!(&actions[1], ClusterAction::PutCapacityProviders { providers, .. } if providers.len() == 2));
        assert!(
            matches!(&actions[2], ClusterAction::Tag(t) if t.set.len() == 1 && t.remove == vec!["stray".to_string()])
        );
    }

    #[test]
    fn a_changed_strategy_weight_is_put_again() {
        let d = desired("web", &spec(), "r", &owner());
        let mut o = matching_observed(&d);
        o.default_strategy[1].weight = 1;
        assert!(matches!(plan(&d, Some(&o), &[], &[]).as_slice(), [ClusterAction::PutCapacityProviders { .. }]));
    }

    fn asg_spec() -> ClusterSpec {
        ClusterSpec {
            capacity_providers: vec!["ec2-pool".into()],
            auto_scaling_group_providers: vec![AutoScalingGroupProvider {
                name: "ec2-pool".into(),
                auto_scaling_group_arn:
                    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/pool".into(),
                managed_scaling: Some(ManagedScaling {
                    target_capacity: Some(90),
                    maximum_scaling_step_size: None,
                    minimum_scaling_step_size: None,
                    instance_warmup_period: None,
                }),
                managed_termination_protection: true,
            }],
            ..Default::default()
        }
    }

    /// The `ec2-pool` provider as ECS reports it for `d`, its defaults filled in.
    fn observed_pool(d: &DesiredCluster) -> ObservedAsgProvider {
        ObservedAsgProvider {
            name: "ec2-pool".into(),
            arn: "arn".into(),
            auto_scaling_group_arn: d.asg_providers[0].auto_scaling_group_arn.clone(),
            managed_scaling: true,
            target_capacity: Some(90),
            minimum_scaling_step_size: Some(1),
            maximum_scaling_step_size: Some(10000),
            instance_warmup_period: Some(300),
            managed_termination_protection: true,
            tags: BTreeMap::new(),
        }
    }

    /// An ACTIVE cluster `web` with `ec2-pool` attached and `d`'s tags.
    fn cluster_with_pool(d: &DesiredCluster) -> ObservedCluster {
        ObservedCluster {
            name: "web".into(),
            status: "ACTIVE".into(),
            capacity_providers: vec!["ec2-pool".into()],
            tags: d.tags.clone(),
            ..Default::default()
        }
    }

    #[test]
    fn auto_scaling_group_providers_are_created_before_the_cluster_and_updated_on_change() {
        let d = desired("web", &asg_spec(), "r", &owner());
        let actions = plan(&d, None, &[], &[]);
        assert!(matches!(&actions[0], ClusterAction::CreateCapacityProvider(p) if p.name == "ec2-pool"));
        assert_eq!(actions[1], ClusterAction::CreateCluster);

        let observed = observed_pool(&d);
        let cluster = cluster_with_pool(&d);
        assert!(plan(&d, Some(&cluster), std::slice::from_ref(&observed), &[]).is_empty(), "ECS defaults are no drift");
        let changed = ObservedAsgProvider { target_capacity: Some(100), ..observed };
        assert!(matches!(
            plan(&d, Some(&cluster), &[changed], &[]).as_slice(),
            [ClusterAction::UpdateCapacityProvider(_)]
        ));
    }

    #[test]
    fn a_removed_auto_scaling_group_provider_is_detached_then_deleted() {
        let with = desired("web", &asg_spec(), "r", &owner());
        let without = desired("web", &ClusterSpec::default(), "r", &owner());
        let provider = observed_pool(&with);
        let cluster = cluster_with_pool(&without);
        let owned = vec!["ec2-pool".to_string()];
        let actions = plan(&without, Some(&cluster), std::slice::from_ref(&provider), &owned);
        assert_eq!(
            actions,
            vec![
                ClusterAction::PutCapacityProviders { providers: vec![], strategy: vec![] },
                ClusterAction::DeleteCapacityProvider("ec2-pool".into()),
            ],
            "detach first, then delete"
        );
        // Still named by the spec: kept. Not owned (never created here): never deleted.
        assert!(
            !plan(&with, Some(&cluster), std::slice::from_ref(&provider), &owned)
                .iter()
                .any(|a| matches!(a, ClusterAction::DeleteCapacityProvider(_)))
        );
        assert!(
            !plan(&without, Some(&cluster), std::slice::from_ref(&provider), &[])
                .iter()
                .any(|a| matches!(a, ClusterAction::DeleteCapacityProvider(_)))
        );
        // Already gone in ECS: nothing to delete.
        assert!(
            !plan(&without, Some(&cluster), &[], &owned)
                .iter()
                .any(|a| matches!(a, ClusterAction::DeleteCapacityProvider(_)))
        );
    }

    #[test]
    fn validation_explains_what_to_change() {
        assert!(validate("web", &spec()).is_empty());
        assert!(validate("web", &asg_spec()).is_empty());
        let mut bad = asg_spec();
        bad.auto_scaling_group_providers[0].name = "ecs-pool".into();
        bad.auto_scaling_group_providers[0].auto_scaling_group_arn = "pool".into();
        bad.auto_scaling_group_providers[0].managed_scaling = None;
        bad.capacity_providers.push("FARGATE".into());
        let problems = validate("web", &bad);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("cannot start with aws, ecs or fargate")));
        assert!(problems.iter().any(|p| p.contains("must be an Auto Scaling group ARN")));
        assert!(problems.iter().any(|p| p.contains("needs managedScaling")));
        assert!(problems.iter().any(|p| p.contains("mixes Fargate")));
        let reserved = ClusterSpec { tags: BTreeMap::from([("ecs.operator.dev/owner".into(), "x".into())]), ..spec() };
        assert_eq!(validate("web", &reserved).len(), 1);
        assert_eq!(validate("web.bad", &ClusterSpec::default()).len(), 1);
    }

    #[test]
    fn status_is_ready_only_when_active_and_synced() {
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let d = desired("web", &spec(), "r", &owner());
        let o = ObservedCluster { running_tasks: 4, active_services: 2, ..matching_observed(&d) };
        let s = status(None, Some(2), "web", "r", Some(&o), &Outcome::Synced, now);
        let ready = conditions::find(&s.conditions, READY).unwrap();
        assert_eq!((ready.status.as_str(), ready.observed_generation), ("True", Some(2)));
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.running_tasks, Some(4));
        assert_eq!(s.active_services, Some(2));
        assert_eq!(s.capacity_providers, vec!["FARGATE".to_string(), "FARGATE_SPOT".to_string()]);

        let provisioning = ObservedCluster { status: "PROVISIONING".into(), ..o.clone() };
        let s = status(None, Some(2), "web", "r", Some(&provisioning), &Outcome::Synced, now);
        assert_eq!(conditions::find(&s.conditions, READY).unwrap().reason, "NotActive");

        let s = status(Some(&s), Some(3), "web", "r", None, &Outcome::Conflict("taken".into()), now);
        let synced = conditions::find(&s.conditions, SYNCED).unwrap();
        assert_eq!(
            (synced.status.as_str(), synced.reason.as_str(), synced.message.as_str()),
            ("False", "Conflict", "taken")
        );
        assert_eq!(conditions::find(&s.conditions, READY).unwrap().observed_generation, Some(3));
    }
}
