//! The Task controller (one-off runs) against a real apiserver and moto with the
//! bed's model of standalone tasks (tests/support/ecs_tasks_model.py): a task's
//! container runs `bed-run-seconds=N` and exits `bed-exit-code=N` as its command
//! says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::Task;
use ecs_operator::crd::task::TaskPhase;
use ecs_operator_tests::conditions::{condition_of, wait_for_reason};
use ecs_operator_tests::fixtures::{cluster_and_task, network};
use ecs_operator_tests::moto::SeededNetwork;
use ecs_operator_tests::{TestContext, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// A Fargate Task `name` of the TaskDefinition `api` in the Cluster `web`, whose
/// container runs `command`, with `extra` spec lines.
fn task(ctx: &TestContext, n: &SeededNetwork, name: &str, command: &str, extra: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Task
metadata: {{name: {name}}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
  launchType: FARGATE
  startedBy: {started_by}
{net}  overrides:
    - name: api
      command: {command}
{extra}",
        started_by = started_by(ctx, name),
        net = network(n),
    )
}

fn started_by(ctx: &TestContext, name: &str) -> String {
    format!("{}-{name}", ctx.prefix)
}

/// The ECS tasks `startedBy` names, by desired status (RUNNING or STOPPED).
async fn ecs_tasks(ctx: &TestContext, cluster: &str, name: &str, desired: &str) -> Vec<aws_sdk_ecs::types::Task> {
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let list = ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(started_by(ctx, name))
        .desired_status(aws_sdk_ecs::types::DesiredStatus::from(desired))
        .send()
        .await
        .unwrap();
    if list.task_arns().is_empty() {
        return Vec::new();
    }
    let out = ecs.describe_tasks().cluster(cluster).set_tasks(Some(list.task_arns().to_vec())).send().await.unwrap();
    out.tasks().to_vec()
}

/// Event reasons on `name`, in order.
async fn event_reasons(ctx: &TestContext, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut all: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    all.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    all.into_iter().filter_map(|e| e.reason).collect()
}

async fn setup(test: &str) -> (TestContext, ecs_operator_tests::OperatorProcess, SeededNetwork, String) {
    let ctx = TestContext::new(test).await.unwrap();
    let op = ctx.start_operator(&[]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    (ctx, op, net, cluster)
}

#[tokio::test]
async fn a_migration_runs_to_completion_for_kubectl_wait_and_its_ttl_deletes_it() {
    let (ctx, _op, net, cluster) = setup("task-ok").await;
    let yaml =
        task(&ctx, &net, "migrate", "['./migrate', 'bed-run-seconds=2']", "  count: 2\n  ttlSecondsAfterFinished: 5\n");
    ctx.apply_ok(&yaml).unwrap();
    // What the docs show: plain `kubectl wait` on the Complete condition.
    ctx.kubectl_ok(&["wait", "--for=condition=Complete", "task/migrate", "--timeout=60s"]).unwrap();
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let obj = api.get("migrate").await.unwrap();
    assert_eq!(condition_of(&obj, "Ready").unwrap().status, "True");
    let status = obj.status.clone().unwrap();
    assert_eq!((status.phase, status.attempts, status.failed), (Some(TaskPhase::Succeeded), 1, 0));
    assert_eq!(status.tasks.len(), 2);
    for t in &status.tasks {
        assert_eq!(t.last_status.as_deref(), Some("STOPPED"));
        assert_eq!(t.stop_code.as_deref(), Some("EssentialContainerExited"));
        assert_eq!(t.containers.iter().map(|c| c.exit_code).collect::<Vec<_>>(), vec![Some(0)]);
    }
    // ECS ran exactly the two tasks, of the TaskDefinition's current revision.
    let stopped = ecs_tasks(&ctx, &cluster, "migrate", "STOPPED").await;
    assert_eq!(stopped.len(), 2);
    assert!(stopped.iter().all(|t| t.task_definition_arn() == status.task_definition_arn.as_deref()));
    let reasons = event_reasons(&ctx, "migrate").await;
    assert_eq!(reasons.iter().filter(|r| *r == "Started").count(), 2, "{reasons:?}");
    assert!(reasons.contains(&"Completed".to_string()), "{reasons:?}");
    // ttlSecondsAfterFinished: the object goes by itself.
    eventually(WAIT, "migrate deleted after its TTL", || async {
        match api.get_opt("migrate").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
}

#[tokio::test]
async fn a_non_zero_exit_is_retried_up_to_the_backoff_limit_then_failed() {
    let (ctx, _op, net, cluster) = setup("task-retry").await;
    ctx.apply_ok(&task(&ctx, &net, "batch", "['bed-exit-code=3']", "  backoffLimit: 1\n")).unwrap();
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let failed = wait_for_reason(&api, "batch", "Failed", "BackoffLimitExceeded").await;
    assert_eq!(failed.status, "True");
    assert!(failed.message.contains("exited 3"), "{}", failed.message);
    let obj = api.get("batch").await.unwrap();
    let status = obj.status.unwrap();
    assert_eq!((status.attempts, status.failed), (2, 2));
    assert_eq!(status.tasks.iter().map(|t| t.attempt).collect::<Vec<_>>(), vec![1, 2]);
    // One task per attempt, no more.
    assert_eq!(ecs_tasks(&ctx, &cluster, "batch", "STOPPED").await.len(), 2);
    let reasons = event_reasons(&ctx, "batch").await;
    assert!(reasons.contains(&"Retrying".to_string()) && reasons.contains(&"BackoffLimitExceeded".to_string()));
}

#[tokio::test]
async fn the_deadline_stops_running_tasks_and_fails_the_task() {
    let (ctx, _op, net, cluster) = setup("task-deadline").await;
    ctx.apply_ok(&task(
        &ctx,
        &net,
        "slow",
        "['bed-run-seconds=600']",
        "  activeDeadlineSeconds: 3\n  backoffLimit: 3\n",
    ))
    .unwrap();
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let failed = wait_for_reason(&api, "slow", "Failed", "DeadlineExceeded").await;
    assert_eq!(failed.status, "True");
    let stopped = eventually(WAIT, "the slow task stopped", || async {
        let tasks = ecs_tasks(&ctx, &cluster, "slow", "STOPPED").await;
        if tasks.len() == 1 { Ok(tasks) } else { Err(format!("{} stopped", tasks.len())) }
    })
    .await;
    assert_eq!(stopped[0].stop_code().map(|c| c.as_str()), Some("UserInitiated"));
    assert!(stopped[0].stopped_reason().unwrap_or_default().contains("activeDeadlineSeconds"));
    assert_eq!(api.get("slow").await.unwrap().status.unwrap().attempts, 1, "no retry after the deadline");
}

#[tokio::test]
async fn deleting_a_running_task_stops_it_unless_retained() {
    let (ctx, _op, net, cluster) = setup("task-delete").await;
    ctx.apply_ok(&task(&ctx, &net, "stop-me", "['bed-run-seconds=600']", "")).unwrap();
    ctx.apply_ok(&task(&ctx, &net, "keep-me", "['bed-run-seconds=600']", "  deletionPolicy: Retain\n")).unwrap();
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for name in ["stop-me", "keep-me"] {
        wait_for_reason(&api, name, "Ready", "Running").await;
    }
    // The spec cannot change, as a Job's template cannot.
    let edit = ctx.kubectl(&["patch", "task/stop-me", "--type=merge", "-p", r#"{"spec":{"count":2}}"#]).unwrap();
    assert!(!edit.status.success(), "a spec change is refused");
    let refused = String::from_utf8_lossy(&edit.stderr);
    assert!(refused.contains("a Task's spec cannot be changed"), "{refused}");
    for name in ["stop-me", "keep-me"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    for name in ["stop-me", "keep-me"] {
        eventually(WAIT, &format!("{name} gone"), || async {
            match api.get_opt(name).await.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".to_string()),
            }
        })
        .await;
    }
    let stopped = ecs_tasks(&ctx, &cluster, "stop-me", "STOPPED").await;
    assert_eq!(stopped.len(), 1);
    assert!(stopped[0].stopped_reason().unwrap_or_default().contains("was deleted"), "{:?}", stopped[0]);
    assert!(ecs_tasks(&ctx, &cluster, "stop-me", "RUNNING").await.is_empty());
    let kept = ecs_tasks(&ctx, &cluster, "keep-me", "RUNNING").await;
    assert_eq!(kept.len(), 1, "deletionPolicy: Retain leaves the task running");
    // Tidy up what the test made run.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.stop_task().cluster(&cluster).task(kept[0].task_arn().unwrap()).send().await.unwrap();
}

/// A ServiceAccount with everything the operator needs in the test's namespace
/// except writing a Task's status: every RunTask's answer is lost to the
/// operator as if it crashed right after it, reconcile after reconcile.
fn no_task_status_rbac(ctx: &TestContext, account: &str) -> String {
    let ns = &ctx.namespace;
    format!(
        "apiVersion: v1
kind: ServiceAccount
metadata: {{name: {account}, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: {ns}-crds}}
rules:
  - {{apiGroups: [apiextensions.k8s.io], resources: [customresourcedefinitions], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: {ns}-crds}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {ns}-crds}}
subjects: [{{kind: ServiceAccount, name: {account}, namespace: {ns}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {account}, namespace: {ns}}}
rules:
  - {{apiGroups: [ecs.operator.dev], resources: [clusters, taskdefinitions, services, tasks], verbs: [list, watch, patch]}}
  - {{apiGroups: [ecs.operator.dev], resources: [clusters/status, taskdefinitions/status, services/status], verbs: [patch]}}
  - {{apiGroups: [events.k8s.io], resources: [events], verbs: [create]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {account}, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {account}}}
subjects: [{{kind: ServiceAccount, name: {account}, namespace: {ns}}}]
"
    )
}

#[tokio::test]
async fn run_task_answers_that_never_reach_status_start_no_second_task() {
    let ctx = TestContext::new("task-crash").await.unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&no_task_status_rbac(&ctx, "op-no-status")).unwrap();
    let kubeconfig = ctx.service_account_kubeconfig("op-no-status").await.unwrap();
    let log = ctx.bed.dir.join(format!("{}-no-status.log", ctx.namespace));
    let mut blind =
        ecs_operator_tests::OperatorProcess::start_with_kubeconfig(ctx.bed, &kubeconfig, &ctx.namespace, &log, &[])
            .unwrap();
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&task(&ctx, &net, "once", "['bed-run-seconds=3']", "")).unwrap();
    // RunTask is called again after each lost status write (the reconcile fails
    // and is retried): wait until it was called at least three times.
    eventually(WAIT, "three RunTask calls whose status write failed", || async {
        let metrics = blind.metrics().map_err(|e| e.to_string())?;
        let calls = ecs_operator_tests::operator::sum_aws_requests(&metrics, |op| op == "RunTask");
        if calls >= 3 { Ok(()) } else { Err(format!("{calls} RunTask calls")) }
    })
    .await;
    blind.kill();
    let running = ecs_tasks(&ctx, &cluster, "once", "RUNNING").await.len();
    let stopped = ecs_tasks(&ctx, &cluster, "once", "STOPPED").await.len();
    assert_eq!(running + stopped, 1, "the same clientToken: one task, however many RunTask calls");

    // A replica that can write status takes over: the one task, and Complete.
    let _op = ctx.start_operator(&[]).unwrap();
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_for_reason(&api, "once", "Complete", "Completed").await;
    let status = api.get("once").await.unwrap().status.unwrap();
    assert_eq!((status.attempts, status.tasks.len()), (1, 1));
    let all = ecs_tasks(&ctx, &cluster, "once", "STOPPED").await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].task_arn(), Some(status.tasks[0].arn.as_str()));
}
