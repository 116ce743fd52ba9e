//! The AWS inventory of a test: every resource its namespace owns, in words that a
//! test's pure "expected" function can produce from the specs, so that orphans
//! and duplicates show as a difference of two sets.

use crate::TestContext;
use aws_sdk_applicationautoscaling::types::ServiceNamespace;
use std::collections::{BTreeMap, BTreeSet};

const OWNER_TAG: &str = "ecs.operator.dev/owner";

// A resource seen twice shows as `duplicate: <line>`, which no expected set holds.
fn add(out: &mut BTreeSet<String>, line: String) {
    if out.contains(&line) {
        out.insert(format!("duplicate: {line}"));
    } else {
        out.insert(line);
    }
}

/// What AWS holds of the resources this test's namespace owns (by the ownership
/// tag), one resource a line: `cluster <name>`, `service <cluster>/<name>`,
/// `target group of <Service>`, `load balancer of <Service>`, `listener of
/// <Service> on <port>`, `rule on <listener label> to <Service>` (or `... to a
/// target group nobody owns: <arn>`), `scalable target <id>`, `policy <name>`.
/// `clusters` are the ECS cluster names to look in; `shared` are listeners the
/// test made itself, as (ARN, label).
pub async fn inventory(
    ctx: &TestContext,
    clusters: &[String],
    shared: &[(String, String)],
) -> Result<BTreeSet<String>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let ns_prefix = format!("{}/", ctx.namespace);
    let ours = |tags: &BTreeMap<String, String>| tags.get(OWNER_TAG).is_some_and(|o| o.starts_with(&ns_prefix));
    let owner_name = |tags: &BTreeMap<String, String>| {
        tags.get(OWNER_TAG).and_then(|o| o.rsplit('/').next()).unwrap_or_default().to_string()
    };
    let mut out = BTreeSet::new();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let found = ecs
        .describe_clusters()
        .set_clusters(Some(clusters.to_vec()))
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .map_err(|x| e(&x))?;
    for c in found.clusters().iter().filter(|c| c.status() != Some("INACTIVE")) {
        let tags = c.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
        if ours(&tags) {
            add(&mut out, format!("cluster {}", c.cluster_name().unwrap_or_default()));
            let cluster_arn = c.cluster_arn().unwrap_or_default();
            // ListServices pages by 10; DescribeServices takes 10 at a time.
            let mut arns = Vec::new();
            let mut pages = ecs.list_services().cluster(cluster_arn).into_paginator().send();
            while let Some(page) = pages.next().await {
                arns.extend(page.map_err(|x| e(&x))?.service_arns().iter().cloned());
            }
            let mut services = Vec::new();
            for chunk in arns.chunks(10) {
                let found = ecs
                    .describe_services()
                    .cluster(cluster_arn)
                    .set_services(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|x| e(&x))?;
                services.extend(found.services().iter().cloned());
            }
            for s in services.iter().filter(|s| s.status() != Some("INACTIVE")) {
                add(
                    &mut out,
                    format!(
                        "service {}/{}",
                        c.cluster_name().unwrap_or_default(),
                        s.service_name().unwrap_or_default()
                    ),
                );
            }
        }
    }

    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let tags_of = |arns: Vec<String>| {
        let elb = elb.clone();
        async move {
            let mut all = BTreeMap::new();
            for chunk in arns.chunks(20) {
                let t = elb
                    .describe_tags()
                    .set_resource_arns(Some(chunk.to_vec()))
                    .send()
                    .await
                    .map_err(|x| x.to_string())?;
                for d in t.tag_descriptions() {
                    let tags: BTreeMap<String, String> =
                        d.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string()))).collect();
                    all.insert(d.resource_arn().unwrap_or_default().to_string(), tags);
                }
            }
            Ok::<_, String>(all)
        }
    };
    let tgs = elb.describe_target_groups().send().await.map_err(|x| e(&x))?;
    let tg_arns: Vec<String> =
        tgs.target_groups().iter().filter_map(|t| t.target_group_arn().map(str::to_string)).collect();
    let tg_tags = tags_of(tg_arns).await?;
    // Target group ARN -> owning Service name, for this test's groups.
    let tg_owner: BTreeMap<String, String> =
        tg_tags.iter().filter(|(_, t)| ours(t)).map(|(arn, t)| (arn.clone(), owner_name(t))).collect();
    for owner in tg_owner.values() {
        add(&mut out, format!("target group of {owner}"));
    }
    let lbs = elb.describe_load_balancers().send().await.map_err(|x| e(&x))?;
    let lb_arns: Vec<String> =
        lbs.load_balancers().iter().filter_map(|l| l.load_balancer_arn().map(str::to_string)).collect();
    let lb_tags = tags_of(lb_arns).await?;
    let mut listeners: Vec<(String, String)> = shared.to_vec();
    for (arn, tags) in lb_tags.iter().filter(|(_, t)| ours(t)) {
        let owner = owner_name(tags);
        add(&mut out, format!("load balancer of {owner}"));
        let ls = elb.describe_listeners().load_balancer_arn(arn).send().await.map_err(|x| e(&x))?;
        for l in ls.listeners() {
            add(&mut out, format!("listener of {owner} on {}", l.port().unwrap_or_default()));
            listeners.push((l.listener_arn().unwrap_or_default().to_string(), format!("the listener of {owner}")));
        }
    }
    for (listener, label) in listeners {
        let rules = elb.describe_rules().listener_arn(&listener).send().await.map_err(|x| e(&x))?;
        for r in rules.rules().iter().filter(|r| !r.is_default().unwrap_or(false)) {
            for a in r.actions() {
                let targets: Vec<String> = match a.target_group_arn() {
                    Some(t) => vec![t.to_string()],
                    None => a
                        .forward_config()
                        .map(|f| {
                            f.target_groups().iter().filter_map(|t| t.target_group_arn().map(str::to_string)).collect()
                        })
                        .unwrap_or_default(),
                };
                for t in targets {
                    match tg_owner.get(&t) {
                        Some(owner) => add(&mut out, format!("rule on {label} to {owner}")),
                        None => add(&mut out, format!("rule on {label} to a target group nobody owns: {t}")),
                    };
                }
            }
        }
    }

    let aas = aws_sdk_applicationautoscaling::Client::new(&ctx.aws);
    let in_ours = |id: &str| clusters.iter().any(|c| id.starts_with(&format!("service/{c}/")));
    let targets =
        aas.describe_scalable_targets().service_namespace(ServiceNamespace::Ecs).send().await.map_err(|x| e(&x))?;
    for t in targets.scalable_targets().iter().filter(|t| in_ours(t.resource_id())) {
        add(&mut out, format!("scalable target {}", t.resource_id()));
    }
    let policies =
        aas.describe_scaling_policies().service_namespace(ServiceNamespace::Ecs).send().await.map_err(|x| e(&x))?;
    for p in policies.scaling_policies().iter().filter(|p| in_ours(p.resource_id())) {
        add(&mut out, format!("policy {}", p.policy_name()));
    }
    Ok(out)
}
