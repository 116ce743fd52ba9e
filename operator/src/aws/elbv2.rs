//! Elastic Load Balancing v2 calls: target groups, load balancers, listeners,
//! rules and target health. The operator never registers or deregisters targets:
//! ECS does that.

use super::AwsError;
use super::error::absent_if;
use crate::core::load_balancer::{
    DEFAULT_DEREGISTRATION_DELAY, DesiredLoadBalancer, DesiredTargetGroup, ObservedListener, ObservedLoadBalancer,
    ObservedRule, ObservedTargetGroup, RuleConditions,
};
use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, FixedResponseActionConfig, ForwardActionConfig, HostHeaderConditionConfig,
    LoadBalancerSchemeEnum, Matcher, PathPatternConditionConfig, ProtocolEnum, RuleCondition, RulePriorityPair, Tag,
    TargetGroupAttribute, TargetGroupTuple, TargetTypeEnum,
};
use std::collections::BTreeMap;

fn tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

fn not_found(err: &AwsError, codes: &[&str]) -> bool {
    err.code().is_some_and(|c| codes.contains(&c))
}

/// The target group named `name`, if it exists.
pub async fn find_target_group(client: &Client, name: &str) -> Result<Option<ObservedTargetGroup>, AwsError> {
    Ok(target_groups_named(client, std::slice::from_ref(&name.to_string())).await?.into_iter().next())
}

/// The target groups of these names that exist, 20 names per
/// DescribeTargetGroups. ELB fails the whole call when one name is missing:
/// then the names of that call are asked one by one.
pub async fn target_groups_named(client: &Client, names: &[String]) -> Result<Vec<ObservedTargetGroup>, AwsError> {
    let mut found = Vec::new();
    for chunk in names.chunks(20) {
        match describe_target_groups(client, chunk).await? {
            Some(groups) => found.extend(groups),
            None if chunk.len() > 1 => {
                for name in chunk {
                    found.extend(describe_target_groups(client, std::slice::from_ref(name)).await?.unwrap_or_default());
                }
            }
            None => {}
        }
    }
    Ok(found)
}

// `None` when ELB says one of the names does not exist.
async fn describe_target_groups(
    client: &Client,
    names: &[String],
) -> Result<Option<Vec<ObservedTargetGroup>>, AwsError> {
    let out = match client.describe_target_groups().set_names(Some(names.to_vec())).send().await {
        Ok(out) => out,
        Err(e) => {
            let err = AwsError::from_sdk("DescribeTargetGroups", e);
            return if not_found(&err, &["TargetGroupNotFound", "TargetGroupNotFoundException"]) {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    Ok(Some(out.target_groups().iter().map(observed_target_group).collect()))
}

fn observed_target_group(tg: &aws_sdk_elasticloadbalancingv2::types::TargetGroup) -> ObservedTargetGroup {
    ObservedTargetGroup {
        arn: tg.target_group_arn().unwrap_or_default().to_string(),
        name: tg.target_group_name().unwrap_or_default().to_string(),
        vpc_id: tg.vpc_id().unwrap_or_default().to_string(),
        port: tg.port().unwrap_or_default(),
        protocol: tg.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
        target_type: tg.target_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        health_check_path: tg.health_check_path().unwrap_or("/").to_string(),
        health_check_interval: tg.health_check_interval_seconds().unwrap_or(30),
        health_check_timeout: tg.health_check_timeout_seconds().unwrap_or(5),
        healthy_threshold: tg.healthy_threshold_count().unwrap_or(5),
        unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or(2),
        matcher: tg.matcher().and_then(|m| m.http_code()).unwrap_or("200").to_string(),
        load_balancer_arns: tg.load_balancer_arns().to_vec(),
    }
}

/// Tags of up to 20 resources.
pub async fn tags_of(client: &Client, arns: &[String]) -> Result<BTreeMap<String, BTreeMap<String, String>>, AwsError> {
    if arns.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = client
        .describe_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTags", e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .map(|d| {
            let tags = d
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
                .collect();
            (d.resource_arn().unwrap_or_default().to_string(), tags)
        })
        .collect())
}

pub async fn add_tags(client: &Client, arn: &str, map: &BTreeMap<String, String>) -> Result<(), AwsError> {
    client
        .add_tags()
        .resource_arns(arn)
        .set_tags(Some(tags(map)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("AddTags", e))?;
    Ok(())
}

pub async fn remove_tags(client: &Client, arn: &str, keys: &[String]) -> Result<(), AwsError> {
    client
        .remove_tags()
        .resource_arns(arn)
        .set_tag_keys(Some(keys.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("RemoveTags", e))?;
    Ok(())
}

/// The deregistration delay of a target group, in seconds.
pub async fn deregistration_delay(client: &Client, arn: &str) -> Result<Option<i32>, AwsError> {
    let out = client
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTargetGroupAttributes", e))?;
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value())
        .and_then(|v| v.parse().ok()))
}

/// Creates the target group and sets its deregistration delay; returns it as
/// the answer shows it (`None` if the answer named none).
pub async fn create_target_group(
    client: &Client,
    d: &DesiredTargetGroup,
    owner: &BTreeMap<String, String>,
) -> Result<Option<ObservedTargetGroup>, AwsError> {
    let out = client
        .create_target_group()
        .name(&d.name)
        .protocol(ProtocolEnum::from(d.protocol))
        .port(d.port)
        .vpc_id(&d.vpc_id)
        .target_type(TargetTypeEnum::from(d.target_type))
        .health_check_path(&d.health_check_path)
        .health_check_interval_seconds(d.health_check_interval)
        .health_check_timeout_seconds(d.health_check_timeout)
        .healthy_threshold_count(d.healthy_threshold)
        .unhealthy_threshold_count(d.unhealthy_threshold)
        .matcher(Matcher::builder().http_code(&d.matcher).build())
        .set_tags(Some(tags(owner)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateTargetGroup", e))?;
    let created = out.target_groups().first().map(observed_target_group);
    // A new group has ELB's default delay: set only another one.
    if let Some(tg) = created.as_ref().filter(|_| d.deregistration_delay != DEFAULT_DEREGISTRATION_DELAY) {
        set_deregistration_delay(client, &tg.arn, d.deregistration_delay).await?;
    }
    Ok(created)
}

pub async fn set_deregistration_delay(client: &Client, arn: &str, seconds: i32) -> Result<(), AwsError> {
    client
        .modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(seconds.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ModifyTargetGroupAttributes", e))?;
    Ok(())
}

pub async fn modify_health_check(client: &Client, arn: &str, d: &DesiredTargetGroup) -> Result<(), AwsError> {
    client
        .modify_target_group()
        .target_group_arn(arn)
        .health_check_path(&d.health_check_path)
        .health_check_interval_seconds(d.health_check_interval)
        .health_check_timeout_seconds(d.health_check_timeout)
        .healthy_threshold_count(d.healthy_threshold)
        .unhealthy_threshold_count(d.unhealthy_threshold)
        .matcher(Matcher::builder().http_code(&d.matcher).build())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ModifyTargetGroup", e))?;
    Ok(())
}

/// Deletes a target group; one still used by a listener answers ResourceInUse,
/// which is retryable.
pub async fn delete_target_group(client: &Client, arn: &str) -> Result<(), AwsError> {
    let sent = client
        .delete_target_group()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteTargetGroup", e));
    absent_if(sent, &["TargetGroupNotFound", "TargetGroupNotFoundException"]).map(|_| ())
}

/// Target health states of a target group.
pub async fn target_states(client: &Client, arn: &str) -> Result<Vec<String>, AwsError> {
    let out = client
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeTargetHealth", e))?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .map(|t| t.target_health().and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default())
        .collect())
}

/// The load balancer a listener belongs to.
pub async fn load_balancer_of_listener(client: &Client, listener_arn: &str) -> Result<String, AwsError> {
    let out = client
        .describe_listeners()
        .listener_arns(listener_arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeListeners", e))?;
    Ok(out.listeners().first().and_then(|l| l.load_balancer_arn()).unwrap_or_default().to_string())
}

/// The VPC of a load balancer: target groups whose spec names no VPC go there.
pub async fn vpc_of_load_balancer(client: &Client, load_balancer_arn: &str) -> Result<Option<String>, AwsError> {
    let out = client
        .describe_load_balancers()
        .load_balancer_arns(load_balancer_arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DescribeLoadBalancers", e))?;
    Ok(out.load_balancers().first().and_then(|l| l.vpc_id()).map(str::to_string))
}

fn observed_load_balancer(l: &aws_sdk_elasticloadbalancingv2::types::LoadBalancer) -> ObservedLoadBalancer {
    ObservedLoadBalancer {
        arn: l.load_balancer_arn().unwrap_or_default().to_string(),
        dns_name: l.dns_name().unwrap_or_default().to_string(),
        vpc_id: l.vpc_id().unwrap_or_default().to_string(),
        scheme: l.scheme().map(|s| s.as_str().to_string()).unwrap_or_default(),
        subnets: l.availability_zones().iter().filter_map(|z| z.subnet_id().map(str::to_string)).collect(),
        security_groups: l.security_groups().to_vec(),
    }
}

/// A load balancer by name.
pub async fn find_load_balancer(client: &Client, name: &str) -> Result<Option<ObservedLoadBalancer>, AwsError> {
    match client.describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out.load_balancers().first().map(observed_load_balancer)),
        Err(e) => {
            let err = AwsError::from_sdk("DescribeLoadBalancers", e);
            if not_found(&err, &["LoadBalancerNotFound", "LoadBalancerNotFoundException"]) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

pub async fn set_subnets(client: &Client, arn: &str, subnets: &[String]) -> Result<(), AwsError> {
    client
        .set_subnets()
        .load_balancer_arn(arn)
        .set_subnets(Some(subnets.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SetSubnets", e))?;
    Ok(())
}

pub async fn set_security_groups(client: &Client, arn: &str, groups: &[String]) -> Result<(), AwsError> {
    client
        .set_security_groups()
        .load_balancer_arn(arn)
        .set_security_groups(Some(groups.to_vec()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SetSecurityGroups", e))?;
    Ok(())
}

pub async fn create_load_balancer(
    client: &Client,
    d: &DesiredLoadBalancer,
    owner: &BTreeMap<String, String>,
) -> Result<ObservedLoadBalancer, AwsError> {
    let out = client
        .create_load_balancer()
        .name(&d.name)
        .scheme(LoadBalancerSchemeEnum::from(d.scheme))
        .set_subnets(Some(d.subnets.clone()))
        .set_security_groups((!d.security_groups.is_empty()).then(|| d.security_groups.clone()))
        .set_tags(Some(tags(owner)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateLoadBalancer", e))?;
    out.load_balancers().first().map(observed_load_balancer).ok_or_else(|| AwsError::Transport {
        operation: "CreateLoadBalancer",
        message: "response had no load balancer".into(),
    })
}

pub async fn delete_load_balancer(client: &Client, arn: &str) -> Result<(), AwsError> {
    let sent = client
        .delete_load_balancer()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("DeleteLoadBalancer", e));
    absent_if(sent, &["LoadBalancerNotFound", "LoadBalancerNotFoundException"]).map(|_| ())
}

fn forward(target_group_arn: &str) -> Action {
    Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(target_group_arn).build()
}

/// Forward to `primary`, with `alternate` at weight 0 for blue/green.
fn weighted_forward(primary: &str, alternate: Option<&str>) -> Action {
    match alternate {
        None => forward(primary),
        Some(alt) => Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(TargetGroupTuple::builder().target_group_arn(primary).weight(100).build())
                    .target_groups(TargetGroupTuple::builder().target_group_arn(alt).weight(0).build())
                    .build(),
            )
            .build(),
    }
}

/// The listeners of a load balancer.
pub async fn listeners(client: &Client, load_balancer_arn: &str) -> Result<Vec<ObservedListener>, AwsError> {
    let out = match client.describe_listeners().load_balancer_arn(load_balancer_arn).send().await {
        Ok(out) => out,
        Err(e) => {
            let err = AwsError::from_sdk("DescribeListeners", e);
            return if not_found(&err, &["LoadBalancerNotFound", "LoadBalancerNotFoundException"]) {
                Ok(Vec::new())
            } else {
                Err(err)
            };
        }
    };
    Ok(out
        .listeners()
        .iter()
        .map(|l| ObservedListener {
            arn: l.listener_arn().unwrap_or_default().to_string(),
            port: l.port().unwrap_or_default(),
            protocol: l.protocol().map(|p| p.as_str().to_string()).unwrap_or_default(),
            certificate_arn: l.certificates().first().and_then(|c| c.certificate_arn()).map(str::to_string),
            default_targets: l
                .default_actions()
                .iter()
                .flat_map(|a| a.target_group_arn().map(|t| vec![t.to_string()]).unwrap_or_else(|| forward_targets(a)))
                .collect(),
        })
        .collect())
}

fn forward_targets(action: &Action) -> Vec<String> {
    action
        .forward_config()
        .map(|f| f.target_groups().iter().filter_map(|t| t.target_group_arn().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Forward to the target group, or answer 404 when `None` (rules do the routing).
fn default_action(target_group_arn: Option<&str>) -> Action {
    match target_group_arn {
        Some(tg) => forward(tg),
        None => Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code("404")
                    .content_type("text/plain")
                    .message_body("no route")
                    .build(),
            )
            .build(),
    }
}

pub async fn create_listener(
    client: &Client,
    load_balancer_arn: &str,
    d: &DesiredLoadBalancer,
    target_group_arn: Option<&str>,
    owner: &BTreeMap<String, String>,
) -> Result<String, AwsError> {
    let out = client
        .create_listener()
        .load_balancer_arn(load_balancer_arn)
        .port(d.listener_port)
        .protocol(ProtocolEnum::from(d.listener_protocol))
        .set_certificates(d.certificate_arn.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c).build()]))
        .default_actions(default_action(target_group_arn))
        .set_tags(Some(tags(owner)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateListener", e))?;
    Ok(out.listeners().first().and_then(|l| l.listener_arn()).unwrap_or_default().to_string())
}

/// Brings an existing listener to the port, protocol, certificate and default
/// action of `d`, in place.
pub async fn modify_listener(
    client: &Client,
    listener_arn: &str,
    d: &DesiredLoadBalancer,
    target_group_arn: Option<&str>,
) -> Result<(), AwsError> {
    client
        .modify_listener()
        .listener_arn(listener_arn)
        .port(d.listener_port)
        .protocol(ProtocolEnum::from(d.listener_protocol))
        .set_certificates(d.certificate_arn.as_ref().map(|c| vec![Certificate::builder().certificate_arn(c).build()]))
        .default_actions(default_action(target_group_arn))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ModifyListener", e))?;
    Ok(())
}

pub async fn delete_listener(client: &Client, arn: &str) -> Result<(), AwsError> {
    let sent =
        client.delete_listener().listener_arn(arn).send().await.map_err(|e| AwsError::from_sdk("DeleteListener", e));
    absent_if(sent, &["ListenerNotFound", "ListenerNotFoundException"]).map(|_| ())
}

fn conditions(c: &RuleConditions) -> Vec<RuleCondition> {
    let mut out = Vec::new();
    if !c.path_patterns.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder().set_values(Some(c.path_patterns.clone())).build(),
                )
                .build(),
        );
    }
    if !c.host_headers.is_empty() {
        out.push(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder().set_values(Some(c.host_headers.clone())).build(),
                )
                .build(),
        );
    }
    out
}

/// The rules of a listener that forward to `target_group_arn`.
pub async fn find_rule(
    client: &Client,
    listener_arn: &str,
    target_group_arn: &str,
) -> Result<Option<ObservedRule>, AwsError> {
    Ok(crate::core::load_balancer::rule_forwarding_to(&listener_rules(client, listener_arn).await?, target_group_arn))
}

/// Every rule of a listener but the default one, all pages.
pub async fn listener_rules(client: &Client, listener_arn: &str) -> Result<Vec<ObservedRule>, AwsError> {
    let mut rules = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = client
            .describe_rules()
            .listener_arn(listener_arn)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeRules", e))?;
        rules.extend(out.rules().iter().filter(|r| !r.is_default().unwrap_or(false)).map(observed_rule));
        match out.next_marker() {
            Some(next) if !next.is_empty() => marker = Some(next.to_string()),
            _ => return Ok(rules),
        }
    }
}

fn observed_rule(r: &aws_sdk_elasticloadbalancingv2::types::Rule) -> ObservedRule {
    let mut path_patterns: Vec<String> = Vec::new();
    let mut host_headers: Vec<String> = Vec::new();
    for c in r.conditions() {
        match c.field() {
            Some("path-pattern") => path_patterns
                .extend(c.path_pattern_config().map(|p| p.values().to_vec()).unwrap_or_else(|| c.values().to_vec())),
            Some("host-header") => host_headers
                .extend(c.host_header_config().map(|p| p.values().to_vec()).unwrap_or_else(|| c.values().to_vec())),
            _ => {}
        }
    }
    path_patterns.sort();
    host_headers.sort();
    let mut targets: Vec<String> = r
        .actions()
        .iter()
        .flat_map(|a| a.target_group_arn().map(|t| vec![t.to_string()]).unwrap_or_else(|| forward_targets(a)))
        .collect();
    targets.dedup();
    ObservedRule {
        arn: r.rule_arn().unwrap_or_default().to_string(),
        priority: r.priority().and_then(|p| p.parse().ok()),
        conditions: RuleConditions { path_patterns, host_headers },
        target_group_arns: targets,
    }
}

pub async fn create_rule(
    client: &Client,
    listener_arn: &str,
    priority: i32,
    c: &RuleConditions,
    target_group_arn: &str,
    alternate: Option<&str>,
    owner: &BTreeMap<String, String>,
) -> Result<Option<ObservedRule>, AwsError> {
    let out = client
        .create_rule()
        .listener_arn(listener_arn)
        .priority(priority)
        .set_conditions(Some(conditions(c)))
        .actions(weighted_forward(target_group_arn, alternate))
        .set_tags(Some(tags(owner)))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("CreateRule", e))?;
    Ok(out.rules().first().map(observed_rule))
}

pub async fn modify_rule(
    client: &Client,
    rule_arn: &str,
    c: &RuleConditions,
    action: Option<&str>,
) -> Result<(), AwsError> {
    client
        .modify_rule()
        .rule_arn(rule_arn)
        .set_conditions(Some(conditions(c)))
        .set_actions(action.map(|tg| vec![forward(tg)]))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ModifyRule", e))?;
    Ok(())
}

pub async fn set_rule_priority(client: &Client, rule_arn: &str, priority: i32) -> Result<(), AwsError> {
    client
        .set_rule_priorities()
        .rule_priorities(RulePriorityPair::builder().rule_arn(rule_arn).priority(priority).build())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("SetRulePriorities", e))?;
    Ok(())
}

pub async fn delete_rule(client: &Client, arn: &str) -> Result<(), AwsError> {
    let sent = client.delete_rule().rule_arn(arn).send().await.map_err(|e| AwsError::from_sdk("DeleteRule", e));
    absent_if(sent, &["RuleNotFound", "RuleNotFoundException"]).map(|_| ())
}
