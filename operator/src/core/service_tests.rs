// Translation and diffing of Services. moto leaves deploymentConfiguration,
// placement and several other fields out of DescribeServices; real ECS reports
// them. Both shapes are covered here: reported fields are compared, unreported
// ones are only sent when the spec changed.

use super::*;
use crate::crd::service::{
    AutoscalingSpec, CircuitBreaker, DeploymentSpec, NetworkConfiguration, PlacementConstraint, PlacementStrategy,
};

fn spec() -> ServiceSpec {
    ServiceSpec {
        desired_count: Some(2),
        launch_type: Some(LaunchType::Fargate),
        network_configuration: Some(NetworkConfiguration {
            subnets: vec!["subnet-b".into(), "subnet-a".into()],
            security_groups: vec!["sg-1".into()],
            assign_public_ip: false,
        }),
        deployment: Some(DeploymentSpec {
            strategy: DeploymentStrategy::Rolling,
            maximum_percent: Some(200),
            minimum_healthy_percent: Some(100),
            circuit_breaker: Some(CircuitBreaker { enable: true, rollback: true }),
            alarms: None,
            bake_time_minutes: None,
        }),
        tags: BTreeMap::from([("team".into(), "shop".into())]),
        ..Default::default()
    }
}

fn resolved() -> Resolved {
    Resolved {
        cluster: "web".into(),
        task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:3".into(),
        region: "us-east-1".into(),
        awsvpc: true,
    }
}

fn d(spec: &ServiceSpec) -> DesiredService {
    desired(
        "api",
        spec,
        &resolved(),
        &BTreeMap::from([("ecs.operator.dev/owner".into(), "shop/Service/api".into())]),
        vec![],
    )
}

/// What real ECS reports for the service `desired` created.
fn real_ecs(desired: &DesiredService) -> ObservedService {
    let c = &desired.config;
    ObservedService {
        arn: "arn:aws:ecs:us-east-1:123456789012:service/web/api".into(),
        name: "api".into(),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/web".into(),
        status: "ACTIVE".into(),
        task_definition: c.task_definition.clone(),
        desired_count: 2,
        running_count: 2,
        scheduling_strategy: Some("REPLICA".into()),
        launch_type: desired.launch_type.clone(),
        capacity_provider_strategy: Some(vec![]),
        platform_version: Some("LATEST".into()),
        network: c.network.clone().map(|mut n| {
            n.subnets.reverse();
            n
        }),
        placement_strategy: Some(vec![]),
        placement_constraints: Some(vec![]),
        health_check_grace_period_seconds: None,
        enable_execute_command: Some(false),
        propagate_tags: Some("NONE".into()),
        deployment: Some(c.deployment.clone()),
        load_balancers: Some(vec![]),
        tags: desired.tags.clone(),
        ..Default::default()
    }
}

/// What moto reports: much of the configuration is missing.
fn moto(desired: &DesiredService) -> ObservedService {
    ObservedService {
        capacity_provider_strategy: None,
        placement_strategy: None,
        placement_constraints: None,
        enable_execute_command: None,
        propagate_tags: Some("NONE".into()),
        deployment: None,
        ..real_ecs(desired)
    }
}

#[test]
fn desired_service_is_normalised() {
    let s = d(&spec());
    assert_eq!(s.name, "api");
    assert_eq!(s.initial_count, Some(2));
    assert_eq!(s.config.desired_count, Some(2));
    assert_eq!(s.config.network.as_ref().unwrap().subnets, vec!["subnet-a", "subnet-b"], "sorted");
    assert_eq!(s.launch_type.as_deref(), Some("FARGATE"));
    assert!(s.tags.contains_key("team") && s.tags.contains_key("ecs.operator.dev/owner"));
}

#[test]
fn autoscaling_owns_the_desired_count_after_creation() {
    let mut sp = spec();
    sp.desired_count = None;
    sp.autoscaling = Some(AutoscalingSpec {
        min_capacity: 3,
        max_capacity: 10,
        target_cpu_utilization: Some(60),
        target_memory_utilization: None,
        target_requests_per_target: None,
        scale_in_cooldown_seconds: None,
        scale_out_cooldown_seconds: None,
    });
    let s = d(&sp);
    assert_eq!(s.initial_count, Some(3), "starts at minCapacity");
    assert_eq!(s.config.desired_count, None, "never sent again");
    let mut o = real_ecs(&s);
    o.desired_count = 7; // the autoscaler scaled out
    assert_eq!(plan(&s, Some(&o), false), ServicePlan::Update(Box::default()));
}

#[test]
fn daemon_services_have_no_count() {
    let mut sp = spec();
    sp.scheduling_strategy = SchedulingStrategy::Daemon;
    sp.launch_type = Some(LaunchType::Ec2);
    let s = d(&sp);
    assert_eq!((s.scheduling_strategy, s.initial_count, s.config.desired_count), ("DAEMON", None, None));
}

#[test]
fn a_missing_or_inactive_service_is_created() {
    let s = d(&spec());
    assert_eq!(plan(&s, None, true), ServicePlan::Create);
    let inactive = ObservedService { status: "INACTIVE".into(), ..real_ecs(&s) };
    assert_eq!(plan(&s, Some(&inactive), true), ServicePlan::Create);
}

#[test]
fn nothing_changed_means_no_update_on_real_ecs_or_moto() {
    let s = d(&spec());
    assert_eq!(plan(&s, Some(&real_ecs(&s)), false), ServicePlan::Update(Box::default()));
    assert_eq!(plan(&s, Some(&moto(&s)), false), ServicePlan::Update(Box::default()));
}

#[test]
fn only_changed_fields_are_sent() {
    let s = d(&spec());
    let mut o = real_ecs(&s);
    o.task_definition = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2".into();
    o.desired_count = 5;
    let ServicePlan::Update(u) = plan(&s, Some(&o), false) else { panic!() };
    assert_eq!(u.fields(), vec!["taskDefinition", "desiredCount"]);
    assert_eq!(u.desired_count, Some(2));
}

#[test]
fn drift_in_reported_fields_is_corrected() {
    let s = d(&spec());
    let mut o = real_ecs(&s);
    o.deployment = Some(DeploymentConfig { circuit_breaker: Some((false, false)), ..s.config.deployment.clone() });
    o.network.as_mut().unwrap().assign_public_ip = true;
    let ServicePlan::Update(u) = plan(&s, Some(&o), false) else { panic!() };
    assert_eq!(u.fields(), vec!["networkConfiguration", "deploymentConfiguration"]);
}

#[test]
fn unreported_fields_are_sent_when_the_spec_changed() {
    let mut sp = spec();
    sp.placement_strategy = vec![PlacementStrategy {
        type_: PlacementStrategyType::Spread,
        field: Some("attribute:ecs.availability-zone".into()),
    }];
    sp.launch_type = Some(LaunchType::Ec2);
    let s = d(&sp);
    let ServicePlan::Update(u) = plan(&s, Some(&moto(&s)), true) else { panic!() };
    assert!(u.fields().contains(&"placementStrategy") && u.fields().contains(&"deploymentConfiguration"));
    let ServicePlan::Update(u) = plan(&s, Some(&moto(&s)), false) else { panic!() };
    assert!(u.is_empty());
}

#[test]
fn fields_ecs_cannot_change_are_reported() {
    let s = d(&spec());
    let mut o = real_ecs(&s);
    o.launch_type = Some("EC2".into());
    assert!(
        matches!(plan(&s, Some(&o), false), ServicePlan::Immutable(f) if f[0].contains("launchType (EC2 in ECS, FARGATE in spec)"))
    );
    let mut o = real_ecs(&s);
    o.scheduling_strategy = Some("DAEMON".into());
    assert!(matches!(plan(&s, Some(&o), false), ServicePlan::Immutable(f) if f[0].contains("schedulingStrategy")));
}

#[test]
fn validation_explains_placement_problems() {
    let mut sp = spec();
    sp.placement_strategy =
        vec![PlacementStrategy { type_: PlacementStrategyType::Binpack, field: Some("disk".into()) }];
    sp.placement_constraints = vec![PlacementConstraint { type_: PlacementConstraintType::MemberOf, expression: None }];
    let problems = validate("api", &sp);
    assert!(problems.iter().any(|p| p.contains("binpack field must be memory or cpu")));
    assert!(problems.iter().any(|p| p.contains("memberOf needs an expression")));
    assert!(problems.iter().any(|p| p.contains("Fargate does not support placementStrategy")));
    assert!(validate("api", &spec()).is_empty());
}

#[test]
fn new_events_are_published_once_in_order() {
    let t = |s: i64| Timestamp::from_second(s).unwrap();
    let events: Vec<ObservedEvent> = (1..=8)
        .rev()
        .map(|i| ObservedEvent { id: format!("e{i}"), created_at: t(100 + i), message: format!("message {i}") })
        .collect();
    let first = new_events(&events, None, &[], 3);
    assert_eq!(first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["e6", "e7", "e8"]);
    let later = new_events(&events, Some(t(106)), &["e6".to_string()], 3);
    assert_eq!(later.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["e7", "e8"]);
    assert!(new_events(&events, Some(t(108)), &["e8".to_string()], 3).is_empty());
}

#[test]
fn events_within_the_same_second_or_millisecond_are_neither_dropped_nor_repeated() {
    let at = |ms: i64| Timestamp::from_millisecond(ms).unwrap();
    let e = |id: &str, ms: i64| ObservedEvent { id: id.into(), created_at: at(ms), message: id.into() };
    // Published so far: a (at 1000 ms). Then b arrives 400 ms later, within the same
    // second, and c at exactly the same millisecond as b.
    let (last, ids) = event_watermark(&[e("a", 1_000)], None, &[]).unwrap();
    let events = vec![e("c", 1_400), e("b", 1_400), e("a", 1_000)];
    let fresh = new_events(&events, Some(last), &ids, 5);
    assert_eq!(fresh.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
    let (last, ids) = event_watermark(&fresh, Some(last), &ids).unwrap();
    assert_eq!((last, ids.clone()), (at(1_400), vec!["b".to_string(), "c".to_string()]));
    // d at the same millisecond again: only d is new.
    let events = vec![e("d", 1_400), e("c", 1_400), e("b", 1_400)];
    let fresh = new_events(&events, Some(last), &ids, 5);
    assert_eq!(fresh.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), vec!["d"]);
    let (_, ids) = event_watermark(&fresh, Some(last), &ids).unwrap();
    assert_eq!(ids, vec!["b", "c", "d"]);
    assert!(new_events(&events, Some(last), &ids, 5).is_empty());
}

#[test]
fn the_config_hash_of_an_unchanged_spec_never_changes() {
    // Golden value: if this fails, an operator upgrade would re-send every field
    // ECS does not report, for every Service. Do not update the value; keep the
    // canonical form as it is, or bump CONFIG_HASH_VERSION with a migration.
    let mut sp = spec();
    sp.platform_version = Some("1.4.0".into());
    sp.health_check_grace_period_seconds = Some(30);
    sp.propagate_tags = Some(PropagateTags::Service);
    sp.enable_ecs_managed_tags = true;
    sp.placement_constraints = vec![];
    let mut s = d(&sp);
    s.config.load_balancers = vec![LoadBalancerAttachment {
        target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/api/1".into(),
        container_name: "api".into(),
        container_port: 3000,
        blue_green: None,
    }];
    s.config.service_registries = vec![("arn:aws:servicediscovery:us-east-1:1:service/srv-1".into(), None, None, None)];
    assert_eq!(config_hash(&s.config), "v1:4b9cd4540bb789f5");
    assert!(config_hash(&s.config).starts_with("v1:"));
}

#[test]
fn an_upgrade_from_a_legacy_hash_sends_nothing_unless_the_spec_changed() {
    let s = d(&spec());
    let hash = config_hash(&s.config);
    assert!(!config_changed(Some(&hash), &hash, false));
    assert!(config_changed(Some("v1:0000000000000000"), &hash, true), "a different v1 hash is a change");
    // A hash from before canonical hashing: not comparable.
    assert!(!config_changed(Some("0a1b2c3d4e5f6a7b"), &hash, true), "same generation: already applied");
    assert!(config_changed(Some("0a1b2c3d4e5f6a7b"), &hash, false), "spec changed since: send");
    assert!(config_changed(None, &hash, true));
    // And the plan for an unchanged spec on real ECS and moto sends nothing.
    for o in [real_ecs(&s), moto(&s)] {
        assert_eq!(plan(&s, Some(&o), false), ServicePlan::Update(Box::default()));
    }
}

#[test]
fn fields_removed_from_the_spec_go_back_to_ecs_defaults() {
    let mut before = spec();
    before.platform_version = Some("1.4.0".into());
    before.health_check_grace_period_seconds = Some(60);
    before.propagate_tags = Some(PropagateTags::Service);
    let was = d(&before);
    let mut o = real_ecs(&was);
    o.platform_version = Some("1.4.0".into());
    o.health_check_grace_period_seconds = Some(60);
    o.propagate_tags = Some("SERVICE".into());
    let now = d(&spec());
    let ServicePlan::Update(u) = plan(&now, Some(&o), true) else { panic!("update expected") };
    assert_eq!(u.platform_version.as_deref(), Some("LATEST"));
    assert_eq!(u.health_check_grace_period_seconds, Some(0));
    assert_eq!(u.propagate_tags.as_deref(), Some("NONE"));
    // moto does not report platformVersion: sent when the spec changed.
    let mut m = moto(&was);
    m.platform_version = None;
    m.propagate_tags = None;
    let ServicePlan::Update(u) = plan(&now, Some(&m), true) else { panic!("update expected") };
    assert_eq!((u.platform_version.as_deref(), u.propagate_tags.as_deref()), (Some("LATEST"), Some("NONE")));
    let ServicePlan::Update(u) = plan(&now, Some(&m), false) else { panic!("update expected") };
    assert!(u.is_empty(), "unchanged spec: nothing sent");
}

#[test]
fn a_removed_desired_count_keeps_the_running_count() {
    let mut sp = spec();
    sp.desired_count = None;
    let s = d(&sp);
    assert_eq!((s.initial_count, s.config.desired_count), (Some(1), None));
    let mut o = real_ecs(&s);
    o.desired_count = 4;
    let ServicePlan::Update(u) = plan(&s, Some(&o), true) else { panic!("update expected") };
    assert_eq!(u.desired_count, None);
}

#[test]
fn changes_ecs_cannot_make_are_reported_not_hidden() {
    let mut with_cps = spec();
    with_cps.launch_type = None;
    with_cps.capacity_provider_strategy = vec![crate::crd::cluster::CapacityProviderStrategyItem {
        capacity_provider: "FARGATE_SPOT".into(),
        weight: Some(1),
        base: None,
    }];
    let mut o = real_ecs(&d(&with_cps));
    o.launch_type = None;
    o.capacity_provider_strategy = Some(d(&with_cps).config.capacity_provider_strategy);
    let mut without = with_cps.clone();
    without.capacity_provider_strategy = vec![];
    assert!(
        matches!(plan(&d(&without), Some(&o), true), ServicePlan::Immutable(f) if f[0].contains("capacityProviderStrategy"))
    );
    let mut no_network = spec();
    no_network.network_configuration = None;
    let o = real_ecs(&d(&spec()));
    assert!(
        matches!(plan(&d(&no_network), Some(&o), true), ServicePlan::Immutable(f) if f[0].contains("networkConfiguration"))
    );
}

#[test]
fn blue_green_target_groups_swapped_by_ecs_are_not_drift() {
    let bg = |tg: &str, alt: &str| LoadBalancerAttachment {
        target_group_arn: tg.into(),
        container_name: "api".into(),
        container_port: 3000,
        blue_green: Some(BlueGreenAttachment {
            alternate_target_group_arn: alt.into(),
            production_listener_rule: "rule".into(),
            test_listener_rule: None,
            role_arn: "role".into(),
        }),
    };
    let s = desired("api", &spec(), &resolved(), &BTreeMap::new(), vec![bg("tg-blue", "tg-green")]);
    let mut o = real_ecs(&s);
    o.load_balancers = Some(vec![bg("tg-green", "tg-blue")]);
    assert_eq!(plan(&s, Some(&o), false), ServicePlan::Update(Box::default()));
    o.load_balancers = Some(vec![bg("tg-other", "tg-blue")]);
    let ServicePlan::Update(u) = plan(&s, Some(&o), false) else { panic!() };
    assert_eq!(u.fields(), vec!["loadBalancers"]);
}

#[test]
fn deletion_looks_for_unrecorded_lb_parts_only_where_a_spec_could_have_made_them() {
    // A spec with a load balancer: a lost status write may have left parts.
    assert!(may_hold_unrecorded_lb_parts(true, Some(1), Some(1)));
    assert!(may_hold_unrecorded_lb_parts(true, Some(4), None));
    // Never edited and no load balancer: no spec it had made any.
    assert!(!may_hold_unrecorded_lb_parts(false, Some(1), None));
    assert!(!may_hold_unrecorded_lb_parts(false, Some(1), Some(1)));
    // Edited away from a load balancer: only once that generation synced were
    // the old parts found and removed.
    assert!(may_hold_unrecorded_lb_parts(false, Some(3), Some(2)));
    assert!(may_hold_unrecorded_lb_parts(false, Some(3), None));
    assert!(!may_hold_unrecorded_lb_parts(false, Some(3), Some(3)));
    // Setting the deletion timestamp of an object with finalizers adds one to its
    // generation: the spec's is the one before.
    assert_eq!(spec_generation(Some(2), true), Some(1));
    assert_eq!(spec_generation(Some(2), false), Some(2));
    assert_eq!(spec_generation(Some(1), true), Some(1));
    assert!(!may_hold_unrecorded_lb_parts(false, spec_generation(Some(2), true), Some(1)));
}

#[test]
fn an_edit_looks_for_unrecorded_lb_parts_unless_the_generation_before_synced_without_any() {
    // One edit after a synced generation without a load balancer: nothing to find.
    assert!(!edit_may_find_unrecorded_lb_parts(Some(2), Some(1), false));
    assert!(!edit_may_find_unrecorded_lb_parts(Some(8), Some(7), false));
    // That generation had a load balancer: a pass of it may have made parts.
    assert!(edit_may_find_unrecorded_lb_parts(Some(2), Some(1), true));
    // Edits in between (their passes may have wanted one), or nothing synced.
    assert!(edit_may_find_unrecorded_lb_parts(Some(3), Some(1), false));
    assert!(edit_may_find_unrecorded_lb_parts(Some(2), None, false));
    assert!(edit_may_find_unrecorded_lb_parts(None, None, false));
}

#[test]
fn load_balancer_parts_are_the_rules_listeners_load_balancers_and_target_groups() {
    let part = |kind| OwnedResource { kind, id: "x".into(), region: "eu-west-1".into(), parent: None };
    assert!(!records_load_balancer_parts(&[]));
    assert!(!records_load_balancer_parts(&[
        part(OwnedKind::EcsService),
        part(OwnedKind::ScalableTarget),
        part(OwnedKind::ScalingPolicy)
    ]));
    for kind in [OwnedKind::ListenerRule, OwnedKind::Listener, OwnedKind::LoadBalancer, OwnedKind::TargetGroup] {
        assert!(records_load_balancer_parts(&[part(OwnedKind::EcsService), part(kind)]), "{kind:?}");
    }
}
