//! Everyday edits of existing objects, each ending in exactly the AWS state the
//! final spec describes: parts that moved are made before the old ones are
//! removed, parts the spec dropped are deleted, and what AWS cannot change is
//! refused at apply time or reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use ecs_operator::crd::service::OwnedKind;
use ecs_operator::crd::{Service, TaskDefinition};
use ecs_operator_tests::conditions::{condition_of, wait_converged, wait_for_reason};
use ecs_operator_tests::fixtures::{
    cluster_and_task, describe, existing_listener, fargate_service as service, network,
};
use ecs_operator_tests::{TestContext, eventually};
use kube::Api;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

fn rule_on(listener: &str, priority: i32) -> String {
    format!(
        "  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /health}}}}
    listenerArn: {listener}
    rule: {{priority: {priority}, pathPatterns: ['/api/*']}}
"
    )
}

/// The rules of `listener` that forward to `target_group`.
async fn rules_to(ctx: &TestContext, listener: &str, target_group: &str) -> Vec<String> {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let rules = elb.describe_rules().listener_arn(listener).send().await.unwrap();
    rules
        .rules()
        .iter()
        .filter(|r| {
            r.actions().iter().any(|a| {
                a.target_group_arn() == Some(target_group)
                    || a.forward_config()
                        .is_some_and(|f| f.target_groups().iter().any(|t| t.target_group_arn() == Some(target_group)))
            })
        })
        .filter_map(|r| r.rule_arn().map(str::to_string))
        .collect()
}

async fn target_group_exists(ctx: &TestContext, arn: &str) -> bool {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    elb.describe_target_groups().target_group_arns(arn).send().await.is_ok_and(|o| !o.target_groups().is_empty())
}

#[tokio::test]
async fn a_rule_moves_to_another_listener_and_a_removed_load_balancer_leaves_nothing() {
    let ctx = TestContext::new("edit-listener").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let first = existing_listener(&ctx, &net, "one", 80).await;
    let second = existing_listener(&ctx, &net, "two", 80).await;
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, &rule_on(&first, 10))).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let lb = wait_converged(&api, "api").await.status.unwrap().load_balancer.unwrap();
    let tg = lb.target_group_arn.unwrap();
    assert_eq!(rules_to(&ctx, &first, &tg).await.len(), 1);

    // Move: the new rule exists, the old one is gone, the target group stays.
    ctx.apply_ok(&service(&net, &rule_on(&second, 10))).unwrap();
    let obj = wait_converged(&api, "api").await;
    assert_eq!(
        obj.status.as_ref().unwrap().load_balancer.as_ref().unwrap().listener_arn.as_deref(),
        Some(second.as_str())
    );
    assert_eq!(rules_to(&ctx, &second, &tg).await.len(), 1, "the rule on the new listener");
    assert!(rules_to(&ctx, &first, &tg).await.is_empty(), "nothing left forwarding from the old listener");
    let recorded = &obj.status.unwrap().resources;
    assert_eq!(recorded.iter().filter(|r| r.kind == OwnedKind::ListenerRule).count(), 1, "{recorded:?}");

    // Remove the load balancer: the service detaches, rule and target group go.
    ctx.apply_ok(&service(&net, "")).unwrap();
    let obj = wait_converged(&api, "api").await;
    assert!(obj.status.as_ref().unwrap().load_balancer.is_none());
    assert!(!target_group_exists(&ctx, &tg).await, "target group deleted");
    assert!(rules_to(&ctx, &second, &tg).await.is_empty());
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert!(svc.load_balancers().is_empty(), "{:?}", svc.load_balancers());
    let kinds: Vec<OwnedKind> = obj.status.unwrap().resources.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![OwnedKind::EcsService]);

    // Deleting finishes (it used to wait forever for a rule nobody deleted).
    ctx.apply_ok(&service(&net, &rule_on(&first, 11))).unwrap();
    let tg = wait_converged(&api, "api").await.status.unwrap().load_balancer.unwrap().target_group_arn.unwrap();
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    assert!(describe(&ctx, &cluster, "api").await.is_none());
    assert!(!target_group_exists(&ctx, &tg).await);
    assert!(rules_to(&ctx, &first, &tg).await.is_empty());
}

fn created_alb(port: i32, subnets: &[String], sg: &str, extra_tg: &str) -> String {
    format!(
        "  tags: {{team: shop}}
  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /health}}{extra_tg}}}
    rule: {{priority: 10, pathPatterns: ['/api/*']}}
    create:
      scheme: internet-facing
      subnets: [{subnets}]
      securityGroups: [{sg}]
      listener: {{port: {port}, protocol: HTTP}}
",
        subnets = subnets.join(", "),
    )
}

#[tokio::test]
async fn a_created_load_balancer_changes_in_place_and_refuses_a_new_scheme() {
    let ctx = TestContext::new("edit-alb").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    let sg = net.security_group_id.clone();
    ctx.apply_ok(&service(&net, &created_alb(80, &net.subnet_ids, &sg, ""))).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let lb = wait_converged(&api, "api").await.status.unwrap().load_balancer.unwrap();
    let (lb_arn, listener, tg) =
        (lb.load_balancer_arn.unwrap(), lb.listener_arn.unwrap(), lb.target_group_arn.unwrap());
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);

    // New port, other subnets and security group, a deregistration delay and a
    // new tag, all at once: changed in place, nothing added beside.
    let subnets = vec![net.subnet_ids[0].clone(), net.spare_subnet_id.clone()];
    let edited = created_alb(8080, &subnets, &net.spare_security_group_id, ", deregistrationDelaySeconds: 30")
        .replace("team: shop", "team: shop, tier: web");
    ctx.apply_ok(&service(&net, &edited)).unwrap();
    let obj = wait_converged(&api, "api").await;
    let listeners = elb.describe_listeners().load_balancer_arn(&lb_arn).send().await.unwrap();
    let ports: Vec<(String, Option<i32>)> =
        listeners.listeners().iter().map(|l| (l.listener_arn().unwrap().to_string(), l.port())).collect();
    assert_eq!(ports, vec![(listener.clone(), Some(8080))], "one listener, moved to 8080");
    let lbs = elb.describe_load_balancers().load_balancer_arns(&lb_arn).send().await.unwrap();
    let found = &lbs.load_balancers()[0];
    let mut have: Vec<String> =
        found.availability_zones().iter().filter_map(|z| z.subnet_id().map(str::to_string)).collect();
    have.sort();
    let mut want = subnets.clone();
    want.sort();
    assert_eq!(have, want);
    assert_eq!(found.security_groups(), std::slice::from_ref(&net.spare_security_group_id));
    let attrs = elb.describe_target_group_attributes().target_group_arn(&tg).send().await.unwrap();
    let delay = attrs.attributes().iter().find(|a| a.key() == Some("deregistration_delay.timeout_seconds"));
    assert_eq!(delay.and_then(|a| a.value()), Some("30"));
    let tags = elb.describe_tags().resource_arns(&tg).resource_arns(&lb_arn).send().await.unwrap();
    for d in tags.tag_descriptions() {
        assert!(d.tags().iter().any(|t| t.key() == Some("tier") && t.value() == Some("web")), "{d:?}");
    }
    assert_eq!(obj.status.unwrap().load_balancer.unwrap().listener_arn.as_deref(), Some(listener.as_str()));

    // HTTP to HTTPS with a certificate: the same listener again.
    let https = edited.replace(
        "listener: {port: 8080, protocol: HTTP}",
        &format!("listener: {{port: 443, protocol: HTTPS, certificateArn: '{}'}}", net.certificate_arn),
    );
    ctx.apply_ok(&service(&net, &https)).unwrap();
    wait_converged(&api, "api").await;
    let listeners = elb.describe_listeners().load_balancer_arn(&lb_arn).send().await.unwrap();
    let only = listeners.listeners();
    assert_eq!(only.len(), 1, "{only:?}");
    assert_eq!(only[0].listener_arn(), Some(listener.as_str()));
    assert_eq!((only[0].port(), only[0].protocol().map(|p| p.as_str())), (Some(443), Some("HTTPS")));
    assert_eq!(only[0].certificates().first().and_then(|c| c.certificate_arn()), Some(net.certificate_arn.as_str()));

    // The scheme cannot change in place: refused at apply, nothing changes.
    let internal = service(&net, &edited.replace("internet-facing", "internal"));
    let out = ctx.apply(&internal).unwrap();
    assert!(!out.status.success(), "a new scheme must be refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("scheme of a created load balancer cannot change"));

    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert!(!lbs.load_balancers().iter().any(|l| l.load_balancer_arn() == Some(lb_arn.as_str())));
    assert!(!target_group_exists(&ctx, &tg).await);
}

/// The Cluster `web` (ECS name `<prefix>-one`) with the TaskDefinition `api`, and
/// a second Cluster `web2` (`<prefix>-two`) to move to.
fn two_clusters(ctx: &TestContext) -> (String, String) {
    let (one, two) = (format!("{}-one", ctx.prefix), format!("{}-two", ctx.prefix));
    ctx.apply_ok(&cluster_and_task(ctx, &one, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: web2}}
spec: {{clusterName: {two}, capacityProviders: [FARGATE]}}
"
    ))
    .unwrap();
    (one, two)
}

#[tokio::test]
async fn a_service_moved_to_another_cluster_is_made_before_the_old_one_goes() {
    let ctx = TestContext::new("edit-move").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let (one, two) = two_clusters(&ctx);
    ctx.apply_ok(&service(&net, "")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let first = wait_converged(&api, "api").await.status.unwrap().arn.unwrap();

    ctx.apply_ok(&service(&net, "").replace("clusterRef: {name: web}", "clusterRef: {name: web2}")).unwrap();
    let obj = wait_converged(&api, "api").await;
    let status = obj.status.unwrap();
    assert_ne!(status.arn.as_deref(), Some(first.as_str()));
    assert!(describe(&ctx, &two, "api").await.is_some(), "the service runs in the new cluster");
    assert!(describe(&ctx, &one, "api").await.is_none(), "and no longer in the old one");
    let services: Vec<&str> =
        status.resources.iter().filter(|r| r.kind == OwnedKind::EcsService).map(|r| r.id.as_str()).collect();
    assert_eq!(services, vec![status.arn.as_deref().unwrap()]);

    // The old cluster is free to go.
    ctx.kubectl_ok(&["delete", "ecscluster/web", "--timeout=60s"]).unwrap();
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    assert!(describe(&ctx, &two, "api").await.is_none());
}

#[tokio::test]
async fn edits_aws_cannot_make_are_refused_at_apply() {
    let ctx = TestContext::new("edit-refused").await.unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, "")).unwrap();
    let refused = |yaml: String, needle: &'static str| {
        let out = ctx.apply(&yaml).unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success() && err.contains(needle), "expected {needle:?} in: {err}");
    };
    // Added where there was none: the old ECS service or family would be left.
    refused(service(&net, "  serviceName: other\n"), "serviceName cannot be set, changed or removed");
    let task = cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE");
    let family = format!("family: {}-api", ctx.prefix);
    refused(task.replace(&family, "family: other-api"), "family cannot be set, changed or removed");
    refused(task.replace(&family, &format!("{family}\n  region: eu-west-1")), "region cannot be set");
    refused(
        task.replace(
            &format!("spec: {{clusterName: {cluster}"),
            &format!("spec: {{region: eu-west-1, clusterName: {cluster}"),
        ),
        "region cannot be set",
    );
    let daemon = "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {name: agent}
spec:
  clusterRef: {name: web}
  taskDefinitionRef: {name: api}
  schedulingStrategy: DAEMON
  launchType: EC2
  desiredCount: 2
";
    refused(daemon.to_string(), "DAEMON services run one task per container instance");
}

#[tokio::test]
async fn a_task_definition_in_use_is_kept_until_its_service_is_gone() {
    let ctx = TestContext::new("edit-td-inuse").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, "")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let arn = wait_converged(&api, "api").await.status.unwrap().task_definition_arn.unwrap();
    ctx.kubectl_ok(&["delete", "taskdef/api", "--wait=false"]).unwrap();
    let tds: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let blocked = wait_for_reason(&tds, "api", "Synced", "DeletionBlocked").await;
    assert!(blocked.message.contains(&format!("{}/api", ctx.namespace)), "{}", blocked.message);
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let status = |arn: String| {
        let ecs = ecs.clone();
        async move {
            let out = ecs.describe_task_definition().task_definition(arn).send().await.unwrap();
            out.task_definition().and_then(|t| t.status()).map(|s| s.as_str().to_string()).unwrap_or_default()
        }
    };
    assert_eq!(status(arn.clone()).await, "ACTIVE", "the running service's revision stays");
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    eventually(WAIT, "the TaskDefinition deleted", || async {
        match tds.get_opt("api").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
    assert_eq!(status(arn).await, "INACTIVE");
}

async fn policy_names(ctx: &TestContext, resource: &str) -> Vec<String> {
    let aas = aws_sdk_applicationautoscaling::Client::new(&ctx.aws);
    let out = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource)
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = out.scaling_policies().iter().map(|p| p.policy_name().to_string()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn autoscaling_touches_only_what_it_made_and_its_removal_keeps_the_count() {
    let ctx = TestContext::new("edit-autoscale").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    let aas = aws_sdk_applicationautoscaling::Client::new(&ctx.aws);
    let listener = existing_listener(&ctx, &net, "shared", 80).await;

    // Someone else registered a scalable target on a service of ours: adding
    // autoscaling to it is a Conflict, and their target is left as it is.
    let other = service(&net, "").replace("name: api}\nspec:", "name: other}\nspec:");
    ctx.apply_ok(&other).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_converged(&api, "other").await;
    let foreign = format!("service/{cluster}/other");
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&foreign)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(1)
        .max_capacity(3)
        .send()
        .await
        .unwrap();
    ctx.apply_ok(
        &other.replace(
            "  desiredCount: 2\n",
            "  autoscaling: {minCapacity: 2, maxCapacity: 6, targetCpuUtilization: 60}\n",
        ),
    )
    .unwrap();
    let conflict = wait_for_reason(&api, "other", "Synced", "Conflict").await;
    assert!(conflict.message.contains(&foreign), "{}", conflict.message);
    let t = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&foreign)
        .send()
        .await
        .unwrap();
    assert_eq!((t.scalable_targets()[0].min_capacity(), t.scalable_targets()[0].max_capacity()), (1, 3));

    // Ours: CPU, memory and ALB requests on a shared listener (with its label).
    let scaling = |extra: &str| {
        service(
            &net,
            &format!(
                "  autoscaling: {{minCapacity: 2, maxCapacity: 6, targetCpuUtilization: 60{extra}}}\n{}",
                rule_on(&listener, 30)
            ),
        )
        .replace("  desiredCount: 2\n", "")
    };
    ctx.apply_ok(&scaling(", targetMemoryUtilization: 70, targetRequestsPerTarget: 500")).unwrap();
    wait_converged(&api, "api").await;
    let resource = format!("service/{cluster}/api");
    assert_eq!(policy_names(&ctx, &resource).await, vec!["api-cpu", "api-memory", "api-requests"]);
    let out = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .send()
        .await
        .unwrap();
    let requests = out.scaling_policies().iter().find(|p| p.policy_name() == "api-requests").unwrap();
    let label = requests
        .target_tracking_scaling_policy_configuration()
        .and_then(|c| c.predefined_metric_specification())
        .and_then(|m| m.resource_label());
    assert!(label.is_some_and(|l| l.starts_with("app/") && l.contains("/targetgroup/")), "{label:?}");

    // A hand-made policy on our target survives our edits.
    let manual = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(50.0)
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    aas.put_scaling_policy()
        .policy_name("api-manual")
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(manual)
        .send()
        .await
        .unwrap();
    ctx.apply_ok(&scaling("")).unwrap();
    wait_converged(&api, "api").await;
    assert_eq!(policy_names(&ctx, &resource).await, vec!["api-cpu", "api-manual"]);

    // The autoscaler had scaled to 5; removing autoscaling keeps 5 and says so.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.update_service().cluster(&cluster).service("api").desired_count(5).send().await.unwrap();
    ctx.apply_ok(&service(&net, &rule_on(&listener, 30)).replace("  desiredCount: 2\n", "")).unwrap();
    wait_for_reason(&api, "api", "Synced", "Synced").await;
    eventually(WAIT, "the scalable target deregistered", || async {
        let t = aas
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(&resource)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if t.scalable_targets().is_empty() { Ok(()) } else { Err("still registered".to_string()) }
    })
    .await;
    assert_eq!(describe(&ctx, &cluster, "api").await.unwrap().desired_count(), 5);
    let events = ctx
        .kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            "reason=AutoscalingDeregistered",
            "-o",
            "jsonpath={.items[*].message}",
        ])
        .unwrap();
    assert!(events.contains("current desired count stays"), "{events}");
}

#[tokio::test]
async fn fields_removed_from_the_spec_return_to_the_ecs_defaults() {
    let ctx = TestContext::new("edit-removed").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, "  propagateTags: SERVICE\n  platformVersion: 1.4.0\n")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_converged(&api, "api").await;
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert_eq!(svc.propagate_tags().map(|p| p.as_str()), Some("SERVICE"));
    assert_eq!(svc.platform_version(), Some("1.4.0"));
    ctx.apply_ok(&service(&net, "")).unwrap();
    let obj = wait_converged(&api, "api").await;
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert_eq!(svc.propagate_tags().map(|p| p.as_str()), Some("NONE"));
    assert_eq!(svc.platform_version(), Some("LATEST"));
    assert_eq!(condition_of(&obj, "Ready").unwrap().status, "True");

    // networkConfiguration cannot go while the task definition uses awsvpc: said
    // on the object, and ECS keeps what it had.
    let without_network = service(&net, "").replace(&network(&net), "");
    ctx.apply_ok(&without_network).unwrap();
    let invalid = wait_for_reason(&api, "api", "Synced", "Invalid").await;
    assert!(invalid.message.contains("set spec.networkConfiguration"), "{}", invalid.message);
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert!(svc.network_configuration().is_some());
}

#[tokio::test]
async fn an_operator_upgrade_from_a_version_without_records_writes_nothing_to_aws() {
    let ctx = TestContext::new("edit-upgrade").await.unwrap();
    let mut op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    let listener = existing_listener(&ctx, &net, "shared", 80).await;
    let extra = format!(
        "  propagateTags: SERVICE\n  autoscaling: {{minCapacity: 2, maxCapacity: 4, targetCpuUtilization: 60}}\n{}",
        rule_on(&listener, 40)
    );
    ctx.apply_ok(&service(&net, &extra).replace("  desiredCount: 2\n", "")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let before = wait_converged(&api, "api").await.status.unwrap();
    op.stop();

    // What an operator version before records and canonical hashes left: a hash
    // of Rust Debug output, no resource record.
    let legacy = r#"{"status":{"appliedConfigHash":"5f0e3c2a9b1d4e67","resources":null}}"#;
    ctx.kubectl_ok(&["patch", "ecssvc/api", "--subresource=status", "--type=merge", "-p", legacy]).unwrap();

    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    eventually(Duration::from_secs(40), "two reconciles after the upgrade", || async {
        let n = op.successful_reconciles("Service").map_err(|e| e.to_string())?;
        if n >= 2 { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    assert_eq!(op.aws_writes().unwrap(), 0, "an upgrade must not write to AWS");
    let after = api.get("api").await.unwrap().status.unwrap();
    assert!(after.applied_config_hash.as_deref().is_some_and(|h| h.starts_with("v1:")), "{after:?}");
    assert_eq!(after.resources, before.resources, "the record is rebuilt from names and tags");
}

#[tokio::test]
async fn a_moved_service_keeps_the_old_one_until_the_new_rollout_completed() {
    let ctx = TestContext::new("edit-move-wait").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let (one, two) = two_clusters(&ctx);
    // moto starts 2 tasks per new service: with 3 desired, a new service's rollout
    // stays IN_PROGRESS, like a real rollout that has not finished.
    let three = service(&net, "").replace("desiredCount: 2", "desiredCount: 3");
    ctx.apply_ok(&three).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_for_reason(&api, "api", "Synced", "Synced").await;
    ctx.apply_ok(&three.replace("clusterRef: {name: web}", "clusterRef: {name: web2}")).unwrap();
    let waiting = wait_for_reason(&api, "api", "Synced", "ReplacingResources").await;
    assert!(waiting.message.contains("complete its rollout"), "{}", waiting.message);
    assert!(describe(&ctx, &two, "api").await.is_some(), "the new service is made first");
    assert!(describe(&ctx, &one, "api").await.is_some(), "the old one stays until the new one took over");
    let status = api.get("api").await.unwrap().status.unwrap();
    assert_eq!(status.resources.iter().filter(|r| r.kind == OwnedKind::EcsService).count(), 2, "{status:?}");
    assert_eq!(condition_of(&api.get("api").await.unwrap(), "Ready").unwrap().status, "False");

    // Deleting the object removes both, from the record.
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    assert!(describe(&ctx, &one, "api").await.is_none());
    assert!(describe(&ctx, &two, "api").await.is_none());
}
