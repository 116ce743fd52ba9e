//! The Service controller against a real apiserver and moto with the bed's ECS
//! scheduler model. Rollouts themselves (Progressing, Degraded, rollback, events)
//! are tested in rollouts.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::Service;
use ecs_operator_tests::conditions::{wait_converged, wait_for_reason, wait_ready};
use ecs_operator_tests::fixtures::{cluster_and_task, describe, existing_listener, network};
use ecs_operator_tests::moto::SeededNetwork;
use ecs_operator_tests::{TestContext, eventually};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

fn fargate_service(n: &SeededNetwork, desired: i32, extra: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  desiredCount: {desired}
  launchType: FARGATE
{net}  deployment:
    maximumPercent: 200
    minimumHealthyPercent: 100
    circuitBreaker: {{enable: true, rollback: true}}
  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup:
      healthCheck: {{path: /health, intervalSeconds: 15, matcher: '200-399'}}
    rule: {{priority: 10, pathPatterns: ['/api/*']}}
    create:
      scheme: internet-facing
      subnets: [{subnets}]
      securityGroups: [{sg}]
      listener: {{port: 80, protocol: HTTP}}
{extra}",
        net = network(n),
        subnets = n.subnet_ids.join(", "),
        sg = n.security_group_id,
    )
}

#[tokio::test]
async fn a_fargate_service_behind_a_new_alb_rolls_scales_and_is_deleted_with_every_part() {
    let ctx = TestContext::new("svc-fargate").await.unwrap();
    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&fargate_service(&net, 2, "")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let obj = wait_ready(&api, "api", 1).await;
    let status = obj.status.unwrap();
    assert_eq!((status.desired_count, status.running_count), (Some(2), Some(2)));
    assert_eq!(status.deployments[0].status, "PRIMARY");
    let lb = status.load_balancer.clone().unwrap();
    assert!(lb.dns_name.is_some() && lb.rule_arn.is_some() && lb.listener_arn.is_some());

    // What AWS has: the service on the TaskDefinition's revision, attached to the
    // target group; the target group of type ip; a path rule forwarding to it.
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert_eq!(svc.task_definition(), status.task_definition_arn.as_deref());
    assert_eq!(svc.load_balancers()[0].target_group_arn(), lb.target_group_arn.as_deref());
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let tg = elb.describe_target_groups().target_group_arns(lb.target_group_arn.clone().unwrap()).send().await.unwrap();
    assert_eq!(tg.target_groups()[0].target_type().unwrap().as_str(), "ip");
    assert_eq!(tg.target_groups()[0].health_check_path(), Some("/health"));
    let rules = elb.describe_rules().listener_arn(lb.listener_arn.clone().unwrap()).send().await.unwrap();
    let rule = rules.rules().iter().find(|r| r.rule_arn() == lb.rule_arn.as_deref()).unwrap();
    assert_eq!(rule.priority(), Some("10"));

    // Zero AWS writes when nothing changes, over two resyncs and a re-apply.
    let writes = op.aws_writes().unwrap();
    let seen = op.successful_reconciles("Service").unwrap();
    ctx.apply_ok(&fargate_service(&net, 2, "")).unwrap();
    eventually(Duration::from_secs(40), "two more Service resyncs", || async {
        let n = op.successful_reconciles("Service").map_err(|e| e.to_string())?;
        if n >= seen + 2 { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    assert_eq!(op.aws_writes().unwrap(), writes, "an unchanged Service must cause no AWS write");

    // An image change in the TaskDefinition rolls the Service promptly.
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.28", "awsvpc", "FARGATE")).unwrap();
    let rolled = eventually(Duration::from_secs(30), "the service to run revision 2", || async {
        let s = describe(&ctx, &cluster, "api").await.ok_or("no service")?;
        let td = s.task_definition().unwrap_or_default().to_string();
        if td.ends_with(":2") { Ok(td) } else { Err(td) }
    })
    .await;
    eventually(WAIT, "status to follow", || async {
        let o = api.get("api").await.map_err(|e| e.to_string())?;
        let s = o.status.clone().ok_or("no status")?;
        if s.task_definition_arn.as_deref() == Some(rolled.as_str()) {
            Ok(o)
        } else {
            Err(format!("{:?}", s.task_definition_arn))
        }
    })
    .await;
    // Ready again once the new deployment replaced the old one.
    let obj = wait_converged(&api, "api").await;
    let deployments = obj.status.clone().unwrap().deployments;
    assert_eq!((deployments.len(), deployments[0].task_definition.as_str()), (1, rolled.as_str()));

    // Scaling.
    ctx.apply_ok(&fargate_service(&net, 3, "")).unwrap();
    eventually(WAIT, "desired count 3 in ECS", || async {
        let s = describe(&ctx, &cluster, "api").await.ok_or("no service")?;
        if s.desired_count() == 3 { Ok(()) } else { Err(s.desired_count().to_string()) }
    })
    .await;

    // Delete: service, rule, listener, load balancer and target group all go.
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=90s"]).unwrap();
    assert!(describe(&ctx, &cluster, "api").await.is_none());
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert!(
        !lbs.load_balancers().iter().any(|l| l.load_balancer_arn() == lb.load_balancer_arn.as_deref()),
        "load balancer deleted"
    );
    let tgs = elb.describe_target_groups().send().await.unwrap();
    assert!(
        !tgs.target_groups().iter().any(|t| t.target_group_arn() == lb.target_group_arn.as_deref()),
        "target group deleted"
    );
}

#[tokio::test]
async fn references_that_appear_late_are_waited_for() {
    let ctx = TestContext::new("svc-late").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    ctx.apply_ok(fargate_service(&net, 2, "").split("  loadBalancer:").next().unwrap()).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let Condition { reason, message, .. } = wait_for_reason(&api, "api", "Ready", "WaitingForCluster").await;
    assert_eq!(reason, "WaitingForCluster");
    assert!(message.contains("Cluster web"), "{message}");
    let cluster = format!("{}-late", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    wait_ready(&api, "api", 1).await;
    assert!(describe(&ctx, &cluster, "api").await.is_some());
}

/// The first pass of a new Service sends CreateService without reading first; a
/// name that a service made outside holds fails that create, and the pass then reads
/// the service and decides as the adoption policy says. Nothing made outside is
/// changed before it is adopted, and adopting keeps the same ECS service.
#[tokio::test]
async fn a_service_made_outside_is_a_conflict_until_adopted() {
    let ctx = TestContext::new("svc-conflict").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-taken", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    eventually(WAIT, "the ECS cluster exists", || async {
        let out = ecs.describe_clusters().clusters(&cluster).send().await.map_err(|e| e.to_string())?;
        out.clusters().iter().any(|c| c.status() == Some("ACTIVE")).then_some(()).ok_or("not yet".to_string())
    })
    .await;
    let family = format!("{}-hand", ctx.prefix);
    ecs.register_task_definition()
        .family(&family)
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder().name("api").image("nginx:1.26").memory(256).build(),
        )
        .send()
        .await
        .unwrap();
    let vpc = aws_sdk_ecs::types::AwsVpcConfiguration::builder()
        .set_subnets(Some(net.subnet_ids.clone()))
        .security_groups(&net.security_group_id)
        .build()
        .unwrap();
    let hand = ecs
        .create_service()
        .cluster(&cluster)
        .service_name("api")
        .task_definition(&family)
        .desired_count(1)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .network_configuration(aws_sdk_ecs::types::NetworkConfiguration::builder().awsvpc_configuration(vpc).build())
        .tags(aws_sdk_ecs::types::Tag::builder().key("made-by").value("hand").build())
        .send()
        .await
        .unwrap();
    let hand_arn = hand.service().and_then(|s| s.service_arn()).unwrap().to_string();

    let without_lb = fargate_service(&net, 2, "").split("  loadBalancer:").next().unwrap().to_string();
    ctx.apply_ok(&without_lb).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let Condition { message, .. } = wait_for_reason(&api, "api", "Synced", "Conflict").await;
    assert!(message.contains("ECS service api") && message.contains("adoptionPolicy"), "{message}");
    let with_tags = || async {
        let out = ecs
            .describe_services()
            .cluster(&cluster)
            .services("api")
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .unwrap();
        out.services().iter().find(|s| s.status() == Some("ACTIVE")).cloned().unwrap()
    };
    let untouched = with_tags().await;
    assert_eq!(untouched.service_arn(), Some(hand_arn.as_str()));
    assert_eq!(untouched.tags().len(), 1, "a service made outside is never modified: {:?}", untouched.tags());
    assert_eq!(untouched.desired_count(), 1);
    assert!(untouched.task_definition().is_some_and(|td| td.contains(&family)));

    // Opting in adopts that same service: owner tags, and the spec applied to it.
    ctx.apply_ok(&format!("{without_lb}  adoptionPolicy: AdoptUnowned\n")).unwrap();
    let obj = wait_ready(&api, "api", 2).await;
    let status = obj.status.unwrap();
    assert_eq!(status.arn.as_deref(), Some(hand_arn.as_str()), "adopted, not replaced");
    let adopted = with_tags().await;
    assert_eq!(adopted.service_arn(), Some(hand_arn.as_str()));
    assert!(adopted.tags().iter().any(|t| t.key() == Some("ecs.operator.dev/owner")), "{:?}", adopted.tags());
    assert_eq!(adopted.desired_count(), 2);
    assert_eq!(adopted.task_definition(), status.task_definition_arn.as_deref());
}

#[tokio::test]
async fn an_ec2_bridge_service_behind_an_existing_listener_and_a_daemon() {
    let ctx = TestContext::new("svc-ec2").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    // An existing ALB and listener, made outside the operator.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let listener_arn = existing_listener(&ctx, &net, "shared", 80).await;

    let cluster = format!("{}-ec2", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "bridge", "EC2")).unwrap();
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  desiredCount: 2
  launchType: EC2
  placementStrategy:
    - {{type: spread, field: 'attribute:ecs.availability-zone'}}
    - {{type: binpack, field: memory}}
  placementConstraints: [{{type: distinctInstance}}]
  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    listenerArn: {listener_arn}
    rule: {{priority: 20, hostHeaders: [api.example.com]}}
---
apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: agent}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  schedulingStrategy: DAEMON
  launchType: EC2
"
    ))
    .unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let obj = wait_ready(&api, "api", 1).await;
    let tg_arn = obj.status.unwrap().load_balancer.unwrap().target_group_arn.unwrap();
    let tg = elb.describe_target_groups().target_group_arns(&tg_arn).send().await.unwrap();
    assert_eq!(tg.target_groups()[0].target_type().unwrap().as_str(), "instance", "bridge mode: instance targets");
    let rules = elb.describe_rules().listener_arn(&listener_arn).send().await.unwrap();
    let held =
        rules.rules().iter().find(|r| r.priority() == Some("20")).and_then(|r| r.rule_arn()).unwrap().to_string();

    // A second Service asking for the same priority on the listener is told
    // which rule holds it, and takes nothing from the first.
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api2}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  launchType: EC2
  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    listenerArn: {listener_arn}
    rule: {{priority: 20, hostHeaders: [api2.example.com]}}
"
    ))
    .unwrap();
    let conflict = wait_for_reason(&api, "api2", "Synced", "Conflict").await;
    assert!(
        conflict.message.contains(&format!("priority 20 on listener {listener_arn} is taken by rule {held}")),
        "{}",
        conflict.message
    );
    assert!(conflict.message.contains(&tg_arn), "names where the holder forwards: {}", conflict.message);
    ctx.kubectl_ok(&["delete", "ecssvc/api2", "--timeout=60s"]).unwrap();
    let rules = elb.describe_rules().listener_arn(&listener_arn).send().await.unwrap();
    let still: Vec<_> =
        rules.rules().iter().filter(|r| r.priority() == Some("20")).filter_map(|r| r.rule_arn()).collect();
    assert_eq!(still, vec![held.as_str()], "the first Service's rule is untouched");

    let daemon = eventually(WAIT, "the DAEMON service in ECS", || async {
        describe(&ctx, &cluster, "agent").await.ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(daemon.scheduling_strategy().unwrap().as_str(), "DAEMON");

    // Retain keeps the service and its target group; the existing listener and
    // load balancer are never touched.
    let patch = r#"{"spec":{"deletionPolicy":"Retain"}}"#;
    ctx.kubectl_ok(&["patch", "ecssvc/api", "--type=merge", "-p", patch]).unwrap();
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    assert!(describe(&ctx, &cluster, "api").await.is_some(), "Retain keeps the ECS service");
    let tg = elb.describe_target_groups().target_group_arns(&tg_arn).send().await;
    assert!(tg.is_ok(), "Retain keeps the target group");
    let listeners = elb.describe_listeners().listener_arns(&listener_arn).send().await.unwrap();
    assert_eq!(listeners.listeners().len(), 1);
}

#[tokio::test]
async fn autoscaling_is_registered_and_its_desired_count_respected() {
    let ctx = TestContext::new("svc-autoscale").await.unwrap();
    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-as", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    let manifest = format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  launchType: FARGATE
{net}  autoscaling: {{minCapacity: 2, maxCapacity: 6, targetCpuUtilization: 60, targetMemoryUtilization: 75}}
",
        net = network(&net)
    );
    ctx.apply_ok(&manifest).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_ready(&api, "api", 1).await;
    let aas = aws_sdk_applicationautoscaling::Client::new(&ctx.aws);
    let resource = format!("service/{cluster}/api");
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&resource)
        .send()
        .await
        .unwrap();
    let t = &targets.scalable_targets()[0];
    assert_eq!((t.min_capacity(), t.max_capacity()), (2, 6));
    let policies = aas
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_id(&resource)
        .send()
        .await
        .unwrap();
    assert_eq!(policies.scaling_policies().len(), 2);

    // The autoscaler scales out: the operator leaves the count alone.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.update_service().cluster(&cluster).service("api").desired_count(5).send().await.unwrap();
    let seen = op.successful_reconciles("Service").unwrap();
    eventually(Duration::from_secs(40), "two more resyncs", || async {
        let n = op.successful_reconciles("Service").map_err(|e| e.to_string())?;
        if n >= seen + 2 { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    assert_eq!(describe(&ctx, &cluster, "api").await.unwrap().desired_count(), 5);
    let obj = api.get("api").await.unwrap();
    assert_eq!(obj.status.unwrap().desired_count, Some(5));

    // Deleting removes the scalable target too.
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    let targets = aas
        .describe_scalable_targets()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Ecs)
        .resource_ids(&resource)
        .send()
        .await
        .unwrap();
    assert!(targets.scalable_targets().is_empty());
}

#[tokio::test]
async fn blue_green_gets_an_alternate_target_group_and_a_weighted_rule() {
    let ctx = TestContext::new("svc-bluegreen").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let listener_arn = existing_listener(&ctx, &net, "bg", 443).await;
    let cluster = format!("{}-bg", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  desiredCount: 2
  launchType: FARGATE
{net}  deployment: {{strategy: BlueGreen, bakeTimeMinutes: 10}}
  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /health}}}}
    listenerArn: {listener_arn}
    rule: {{priority: 5, pathPatterns: ['/*']}}
    blueGreen: {{roleArn: 'arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers'}}
",
        net = network(&net)
    ))
    .unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let obj = wait_ready(&api, "api", 1).await;
    let lb_status = obj.status.unwrap().load_balancer.unwrap();
    let (primary, alternate) = (lb_status.target_group_arn.unwrap(), lb_status.alternate_target_group_arn.unwrap());
    assert_ne!(primary, alternate);
    // The rule forwards to both groups, production at weight 100: ECS shifts it.
    let rules = elb.describe_rules().listener_arn(&listener_arn).send().await.unwrap();
    let rule = rules.rules().iter().find(|r| r.priority() == Some("5")).unwrap();
    let groups = rule.actions()[0].forward_config().unwrap().target_groups();
    let weights: Vec<(String, Option<i32>)> =
        groups.iter().map(|g| (g.target_group_arn().unwrap().to_string(), g.weight())).collect();
    assert!(
        weights.contains(&(primary.clone(), Some(100))) && weights.contains(&(alternate.clone(), Some(0))),
        "{weights:?}"
    );
    // ECS got the alternate group, the production rule and the role.
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    let advanced = svc.load_balancers()[0].advanced_configuration().expect("advancedConfiguration sent");
    assert_eq!(advanced.alternate_target_group_arn(), Some(alternate.as_str()));
    assert_eq!(advanced.production_listener_rule(), Some(rule.rule_arn().unwrap()));

    // Deleting removes the rule and both target groups, never the listener.
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    let rules = elb.describe_rules().listener_arn(&listener_arn).send().await.unwrap();
    assert!(!rules.rules().iter().any(|r| r.priority() == Some("5")));
    let tgs = elb.describe_target_groups().send().await.unwrap();
    assert!(
        !tgs.target_groups()
            .iter()
            .any(|t| [&primary, &alternate].contains(&&t.target_group_arn().unwrap().to_string()))
    );
}

#[tokio::test]
async fn revisions_a_deployment_still_uses_survive_the_history_cleanup() {
    let ctx = TestContext::new("svc-inuse").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-inuse", ctx.prefix);
    let family = format!("{}-api", ctx.prefix);
    let stack = |image: &str| {
        cluster_and_task(&ctx, &cluster, image, "awsvpc", "FARGATE")
            .replace("  networkMode: awsvpc", "  networkMode: awsvpc\n  revisionHistoryLimit: 0")
    };
    ctx.apply_ok(&stack("nginx:1")).unwrap();
    ctx.apply_ok(fargate_service(&net, 2, "").split("  loadBalancer:").next().unwrap()).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_ready(&api, "api", 1).await;
    // Two new revisions whose containers exit at start (the bed's `bed-fail` image
    // convention): the circuit breaker rolls back to revision 1, which keeps running.
    ctx.apply_ok(&stack("nginx:bed-fail-2")).unwrap();
    ctx.apply_ok(&stack("nginx:bed-fail-3")).unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let status_of = |rev: i32| {
        let ecs = ecs.clone();
        let arn = format!("{family}:{rev}");
        async move {
            let out = ecs.describe_task_definition().task_definition(arn).send().await.map_err(|e| e.to_string())?;
            Ok::<String, String>(
                out.task_definition().and_then(|t| t.status()).map(|s| s.as_str().to_string()).unwrap_or_default(),
            )
        }
    };
    eventually(Duration::from_secs(60), "revision 2 deregistered", || async {
        let s = status_of(2).await?;
        if s == "INACTIVE" { Ok(()) } else { Err(s) }
    })
    .await;
    assert_eq!(status_of(1).await.unwrap(), "ACTIVE", "revision 1 runs in a deployment and must stay");
    assert_eq!(status_of(3).await.unwrap(), "ACTIVE");
}
