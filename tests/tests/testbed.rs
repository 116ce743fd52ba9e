//! Shows that the test bed is made of real servers: the apiserver applies and
//! validates custom resources, RBAC denies what a ServiceAccount was not granted,
//! and moto answers ECS calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::TestContext;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};

#[tokio::test]
async fn kubectl_applies_a_custom_resource_to_the_real_apiserver() {
    let ctx = TestContext::new("bed-apply").await.unwrap();
    let out = ctx
        .apply(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {name: web}
spec:
  capacityProviders: [FARGATE]
  tags: {team: shop}
",
        )
        .unwrap();
    assert!(out.status.success(), "kubectl apply failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("cluster.ecs.operator.dev/web created"));

    // The apiserver applied the schema's defaults.
    let out = ctx.kubectl(&["get", "ecscluster", "web", "-o", "jsonpath={.spec.deletionPolicy}"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Delete");
    // The `ecs` category lists it.
    let out = ctx.kubectl(&["get", "ecs", "-o", "name"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("cluster.ecs.operator.dev/web"));
}

#[tokio::test]
async fn the_apiserver_rejects_an_invalid_object_with_its_own_error() {
    let ctx = TestContext::new("bed-invalid").await.unwrap();
    // Schema: an enum value that does not exist.
    let out = ctx
        .apply(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {name: bad-enum}
spec:
  deletionPolicy: Sometimes
",
        )
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("spec.deletionPolicy") && err.contains("Unsupported value"), "unexpected error: {err}");

    // CEL: Fargate needs awsvpc.
    let out = ctx
        .apply(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {name: bad-fargate}
spec:
  requiresCompatibilities: [FARGATE]
  networkMode: bridge
  cpu: '256'
  memory: '512'
  containers: [{name: app, image: nginx}]
",
        )
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FARGATE requires networkMode: awsvpc"), "unexpected error: {err}");
}

#[tokio::test]
async fn rbac_denies_a_service_account_what_it_was_not_granted() {
    let ctx = TestContext::new("bed-rbac").await.unwrap();
    let client = ctx.service_account_client("nobody").await.unwrap();
    // The token authenticates: the apiserver knows who is asking ...
    let review = client.apiserver_version().await;
    assert!(review.is_ok(), "token was not accepted: {review:?}");
    // ... and RBAC denies it.
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &ctx.namespace);
    let err = config_maps.create(&PostParams::default(), &ConfigMap::default_named("x")).await.unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(status.message.contains(&format!("system:serviceaccount:{}:nobody", ctx.namespace)));
        }
        other => panic!("expected a 403 from RBAC, got {other:?}"),
    }
}

#[tokio::test]
async fn moto_answers_ecs_calls() {
    let ctx = TestContext::new("bed-moto").await.unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let name = format!("{}-cluster", ctx.prefix);
    let created = ecs.create_cluster().cluster_name(&name).send().await.unwrap();
    let arn = created.cluster().and_then(|c| c.cluster_arn()).unwrap().to_string();
    let described = ecs.describe_clusters().clusters(&name).send().await.unwrap();
    let cluster = &described.clusters()[0];
    assert_eq!(cluster.cluster_arn(), Some(arn.as_str()));
    assert_eq!(cluster.status(), Some("ACTIVE"));
}

trait DefaultNamed {
    fn default_named(name: &str) -> Self;
}

impl DefaultNamed for ConfigMap {
    fn default_named(name: &str) -> Self {
        ConfigMap {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            ..Default::default()
        }
    }
}
