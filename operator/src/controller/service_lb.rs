//! The load balancer parts of a Service: ensure the target group(s), the rule or
//! the load balancer and listener, and remove what the operator created.

use super::Context;
use crate::aws::{AwsError, elbv2};
use crate::core::load_balancer::{self as core, RulePlan, TargetGroupPlan};
use crate::core::ownership::{self, Decision, Owner, Ownership};
use crate::core::service::{BlueGreenAttachment, LoadBalancerAttachment};
use crate::crd::Service;
use crate::crd::service::{LoadBalancerSpec, LoadBalancerStatus};
use aws_sdk_elasticloadbalancingv2::Client;
use kube::ResourceExt;
use kube::runtime::events::EventType;

/// Why the load balancer could not be brought in line.
#[derive(Debug)]
pub enum LbError {
    Aws(AwsError),
    /// A same-named part is not ours (message for a Conflict condition).
    Conflict(String),
    /// A change ELBv2 cannot make in place.
    Immutable(String),
}

impl From<AwsError> for LbError {
    fn from(e: AwsError) -> Self {
        Self::Aws(e)
    }
}

/// What the ECS service attaches to, and what status reports.
#[derive(Debug, Default)]
pub struct EnsuredLoadBalancer {
    pub attachments: Vec<LoadBalancerAttachment>,
    pub status: LoadBalancerStatus,
}

#[derive(Debug)]
pub struct LbTarget<'a> {
    pub obj: &'a Service,
    pub owner: &'a Owner,
    pub region: &'a str,
    pub awsvpc: bool,
    pub tags: std::collections::BTreeMap<String, String>,
}

fn names(t: &LbTarget<'_>, suffix: &str) -> String {
    core::resource_name(&t.obj.namespace().unwrap_or_default(), &t.obj.name_any(), &t.owner.instance, suffix)
}

async fn check_owner(client: &Client, ctx: &Context, t: &LbTarget<'_>, arn: &str, what: &str) -> Result<(), LbError> {
    // Checked (or created) by an earlier reconcile of this object: no need to read
    // its tags on every resync.
    let known = t.obj.status.as_ref().and_then(|s| s.load_balancer.as_ref()).is_some_and(|lb| {
        [&lb.target_group_arn, &lb.alternate_target_group_arn, &lb.load_balancer_arn]
            .iter()
            .any(|a| a.as_deref() == Some(arn))
    });
    if known {
        return Ok(());
    }
    let tags = elbv2::tags_of(client, &[arn.to_string()]).await?.remove(arn).unwrap_or_default();
    match ownership::decide(&ownership::ownership(&tags, t.owner), t.obj.spec.adoption_policy, what) {
        Decision::Manage => Ok(()),
        Decision::Adopt => {
            elbv2::add_tags(client, arn, &t.tags).await?;
            ctx.event(t.obj, EventType::Normal, "Adopted", "Adopt", format!("adopted {what}")).await;
            Ok(())
        }
        Decision::Conflict(m) => Err(LbError::Conflict(m)),
    }
}

async fn ensure_target_group(
    client: &Client,
    ctx: &Context,
    t: &LbTarget<'_>,
    spec: &LoadBalancerSpec,
    name: String,
    vpc: &mut Option<String>,
) -> Result<String, LbError> {
    let Some(tg_spec) = &spec.target_group else { return Err(LbError::Immutable("no target group in spec".into())) };
    let observed = elbv2::find_target_group(client, &name).await?;
    let vpc_id = match (&tg_spec.vpc_id, &observed, vpc.as_ref()) {
        (Some(v), _, _) => v.clone(),
        (None, Some(o), _) => o.vpc_id.clone(),
        (None, None, Some(v)) => v.clone(),
        (None, None, None) => {
            let lb = match &spec.listener_arn {
                Some(listener) => elbv2::load_balancer_of_listener(client, listener).await?,
                None => String::new(),
            };
            let v = elbv2::vpc_of_load_balancer(client, &lb).await?.unwrap_or_default();
            *vpc = Some(v.clone());
            v
        }
    };
    let desired = core::desired_target_group(name.clone(), tg_spec, vpc_id, spec.container_port, t.awsvpc);
    if let Some(o) = &observed {
        check_owner(client, ctx, t, &o.arn, &format!("target group {name}")).await?;
    }
    match core::plan_target_group(&desired, observed.as_ref()) {
        TargetGroupPlan::Create => {
            let arn = elbv2::create_target_group(client, &desired, &t.tags).await?;
            ctx.event(
                t.obj,
                EventType::Normal,
                "TargetGroupCreated",
                "Reconcile",
                format!("created target group {name} ({} targets)", desired.target_type),
            )
            .await;
            Ok(arn)
        }
        TargetGroupPlan::ModifyHealthCheck => {
            let arn = observed.map(|o| o.arn).unwrap_or_default();
            elbv2::modify_health_check(client, &arn, &desired).await?;
            elbv2::set_deregistration_delay(client, &arn, desired.deregistration_delay).await?;
            ctx.event(
                t.obj,
                EventType::Normal,
                "TargetGroupUpdated",
                "Reconcile",
                format!("updated the health check of target group {name}"),
            )
            .await;
            Ok(arn)
        }
        TargetGroupPlan::Replace(m) => Err(LbError::Immutable(m)),
        TargetGroupPlan::Keep => Ok(observed.map(|o| o.arn).unwrap_or_default()),
    }
}

/// Brings the load balancer parts in line and reports what the service attaches to.
/// `spec_changed`: the deregistration delay is only re-sent when the spec changed.
pub async fn ensure(ctx: &Context, t: &LbTarget<'_>, spec: &LoadBalancerSpec) -> Result<EnsuredLoadBalancer, LbError> {
    let client = ctx.aws.elbv2(t.region);
    let mut status = LoadBalancerStatus::default();
    if let Some(arn) = &spec.target_group_arn {
        status.target_group_arn = Some(arn.clone());
        let (healthy, unhealthy) =
            core::health_counts(elbv2::target_states(&client, arn).await?.iter().map(String::as_str));
        status.healthy_targets = Some(healthy);
        status.unhealthy_targets = Some(unhealthy);
        return Ok(EnsuredLoadBalancer {
            attachments: vec![LoadBalancerAttachment {
                target_group_arn: arn.clone(),
                container_name: spec.container_name.clone(),
                container_port: spec.container_port,
                blue_green: None,
            }],
            status,
        });
    }

    let mut vpc: Option<String> = None;
    // A created load balancer comes first: the target group goes into its VPC.
    let mut created_lb = None;
    if let Some(desired_lb) = core::desired_load_balancer(names(t, ""), spec) {
        let (arn, dns, lb_vpc) = match elbv2::find_load_balancer(&client, &desired_lb.name).await? {
            Some(found) => {
                check_owner(&client, ctx, t, &found.0, &format!("load balancer {}", desired_lb.name)).await?;
                found
            }
            None => {
                let made = elbv2::create_load_balancer(&client, &desired_lb, &t.tags).await?;
                ctx.event(
                    t.obj,
                    EventType::Normal,
                    "LoadBalancerCreated",
                    "Reconcile",
                    format!("created load balancer {} ({})", desired_lb.name, made.1),
                )
                .await;
                made
            }
        };
        vpc = Some(lb_vpc);
        status.load_balancer_arn = Some(arn.clone());
        status.dns_name = Some(dns);
        created_lb = Some((arn, desired_lb));
    }

    let blue_green = spec.blue_green.as_ref().filter(|_| {
        t.obj.spec.deployment.as_ref().is_some_and(|d| d.strategy == crate::crd::service::DeploymentStrategy::BlueGreen)
    });
    let tg_arn = ensure_target_group(&client, ctx, t, spec, names(t, ""), &mut vpc).await?;
    let alt_arn = match blue_green {
        Some(_) => Some(ensure_target_group(&client, ctx, t, spec, names(t, "-g"), &mut vpc).await?),
        None => None,
    };
    status.target_group_arn = Some(tg_arn.clone());
    status.alternate_target_group_arn = alt_arn.clone();

    if let Some((lb_arn, desired_lb)) = &created_lb {
        // With a rule, the listener answers 404 by default and the rule routes;
        // without one, the listener forwards everything to the target group.
        let default_target = if spec.rule.is_some() { None } else { Some(tg_arn.as_str()) };
        let listener = match elbv2::find_listener(&client, lb_arn, desired_lb.listener_port).await? {
            Some((arn, targets)) => {
                let wanted: Vec<String> = default_target.map(|t| vec![t.to_string()]).unwrap_or_default();
                if targets != wanted {
                    elbv2::set_listener_target(&client, &arn, default_target).await?;
                    ctx.event(
                        t.obj,
                        EventType::Normal,
                        "ListenerUpdated",
                        "Reconcile",
                        format!("reset the default action of listener {arn}"),
                    )
                    .await;
                }
                arn
            }
            None => {
                let arn = elbv2::create_listener(&client, lb_arn, desired_lb, default_target, &t.tags).await?;
                ctx.event(
                    t.obj,
                    EventType::Normal,
                    "ListenerCreated",
                    "Reconcile",
                    format!("created {} listener on port {}", desired_lb.listener_protocol, desired_lb.listener_port),
                )
                .await;
                arn
            }
        };
        status.listener_arn = Some(listener);
    }

    let mut rule_arn = None;
    let rule_listener = spec.listener_arn.clone().or_else(|| status.listener_arn.clone());
    if let (Some(listener), Some(rule)) = (&rule_listener, &spec.rule) {
        status.listener_arn = Some(listener.clone());
        let observed = elbv2::find_rule(&client, listener, &tg_arn).await?;
        let conditions = core::rule_conditions(rule);
        let arn = match core::plan_rule(rule, &tg_arn, observed.as_ref(), blue_green.is_some()) {
            RulePlan::Create => {
                let arn = elbv2::create_rule(
                    &client,
                    listener,
                    rule.priority,
                    &conditions,
                    &tg_arn,
                    alt_arn.as_deref(),
                    &t.tags,
                )
                .await?;
                ctx.event(
                    t.obj,
                    EventType::Normal,
                    "RuleCreated",
                    "Reconcile",
                    format!("created listener rule (priority {}) forwarding to the target group", rule.priority),
                )
                .await;
                arn
            }
            RulePlan::Modify { conditions: _, action } => {
                let arn = observed.map(|o| o.arn).unwrap_or_default();
                elbv2::modify_rule(&client, &arn, &conditions, action.then_some(tg_arn.as_str())).await?;
                ctx.event(t.obj, EventType::Normal, "RuleUpdated", "Reconcile", format!("updated listener rule {arn}"))
                    .await;
                arn
            }
            RulePlan::SetPriority => {
                let arn = observed.map(|o| o.arn).unwrap_or_default();
                elbv2::set_rule_priority(&client, &arn, rule.priority).await?;
                ctx.event(
                    t.obj,
                    EventType::Normal,
                    "RuleUpdated",
                    "Reconcile",
                    format!("moved listener rule to priority {}", rule.priority),
                )
                .await;
                arn
            }
            RulePlan::Keep => observed.map(|o| o.arn).unwrap_or_default(),
        };
        status.rule_arn = Some(arn.clone());
        rule_arn = Some(arn);
    }

    let (healthy, unhealthy) =
        core::health_counts(elbv2::target_states(&client, &tg_arn).await?.iter().map(String::as_str));
    status.healthy_targets = Some(healthy);
    status.unhealthy_targets = Some(unhealthy);

    let bg = match (blue_green, alt_arn, rule_arn) {
        (Some(bg), Some(alt), Some(rule)) => Some(BlueGreenAttachment {
            alternate_target_group_arn: alt,
            production_listener_rule: rule,
            test_listener_rule: bg.test_listener_rule_arn.clone(),
            role_arn: bg.role_arn.clone(),
        }),
        _ => None,
    };
    Ok(EnsuredLoadBalancer {
        attachments: vec![LoadBalancerAttachment {
            target_group_arn: tg_arn,
            container_name: spec.container_name.clone(),
            container_port: spec.container_port,
            blue_green: bg,
        }],
        status,
    })
}

/// Removes, in dependency order, the rule, listener, load balancer and target
/// groups this object created. `Ok(false)` while something must still go first
/// (a target group in use until its load balancer is gone).
pub async fn delete(ctx: &Context, obj: &Service, owner: &Owner, region: &str) -> Result<bool, AwsError> {
    let Some(spec) = &obj.spec.load_balancer else { return Ok(true) };
    if spec.target_group_arn.is_some() {
        return Ok(true);
    }
    let client = ctx.aws.elbv2(region);
    let ns = obj.namespace().unwrap_or_default();
    let name = |suffix: &str| core::resource_name(&ns, &obj.name_any(), &owner.instance, suffix);
    let ours = |tags: Option<&std::collections::BTreeMap<String, String>>| {
        tags.is_some_and(|t| ownership::ownership(t, owner) == Ownership::Ours)
    };
    let mut tgs = Vec::new();
    for n in [name(""), name("-g")] {
        if let Some(tg) = elbv2::find_target_group(&client, &n).await? {
            tgs.push(tg);
        }
    }
    let tags = elbv2::tags_of(&client, &tgs.iter().map(|t| t.arn.clone()).collect::<Vec<_>>()).await?;
    let ours_tgs: Vec<_> = tgs.into_iter().filter(|t| ours(tags.get(&t.arn))).collect();

    // The load balancer and listener this object created, looked up once.
    let created = match &spec.create {
        Some(create) => match elbv2::find_load_balancer(&client, &name("")).await? {
            Some((lb_arn, _, _)) => {
                let listener = elbv2::find_listener(&client, &lb_arn, create.listener.port).await?.map(|(l, _)| l);
                Some((lb_arn, listener))
            }
            None => None,
        },
        None => None,
    };
    let rule_listener = spec.listener_arn.clone().or_else(|| created.as_ref().and_then(|(_, l)| l.clone()));
    if let (Some(listener), Some(tg)) = (&rule_listener, ours_tgs.first())
        && let Some(rule) = elbv2::find_rule(&client, listener, &tg.arn).await?
    {
        let rule_tags = elbv2::tags_of(&client, std::slice::from_ref(&rule.arn)).await?;
        if ours(rule_tags.get(&rule.arn)) {
            elbv2::delete_rule(&client, &rule.arn).await?;
            ctx.event(obj, EventType::Normal, "RuleDeleted", "Delete", format!("deleted listener rule {}", rule.arn))
                .await;
        }
    }
    if let Some((lb_arn, listener)) = created {
        let lb_tags = elbv2::tags_of(&client, std::slice::from_ref(&lb_arn)).await?;
        if ours(lb_tags.get(&lb_arn)) {
            if let Some(listener) = listener {
                elbv2::delete_listener(&client, &listener).await?;
                ctx.event(obj, EventType::Normal, "ListenerDeleted", "Delete", format!("deleted listener {listener}"))
                    .await;
            }
            elbv2::delete_load_balancer(&client, &lb_arn).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "LoadBalancerDeleted",
                "Delete",
                format!("deleted load balancer {lb_arn}"),
            )
            .await;
        }
    }
    for tg in ours_tgs {
        match elbv2::delete_target_group(&client, &tg.arn).await {
            Ok(()) => {
                ctx.event(
                    obj,
                    EventType::Normal,
                    "TargetGroupDeleted",
                    "Delete",
                    format!("deleted target group {}", tg.name),
                )
                .await
            }
            // Still attached to a load balancer being deleted: try again shortly.
            Err(e) if e.code() == Some("ResourceInUse") => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
