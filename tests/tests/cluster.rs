//! The Cluster controller against a real apiserver and moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::Cluster;
use ecs_operator_tests::conditions::{condition_of, wait_for_reason, wait_ready};
use ecs_operator_tests::{TestContext, eventually};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn manifest(name: &str, ecs_name: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}}}
spec:
  clusterName: {ecs_name}
  containerInsights: enabled
  capacityProviders: [FARGATE, FARGATE_SPOT]
  defaultCapacityProviderStrategy:
    - {{capacityProvider: FARGATE, base: 1, weight: 1}}
    - {{capacityProvider: FARGATE_SPOT, weight: 3}}
  tags: {{team: shop, env: test}}
{extra}"
    )
}

async fn describe(ctx: &TestContext, name: &str) -> Option<aws_sdk_ecs::types::Cluster> {
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let out = ecs
        .describe_clusters()
        .clusters(name)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .include(aws_sdk_ecs::types::ClusterField::Settings)
        .send()
        .await
        .unwrap();
    out.clusters().iter().find(|c| c.status() == Some("ACTIVE")).cloned()
}

fn tags_of(c: &aws_sdk_ecs::types::Cluster) -> BTreeMap<String, String> {
    c.tags().iter().map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string())).collect()
}

#[tokio::test]
async fn creates_reports_updates_and_then_writes_nothing() {
    let ctx = TestContext::new("cluster-lifecycle").await.unwrap();
    let mut op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let ecs_name = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&manifest("web", &ecs_name, "")).unwrap();

    // `kubectl wait` on the Ready condition works as users expect.
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/web"]).unwrap();
    let api: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let obj = api.get("web").await.unwrap();
    let status = obj.status.clone().unwrap();
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(status.ecs_status.as_deref(), Some("ACTIVE"));
    assert!(status.arn.as_deref().unwrap().ends_with(&format!("cluster/{ecs_name}")));
    assert_eq!(
        condition_of(&obj, "Ready").unwrap().observed_generation,
        Some(1),
        "conditions carry observedGeneration"
    );
    assert_eq!(condition_of(&obj, "Synced").unwrap().status, "True");

    let cluster = describe(&ctx, &ecs_name).await.expect("ECS cluster exists");
    let tags = tags_of(&cluster);
    assert_eq!(tags.get("team").map(String::as_str), Some("shop"));
    assert_eq!(
        tags.get("ecs.operator.dev/owner").map(String::as_str),
        Some(format!("{}/Cluster/web", ctx.namespace).as_str())
    );
    let mut providers = cluster.capacity_providers().to_vec();
    providers.sort();
    assert_eq!(providers, vec!["FARGATE", "FARGATE_SPOT"]);
    assert_eq!(cluster.settings()[0].value(), Some("enabled"));

    // Printer columns show through kubectl.
    let table = ctx.kubectl_ok(&["get", "ecscluster", "web"]).unwrap();
    assert!(table.contains("READY") && table.contains("ECS STATUS") && table.contains("ACTIVE"), "{table}");

    // Re-applying the same manifest and two more resyncs: zero AWS writes.
    let writes = op.aws_writes().unwrap();
    let reconciles = op.successful_reconciles("Cluster").unwrap();
    ctx.apply_ok(&manifest("web", &ecs_name, "")).unwrap();
    eventually(Duration::from_secs(30), "two more Cluster resyncs", || async {
        let now = op.successful_reconciles("Cluster").map_err(|e| e.to_string())?;
        if now >= reconciles + 2 { Ok(()) } else { Err(format!("{now} reconciles")) }
    })
    .await;
    assert_eq!(op.aws_writes().unwrap(), writes, "an unchanged spec must cause no AWS write");

    // An update: new tags and Container Insights off.
    let updated = manifest("web", &ecs_name, "")
        .replace("containerInsights: enabled", "containerInsights: disabled")
        .replace("env: test", "env: prod");
    ctx.apply_ok(&updated).unwrap();
    wait_ready(&api, "web", 2).await;
    let cluster = describe(&ctx, &ecs_name).await.unwrap();
    assert_eq!(tags_of(&cluster).get("env").map(String::as_str), Some("prod"));
    assert_eq!(cluster.settings()[0].value(), Some("disabled"));

    // Events tell what the operator changed.
    let events = ctx
        .kubectl_ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web",
            "-o",
            "jsonpath={.items[*].reason}",
        ])
        .unwrap();
    assert!(events.contains("Created") && events.contains("Updated"), "events: {events}");

    // The probes answer, and SIGTERM ends the operator cleanly.
    for probe in ["/healthz", "/readyz"] {
        let response = op.health(probe).unwrap();
        assert!(response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"), "{probe}: {response}");
    }
    let status = op.stop().expect("the operator was running");
    assert!(status.success(), "SIGTERM should end the operator with status 0, got {status}");
}

#[tokio::test]
async fn drift_made_in_aws_is_repaired_within_the_resync_period() {
    let ctx = TestContext::new("cluster-drift").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let ecs_name = format!("{}-drift", ctx.prefix);
    ctx.apply_ok(&manifest("drift", &ecs_name, "")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/drift"]).unwrap();

    // Someone changes the cluster behind the operator's back.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let arn = describe(&ctx, &ecs_name).await.unwrap().cluster_arn().unwrap().to_string();
    ecs.untag_resource().resource_arn(&arn).tag_keys("team").send().await.unwrap();
    ecs.put_cluster_capacity_providers()
        .cluster(&ecs_name)
        .capacity_providers("FARGATE")
        .default_capacity_provider_strategy(
            aws_sdk_ecs::types::CapacityProviderStrategyItem::builder()
                .capacity_provider("FARGATE")
                .weight(1)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    eventually(Duration::from_secs(30), "the drift to be repaired", || async {
        let c = describe(&ctx, &ecs_name).await.ok_or("cluster gone")?;
        let tags = tags_of(&c);
        if tags.get("team").map(String::as_str) == Some("shop") && c.capacity_providers().len() == 2 {
            Ok(())
        } else {
            Err(format!("tags {tags:?}, providers {:?}", c.capacity_providers()))
        }
    })
    .await;
}

#[tokio::test]
async fn a_cluster_it_does_not_own_is_a_conflict_until_adopted() {
    let ctx = TestContext::new("cluster-conflict").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let ecs_name = format!("{}-taken", ctx.prefix);
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.create_cluster()
        .cluster_name(&ecs_name)
        .tags(aws_sdk_ecs::types::Tag::builder().key("made-by").value("hand").build())
        .send()
        .await
        .unwrap();

    ctx.apply_ok(&manifest("taken", &ecs_name, "")).unwrap();
    let api: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let Condition { reason, message, .. } = wait_for_reason(&api, "taken", "Synced", "Conflict").await;
    assert_eq!(reason, "Conflict");
    assert!(message.contains(&ecs_name) && message.contains("adoptionPolicy"), "{message}");
    let untouched = describe(&ctx, &ecs_name).await.unwrap();
    assert_eq!(tags_of(&untouched).len(), 1, "an unowned cluster is never modified");
    assert!(untouched.capacity_providers().is_empty());

    // Opting in adopts it: owner tags are added and the spec applied.
    ctx.apply_ok(&manifest("taken", &ecs_name, "  adoptionPolicy: AdoptUnowned\n")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/taken"]).unwrap();
    let adopted = describe(&ctx, &ecs_name).await.unwrap();
    assert!(tags_of(&adopted).contains_key("ecs.operator.dev/owner"));
    assert_eq!(adopted.capacity_providers().len(), 2);
}

#[tokio::test]
async fn delete_removes_the_cluster_after_its_services_and_retain_keeps_it() {
    let ctx = TestContext::new("cluster-delete").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let gone = format!("{}-gone", ctx.prefix);
    let kept = format!("{}-kept", ctx.prefix);
    ctx.apply_ok(&manifest("gone", &gone, "")).unwrap();
    ctx.apply_ok(&manifest("kept", &kept, "  deletionPolicy: Retain\n")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/gone", "ecscluster/kept"]).unwrap();

    // A service still runs in the cluster: ECS would refuse the delete (moto does
    // not), so the operator waits and says why.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let family = format!("{}-svc", ctx.prefix);
    ecs.register_task_definition()
        .family(&family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder().name("app").image("nginx").memory(128).build(),
        )
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster(&gone)
        .service_name("blocker")
        .task_definition(&family)
        .desired_count(1)
        .send()
        .await
        .unwrap();
    ctx.kubectl_ok(&["delete", "ecscluster/gone", "--wait=false"]).unwrap();
    let api: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let message = wait_for_reason(&api, "gone", "Synced", "DeletionBlocked").await.message;
    assert!(message.contains("active service"), "{message}");
    assert!(describe(&ctx, &gone).await.is_some());

    ecs.delete_service().cluster(&gone).service("blocker").force(true).send().await.unwrap();
    ctx.kubectl_ok(&["wait", "--for=delete", "--timeout=60s", "ecscluster/gone"]).unwrap();
    assert!(describe(&ctx, &gone).await.is_none(), "the ECS cluster is deleted");

    ctx.kubectl_ok(&["delete", "ecscluster/kept", "--timeout=60s"]).unwrap();
    assert!(describe(&ctx, &kept).await.is_some(), "Retain leaves the ECS cluster");
}

#[tokio::test]
async fn an_invalid_spec_is_reported_without_any_aws_call() {
    let ctx = TestContext::new("cluster-invalid").await.unwrap();
    let op = ctx.start_operator(&[]).unwrap();
    let ecs_name = format!("{}-bad", ctx.prefix);
    let bad = manifest("bad", &ecs_name, "").replace("env: test", "ecs.operator.dev/owner: me");
    ctx.apply_ok(&bad).unwrap();
    let api: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let message = wait_for_reason(&api, "bad", "Ready", "Invalid").await.message;
    assert!(message.contains("reserved prefix"), "{message}");
    let metrics = op.metrics().unwrap();
    assert_eq!(ecs_operator_tests::operator::sum_aws_requests(&metrics, |_| true), 0, "no AWS call at all");
    assert!(describe(&ctx, &ecs_name).await.is_none());
    // The object is intact: nothing the user wrote was lost.
    let spec = api.get("bad").await.unwrap().spec;
    assert_eq!(spec.tags.get("ecs.operator.dev/owner").map(String::as_str), Some("me"));
}

#[tokio::test]
async fn auto_scaling_group_capacity_providers_are_created_updated_and_deleted() {
    let ctx = TestContext::new("cluster-asg").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let provider = format!("{}-pool", ctx.prefix);
    let manifest = |target: i32| {
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: ec2}}
spec:
  clusterName: {p}-ec2
  capacityProviders: [{provider}]
  autoScalingGroupProviders:
    - name: {provider}
      autoScalingGroupArn: arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:0f1e2d3c:autoScalingGroupName/{p}-asg
      managedScaling: {{targetCapacity: {target}}}
      managedTerminationProtection: true
  defaultCapacityProviderStrategy:
    - {{capacityProvider: {provider}, weight: 1}}
",
            p = ctx.prefix
        )
    };
    ctx.apply_ok(&manifest(90)).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/ec2"]).unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let describe = || async {
        let out = ecs.describe_capacity_providers().capacity_providers(&provider).send().await.unwrap();
        out.capacity_providers().iter().find(|c| c.status().map(|s| s.as_str()) == Some("ACTIVE")).cloned()
    };
    let cp = describe().await.expect("capacity provider created");
    let asg = cp.auto_scaling_group_provider().unwrap();
    assert_eq!(asg.managed_scaling().unwrap().target_capacity(), Some(90));
    assert_eq!(asg.managed_termination_protection().unwrap().as_str(), "ENABLED");
    let cluster = describe_cluster_providers(&ctx, &format!("{}-ec2", ctx.prefix)).await;
    assert_eq!(cluster, vec![provider.clone()]);

    ctx.apply_ok(&manifest(75)).unwrap();
    eventually(WAIT, "target capacity 75", || async {
        let cp = describe().await.ok_or("gone")?;
        let t = cp.auto_scaling_group_provider().and_then(|a| a.managed_scaling()).and_then(|m| m.target_capacity());
        if t == Some(75) { Ok(()) } else { Err(format!("{t:?}")) }
    })
    .await;

    // ECS cannot move a capacity provider to another Auto Scaling group: refused.
    let moved = manifest(75).replace(&format!("{}-asg", ctx.prefix), "other-asg");
    let out = ctx.apply(&moved).unwrap();
    assert!(!out.status.success(), "a changed autoScalingGroupArn must be refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot move a capacity provider"));

    // Removing the entry detaches the provider and deletes it; the cluster stays.
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: ec2}}
spec:
  clusterName: {p}-ec2
",
        p = ctx.prefix
    ))
    .unwrap();
    eventually(WAIT, "the removed capacity provider deleted", || async {
        match describe().await {
            None => Ok(()),
            Some(cp) => Err(format!("{:?}", cp.status())),
        }
    })
    .await;
    assert!(describe_cluster_providers(&ctx, &format!("{}-ec2", ctx.prefix)).await.is_empty());
    let api: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let status = api.get("ec2").await.unwrap().status.unwrap();
    assert!(status.owned_capacity_providers.is_empty(), "{status:?}");

    // Added back: created again; the cluster's deletion takes it along.
    ctx.apply_ok(&manifest(75)).unwrap();
    eventually(WAIT, "the capacity provider created again", || async {
        describe().await.map(|_| ()).ok_or_else(|| "not yet".to_string())
    })
    .await;
    ctx.kubectl_ok(&["delete", "ecscluster/ec2", "--timeout=60s"]).unwrap();
    assert!(describe().await.is_none(), "the operator's capacity provider is deleted with the cluster");
}

async fn describe_cluster_providers(ctx: &TestContext, name: &str) -> Vec<String> {
    describe(ctx, name).await.map(|c| c.capacity_providers().to_vec()).unwrap_or_default()
}

#[tokio::test]
async fn an_aws_error_that_retrying_can_fix_is_aws_retrying_and_retried() {
    let ctx = TestContext::new("cluster-unreachable").await.unwrap();
    // Nothing listens on this port: every call fails to connect, as when AWS's
    // endpoint cannot be reached for a while.
    let closed = format!("http://127.0.0.1:{}", ecs_operator_tests::process::free_port().unwrap());
    let log = ctx.bed.dir.join(format!("{}-operator.log", ctx.namespace));
    let op = ecs_operator_tests::OperatorProcess::start_with_env(
        ctx.bed,
        &ctx.bed.control_plane.kubeconfig,
        &ctx.namespace,
        &log,
        &[],
        &[("AWS_ENDPOINT_URL", closed.as_str())],
    )
    .unwrap();
    let ecs_name = format!("{}-far", ctx.prefix);
    ctx.apply_ok(&manifest("far", &ecs_name, "")).unwrap();
    let api: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let synced = wait_for_reason(&api, "far", "Synced", "AwsRetrying").await;
    assert!(synced.message.contains("DescribeClusters failed"), "names the call: {}", synced.message);
    let ready = condition_of(&api.get("far").await.unwrap(), "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "AwsRetrying"));
    // Retried with backoff (5 s, then 10 s) without any change of spec, each failure
    // counted once.
    eventually(WAIT, "a second failed reconcile", || async {
        let n = op.reconciles("Cluster", "error").map_err(|e| e.to_string())?;
        if n >= 2 { Ok(()) } else { Err(format!("{n} failed reconciles")) }
    })
    .await;
}
