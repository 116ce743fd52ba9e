//! The TaskDefinition controller against a real apiserver and moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::TaskDefinition;
use ecs_operator_tests::conditions::{wait_for_reason, wait_ready};
use ecs_operator_tests::{TestContext, eventually};
use kube::Api;
use std::time::Duration;

fn manifest(name: &str, family: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: {name}}}
spec:
  family: {family}
  networkMode: awsvpc
  requiresCompatibilities: [FARGATE]
  cpu: '256'
  memory: '512'
  runtimePlatform: {{cpuArchitecture: X86_64, operatingSystemFamily: LINUX}}
  executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
  containers:
    - name: api
      image: {image}
      portMappings: [{{containerPort: 3000}}]
      memoryReservation: 256
      environment: {{NODE_ENV: production, LOG_LEVEL: info}}
      healthCheck: {{command: [CMD-SHELL, 'curl -f http://localhost:3000/health || exit 1']}}
    - name: log-router
      image: public.ecr.aws/aws-observability/aws-for-fluent-bit:stable
      essential: false
      memoryReservation: 50
{extra}"
    )
}

/// The same spec with maps and lists written in another order.
fn reordered(name: &str, family: &str, image: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: {name}}}
spec:
  containers:
    - name: log-router
      memoryReservation: 50
      essential: false
      image: public.ecr.aws/aws-observability/aws-for-fluent-bit:stable
    - name: api
      environment: {{LOG_LEVEL: info, NODE_ENV: production}}
      healthCheck: {{command: [CMD-SHELL, 'curl -f http://localhost:3000/health || exit 1']}}
      memoryReservation: 256
      portMappings: [{{containerPort: 3000, hostPort: 3000}}]
      image: {image}
  executionRoleArn: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
  runtimePlatform: {{operatingSystemFamily: LINUX, cpuArchitecture: X86_64}}
  memory: '512'
  cpu: '0.25 vCPU'
  requiresCompatibilities: [FARGATE]
  networkMode: awsvpc
  family: {family}
"
    )
}

async fn active_revisions(ctx: &TestContext, family: &str) -> Vec<String> {
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let out = ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    out.task_definition_arns().to_vec()
}

#[tokio::test]
async fn registers_once_per_spec_and_never_for_a_reordering() {
    let ctx = TestContext::new("td-revisions").await.unwrap();
    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let family = format!("{}-api", ctx.prefix);
    ctx.apply_ok(&manifest("api", &family, "nginx:1.27", "")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "taskdef/api"]).unwrap();
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let first = api.get("api").await.unwrap().status.unwrap();
    assert_eq!(first.revision, Some(1));
    assert_eq!(first.family.as_deref(), Some(family.as_str()));

    // What ECS registered is what the spec says.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let td = ecs
        .describe_task_definition()
        .task_definition(first.arn.clone().unwrap())
        .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    let def = td.task_definition().unwrap();
    assert_eq!(def.cpu(), Some("256"));
    assert_eq!(def.container_definitions().len(), 2);
    let api_container = def.container_definitions().iter().find(|c| c.name() == Some("api")).unwrap();
    assert_eq!(api_container.port_mappings()[0].host_port(), Some(3000));
    assert!(td.tags().iter().any(|t| t.key() == Some("ecs.operator.dev/spec-hash")));

    // The same spec written in another order, with defaults spelled out: no new
    // revision and no AWS write over two resyncs.
    let writes = op.aws_writes().unwrap();
    let reconciles = op.successful_reconciles("TaskDefinition").unwrap();
    ctx.apply_ok(&reordered("api", &family, "nginx:1.27")).unwrap();
    eventually(Duration::from_secs(30), "two more resyncs", || async {
        let now = op.successful_reconciles("TaskDefinition").map_err(|e| e.to_string())?;
        if now >= reconciles + 2 { Ok(()) } else { Err(format!("{now}")) }
    })
    .await;
    assert_eq!(op.aws_writes().unwrap(), writes, "reordering must not register or write anything");
    assert_eq!(api.get("api").await.unwrap().status.unwrap().revision, Some(1));

    // A real change registers revision 2 and keeps 1.
    ctx.apply_ok(&manifest("api", &family, "nginx:1.28", "")).unwrap();
    let obj = wait_ready(&api, "api", 3).await;
    let status = obj.status.unwrap();
    assert_eq!(status.revision, Some(2));
    assert_eq!(status.revisions.iter().map(|r| r.revision).collect::<Vec<_>>(), vec![2, 1]);
    let table = ctx.kubectl_ok(&["get", "taskdef", "api"]).unwrap();
    assert!(table.contains("REVISION") && table.contains(&family), "{table}");
}

#[tokio::test]
async fn old_revisions_beyond_the_history_limit_are_deregistered() {
    let ctx = TestContext::new("td-history").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let family = format!("{}-hist", ctx.prefix);
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for (generation, tag) in [(1, "1"), (2, "2"), (3, "3"), (4, "4")] {
        ctx.apply_ok(&manifest("hist", &family, &format!("nginx:1.{tag}"), "  revisionHistoryLimit: 1\n")).unwrap();
        wait_ready(&api, "hist", generation).await;
    }
    let status = api.get("hist").await.unwrap().status.unwrap();
    assert_eq!(status.revision, Some(4));
    assert_eq!(status.revisions.iter().map(|r| r.revision).collect::<Vec<_>>(), vec![4, 3]);
    let mut active: Vec<i32> =
        active_revisions(&ctx, &family).await.iter().map(|a| a.rsplit(':').next().unwrap().parse().unwrap()).collect();
    active.sort();
    assert_eq!(active, vec![3, 4], "revisions 1 and 2 are deregistered");
}

#[tokio::test]
async fn drift_a_deregistered_current_revision_is_registered_again() {
    let ctx = TestContext::new("td-drift").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let family = format!("{}-drift", ctx.prefix);
    ctx.apply_ok(&manifest("drift", &family, "nginx:1.27", "")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "taskdef/drift"]).unwrap();
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let arn = api.get("drift").await.unwrap().status.unwrap().arn.unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.deregister_task_definition().task_definition(&arn).send().await.unwrap();
    let status = eventually(Duration::from_secs(30), "a new revision", || async {
        let s = api.get("drift").await.map_err(|e| e.to_string())?.status.ok_or("no status")?;
        if s.revision == Some(2) { Ok(s) } else { Err(format!("{:?}", s.revision)) }
    })
    .await;
    assert_eq!(active_revisions(&ctx, &family).await, vec![status.arn.unwrap()]);
}

#[tokio::test]
async fn a_family_registered_by_someone_else_is_a_conflict_until_adopted() {
    let ctx = TestContext::new("td-conflict").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let family = format!("{}-theirs", ctx.prefix);
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.register_task_definition()
        .family(&family)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder().name("app").image("nginx").memory(128).build(),
        )
        .send()
        .await
        .unwrap();
    ctx.apply_ok(&manifest("theirs", &family, "nginx:1.27", "")).unwrap();
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let message = wait_for_reason(&api, "theirs", "Synced", "Conflict").await.message;
    assert!(message.contains(&family), "{message}");
    assert_eq!(active_revisions(&ctx, &family).await.len(), 1, "nothing registered into a foreign family");

    ctx.apply_ok(&manifest("theirs", &family, "nginx:1.27", "  adoptionPolicy: AdoptUnowned\n")).unwrap();
    let obj = wait_ready(&api, "theirs", 2).await;
    assert_eq!(obj.status.unwrap().revision, Some(2));

    // Deleting deregisters only the operator's revision, never the foreign one.
    ctx.kubectl_ok(&["delete", "taskdef/theirs", "--timeout=60s"]).unwrap();
    let left = active_revisions(&ctx, &family).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].ends_with(":1"), "{left:?}");
}

#[tokio::test]
async fn delete_deregisters_and_retain_keeps_the_revisions() {
    let ctx = TestContext::new("td-delete").await.unwrap();
    let _op = ctx.start_operator(&[]).unwrap();
    let gone = format!("{}-gone", ctx.prefix);
    let kept = format!("{}-kept", ctx.prefix);
    ctx.apply_ok(&manifest("gone", &gone, "nginx:1", "")).unwrap();
    ctx.apply_ok(&manifest("kept", &kept, "nginx:1", "  deletionPolicy: Retain\n")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "taskdef/gone", "taskdef/kept"]).unwrap();
    ctx.kubectl_ok(&["delete", "taskdef/gone", "taskdef/kept", "--timeout=60s"]).unwrap();
    assert!(active_revisions(&ctx, &gone).await.is_empty());
    assert_eq!(active_revisions(&ctx, &kept).await.len(), 1);
}

#[tokio::test]
async fn invalid_specs_are_refused_at_apply_or_reported_before_any_aws_call() {
    let ctx = TestContext::new("td-invalid").await.unwrap();
    let op = ctx.start_operator(&[]).unwrap();
    let family = format!("{}-bad", ctx.prefix);

    // Static rules: refused by the apiserver at apply time.
    let host_port =
        manifest("bad", &family, "nginx", "").replace("containerPort: 3000}", "containerPort: 3000, hostPort: 8080}");
    let out = ctx.apply(&host_port).unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hostPort must be omitted or equal containerPort"));
    let duplicate = manifest("bad", &family, "nginx", "").replace("name: log-router", "name: api");
    let out = ctx.apply(&duplicate).unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Duplicate value"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reservation = manifest("bad", &family, "nginx", "")
        .replace("memoryReservation: 256", "memoryReservation: 256\n      memory: 128");
    let out = ctx.apply(&reservation).unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be at least memoryReservation"));

    // Rules the schema cannot express: an Invalid condition, no AWS call.
    let size = manifest("bad", &family, "nginx", "").replace("memory: '512'", "memory: '4096'");
    ctx.apply_ok(&size).unwrap();
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let message = wait_for_reason(&api, "bad", "Ready", "Invalid").await.message;
    assert!(message.contains("Fargate does not offer cpu 256 with memory 4096"), "{message}");
    assert_eq!(ecs_operator_tests::operator::sum_aws_requests(&op.metrics().unwrap(), |_| true), 0);
    let events = ctx.kubectl_ok(&["get", "events", "--field-selector", "reason=InvalidSpec", "-o", "name"]).unwrap();
    assert!(!events.trim().is_empty(), "an InvalidSpec event is published");

    // Fixing the spec recovers.
    ctx.apply_ok(&manifest("bad", &family, "nginx", "")).unwrap();
    wait_ready(&api, "bad", 2).await;
}

#[tokio::test]
async fn an_aws_error_that_retrying_cannot_fix_is_aws_error_and_waits() {
    let ctx = TestContext::new("taskdef-refused").await.unwrap();
    let op = ctx.start_operator(&[]).unwrap();
    // A container with only a soft memory limit on EC2: valid for ECS and for our
    // validation, but moto refuses it (a client error). Here it stands for any
    // request AWS refuses that the operator could not foresee.
    let family = format!("{}-refused", ctx.prefix);
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: refused}}
spec:
  family: {family}
  networkMode: bridge
  requiresCompatibilities: [EC2]
  containers:
    - name: api
      image: nginx:1.27
      memoryReservation: 128
"
    ))
    .unwrap();
    let api: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let synced = wait_for_reason(&api, "refused", "Synced", "AwsError").await;
    assert!(synced.message.contains("RegisterTaskDefinition failed"), "AWS's words: {}", synced.message);
    // Not retried on the error backoff: it waits for a spec change.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(op.reconciles("TaskDefinition", "error").unwrap(), 0, "a permanent error is not an error retry");
}
