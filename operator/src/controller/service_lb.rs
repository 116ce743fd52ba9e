//! The load balancer parts of a Service: ensure the target group(s), the load
//! balancer and listener, and the rule the spec asks for, recording each part in
//! the object's resources as soon as it exists. Parts the spec no longer wants
//! are not touched here: they are left in the record and removed (after the new
//! ones serve) by the Service's cleanup of stale resources.

use super::Context;
use crate::aws::{AwsError, elbv2};
use crate::core::load_balancer::{self as core, ListenerPlan, RulePlan, TargetGroupPlan};
use crate::core::owned::{self, record};
use crate::core::ownership::{self, Decision, Owner, Ownership};
use crate::core::service::{BlueGreenAttachment, LoadBalancerAttachment};
use crate::core::tags;
use crate::crd::Service;
use crate::crd::service::{DeploymentStrategy, LoadBalancerSpec, LoadBalancerStatus, OwnedKind, OwnedResource};
use aws_sdk_elasticloadbalancingv2::Client;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use std::collections::BTreeMap;

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

/// What the ECS service attaches to, what status reports, and the parts the spec
/// wants (every other recorded part is stale).
#[derive(Debug, Default)]
pub struct EnsuredLoadBalancer {
    pub attachments: Vec<LoadBalancerAttachment>,
    pub status: LoadBalancerStatus,
    pub wanted: Vec<OwnedResource>,
}

#[derive(Debug)]
pub struct LbTarget<'a> {
    pub obj: &'a Service,
    pub owner: &'a Owner,
    pub region: &'a str,
    pub awsvpc: bool,
    /// User tags plus the ownership tags.
    pub tags: BTreeMap<String, String>,
    /// The spec changed since it was last applied: settings AWS does not report
    /// cheaply (tags, target group attributes) are compared too.
    pub spec_changed: bool,
    /// At rest: what the last status says of target health, to keep it
    /// without a read while `core::keep_target_health` allows.
    pub last_health: Option<core::LastTargetHealth>,
    /// The load balancer of a shared listener is needed (for the ALB request
    /// count autoscaling metric).
    pub need_listener_load_balancer: bool,
}

impl LbTarget<'_> {
    fn name(&self, suffix: &str) -> String {
        core::resource_name(
            &self.obj.namespace().unwrap_or_default(),
            &self.obj.name_any(),
            &self.owner.instance,
            suffix,
        )
    }

    fn part(&self, kind: OwnedKind, arn: &str) -> OwnedResource {
        owned::resource(kind, arn, self.region, None)
    }

    async fn event(&self, ctx: &Context, reason: &str, note: String) {
        ctx.event(self.obj, EventType::Normal, reason, "Reconcile", note).await;
    }
}

/// Target health counts of the target group `arn`: the last status's while
/// `core::keep_target_health` allows, else read.
async fn target_health(ctx: &Context, client: &Client, t: &LbTarget<'_>, arn: &str) -> Result<(i32, i32), AwsError> {
    let previous = t.obj.status.as_ref().and_then(|s| s.load_balancer.as_ref());
    let same_group = previous.and_then(|lb| lb.target_group_arn.as_deref()) == Some(arn);
    let last = t.last_health.filter(|_| same_group);
    let resync = ctx.config.resync.as_secs().max(1);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Fixed per object: its periodic reads fall in its own periods.
    let spread = t.obj.uid().unwrap_or_default().bytes().map(u64::from).sum::<u64>();
    if let Some(l) = last.filter(|_| core::keep_target_health(last, now / resync, spread)) {
        return Ok(l.counts);
    }
    Ok(core::health_counts(elbv2::target_states(client, arn).await?.iter().map(String::as_str)))
}

/// The VPC of `listener`'s load balancer, shared by the Services on the listener
/// (`Context::listener_vpcs`).
async fn listener_vpc(ctx: &Context, client: &Client, region: &str, listener: &str) -> Result<String, AwsError> {
    let key = (region.to_string(), listener.to_string());
    let vpc = ctx
        .listener_vpcs
        .get(key, listener, |listeners| async move {
            let mut found = Vec::new();
            for l in listeners {
                let lb = elbv2::load_balancer_of_listener(client, &l).await?;
                if let Some(v) = elbv2::vpc_of_load_balancer(client, &lb).await? {
                    found.push((l, Some(v)));
                }
            }
            Ok(found)
        })
        .await?;
    Ok(vpc.unwrap_or_default())
}

/// Records `arn` as ours: known from the record, or checked by its tags (created
/// by a reconcile whose status write was lost, or adopted when the spec allows).
async fn claim(
    client: &Client,
    ctx: &Context,
    t: &LbTarget<'_>,
    records: &mut Vec<OwnedResource>,
    kind: OwnedKind,
    arn: &str,
    what: &str,
) -> Result<(), LbError> {
    let part = t.part(kind, arn);
    if records.contains(&part) {
        return Ok(());
    }
    let found = elbv2::tags_of(client, &[arn.to_string()]).await?.remove(arn).unwrap_or_default();
    match ownership::decide(&ownership::ownership(&found, t.owner), t.obj.spec.adoption_policy, what) {
        Decision::Manage => {}
        Decision::Adopt => {
            elbv2::add_tags(client, arn, &t.tags).await?;
            ctx.event(t.obj, EventType::Normal, "Adopted", "Adopt", format!("adopted {what}")).await;
        }
        Decision::Conflict(m) => return Err(LbError::Conflict(m)),
    }
    record(records, part);
    Ok(())
}

/// The target group `name` as the spec wants it: (its ARN, whether this call
/// created it).
async fn ensure_target_group(
    client: &Client,
    ctx: &Context,
    t: &LbTarget<'_>,
    spec: &LoadBalancerSpec,
    records: &mut Vec<OwnedResource>,
    name: String,
    vpc: &mut Option<String>,
) -> Result<(String, bool), LbError> {
    let Some(tg_spec) = &spec.target_group else { return Err(LbError::Immutable("no target group in spec".into())) };
    let mut observed = target_group_named(ctx, client, t.region, &name, t.spec_changed).await?;
    let vpc_id = match (&tg_spec.vpc_id, &observed, vpc.as_ref()) {
        (Some(v), _, _) => v.clone(),
        (None, Some(o), _) => o.vpc_id.clone(),
        (None, None, Some(v)) => v.clone(),
        (None, None, None) => {
            let v = match &spec.listener_arn {
                Some(listener) => listener_vpc(ctx, client, t.region, listener).await?,
                None => elbv2::vpc_of_load_balancer(client, "").await?.unwrap_or_default(),
            };
            *vpc = Some(v.clone());
            v
        }
    };
    let desired = core::desired_target_group(name.clone(), tg_spec, vpc_id, spec.container_port, t.awsvpc);
    if !t.spec_changed && !matches!(core::plan_target_group(&desired, observed.as_ref()), TargetGroupPlan::Keep) {
        // A write is planned from a fresh read only, never from the shared one.
        observed = target_group_named(ctx, client, t.region, &name, true).await?;
    }
    if let Some(o) = &observed {
        claim(client, ctx, t, records, OwnedKind::TargetGroup, &o.arn, &format!("target group {name}")).await?;
    }
    let plan = core::plan_target_group(&desired, observed.as_ref());
    if !matches!(plan, TargetGroupPlan::Keep) {
        ctx.target_groups.invalidate((t.region.to_string(), String::new()), &name);
    }
    let arn = match plan {
        TargetGroupPlan::Create => {
            let started = std::time::Instant::now();
            let created = elbv2::create_target_group(client, &desired, &t.tags).await?;
            let arn = created.as_ref().map(|tg| tg.arn.clone()).unwrap_or_default();
            if created.is_some() {
                // The answer is the group as made: the reconciles sharing the
                // region's read see it without reading every name again.
                ctx.target_groups.store((t.region.to_string(), String::new()), &name, created, started);
            }
            record(records, t.part(OwnedKind::TargetGroup, &arn));
            t.event(
                ctx,
                "TargetGroupCreated",
                format!("created target group {name} ({} targets)", desired.target_type),
            )
            .await;
            return Ok((arn, true));
        }
        TargetGroupPlan::ModifyHealthCheck => {
            let arn = observed.map(|o| o.arn).unwrap_or_default();
            elbv2::modify_health_check(client, &arn, &desired).await?;
            t.event(ctx, "TargetGroupUpdated", format!("updated the health check of target group {name}")).await;
            arn
        }
        TargetGroupPlan::Replace(m) => return Err(LbError::Immutable(m)),
        TargetGroupPlan::Keep => observed.map(|o| o.arn).unwrap_or_default(),
    };
    // Target group attributes are not in DescribeTargetGroups: read them only
    // when the spec changed.
    if t.spec_changed && elbv2::deregistration_delay(client, &arn).await? != Some(desired.deregistration_delay) {
        elbv2::set_deregistration_delay(client, &arn, desired.deregistration_delay).await?;
        t.event(
            ctx,
            "TargetGroupUpdated",
            format!("set the deregistration delay of target group {name} to {}s", desired.deregistration_delay),
        )
        .await;
    }
    Ok((arn, false))
}

/// Brings the load balancer parts in line and reports what the service attaches
/// to. Every part that exists is in `records` when this returns, also on error.
pub async fn ensure(
    ctx: &Context,
    t: &LbTarget<'_>,
    spec: &LoadBalancerSpec,
    records: &mut Vec<OwnedResource>,
) -> Result<EnsuredLoadBalancer, LbError> {
    let client = ctx.aws.elbv2(t.region);
    let mut status = LoadBalancerStatus::default();
    let mut wanted = Vec::new();
    if let Some(arn) = &spec.target_group_arn {
        status.target_group_arn = Some(arn.clone());
        let (healthy, unhealthy) = target_health(ctx, &client, t, arn).await?;
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
            wanted,
        });
    }

    let mut vpc: Option<String> = None;
    // A created load balancer comes first: the target group goes into its VPC.
    let desired_lb = core::desired_load_balancer(t.name(""), spec);
    let mut created_lb = None;
    // Parts this pass created carry their tags from creation: no tag sync.
    let mut created: Vec<String> = Vec::new();
    if let Some(d) = &desired_lb {
        let lb = match elbv2::find_load_balancer(&client, &d.name).await? {
            Some(found) => {
                let what = format!("load balancer {}", d.name);
                claim(&client, ctx, t, records, OwnedKind::LoadBalancer, &found.arn, &what).await?;
                let changes = core::plan_load_balancer(d, &found);
                if let Some(m) = changes.immutable {
                    return Err(LbError::Immutable(m));
                }
                if let Some(subnets) = &changes.subnets {
                    elbv2::set_subnets(&client, &found.arn, subnets).await?;
                    t.event(ctx, "LoadBalancerUpdated", format!("set the subnets of {what} to {}", subnets.join(", ")))
                        .await;
                }
                if let Some(groups) = &changes.security_groups {
                    elbv2::set_security_groups(&client, &found.arn, groups).await?;
                    let note = format!("set the security groups of {what} to {}", groups.join(", "));
                    t.event(ctx, "LoadBalancerUpdated", note).await;
                }
                found
            }
            None => {
                let made = elbv2::create_load_balancer(&client, d, &t.tags).await?;
                created.push(made.arn.clone());
                record(records, t.part(OwnedKind::LoadBalancer, &made.arn));
                t.event(ctx, "LoadBalancerCreated", format!("created load balancer {} ({})", d.name, made.dns_name))
                    .await;
                made
            }
        };
        vpc = Some(lb.vpc_id.clone());
        status.load_balancer_arn = Some(lb.arn.clone());
        status.dns_name = Some(lb.dns_name.clone());
        wanted.push(t.part(OwnedKind::LoadBalancer, &lb.arn));
        created_lb = Some(lb.arn);
    }

    let blue_green = spec
        .blue_green
        .as_ref()
        .filter(|_| t.obj.spec.deployment.as_ref().is_some_and(|d| d.strategy == DeploymentStrategy::BlueGreen));
    let (tg_arn, tg_created) = ensure_target_group(&client, ctx, t, spec, records, t.name(""), &mut vpc).await?;
    wanted.push(t.part(OwnedKind::TargetGroup, &tg_arn));
    if tg_created {
        created.push(tg_arn.clone());
    }
    let alt_arn = match blue_green {
        Some(_) => {
            let (arn, made) = ensure_target_group(&client, ctx, t, spec, records, t.name("-g"), &mut vpc).await?;
            if made {
                created.push(arn.clone());
            }
            Some(arn)
        }
        None => None,
    };
    if let Some(alt) = &alt_arn {
        wanted.push(t.part(OwnedKind::TargetGroup, alt));
    }
    status.target_group_arn = Some(tg_arn.clone());
    status.alternate_target_group_arn = alt_arn.clone();

    if let (Some(lb_arn), Some(d)) = (&created_lb, &desired_lb) {
        // With a rule, the listener answers 404 by default and the rule routes;
        // without one, the listener forwards everything to the target group.
        let default_target = if spec.rule.is_some() { None } else { Some(tg_arn.as_str()) };
        let listeners = elbv2::listeners(&client, lb_arn).await?;
        // The listener this object made (whatever its port now), else the one on
        // the wanted port: a new port moves the listener, it does not add one.
        let recorded = listeners.iter().find(|l| records.contains(&t.part(OwnedKind::Listener, &l.arn)));
        let observed = recorded.or_else(|| listeners.iter().find(|l| l.port == d.listener_port));
        let arn = match core::plan_listener(d, observed, default_target) {
            ListenerPlan::Create => {
                let arn = elbv2::create_listener(&client, lb_arn, d, default_target, &t.tags).await?;
                created.push(arn.clone());
                record(records, t.part(OwnedKind::Listener, &arn));
                t.event(
                    ctx,
                    "ListenerCreated",
                    format!("created {} listener on port {}", d.listener_protocol, d.listener_port),
                )
                .await;
                arn
            }
            ListenerPlan::Modify(fields) => {
                let arn = observed.map(|l| l.arn.clone()).unwrap_or_default();
                // On our own load balancer every listener is ours.
                record(records, t.part(OwnedKind::Listener, &arn));
                elbv2::modify_listener(&client, &arn, d, default_target).await?;
                let note = format!(
                    "changed {} of the listener: {} on port {}",
                    fields.join(", "),
                    d.listener_protocol,
                    d.listener_port
                );
                t.event(ctx, "ListenerUpdated", note).await;
                arn
            }
            ListenerPlan::Keep => {
                let arn = observed.map(|l| l.arn.clone()).unwrap_or_default();
                record(records, t.part(OwnedKind::Listener, &arn));
                arn
            }
        };
        wanted.push(t.part(OwnedKind::Listener, &arn));
        status.listener_arn = Some(arn);
    }

    let mut rule_arn = None;
    let rule_listener = spec.listener_arn.clone().or_else(|| status.listener_arn.clone());
    if let (Some(listener), Some(rule)) = (&rule_listener, &spec.rule) {
        status.listener_arn = Some(listener.clone());
        let mut observed = rule_to(ctx, &client, t.region, listener, &tg_arn, t.spec_changed).await?;
        if !t.spec_changed
            && !matches!(core::plan_rule(rule, &tg_arn, observed.as_ref(), blue_green.is_some()), RulePlan::Keep)
        {
            // A write is planned from a fresh read only, never from the shared one.
            observed = rule_to(ctx, &client, t.region, listener, &tg_arn, true).await?;
        }
        if let Some(o) = &observed {
            claim(&client, ctx, t, records, OwnedKind::ListenerRule, &o.arn, &format!("listener rule {}", o.arn))
                .await?;
        }
        let conditions = core::rule_conditions(rule);
        let plan = core::plan_rule(rule, &tg_arn, observed.as_ref(), blue_green.is_some());
        let mut created_rule = false;
        let arn = match plan.clone() {
            RulePlan::Create => {
                let created = elbv2::create_rule(
                    &client,
                    listener,
                    rule.priority,
                    &conditions,
                    &tg_arn,
                    alt_arn.as_deref(),
                    &t.tags,
                )
                .await;
                let arn = match created {
                    Ok(rule) => {
                        let arn = rule.as_ref().map(|r| r.arn.clone()).unwrap_or_default();
                        if let Some(rule) = rule {
                            // The answer is the rule as made: the Services sharing
                            // the listener's read see it without reading every rule.
                            ctx.listener_rules.patch((t.region.to_string(), listener.clone()), listener, |rules| {
                                rules.retain(|r| r.arn != rule.arn);
                                rules.push(rule);
                            });
                        }
                        created_rule = true;
                        arn
                    }
                    Err(e) if e.code() == Some("PriorityInUse") => {
                        let rules = elbv2::listener_rules(&client, listener).await?;
                        match core::priority_holder(&rules, rule.priority, &tg_arn, listener) {
                            core::PriorityHolder::Ours(arn) => {
                                claim(
                                    &client,
                                    ctx,
                                    t,
                                    records,
                                    OwnedKind::ListenerRule,
                                    &arn,
                                    &format!("listener rule {arn}"),
                                )
                                .await?;
                                arn
                            }
                            core::PriorityHolder::Other(m) => return Err(LbError::Conflict(m)),
                            core::PriorityHolder::Nobody => return Err(e.into()),
                        }
                    }
                    Err(e) => return Err(e.into()),
                };
                record(records, t.part(OwnedKind::ListenerRule, &arn));
                let note = format!(
                    "created listener rule (priority {}) on {listener} forwarding to the target group",
                    rule.priority
                );
                t.event(ctx, "RuleCreated", note).await;
                arn
            }
            RulePlan::Modify { conditions: _, action } => {
                let arn = observed.map(|o| o.arn).unwrap_or_default();
                elbv2::modify_rule(&client, &arn, &conditions, action.then_some(tg_arn.as_str())).await?;
                t.event(ctx, "RuleUpdated", format!("updated listener rule {arn}")).await;
                arn
            }
            RulePlan::SetPriority => {
                let arn = observed.map(|o| o.arn).unwrap_or_default();
                elbv2::set_rule_priority(&client, &arn, rule.priority).await?;
                t.event(ctx, "RuleUpdated", format!("moved listener rule to priority {}", rule.priority)).await;
                arn
            }
            RulePlan::Keep => observed.map(|o| o.arn).unwrap_or_default(),
        };
        if created_rule {
            created.push(arn.clone());
        } else if !matches!(plan, RulePlan::Keep) {
            ctx.listener_rules.invalidate((t.region.to_string(), listener.clone()), listener);
        }
        wanted.push(t.part(OwnedKind::ListenerRule, &arn));
        status.rule_arn = Some(arn.clone());
        rule_arn = Some(arn);
        if created_lb.is_none() && t.need_listener_load_balancer {
            status.load_balancer_arn = Some(listener_load_balancer(&client, t, listener).await?);
        }
    }

    if t.spec_changed {
        let existing: Vec<OwnedResource> = wanted.iter().filter(|p| !created.contains(&p.id)).cloned().collect();
        sync_tags(&client, ctx, t, &existing).await?;
    }

    // A target group made in this pass has no targets yet: nothing to read.
    let (healthy, unhealthy) = if tg_created { (0, 0) } else { target_health(ctx, &client, t, &tg_arn).await? };
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
        wanted,
    })
}

/// The load balancer of a listener someone else owns: from the last status when
/// the listener is the same, else asked once.
async fn listener_load_balancer(client: &Client, t: &LbTarget<'_>, listener: &str) -> Result<String, AwsError> {
    let previous = t.obj.status.as_ref().and_then(|s| s.load_balancer.as_ref());
    match previous {
        Some(lb) if lb.listener_arn.as_deref() == Some(listener) && lb.load_balancer_arn.is_some() => {
            Ok(lb.load_balancer_arn.clone().unwrap_or_default())
        }
        _ => elbv2::load_balancer_of_listener(client, listener).await,
    }
}

/// Brings the tags of every part to the spec's (user tags plus ownership tags).
async fn sync_tags(client: &Client, ctx: &Context, t: &LbTarget<'_>, parts: &[OwnedResource]) -> Result<(), AwsError> {
    let arns: Vec<String> = parts.iter().map(|p| p.id.clone()).collect();
    let current = elbv2::tags_of(client, &arns).await?;
    for arn in &arns {
        let diff = tags::diff(&t.tags, current.get(arn).unwrap_or(&BTreeMap::new()));
        if diff.is_empty() {
            continue;
        }
        if !diff.set.is_empty() {
            elbv2::add_tags(client, arn, &diff.set).await?;
        }
        if !diff.remove.is_empty() {
            elbv2::remove_tags(client, arn, &diff.remove).await?;
        }
        let note = format!("set tags {:?}, removed {:?} on {arn}", diff.set.keys().collect::<Vec<_>>(), diff.remove);
        t.event(ctx, "TagsUpdated", note).await;
    }
    Ok(())
}

/// The load balancer parts an object created that its record may lack (made by
/// an operator version that kept no record, or by a reconcile whose status write
/// was lost): found by their names and ownership tags.
pub async fn discover(
    ctx: &Context,
    obj: &Service,
    owner: &Owner,
    region: &str,
) -> Result<Vec<OwnedResource>, AwsError> {
    let client = ctx.aws.elbv2(region);
    let ns = obj.namespace().unwrap_or_default();
    let name = |suffix: &str| core::resource_name(&ns, &obj.name_any(), &owner.instance, suffix);
    let part = |kind, arn: &str| owned::resource(kind, arn, region, None);
    let mut candidates = Vec::new();
    // One name a call: ELB fails a call naming a missing target group, and the
    // `-g` one exists only for blue/green.
    let mut target_groups = Vec::new();
    for n in [name(""), name("-g")] {
        target_groups.extend(elbv2::find_target_group(&client, &n).await?);
    }
    for tg in &target_groups {
        candidates.push(part(OwnedKind::TargetGroup, &tg.arn));
    }
    if let Some(lb) = elbv2::find_load_balancer(&client, &name("")).await? {
        candidates.push(part(OwnedKind::LoadBalancer, &lb.arn));
        for l in elbv2::listeners(&client, &lb.arn).await? {
            candidates.push(part(OwnedKind::Listener, &l.arn));
        }
    }
    // Rules forwarding to those target groups: on the spec's listener, and on
    // every listener of the load balancers the target groups serve (the spec may
    // no longer name the listener).
    let mut listeners: Vec<String> =
        obj.spec.load_balancer.as_ref().and_then(|lb| lb.listener_arn.clone()).into_iter().collect();
    for lb in target_groups.iter().flat_map(|tg| tg.load_balancer_arns.clone()) {
        listeners.extend(elbv2::listeners(&client, &lb).await?.into_iter().map(|l| l.arn));
    }
    listeners.sort();
    listeners.dedup();
    for listener in &listeners {
        let rules = elbv2::listener_rules(&client, listener).await?;
        for tg in &target_groups {
            if let Some(rule) = core::rule_forwarding_to(&rules, &tg.arn) {
                candidates.push(part(OwnedKind::ListenerRule, &rule.arn));
            }
        }
    }
    let arns: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
    let mut tagged = BTreeMap::new();
    for chunk in arns.chunks(20) {
        tagged.extend(elbv2::tags_of(&client, chunk).await?);
    }
    // Listeners of our load balancer go with it.
    let lb_ours = candidates.iter().any(|c| {
        c.kind == OwnedKind::LoadBalancer
            && tagged.get(&c.id).is_some_and(|t| ownership::ownership(t, owner) == Ownership::Ours)
    });
    Ok(candidates
        .into_iter()
        .filter(|c| {
            (c.kind == OwnedKind::Listener && lb_ours)
                || tagged.get(&c.id).is_some_and(|t| ownership::ownership(t, owner) == Ownership::Ours)
        })
        .collect())
}

/// The rule of `listener` that forwards to `target_group`: from a fresh
/// DescribeRules, or from the listener's read shared by the reconciles of this
/// resync period (one DescribeRules per listener and period, whatever the number
/// of Services with a rule on it).
async fn rule_to(
    ctx: &Context,
    client: &aws_sdk_elasticloadbalancingv2::Client,
    region: &str,
    listener: &str,
    target_group: &str,
    fresh: bool,
) -> Result<Option<core::ObservedRule>, AwsError> {
    let key = (region.to_string(), listener.to_string());
    let rules = if fresh {
        let started = std::time::Instant::now();
        let rules = elbv2::listener_rules(client, listener).await?;
        ctx.listener_rules.store(key, listener, rules.clone(), started);
        rules
    } else {
        let client = client.clone();
        ctx.listener_rules
            .get(key, listener, |listeners| async move {
                let mut out = Vec::new();
                for l in listeners {
                    let rules = elbv2::listener_rules(&client, &l).await?;
                    out.push((l, rules));
                }
                Ok(out)
            })
            .await?
    };
    Ok(core::rule_forwarding_to(&rules, target_group))
}

/// The target group `name`: from a fresh DescribeTargetGroups, or from the read
/// shared by the reconciles of this resync period (20 names per call for every
/// target group the region's Services ask for).
async fn target_group_named(
    ctx: &Context,
    client: &Client,
    region: &str,
    name: &str,
    fresh: bool,
) -> Result<Option<core::ObservedTargetGroup>, AwsError> {
    let key = (region.to_string(), String::new());
    if fresh {
        let started = std::time::Instant::now();
        let found = elbv2::find_target_group(client, name).await?;
        ctx.target_groups.store(key, name, found.clone(), started);
        return Ok(found);
    }
    let client = client.clone();
    ctx.target_groups
        .get(key, name, |names| async move {
            let found = elbv2::target_groups_named(&client, &names).await?;
            Ok(names.iter().map(|n| (n.clone(), found.iter().find(|tg| &tg.name == n).cloned())).collect())
        })
        .await
}
