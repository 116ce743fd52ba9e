//! Where things live: cleanup after the operator's default region changed, and a
//! Service moved to another region (moto serves every region from one endpoint).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::service::OwnedKind;
use ecs_operator::crd::{Cluster, Service};
use ecs_operator_tests::conditions::wait_converged;
use ecs_operator_tests::{TestContext, eventually};
use kube::Api;
use std::time::Duration;

const WEST: &str = "eu-west-1";

fn ecs_in(ctx: &TestContext, region: &str) -> aws_sdk_ecs::Client {
    let config = aws_sdk_ecs::config::Builder::from(&ctx.aws)
        .region(aws_sdk_ecs::config::Region::new(region.to_string()))
        .build();
    aws_sdk_ecs::Client::from_conf(config)
}

/// A Cluster and an EC2 TaskDefinition (bridge mode, no VPC needed), in `region`
/// when given.
fn stack(ctx: &TestContext, suffix: &str, region: Option<&str>) -> String {
    let region = region.map(|r| format!("\n  region: {r}")).unwrap_or_default();
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: c-{suffix}}}
spec:
  clusterName: {p}-{suffix}{region}
---
apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: t-{suffix}}}
spec:
  family: {p}-{suffix}{region}
  networkMode: bridge
  requiresCompatibilities: [EC2]
  containers:
    - name: api
      image: nginx:1.27
      memory: 256
      portMappings: [{{containerPort: 80, hostPort: 0}}]
",
        p = ctx.prefix
    )
}

async fn cluster_status(ecs: &aws_sdk_ecs::Client, name: &str) -> Option<String> {
    let out = ecs.describe_clusters().clusters(name).send().await.ok()?;
    out.clusters().first().and_then(|c| c.status()).map(str::to_string)
}

async fn service_status(ecs: &aws_sdk_ecs::Client, cluster: &str, name: &str) -> Option<String> {
    let out = ecs.describe_services().cluster(cluster).services(name).send().await.ok()?;
    out.services().iter().filter_map(|s| s.status()).find(|s| *s != "INACTIVE").map(str::to_string)
}

#[tokio::test]
async fn cleanup_follows_where_things_live_after_the_default_region_changes() {
    let ctx = TestContext::new("region-default").await.unwrap();
    let mut op = ctx.start_operator(&[]).unwrap();
    ctx.apply_ok(&stack(&ctx, "home", None)).unwrap();
    let clusters: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_converged(&clusters, "c-home").await;
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "taskdef/t-home"]).unwrap();
    op.stop();

    // The operator now runs with another default region: what exists stays where
    // it is, nothing is created in the new region, and deletion finds the old one.
    let op = ctx.start_operator_in_region(WEST, &["--resync-seconds", "5"]).unwrap();
    eventually(Duration::from_secs(40), "reconciles in the new default region", || async {
        let n = op.successful_reconciles("Cluster").map_err(|e| e.to_string())?;
        if n >= 2 { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    let (east, west) = (ecs_in(&ctx, "us-east-1"), ecs_in(&ctx, WEST));
    let name = format!("{}-home", ctx.prefix);
    assert_eq!(cluster_status(&west, &name).await, None, "no cluster made in the new default region");
    assert_eq!(op.aws_writes().unwrap(), 0);
    ctx.kubectl_ok(&["delete", "ecscluster/c-home", "taskdef/t-home", "--timeout=60s"]).unwrap();
    assert_ne!(cluster_status(&east, &name).await.as_deref(), Some("ACTIVE"), "the cluster where it lived is deleted");
    let revisions = east
        .list_task_definitions()
        .family_prefix(&name)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    assert!(revisions.task_definition_arns().is_empty(), "{:?}", revisions.task_definition_arns());
}

fn service(cluster: &str, task: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: {cluster}}}
  taskDefinitionRef: {{name: {task}}}
  desiredCount: 2
  launchType: EC2
"
    )
}

#[tokio::test]
async fn a_service_moved_to_another_region_is_made_there_before_the_old_one_goes() {
    let ctx = TestContext::new("region-move").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    ctx.apply_ok(&stack(&ctx, "east", None)).unwrap();
    ctx.apply_ok(&stack(&ctx, "west", Some(WEST))).unwrap();
    ctx.apply_ok(&service("c-east", "t-east")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let first = wait_converged(&api, "api").await.status.unwrap();
    assert_eq!(first.region.as_deref(), Some("us-east-1"));

    ctx.apply_ok(&service("c-west", "t-west")).unwrap();
    let status = wait_converged(&api, "api").await.status.unwrap();
    assert_eq!(status.region.as_deref(), Some(WEST));
    let (east, west) = (ecs_in(&ctx, "us-east-1"), ecs_in(&ctx, WEST));
    let (east_cluster, west_cluster) = (format!("{}-east", ctx.prefix), format!("{}-west", ctx.prefix));
    assert_eq!(service_status(&west, &west_cluster, "api").await.as_deref(), Some("ACTIVE"));
    assert_eq!(service_status(&east, &east_cluster, "api").await, None, "the old region's service is gone");
    let services: Vec<(String, String)> = status
        .resources
        .iter()
        .filter(|r| r.kind == OwnedKind::EcsService)
        .map(|r| (r.region.clone(), r.id.clone()))
        .collect();
    assert_eq!(services, vec![(WEST.to_string(), status.arn.clone().unwrap())]);
    ctx.kubectl_ok(&["delete", "ecssvc/api", "--timeout=60s"]).unwrap();
    assert_eq!(service_status(&west, &west_cluster, "api").await, None);
}

#[tokio::test]
async fn without_a_usable_region_an_object_is_invalid_and_nothing_is_called_in_aws() {
    let ctx = TestContext::new("no-region").await.unwrap();
    // No AWS_REGION, no AWS_DEFAULT_REGION, no profile to read one from; then a
    // misspelt AWS_REGION (the CRD checks spec.region, nothing checks the env).
    let no_config = ctx.bed.dir.join("no-such-aws-config");
    let no_config = no_config.to_str().unwrap();
    let operator = |region: &str, log: &str| {
        let log = ctx.bed.dir.join(format!("{}-{log}.log", ctx.namespace));
        let env = [("AWS_REGION", region), ("AWS_DEFAULT_REGION", ""), ("AWS_CONFIG_FILE", no_config)];
        ecs_operator_tests::OperatorProcess::start_with_env(
            ctx.bed,
            &ctx.bed.control_plane.kubeconfig,
            &ctx.namespace,
            &log,
            &[],
            &env,
        )
        .unwrap()
    };
    let clusters: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let manifest = |name: &str, region: &str| {
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}}}\nspec:\n  clusterName: {}-{name}\n{region}",
            ctx.prefix
        )
    };
    let invalid_saying = |says: &'static str| {
        let clusters = clusters.clone();
        async move {
            eventually(Duration::from_secs(30), &format!("Invalid: {says}"), || async {
                let c = clusters.get("none").await.map_err(|e| e.to_string())?;
                match ecs_operator_tests::conditions::condition_of(&c, "Synced") {
                    Some(s) if s.reason == "Invalid" && s.message.contains(says) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await
        }
    };
    let mut op = operator("", "operator-no-region");
    ctx.apply_ok(&manifest("none", "")).unwrap();
    invalid_saying("no AWS region: set spec.region").await;
    let events = ctx.kubectl_ok(&["get", "events", "-o", "jsonpath={.items[*].message}"]).unwrap();
    assert!(events.contains("no AWS region"), "a Warning Event tells the user: {events}");
    let calls = |op: &ecs_operator_tests::OperatorProcess| {
        ecs_operator_tests::operator::sum_aws_requests(&op.metrics().unwrap(), |_| true)
    };
    assert_eq!(calls(&op), 0, "nothing was called in AWS without a region");
    op.stop();

    let op = operator("us-east1", "operator-typo");
    invalid_saying("\"us-east1\" is not an AWS region name").await;
    assert_eq!(calls(&op), 0, "nothing was called in AWS with a misspelt region");
    // A region named by the object works beside it; the invalid one deletes
    // without AWS calls (nothing was ever created).
    ctx.apply_ok(&manifest("named", &format!("  region: {WEST}\n"))).unwrap();
    wait_converged(&clusters, "named").await;
    let before = calls(&op);
    ctx.kubectl_ok(&["delete", "ecscluster/none", "--timeout=30s"]).unwrap();
    assert_eq!(calls(&op), before, "deleting the invalid object called nothing");
    assert!(cluster_status(&ecs_in(&ctx, WEST), &format!("{}-named", ctx.prefix)).await.is_some());
}
