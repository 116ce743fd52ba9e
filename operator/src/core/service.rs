//! Service: validation, reference resolution, the desired ECS service, the plan
//! that brings ECS in line, and which ECS events are new.

use super::cluster::StrategyItem;
use super::tags;
use crate::crd::service::{
    DeploymentStrategy, LaunchType, OwnedKind, OwnedResource, PlacementConstraintType, PlacementStrategyType,
    PropagateTags, SchedulingStrategy, ServiceDeploymentStatus, ServiceSpec,
};
use k8s_openapi::jiff::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The ECS service name of an object: `spec.serviceName`, else the object's name.
pub fn service_name(object_name: &str, spec: &ServiceSpec) -> String {
    spec.service_name.clone().unwrap_or_else(|| object_name.to_string())
}

/// Problems the schema cannot catch, as messages saying what to change.
pub fn validate(object_name: &str, spec: &ServiceSpec) -> Vec<String> {
    let mut problems = tags::validate(&spec.tags, "spec.tags");
    let name = service_name(object_name, spec);
    if name.is_empty() || name.len() > 255 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        problems.push(format!(
            "the ECS service name {name:?} must be 1-255 letters, digits, hyphens or underscores; set spec.serviceName"
        ));
    }
    for s in &spec.placement_strategy {
        match (s.type_, s.field.as_deref()) {
            (PlacementStrategyType::Random, Some(_)) => {
                problems.push("placementStrategy random takes no field".to_string())
            }
            (PlacementStrategyType::Spread | PlacementStrategyType::Binpack, None) => problems.push(format!(
                "placementStrategy {:?} needs a field (spread: attribute:ecs.availability-zone or instanceId; binpack: memory or cpu)",
                s.type_
            )),
            (PlacementStrategyType::Binpack, Some(f)) if f != "memory" && f != "cpu" => {
                problems.push(format!("placementStrategy binpack field must be memory or cpu, not {f:?}"))
            }
            _ => {}
        }
    }
    for c in &spec.placement_constraints {
        match (c.type_, c.expression.as_deref()) {
            (PlacementConstraintType::MemberOf, None) => {
                problems.push("placementConstraints memberOf needs an expression".to_string())
            }
            (PlacementConstraintType::DistinctInstance, Some(_)) => {
                problems.push("placementConstraints distinctInstance takes no expression".to_string())
            }
            _ => {}
        }
    }
    if spec.launch_type == Some(LaunchType::Fargate)
        && (!spec.placement_strategy.is_empty() || !spec.placement_constraints.is_empty())
    {
        problems.push("Fargate does not support placementStrategy or placementConstraints; remove them".to_string());
    }
    if let Some(lb) = &spec.load_balancer
        && let Some(arn) = &lb.target_group_arn
        && !arn.contains(":targetgroup/")
    {
        problems.push(format!("loadBalancer.targetGroupArn {arn:?} is not a target group ARN"));
    }
    if let Some(lb) = &spec.load_balancer
        && let Some(arn) = &lb.listener_arn
        && !arn.contains(":listener/")
    {
        problems.push(format!("loadBalancer.listenerArn {arn:?} is not a listener ARN"));
    }
    if let Some(a) = &spec.autoscaling
        && a.target_requests_per_target.is_some()
        && spec.load_balancer.as_ref().is_none_or(|lb| lb.target_group.is_none())
    {
        problems.push(
            "autoscaling.targetRequestsPerTarget needs a target group created by the operator (loadBalancer.targetGroup)"
                .to_string(),
        );
    }
    problems
}

/// awsvpc networking, normalised (sorted, defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// A load balancer attachment as ECS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerAttachment {
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
    /// Blue/green: alternate target group, production rule, test rule, role.
    pub blue_green: Option<BlueGreenAttachment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueGreenAttachment {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    pub test_listener_rule: Option<String>,
    pub role_arn: String,
}

/// Deployment settings, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentConfig {
    pub blue_green: bool,
    pub maximum_percent: Option<i32>,
    pub minimum_healthy_percent: Option<i32>,
    /// (enable, rollback)
    pub circuit_breaker: Option<(bool, bool)>,
    /// (alarm names sorted, rollback)
    pub alarms: Option<(Vec<String>, bool)>,
    pub bake_time_minutes: Option<i32>,
}

/// A Cloud Map registry: (registry ARN, port, container name, container port).
pub type Registry = (String, Option<i32>, Option<String>, Option<i32>);

/// Everything UpdateService can change, as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceConfig {
    pub task_definition: String,
    /// None for DAEMON services, and with autoscaling (the autoscaler owns it).
    pub desired_count: Option<i32>,
    pub capacity_provider_strategy: Vec<StrategyItem>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    /// (type, field)
    pub placement_strategy: Vec<(String, Option<String>)>,
    /// (type, expression)
    pub placement_constraints: Vec<(String, Option<String>)>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: bool,
    pub enable_ecs_managed_tags: bool,
    pub propagate_tags: Option<String>,
    /// (registry ARN, port, container name, container port)
    pub service_registries: Vec<Registry>,
    pub deployment: DeploymentConfig,
    pub load_balancers: Vec<LoadBalancerAttachment>,
}

/// The ECS service the spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    pub name: String,
    pub cluster: String,
    pub scheduling_strategy: &'static str,
    pub launch_type: Option<String>,
    /// The count at creation (with autoscaling: desiredCount or minCapacity).
    pub initial_count: Option<i32>,
    /// Runs on Fargate by launch type or capacity providers: platformVersion applies.
    pub fargate: bool,
    pub tags: BTreeMap<String, String>,
    pub config: ServiceConfig,
}

/// One deployment as ECS reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedDeployment {
    pub id: String,
    pub status: String,
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub failed_tasks: i32,
}

/// One ECS service event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedEvent {
    pub id: String,
    pub created_at: Timestamp,
    pub message: String,
}

/// The ECS service as DescribeServices reports it. Fields ECS may leave out (and
/// moto does leave out) are `None`: unknown, not "unset".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub scheduling_strategy: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Option<Vec<StrategyItem>>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub placement_strategy: Option<Vec<(String, Option<String>)>>,
    pub placement_constraints: Option<Vec<(String, Option<String>)>>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: Option<bool>,
    pub propagate_tags: Option<String>,
    pub deployment: Option<DeploymentConfig>,
    pub load_balancers: Option<Vec<LoadBalancerAttachment>>,
    pub tags: BTreeMap<String, String>,
    pub deployments: Vec<ObservedDeployment>,
    pub events: Vec<ObservedEvent>,
}

impl ObservedService {
    /// DeleteService leaves services visible as INACTIVE for a while.
    pub fn exists(&self) -> bool {
        self.status != "INACTIVE"
    }
}

/// References resolved to what ECS needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub cluster: String,
    pub task_definition: String,
    pub region: String,
    /// Target type for a created target group: `ip` (awsvpc) or `instance`.
    pub awsvpc: bool,
}

/// Translates the spec into the service it asks for.
pub fn desired(
    object_name: &str,
    spec: &ServiceSpec,
    resolved: &Resolved,
    owner_tags: &BTreeMap<String, String>,
    load_balancers: Vec<LoadBalancerAttachment>,
) -> DesiredService {
    let mut tags = spec.tags.clone();
    tags.extend(owner_tags.clone());
    let daemon = spec.scheduling_strategy == SchedulingStrategy::Daemon;
    let initial_count = if daemon {
        None
    } else {
        Some(spec.desired_count.or(spec.autoscaling.as_ref().map(|a| a.min_capacity)).unwrap_or(1))
    };
    let mut cps = super::cluster::strategy_items(&spec.capacity_provider_strategy);
    cps.sort();
    let network = spec.network_configuration.as_ref().map(|n| {
        let mut subnets = n.subnets.clone();
        subnets.sort();
        let mut security_groups = n.security_groups.clone();
        security_groups.sort();
        Network { subnets, security_groups, assign_public_ip: n.assign_public_ip }
    });
    // ECS's defaults filled in, so that what DescribeServices reports for an
    // unset field compares equal: 200/100 percent for REPLICA, 100/0 for DAEMON,
    // the circuit breaker off.
    let (default_max, default_min) = if daemon { (100, 0) } else { (200, 100) };
    let d = spec.deployment.clone().unwrap_or(crate::crd::service::DeploymentSpec {
        strategy: DeploymentStrategy::Rolling,
        maximum_percent: None,
        minimum_healthy_percent: None,
        circuit_breaker: None,
        alarms: None,
        bake_time_minutes: None,
    });
    let blue_green = d.strategy == DeploymentStrategy::BlueGreen;
    let deployment = DeploymentConfig {
        blue_green,
        maximum_percent: Some(d.maximum_percent.unwrap_or(default_max)),
        minimum_healthy_percent: Some(d.minimum_healthy_percent.unwrap_or(default_min)),
        circuit_breaker: Some(d.circuit_breaker.as_ref().map(|c| (c.enable, c.rollback)).unwrap_or((false, false))),
        alarms: d.alarms.as_ref().map(|a| {
            let mut names = a.alarm_names.clone();
            names.sort();
            (names, a.rollback)
        }),
        bake_time_minutes: if blue_green { d.bake_time_minutes } else { None },
    };
    DesiredService {
        name: service_name(object_name, spec),
        cluster: resolved.cluster.clone(),
        scheduling_strategy: if daemon { "DAEMON" } else { "REPLICA" },
        launch_type: spec.launch_type.map(|l| {
            match l {
                LaunchType::Fargate => "FARGATE",
                LaunchType::Ec2 => "EC2",
                LaunchType::External => "EXTERNAL",
            }
            .to_string()
        }),
        initial_count,
        fargate: spec.launch_type == Some(LaunchType::Fargate)
            || spec.capacity_provider_strategy.iter().any(|c| c.capacity_provider.starts_with("FARGATE")),
        tags,
        config: ServiceConfig {
            task_definition: resolved.task_definition.clone(),
            // Without a count in the spec (or with autoscaling) the running count
            // is left as it is: removing desiredCount or autoscaling never resets it.
            desired_count: if spec.autoscaling.is_some() || daemon { None } else { spec.desired_count },
            capacity_provider_strategy: cps,
            platform_version: spec.platform_version.clone(),
            network,
            placement_strategy: spec
                .placement_strategy
                .iter()
                .map(|p| (format!("{:?}", p.type_).to_ascii_lowercase(), p.field.clone()))
                .collect(),
            placement_constraints: spec
                .placement_constraints
                .iter()
                .map(|c| {
                    let t = match c.type_ {
                        PlacementConstraintType::DistinctInstance => "distinctInstance",
                        PlacementConstraintType::MemberOf => "memberOf",
                    };
                    (t.to_string(), c.expression.clone())
                })
                .collect(),
            health_check_grace_period_seconds: spec.health_check_grace_period_seconds,
            enable_execute_command: spec.enable_execute_command,
            enable_ecs_managed_tags: spec.enable_ecs_managed_tags,
            propagate_tags: spec.propagate_tags.map(|p| {
                match p {
                    PropagateTags::Service => "SERVICE",
                    PropagateTags::TaskDefinition => "TASK_DEFINITION",
                    PropagateTags::None => "NONE",
                }
                .to_string()
            }),
            service_registries: spec
                .service_registries
                .iter()
                .map(|r| (r.registry_arn.clone(), r.port, r.container_name.clone(), r.container_port))
                .collect(),
            deployment,
            load_balancers,
        },
    }
}

/// Version of the canonical form `config_hash` hashes. Bump it only together with
/// a migration: a changed hash re-sends every field ECS does not report, for every
/// Service, on the first reconcile after an upgrade.
pub const CONFIG_HASH_VERSION: &str = "v1";

/// The canonical, versioned form of a service configuration: explicit names, sorted
/// keys (serde_json's map is ordered), no Rust formatting involved. What it holds
/// must never change for an unchanged spec; the golden test in service_tests.rs
/// fails if it does.
pub fn canonical_config(config: &ServiceConfig) -> serde_json::Value {
    use serde_json::json;
    let d = &config.deployment;
    json!({
        "taskDefinition": config.task_definition,
        "desiredCount": config.desired_count,
        "capacityProviderStrategy": config.capacity_provider_strategy.iter()
            .map(|s| json!({"capacityProvider": s.capacity_provider, "weight": s.weight, "base": s.base}))
            .collect::<Vec<_>>(),
        "platformVersion": config.platform_version,
        "network": config.network.as_ref().map(|n| json!({
            "subnets": n.subnets, "securityGroups": n.security_groups, "assignPublicIp": n.assign_public_ip,
        })),
        "placementStrategy": config.placement_strategy.iter()
            .map(|(t, f)| json!({"type": t, "field": f})).collect::<Vec<_>>(),
        "placementConstraints": config.placement_constraints.iter()
            .map(|(t, e)| json!({"type": t, "expression": e})).collect::<Vec<_>>(),
        "healthCheckGracePeriodSeconds": config.health_check_grace_period_seconds,
        "enableExecuteCommand": config.enable_execute_command,
        "enableEcsManagedTags": config.enable_ecs_managed_tags,
        "propagateTags": config.propagate_tags,
        "serviceRegistries": config.service_registries.iter()
            .map(|(arn, port, name, cport)| json!({
                "registryArn": arn, "port": port, "containerName": name, "containerPort": cport,
            }))
            .collect::<Vec<_>>(),
        "deployment": {
            "blueGreen": d.blue_green,
            "maximumPercent": d.maximum_percent,
            "minimumHealthyPercent": d.minimum_healthy_percent,
            "circuitBreaker": d.circuit_breaker.map(|(enable, rollback)| json!({"enable": enable, "rollback": rollback})),
            "alarms": d.alarms.as_ref().map(|(names, rollback)| json!({"names": names, "rollback": rollback})),
            "bakeTimeMinutes": d.bake_time_minutes,
        },
        "loadBalancers": config.load_balancers.iter().map(|lb| json!({
            "targetGroupArn": lb.target_group_arn,
            "containerName": lb.container_name,
            "containerPort": lb.container_port,
            "blueGreen": lb.blue_green.as_ref().map(|bg| json!({
                "alternateTargetGroupArn": bg.alternate_target_group_arn,
                "productionListenerRule": bg.production_listener_rule,
                "testListenerRule": bg.test_listener_rule,
                "roleArn": bg.role_arn,
            })),
        })).collect::<Vec<_>>(),
    })
}

/// A hash of the service configuration the operator last sent, kept in status:
/// fields ECS does not echo back are re-sent only when this changes.
/// `v1:<16 hex digits>` of SHA-256 over the canonical JSON.
pub fn config_hash(config: &ServiceConfig) -> String {
    let digest = Sha256::digest(canonical_config(config).to_string().as_bytes());
    format!("{CONFIG_HASH_VERSION}:{}", hex::encode(&digest[..8]))
}

/// Whether the configuration changed since it was last applied. A hash from an
/// operator version before canonical hashing (no `v1:` prefix) cannot be compared;
/// if the spec has not changed since it was written (same generation, synced),
/// the configuration was applied and nothing is re-sent: an upgrade of the
/// operator causes no AWS write.
pub fn config_changed(previous_hash: Option<&str>, hash: &str, legacy_hash_still_current: bool) -> bool {
    match previous_hash {
        Some(p) if p == hash => false,
        Some(p) if !p.starts_with(&format!("{CONFIG_HASH_VERSION}:")) && legacy_hash_still_current => false,
        _ => true,
    }
}

/// The generation of the spec: the object's, less the step the API server adds
/// when it sets the deletion timestamp of an object with finalizers.
pub fn spec_generation(generation: Option<i64>, being_deleted: bool) -> Option<i64> {
    generation.map(|g| if being_deleted { (g - 1).max(1) } else { g })
}

/// Whether deleting a Service looks for load balancer parts by name and tags
/// that its record may lack (made by an operator version that kept no record, or
/// by a pass whose status write was lost). Only a spec with a load balancer makes
/// them; once a generation without one is synced, the first pass of that
/// generation found the earlier ones by the same names and tags and its removal
/// deleted them. So: when the spec wants a load balancer, or an edited spec was
/// not synced yet. `synced_generation` is the generation the status says is
/// synced, if any.
pub fn may_hold_unrecorded_lb_parts(
    wants_load_balancer: bool,
    generation: Option<i64>,
    synced_generation: Option<i64>,
) -> bool {
    let edited = generation.is_some_and(|g| g > 1);
    wants_load_balancer || (edited && synced_generation != generation)
}

/// Whether the first pass of an edit looks for load balancer parts by name and
/// tags that its record may lack (made by a pass whose status write was lost).
/// Not when the status was synced at the generation just before this one, with
/// no load balancer: the passes of that generation wanted none, and this
/// generation's own earlier passes, if any, had this spec, whose parts `ensure`
/// claims by name. Otherwise (edits in between, a last synced spec with a load
/// balancer, or none synced) it looks. `synced_generation` is the generation the
/// status says is synced, if any; `synced_with_load_balancer`, whether that
/// status shows a load balancer or records any of its parts.
pub fn edit_may_find_unrecorded_lb_parts(
    generation: Option<i64>,
    synced_generation: Option<i64>,
    synced_with_load_balancer: bool,
) -> bool {
    let just_before = matches!((synced_generation, generation), (Some(s), Some(g)) if s + 1 == g);
    !just_before || synced_with_load_balancer
}

/// Whether `resources` records any load balancer part.
pub fn records_load_balancer_parts(resources: &[OwnedResource]) -> bool {
    resources.iter().any(|r| {
        matches!(
            r.kind,
            OwnedKind::ListenerRule | OwnedKind::Listener | OwnedKind::LoadBalancer | OwnedKind::TargetGroup
        )
    })
}

/// What UpdateService must send: only the fields that changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceUpdate {
    pub task_definition: Option<String>,
    pub desired_count: Option<i32>,
    pub capacity_provider_strategy: Option<Vec<StrategyItem>>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    pub placement_strategy: Option<Vec<(String, Option<String>)>>,
    pub placement_constraints: Option<Vec<(String, Option<String>)>>,
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: Option<bool>,
    pub enable_ecs_managed_tags: Option<bool>,
    pub propagate_tags: Option<String>,
    pub service_registries: Option<Vec<Registry>>,
    pub deployment: Option<DeploymentConfig>,
    pub load_balancers: Option<Vec<LoadBalancerAttachment>>,
}

impl ServiceUpdate {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The names of the fields sent, for Events.
    pub fn fields(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        let mut add = |set: bool, name| {
            if set {
                f.push(name)
            }
        };
        add(self.task_definition.is_some(), "taskDefinition");
        add(self.desired_count.is_some(), "desiredCount");
        add(self.capacity_provider_strategy.is_some(), "capacityProviderStrategy");
        add(self.platform_version.is_some(), "platformVersion");
        add(self.network.is_some(), "networkConfiguration");
        add(self.placement_strategy.is_some(), "placementStrategy");
        add(self.placement_constraints.is_some(), "placementConstraints");
        add(self.health_check_grace_period_seconds.is_some(), "healthCheckGracePeriodSeconds");
        add(self.enable_execute_command.is_some(), "enableExecuteCommand");
        add(self.enable_ecs_managed_tags.is_some(), "enableECSManagedTags");
        add(self.propagate_tags.is_some(), "propagateTags");
        add(self.service_registries.is_some(), "serviceRegistries");
        add(self.deployment.is_some(), "deploymentConfiguration");
        add(self.load_balancers.is_some(), "loadBalancers");
        f
    }
}

/// What to do about the ECS service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServicePlan {
    Create,
    /// Send these changes (possibly none).
    Update(Box<ServiceUpdate>),
    /// The spec changed a field ECS cannot change in place.
    Immutable(Vec<String>),
}

/// Whether carrying out `plan` calls a write.
pub fn plan_writes(plan: &ServicePlan) -> bool {
    match plan {
        ServicePlan::Create => true,
        ServicePlan::Update(update) => !update.is_empty(),
        ServicePlan::Immutable(_) => false,
    }
}

/// The plan without a task definition change: ECS rolled back from the wanted one.
pub fn hold_task_definition(plan: ServicePlan) -> ServicePlan {
    match plan {
        ServicePlan::Update(mut update) => {
            update.task_definition = None;
            ServicePlan::Update(update)
        }
        other => other,
    }
}

/// ECS runs another task definition than the wanted one although the wanted one was
/// already sent (`applied`: the configuration hash last applied is the current one).
pub fn reverted_after_apply(o: &ObservedService, wanted: &str, applied: bool) -> bool {
    applied && o.exists() && !task_definition_matches(&o.task_definition, wanted)
}

/// Whether ECS's service deployment may have moved since `previous` was read: a
/// rollout is under way, or the last one read had not finished.
pub fn deployment_may_change(o: &ObservedService, previous: Option<&ServiceDeploymentStatus>) -> bool {
    let rolling =
        o.deployments.len() > 1 || o.deployments.iter().any(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"));
    let settled = |s: &str| matches!(s, "SUCCESSFUL" | "STOPPED" | "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED");
    rolling || previous.is_none_or(|p| !settled(&p.status))
}

/// Compares desired with observed. A field ECS reports is compared with the spec
/// (drift is corrected); a field ECS does not report is sent again only when the
/// spec changed since the last update (`config_changed`), so nothing is written
/// when nothing changed.
pub fn plan(desired: &DesiredService, observed: Option<&ObservedService>, config_changed: bool) -> ServicePlan {
    let Some(o) = observed.filter(|o| o.exists()) else { return ServicePlan::Create };
    let mut immutable = Vec::new();
    if let Some(s) = &o.scheduling_strategy
        && s != desired.scheduling_strategy
    {
        immutable.push(format!("schedulingStrategy ({s} in ECS, {} in spec)", desired.scheduling_strategy));
    }
    if let (Some(have), Some(want)) = (&o.launch_type, &desired.launch_type)
        && have != want
    {
        immutable.push(format!("launchType ({have} in ECS, {want} in spec)"));
    }
    if desired.launch_type.is_none()
        && desired.config.capacity_provider_strategy.is_empty()
        && o.capacity_provider_strategy.as_ref().is_some_and(|c| !c.is_empty())
    {
        immutable.push(
            "capacityProviderStrategy (ECS cannot return a service to the cluster's default strategy: keep an \
             explicit strategy)"
                .to_string(),
        );
    }
    if desired.config.network.is_none() && o.network.is_some() {
        immutable.push("networkConfiguration (ECS cannot remove it from an existing service)".to_string());
    }
    if !immutable.is_empty() {
        return ServicePlan::Immutable(immutable);
    }
    let want = &desired.config;
    // Reported: compare. Not reported: send when the spec changed.
    fn pick<T: PartialEq + Clone>(want: &T, have: Option<&T>, changed: bool) -> Option<T> {
        match have {
            Some(h) if h == want => None,
            Some(_) => Some(want.clone()),
            None if changed => Some(want.clone()),
            None => None,
        }
    }
    let mut update = ServiceUpdate {
        task_definition: (o.task_definition != want.task_definition
            && !task_definition_matches(&o.task_definition, &want.task_definition))
        .then(|| want.task_definition.clone()),
        desired_count: want.desired_count.filter(|d| *d != o.desired_count),
        ..Default::default()
    };
    if desired.launch_type.is_none() && !want.capacity_provider_strategy.is_empty() {
        let mut have = o.capacity_provider_strategy.clone();
        if let Some(h) = have.as_mut() {
            h.sort();
        }
        update.capacity_provider_strategy = pick(&want.capacity_provider_strategy, have.as_ref(), config_changed);
    }
    // A field removed from the spec goes back to ECS's default: LATEST, 0, NONE.
    match &want.platform_version {
        Some(p) => {
            update.platform_version =
                pick(p, o.platform_version.as_ref().filter(|v| v.as_str() != "LATEST" || p == "LATEST"), config_changed)
        }
        None if desired.fargate || o.platform_version.is_some() => {
            update.platform_version = pick(&"LATEST".to_string(), o.platform_version.as_ref(), config_changed)
        }
        None => {}
    }
    if let Some(n) = &want.network {
        let have = o.network.clone().map(|mut h| {
            h.subnets.sort();
            h.security_groups.sort();
            h
        });
        update.network = pick(n, have.as_ref(), config_changed);
    }
    update.placement_strategy = pick(&want.placement_strategy, o.placement_strategy.as_ref(), config_changed);
    update.placement_constraints = pick(&want.placement_constraints, o.placement_constraints.as_ref(), config_changed);
    match want.health_check_grace_period_seconds {
        Some(g) => {
            update.health_check_grace_period_seconds =
                pick(&g, o.health_check_grace_period_seconds.as_ref(), config_changed)
        }
        // ECS takes a grace period only for services with a load balancer.
        None => {
            update.health_check_grace_period_seconds = match o.health_check_grace_period_seconds {
                Some(g) if g != 0 => Some(0),
                Some(_) => None,
                None if config_changed && !want.load_balancers.is_empty() => Some(0),
                None => None,
            }
        }
    }
    let propagate = want.propagate_tags.clone().unwrap_or_else(|| "NONE".to_string());
    update.propagate_tags = pick(&propagate, o.propagate_tags.as_ref(), config_changed);
    update.deployment = pick(&want.deployment, o.deployment.as_ref(), config_changed);
    // ECS may swap the production and alternate target groups after a blue/green
    // deployment; that is not drift.
    let have_lbs = o.load_balancers.as_ref().map(|have| {
        if have.iter().map(blue_green_key).eq(want.load_balancers.iter().map(blue_green_key)) {
            want.load_balancers.clone()
        } else {
            have.clone()
        }
    });
    update.load_balancers = pick(&want.load_balancers, have_lbs.as_ref(), config_changed);
    if config_changed {
        update.enable_ecs_managed_tags = Some(want.enable_ecs_managed_tags);
        update.service_registries = Some(want.service_registries.clone());
    }
    // Only send the "changed but not reported" extras when something else changes
    // or the spec changed; a pure resync with no drift sends nothing.
    if !config_changed {
        update.enable_ecs_managed_tags = None;
        update.service_registries = None;
    }
    ServicePlan::Update(Box::new(update))
}

/// An attachment with its two blue/green target groups in a fixed order.
fn blue_green_key(lb: &LoadBalancerAttachment) -> LoadBalancerAttachment {
    let mut key = lb.clone();
    if let Some(bg) = key.blue_green.as_mut()
        && bg.alternate_target_group_arn < key.target_group_arn
    {
        std::mem::swap(&mut bg.alternate_target_group_arn, &mut key.target_group_arn);
    }
    key
}

/// `family:revision` and the full ARN name the same revision.
pub fn task_definition_matches(observed_arn: &str, wanted: &str) -> bool {
    observed_arn == wanted || observed_arn.ends_with(&format!("task-definition/{wanted}"))
}

/// The ECS events not yet published, oldest first. `last_seen` is the creation time
/// of the newest published event and `seen_at_last` the ids published at exactly
/// that time (ECS times have millisecond precision; two events can share one).
/// Without a watermark (first reconcile) only the newest `first_time_limit` are
/// taken, so that installing the operator does not replay a service's history.
pub fn new_events(
    events: &[ObservedEvent],
    last_seen: Option<Timestamp>,
    seen_at_last: &[String],
    first_time_limit: usize,
) -> Vec<ObservedEvent> {
    let mut fresh: Vec<ObservedEvent> = events
        .iter()
        .filter(|e| last_seen.is_none_or(|t| e.created_at > t || (e.created_at == t && !seen_at_last.contains(&e.id))))
        .cloned()
        .collect();
    fresh.sort_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.id.cmp(&b.id)));
    if last_seen.is_none() && fresh.len() > first_time_limit {
        fresh.drain(..fresh.len() - first_time_limit);
    }
    fresh
}

/// The new watermark after publishing `fresh` (oldest first): the newest creation
/// time and every id published at that time, kept from before when it is the same.
pub fn event_watermark(
    fresh: &[ObservedEvent],
    last_seen: Option<Timestamp>,
    seen_at_last: &[String],
) -> Option<(Timestamp, Vec<String>)> {
    let newest = fresh.last()?.created_at;
    let mut ids: Vec<String> = fresh.iter().filter(|e| e.created_at == newest).map(|e| e.id.clone()).collect();
    if last_seen == Some(newest) {
        ids.extend(seen_at_last.iter().cloned());
    }
    ids.sort();
    ids.dedup();
    Some((newest, ids))
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
