//! `kubectl delete namespace` of a namespace full of our objects, the way most teams
//! tear an environment down. The bed's kube-controller-manager runs the namespace
//! controller, which deletes every object; our finalizers clean AWS up (or keep what
//! `deletionPolicy: Retain` keeps) before the namespace goes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use ecs_operator::crd::Service;
use ecs_operator_tests::conditions::wait_converged;
use ecs_operator_tests::fixtures::{cluster_and_task, network};
use ecs_operator_tests::{TestContext, eventually};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use std::time::{Duration, Instant};

#[tokio::test]
async fn deleting_the_namespace_deletes_every_object_and_cleans_aws_up_except_what_is_retained() {
    let ctx = TestContext::new("ns-delete").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    let kept = format!("{}-kept", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: kept}}
spec: {{clusterName: {kept}, deletionPolicy: Retain}}
---
apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  desiredCount: 2
  launchType: FARGATE
{net}  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /health}}}}
    create:
      subnets: [{subnets}]
      securityGroups: [{sg}]
      listener: {{port: 80, protocol: HTTP}}
",
        net = network(&net),
        subnets = net.subnet_ids.join(", "),
        sg = net.security_group_id,
    ))
    .unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let ready = wait_converged(&api, "api").await;
    let lb = ready.status.and_then(|s| s.load_balancer).unwrap();
    let (lb_arn, tg_arn) = (lb.load_balancer_arn.unwrap(), lb.target_group_arn.unwrap());

    let started = Instant::now();
    ctx.bed.kubectl(&["delete", "namespace", &ctx.namespace, "--wait=false"], None).unwrap();
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    eventually(Duration::from_secs(180), "the namespace to be gone", || async {
        match namespaces.get_opt(&ctx.namespace).await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(ns) => Err(format!("{:?}", ns.status.and_then(|s| s.conditions))),
        }
    })
    .await;
    println!(
        "namespace with a Service, its Cluster, TaskDefinition and a retained Cluster deleted in {:?}",
        started.elapsed()
    );

    // AWS: the ECS service and cluster are gone, so are the load balancer and target
    // group; the retained cluster stays.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let clusters = ecs.describe_clusters().clusters(&cluster).clusters(&kept).send().await.unwrap();
    let status_of = |name: &str| {
        clusters.clusters().iter().find(|c| c.cluster_name() == Some(name)).and_then(|c| c.status()).map(str::to_string)
    };
    assert_eq!(status_of(&cluster).as_deref(), Some("INACTIVE"), "the owned cluster is deleted");
    assert_eq!(status_of(&kept).as_deref(), Some("ACTIVE"), "deletionPolicy: Retain keeps the cluster");
    let services = ecs.describe_services().cluster(&cluster).services("api").send().await;
    let active = services.map(|s| s.services().iter().any(|s| s.status() == Some("ACTIVE"))).unwrap_or(false);
    assert!(!active, "the ECS service is deleted");
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    assert!(elb.describe_load_balancers().load_balancer_arns(&lb_arn).send().await.is_err(), "the ALB is deleted");
    assert!(
        elb.describe_target_groups().target_group_arns(&tg_arn).send().await.is_err(),
        "the target group is deleted"
    );
    let families = ecs.list_task_definitions().family_prefix(format!("{}-api", ctx.prefix)).send().await.unwrap();
    assert!(families.task_definition_arns().is_empty(), "the task definition revisions are deregistered");
}
