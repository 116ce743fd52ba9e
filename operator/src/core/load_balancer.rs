//! The load balancer parts of a Service: names, the target group, listener rule,
//! load balancer and listener the spec asks for, and what to change.

use crate::crd::service::{HttpProtocol, ListenerRuleSpec, LoadBalancerScheme, LoadBalancerSpec, TargetGroupSpec};
use sha2::{Digest, Sha256};

/// ELBv2 names: at most 32 characters of letters, digits and hyphens, not starting
/// or ending with a hyphen. A readable part of the object name plus a hash of the
/// full identity keeps them unique per namespace, object and operator installation.
pub fn resource_name(namespace: &str, object_name: &str, instance: &str, suffix: &str) -> String {
    let digest = Sha256::digest(format!("{instance}/{namespace}/{object_name}").as_bytes());
    let hash = &hex::encode(digest)[..8];
    let room = 32 - hash.len() - 1 - suffix.len();
    let readable: String = object_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(room)
        .collect::<String>()
        .trim_matches('-')
        .to_string();
    if readable.is_empty() { format!("{hash}{suffix}") } else { format!("{readable}-{hash}{suffix}") }
}

/// A target group as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTargetGroup {
    pub name: String,
    pub vpc_id: String,
    pub port: i32,
    pub protocol: &'static str,
    /// `ip` for awsvpc tasks, `instance` otherwise.
    pub target_type: &'static str,
    pub health_check_path: String,
    pub health_check_interval: i32,
    pub health_check_timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: String,
    pub deregistration_delay: i32,
}

/// A target group as DescribeTargetGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedTargetGroup {
    pub arn: String,
    pub name: String,
    pub vpc_id: String,
    pub port: i32,
    pub protocol: String,
    pub target_type: String,
    pub health_check_path: String,
    pub health_check_interval: i32,
    pub health_check_timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub matcher: String,
    pub load_balancer_arns: Vec<String>,
}

fn protocol(p: Option<HttpProtocol>) -> &'static str {
    match p {
        Some(HttpProtocol::Https) => "HTTPS",
        _ => "HTTP",
    }
}

/// The target group for `spec` with ELBv2's defaults filled in.
pub fn desired_target_group(
    name: String,
    spec: &TargetGroupSpec,
    vpc_id: String,
    port: i32,
    awsvpc: bool,
) -> DesiredTargetGroup {
    let hc = &spec.health_check;
    DesiredTargetGroup {
        name,
        vpc_id: spec.vpc_id.clone().unwrap_or(vpc_id),
        port,
        protocol: protocol(spec.protocol),
        target_type: if awsvpc { "ip" } else { "instance" },
        health_check_path: hc.path.clone().unwrap_or_else(|| "/".into()),
        health_check_interval: hc.interval_seconds.unwrap_or(30),
        health_check_timeout: hc.timeout_seconds.unwrap_or(5),
        healthy_threshold: hc.healthy_threshold.unwrap_or(5),
        unhealthy_threshold: hc.unhealthy_threshold.unwrap_or(2),
        matcher: hc.matcher.clone().unwrap_or_else(|| "200".into()),
        deregistration_delay: spec.deregistration_delay_seconds.unwrap_or(DEFAULT_DEREGISTRATION_DELAY),
    }
}

/// The deregistration delay ELB gives a new target group, in seconds
/// ([TargetGroupAttribute] `deregistration_delay.timeout_seconds`).
pub const DEFAULT_DEREGISTRATION_DELAY: i32 = 300;

/// What to do about a target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetGroupPlan {
    Create,
    /// The health check drifted or changed: ModifyTargetGroup.
    ModifyHealthCheck,
    /// Port, protocol, target type or VPC changed: ELBv2 cannot change these; a
    /// new target group is needed (reported, not done silently).
    Replace(String),
    Keep,
}

pub fn plan_target_group(desired: &DesiredTargetGroup, observed: Option<&ObservedTargetGroup>) -> TargetGroupPlan {
    let Some(o) = observed else { return TargetGroupPlan::Create };
    let mut fixed = Vec::new();
    // The port is not compared: ECS registers every target with its own port, so
    // the target group's default port never carries traffic and a new
    // containerPort needs no new target group.
    if o.protocol != desired.protocol {
        fixed.push(format!("protocol {} -> {}", o.protocol, desired.protocol));
    }
    if o.target_type != desired.target_type {
        fixed.push(format!("target type {} -> {}", o.target_type, desired.target_type));
    }
    if o.vpc_id != desired.vpc_id {
        fixed.push(format!("VPC {} -> {}", o.vpc_id, desired.vpc_id));
    }
    if !fixed.is_empty() {
        return TargetGroupPlan::Replace(format!(
            "target group {} cannot change {} in place; delete the Service's loadBalancer and apply it again, or \
             recreate the Service",
            o.name,
            fixed.join(", ")
        ));
    }
    let health_differs = o.health_check_path != desired.health_check_path
        || o.health_check_interval != desired.health_check_interval
        || o.health_check_timeout != desired.health_check_timeout
        || o.healthy_threshold != desired.healthy_threshold
        || o.unhealthy_threshold != desired.unhealthy_threshold
        || o.matcher != desired.matcher;
    if health_differs { TargetGroupPlan::ModifyHealthCheck } else { TargetGroupPlan::Keep }
}

/// A listener rule's conditions, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleConditions {
    pub path_patterns: Vec<String>,
    pub host_headers: Vec<String>,
}

pub fn rule_conditions(rule: &ListenerRuleSpec) -> RuleConditions {
    let mut path_patterns = rule.path_patterns.clone();
    path_patterns.sort();
    let mut host_headers = rule.host_headers.clone();
    host_headers.sort();
    RuleConditions { path_patterns, host_headers }
}

/// The rule of `rules` that forwards to `target_group_arn`, if any.
pub fn rule_forwarding_to(rules: &[ObservedRule], target_group_arn: &str) -> Option<ObservedRule> {
    rules.iter().find(|r| r.target_group_arns.iter().any(|t| t == target_group_arn)).cloned()
}

/// Who holds a rule priority that CreateRule found in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriorityHolder {
    /// A rule forwarding to our target group: our own CreateRule, whose answer
    /// was lost and which the SDK retried (CreateRule is not idempotent).
    Ours(String),
    /// Another rule: a message for a Conflict condition that says what to change.
    Other(String),
    /// No rule has it any more (freed since): try again.
    Nobody,
}

/// Who holds `priority` among `listener`'s `rules`, for a CreateRule of a rule
/// forwarding to `target_group_arn` that failed with PriorityInUse.
pub fn priority_holder(
    rules: &[ObservedRule],
    priority: i32,
    target_group_arn: &str,
    listener: &str,
) -> PriorityHolder {
    let Some(held) = rules.iter().find(|r| r.priority == Some(priority)) else { return PriorityHolder::Nobody };
    if held.target_group_arns.iter().any(|t| t == target_group_arn) {
        return PriorityHolder::Ours(held.arn.clone());
    }
    let forwards = match held.target_group_arns.as_slice() {
        [] => "does not forward to a target group".to_string(),
        tgs => format!("forwards to {}", tgs.join(", ")),
    };
    PriorityHolder::Other(format!(
        "priority {priority} on listener {listener} is taken by rule {} (it {forwards}); \
         set spec.loadBalancer.rule.priority to a priority no other rule of the listener uses",
        held.arn
    ))
}

/// The listener a rule belongs to, from the rule's ARN
/// (`...:listener-rule/app/<lb>/<lb id>/<listener id>/<rule id>`).
pub fn listener_of_rule(rule_arn: &str) -> Option<String> {
    let (prefix, path) = rule_arn.split_once(":listener-rule/")?;
    let (listener_path, rule_id) = path.rsplit_once('/')?;
    (!rule_id.is_empty() && listener_path.matches('/').count() == 3)
        .then(|| format!("{prefix}:listener/{listener_path}"))
}

/// A listener rule as DescribeRules reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedRule {
    pub arn: String,
    pub priority: Option<i32>,
    pub conditions: RuleConditions,
    /// Target groups the rule forwards to.
    pub target_group_arns: Vec<String>,
}

/// What to do about the listener rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulePlan {
    Create,
    /// Conditions and/or forward action differ.
    Modify {
        conditions: bool,
        action: bool,
    },
    /// Only the priority differs.
    SetPriority,
    Keep,
}

/// Compares the rule. Under blue/green, ECS moves the forward weights during a
/// deployment: the action is then never corrected, only the conditions.
pub fn plan_rule(
    wanted: &ListenerRuleSpec,
    target_group_arn: &str,
    observed: Option<&ObservedRule>,
    blue_green: bool,
) -> RulePlan {
    let Some(o) = observed else { return RulePlan::Create };
    let conditions = o.conditions != rule_conditions(wanted);
    let action = !blue_green && o.target_group_arns != [target_group_arn.to_string()];
    if conditions || action {
        RulePlan::Modify { conditions, action }
    } else if o.priority != Some(wanted.priority) {
        RulePlan::SetPriority
    } else {
        RulePlan::Keep
    }
}

/// The load balancer the spec asks the operator to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredLoadBalancer {
    pub name: String,
    pub scheme: &'static str,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub listener_port: i32,
    pub listener_protocol: &'static str,
    pub certificate_arn: Option<String>,
}

pub fn desired_load_balancer(name: String, spec: &LoadBalancerSpec) -> Option<DesiredLoadBalancer> {
    let create = spec.create.as_ref()?;
    let mut subnets = create.subnets.clone();
    subnets.sort();
    let mut security_groups = create.security_groups.clone();
    security_groups.sort();
    Some(DesiredLoadBalancer {
        name,
        scheme: match create.scheme {
            LoadBalancerScheme::InternetFacing => "internet-facing",
            LoadBalancerScheme::Internal => "internal",
        },
        subnets,
        security_groups,
        listener_port: create.listener.port,
        listener_protocol: protocol(Some(create.listener.protocol)),
        certificate_arn: create.listener.certificate_arn.clone(),
    })
}

/// A load balancer as DescribeLoadBalancers reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedLoadBalancer {
    pub arn: String,
    pub dns_name: String,
    pub vpc_id: String,
    pub scheme: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

/// What to change on a created load balancer, in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadBalancerChanges {
    pub subnets: Option<Vec<String>>,
    pub security_groups: Option<Vec<String>>,
    /// A change ELBv2 cannot make in place (the scheme).
    pub immutable: Option<String>,
}

pub fn plan_load_balancer(desired: &DesiredLoadBalancer, observed: &ObservedLoadBalancer) -> LoadBalancerChanges {
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    LoadBalancerChanges {
        subnets: (sorted(&observed.subnets) != desired.subnets).then(|| desired.subnets.clone()),
        security_groups: (sorted(&observed.security_groups) != desired.security_groups
            && !desired.security_groups.is_empty())
        .then(|| desired.security_groups.clone()),
        immutable: (observed.scheme != desired.scheme).then(|| {
            format!(
                "load balancer {} is {} and cannot become {}: remove loadBalancer.create, apply, then add it back",
                desired.name, observed.scheme, desired.scheme
            )
        }),
    }
}

/// A listener as DescribeListeners reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedListener {
    pub arn: String,
    pub port: i32,
    pub protocol: String,
    pub certificate_arn: Option<String>,
    /// Target groups the default action forwards to (empty: a fixed response).
    pub default_targets: Vec<String>,
}

/// What to do about the listener of a created load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerPlan {
    Create,
    /// Port, protocol, certificate or default action differ: ModifyListener in place.
    Modify(Vec<&'static str>),
    Keep,
}

/// Compares the listener. `default_target`: where the default action forwards
/// (`None`: answer 404 and let the rule route).
pub fn plan_listener(
    desired: &DesiredLoadBalancer,
    observed: Option<&ObservedListener>,
    default_target: Option<&str>,
) -> ListenerPlan {
    let Some(o) = observed else { return ListenerPlan::Create };
    let mut changed = Vec::new();
    if o.port != desired.listener_port {
        changed.push("port");
    }
    if o.protocol != desired.listener_protocol {
        changed.push("protocol");
    }
    if desired.listener_protocol == "HTTPS" && o.certificate_arn != desired.certificate_arn {
        changed.push("certificate");
    }
    let wanted: Vec<String> = default_target.map(|t| vec![t.to_string()]).unwrap_or_default();
    if o.default_targets != wanted {
        changed.push("default action");
    }
    if changed.is_empty() { ListenerPlan::Keep } else { ListenerPlan::Modify(changed) }
}

/// Target health counts from DescribeTargetHealth states: (healthy, not healthy).
/// Draining and unused targets are not counted.
pub fn health_counts<'a>(states: impl IntoIterator<Item = &'a str>) -> (i32, i32) {
    states.into_iter().fold((0, 0), |(h, u), s| match s {
        "healthy" => (h + 1, u),
        "draining" | "unused" => (h, u),
        _ => (h, u + 1),
    })
}

/// A reconcile at rest reads target health once in this many resync periods
/// while nothing suggests it changed.
pub const TARGET_HEALTH_READ_EVERY: u64 = 5;

/// What a reconcile at rest knows of a target group's health without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastTargetHealth {
    /// (healthy, not healthy) from the last status, for the same target group.
    pub counts: (i32, i32),
    /// ECS's running count in the last status and now.
    pub running_then: i32,
    pub running_now: i32,
}

/// Whether a reconcile at rest may keep the last target health counts instead of
/// reading them: every target was healthy, ECS still runs as many tasks as then
/// and as there were healthy targets, and this is not one of the object's
/// periodic reads (`period`: resync periods since the epoch; `spread`: a number
/// fixed per object, so that the periodic reads of many objects fall in
/// different periods). A task ECS stops (one failing its health check, say)
/// changes the running count until its replacement runs, which brings the read
/// back; and the periodic read bounds how old the kept counts get.
pub fn keep_target_health(last: Option<LastTargetHealth>, period: u64, spread: u64) -> bool {
    let Some(l) = last else { return false };
    let (healthy, unhealthy) = l.counts;
    let steady = unhealthy == 0 && healthy == l.running_now && l.running_then == l.running_now;
    steady && !period.wrapping_add(spread).is_multiple_of(TARGET_HEALTH_READ_EVERY)
}

#[cfg(test)]
mod tests {
    #[test]
    fn target_health_is_kept_at_rest_only_while_steady_and_not_due() {
        let steady = LastTargetHealth { counts: (2, 0), running_then: 2, running_now: 2 };
        let kept: Vec<bool> = (0..10).map(|p| keep_target_health(Some(steady), p, 3)).collect();
        // Read in periods 2 and 7 (2 + 3 is a multiple of 5), kept in the others.
        assert_eq!(kept.iter().filter(|k| !**k).count(), 2);
        assert!(!kept[2] && !kept[7]);
        // Another object reads in other periods.
        assert!(keep_target_health(Some(steady), 2, 4));
        // Anything that suggests a change reads.
        for changed in [
            LastTargetHealth { counts: (1, 1), ..steady },
            LastTargetHealth { counts: (1, 0), ..steady },
            LastTargetHealth { running_now: 3, ..steady },
            LastTargetHealth { running_then: 1, counts: (1, 0), running_now: 1 + 1 },
        ] {
            assert!(!keep_target_health(Some(changed), 1, 3), "{changed:?}");
        }
        assert!(!keep_target_health(None, 1, 3));
    }

    #[test]
    fn a_rules_listener_is_read_off_its_arn() {
        let rule = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
        assert_eq!(
            listener_of_rule(rule).as_deref(),
            Some(
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
            )
        );
        assert_eq!(listener_of_rule("arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/web/1/2"), None);
        assert_eq!(listener_of_rule("arn:aws:elasticloadbalancing:eu-west-1:1:listener-rule/app/web/1/"), None);
    }

    #[test]
    fn the_rule_forwarding_to_a_target_group_is_found_among_a_listeners_rules() {
        let rule = |arn: &str, tgs: &[&str]| ObservedRule {
            arn: arn.into(),
            target_group_arns: tgs.iter().map(|t| t.to_string()).collect(),
            ..ObservedRule::default()
        };
        let rules = [rule("r1", &["tg-a"]), rule("r2", &["tg-b", "tg-c"])];
        assert_eq!(rule_forwarding_to(&rules, "tg-c").map(|r| r.arn).as_deref(), Some("r2"));
        assert_eq!(rule_forwarding_to(&rules, "tg-z"), None);
    }

    #[test]
    fn a_priority_in_use_is_ours_after_a_lost_answer_else_a_conflict_that_names_the_holder() {
        let rule = |arn: &str, priority: i32, tgs: &[&str]| ObservedRule {
            arn: arn.into(),
            priority: Some(priority),
            target_group_arns: tgs.iter().map(|t| t.to_string()).collect(),
            ..ObservedRule::default()
        };
        let rules = [rule("r1", 1, &["tg-a"]), rule("r2", 2, &["tg-b"]), rule("r3", 3, &[])];
        assert_eq!(priority_holder(&rules, 1, "tg-a", "l"), PriorityHolder::Ours("r1".into()));
        let PriorityHolder::Other(m) = priority_holder(&rules, 2, "tg-a", "l") else { panic!("not a conflict") };
        assert!(m.contains("priority 2 on listener l is taken by rule r2 (it forwards to tg-b)"), "{m}");
        assert!(m.contains("spec.loadBalancer.rule.priority"), "{m}");
        let PriorityHolder::Other(m) = priority_holder(&rules, 3, "tg-a", "l") else { panic!("not a conflict") };
        assert!(m.contains("does not forward to a target group"), "{m}");
        assert_eq!(priority_holder(&rules, 4, "tg-a", "l"), PriorityHolder::Nobody);
    }

    use super::*;
    use crate::crd::service::TargetHealthCheck;

    #[test]
    fn names_fit_elbv2_limits_and_differ_per_object() {
        let long = resource_name("shop", "a-very-long-service-name-that-goes-on-and-on", "default", "-alt");
        assert!(long.len() <= 32, "{long}");
        assert!(!long.starts_with('-') && !long.ends_with('-'));
        assert!(long.ends_with("-alt"));
        assert_ne!(resource_name("shop", "api", "default", ""), resource_name("blog", "api", "default", ""));
        assert_ne!(resource_name("shop", "api", "default", ""), resource_name("shop", "api", "staging", ""));
        assert!(resource_name("shop", "api", "default", "").starts_with("api-"));
        assert!(resource_name("shop", "a.b", "default", "").starts_with("a-b-"));
    }

    fn tg() -> DesiredTargetGroup {
        let spec = TargetGroupSpec {
            health_check: TargetHealthCheck {
                path: Some("/health".into()),
                matcher: Some("200-399".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        desired_target_group("api-1234".into(), &spec, "vpc-1".into(), 3000, true)
    }

    fn observed(d: &DesiredTargetGroup) -> ObservedTargetGroup {
        ObservedTargetGroup {
            arn: "arn:tg".into(),
            name: d.name.clone(),
            vpc_id: d.vpc_id.clone(),
            port: d.port,
            protocol: d.protocol.into(),
            target_type: d.target_type.into(),
            health_check_path: d.health_check_path.clone(),
            health_check_interval: d.health_check_interval,
            health_check_timeout: d.health_check_timeout,
            healthy_threshold: d.healthy_threshold,
            unhealthy_threshold: d.unhealthy_threshold,
            matcher: d.matcher.clone(),
            load_balancer_arns: vec![],
        }
    }

    #[test]
    fn target_group_defaults_and_target_type() {
        let d = tg();
        assert_eq!(
            (d.target_type, d.protocol, d.health_check_interval, d.deregistration_delay),
            ("ip", "HTTP", 30, 300)
        );
        let bridge = desired_target_group("x".into(), &TargetGroupSpec::default(), "vpc".into(), 80, false);
        assert_eq!(bridge.target_type, "instance");
        assert_eq!(bridge.health_check_path, "/");
    }

    #[test]
    fn target_group_plan() {
        let d = tg();
        assert_eq!(plan_target_group(&d, None), TargetGroupPlan::Create);
        assert_eq!(plan_target_group(&d, Some(&observed(&d))), TargetGroupPlan::Keep);
        let drifted = ObservedTargetGroup { health_check_path: "/".into(), ..observed(&d) };
        assert_eq!(plan_target_group(&d, Some(&drifted)), TargetGroupPlan::ModifyHealthCheck);
        let other_port = ObservedTargetGroup { port: 80, ..observed(&d) };
        assert_eq!(plan_target_group(&d, Some(&other_port)), TargetGroupPlan::Keep, "ECS registers targets with ports");
        let other_protocol = ObservedTargetGroup { protocol: "HTTPS".into(), ..observed(&d) };
        assert!(
            matches!(plan_target_group(&d, Some(&other_protocol)), TargetGroupPlan::Replace(m) if m.contains("protocol HTTPS -> HTTP"))
        );
    }

    #[test]
    fn rule_plan_ignores_order_and_leaves_blue_green_weights_to_ecs() {
        let wanted =
            ListenerRuleSpec { priority: 10, path_patterns: vec!["/b/*".into(), "/a/*".into()], host_headers: vec![] };
        assert_eq!(plan_rule(&wanted, "tg", None, false), RulePlan::Create);
        let same = ObservedRule {
            arn: "r".into(),
            priority: Some(10),
            conditions: RuleConditions { path_patterns: vec!["/a/*".into(), "/b/*".into()], host_headers: vec![] },
            target_group_arns: vec!["tg".into()],
        };
        assert_eq!(plan_rule(&wanted, "tg", Some(&same), false), RulePlan::Keep);
        let moved = ObservedRule { priority: Some(11), ..same.clone() };
        assert_eq!(plan_rule(&wanted, "tg", Some(&moved), false), RulePlan::SetPriority);
        let other_target = ObservedRule { target_group_arns: vec!["tg".into(), "alt".into()], ..same.clone() };
        assert_eq!(
            plan_rule(&wanted, "tg", Some(&other_target), false),
            RulePlan::Modify { conditions: false, action: true }
        );
        assert_eq!(plan_rule(&wanted, "tg", Some(&other_target), true), RulePlan::Keep);
    }

    fn created_lb() -> DesiredLoadBalancer {
        DesiredLoadBalancer {
            name: "api-1234".into(),
            scheme: "internet-facing",
            subnets: vec!["subnet-a".into(), "subnet-b".into()],
            security_groups: vec!["sg-1".into()],
            listener_port: 80,
            listener_protocol: "HTTP",
            certificate_arn: None,
        }
    }

    #[test]
    fn load_balancer_subnets_and_groups_change_in_place_but_the_scheme_does_not() {
        let d = created_lb();
        let same = ObservedLoadBalancer {
            scheme: "internet-facing".into(),
            subnets: vec!["subnet-b".into(), "subnet-a".into()],
            security_groups: vec!["sg-1".into()],
            ..Default::default()
        };
        assert_eq!(plan_load_balancer(&d, &same), LoadBalancerChanges::default());
        let moved = ObservedLoadBalancer { subnets: vec!["subnet-a".into(), "subnet-c".into()], ..same.clone() };
        assert_eq!(plan_load_balancer(&d, &moved).subnets, Some(d.subnets.clone()));
        let other_sg = ObservedLoadBalancer { security_groups: vec!["sg-2".into()], ..same.clone() };
        assert_eq!(plan_load_balancer(&d, &other_sg).security_groups, Some(vec!["sg-1".into()]));
        let internal = ObservedLoadBalancer { scheme: "internal".into(), ..same };
        assert!(
            plan_load_balancer(&d, &internal).immutable.is_some_and(|m| m.contains("cannot become internet-facing"))
        );
    }

    #[test]
    fn a_listener_changes_port_protocol_and_certificate_in_place() {
        let d = created_lb();
        assert_eq!(plan_listener(&d, None, None), ListenerPlan::Create);
        let same = ObservedListener { arn: "l".into(), port: 80, protocol: "HTTP".into(), ..Default::default() };
        assert_eq!(plan_listener(&d, Some(&same), None), ListenerPlan::Keep);
        let on_8080 = ObservedListener { port: 8080, ..same.clone() };
        assert_eq!(plan_listener(&d, Some(&on_8080), None), ListenerPlan::Modify(vec!["port"]));
        let https = DesiredLoadBalancer {
            listener_port: 443,
            listener_protocol: "HTTPS",
            certificate_arn: Some("arn:cert".into()),
            ..d.clone()
        };
        assert_eq!(
            plan_listener(&https, Some(&same), Some("tg")),
            ListenerPlan::Modify(vec!["port", "protocol", "certificate", "default action"])
        );
    }

    #[test]
    fn health_counts_skip_draining_targets() {
        assert_eq!(health_counts(["healthy", "healthy", "initial", "unhealthy", "draining"]), (2, 2));
    }
}
