//! Ready, Progressing and Degraded end to end: the real operator against the real
//! apiserver and moto with the bed's ECS scheduler model (tests/support/ecs_model.py),
//! whose deployments progress, drain, fail and roll back as ECS documents. The model
//! takes a step every `TEST_STEP`; a task launched in one step runs in the next.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use ecs_operator::crd::Service;
use ecs_operator_tests::conditions::{condition_of, wait_converged, wait_for_reason};
use ecs_operator_tests::fixtures::{cluster_and_task, describe, fargate_service, network};
use ecs_operator_tests::moto::SeededNetwork;
use ecs_operator_tests::{TestContext, eventually};
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::ListParams;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(90);

fn service(n: &SeededNetwork, desired: Option<i32>, extra: &str) -> String {
    format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: api}}
spec:
  clusterRef: {{name: web}}
  taskDefinitionRef: {{name: api}}
{desired}  launchType: FARGATE
{net}  deployment:
    circuitBreaker: {{enable: true, rollback: true}}
{extra}",
        desired = desired.map(|d| format!("  desiredCount: {d}\n")).unwrap_or_default(),
        net = network(n),
    )
}

/// Reads the Service until `until` holds, and returns every (Ready, Progressing,
/// Degraded) status triple seen on the way, in order, without repeats.
async fn watch_conditions<F>(api: &Api<Service>, what: &str, mut until: F) -> Vec<[String; 3]>
where
    F: FnMut(&Service) -> bool,
{
    let mut seen: Vec<[String; 3]> = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let obj = api.get("api").await.unwrap();
        ecs_operator_tests::health_capture::capture(&obj);
        let state = ["Ready", "Progressing", "Degraded"]
            .map(|t| condition_of(&obj, t).map(|c| c.status).unwrap_or_else(|| "-".into()));
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        if until(&obj) {
            return seen;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; conditions seen: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_true(obj: &Service, type_: &str) -> bool {
    condition_of(obj, type_).is_some_and(|c| c.status == "True")
}

#[tokio::test]
async fn a_new_service_is_progressing_then_ready_only_once_every_task_runs() {
    let ctx = TestContext::new("roll-create").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, Some(3), "")).unwrap();

    // `kubectl wait` as a user runs it; ECS is read the moment it returns.
    let bed = ctx.bed;
    let namespace = ctx.namespace.clone();
    let waiter = tokio::task::spawn_blocking(move || {
        bed.kubectl(&["-n", &namespace, "wait", "--for=condition=Ready", "ecssvc/api", "--timeout=90s"], None)
    });
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let seen = watch_conditions(&api, "Ready", |o| is_true(o, "Ready")).await;
    let waited = waiter.await.unwrap().unwrap();
    assert!(waited.status.success(), "kubectl wait: {}", String::from_utf8_lossy(&waited.stderr));
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert_eq!((svc.desired_count(), svc.running_count()), (3, 3), "Ready means every task runs");
    assert_eq!(svc.deployments()[0].rollout_state().map(|s| s.as_str()), Some("COMPLETED"));
    assert!(
        seen.iter().any(|[ready, progressing, _]| ready == "False" && progressing == "True"),
        "the rollout was reported as Progressing before Ready: {seen:?}"
    );
    println!("conditions seen (Ready, Progressing, Degraded): {seen:?}");
}

#[tokio::test]
async fn an_image_bump_makes_a_new_deployment_that_replaces_the_old_one() {
    let ctx = TestContext::new("roll-image").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, Some(2), "")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let before = wait_converged(&api, "api").await;
    let first = before.status.unwrap().deployments[0].clone();

    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.28", "awsvpc", "FARGATE")).unwrap();
    let mut saw_both = false;
    let seen = watch_conditions(&api, "Ready on revision 2", |o| {
        let s = o.status.as_ref();
        saw_both |= s.is_some_and(|s| s.deployments.len() == 2 && s.deployments[1].id == first.id);
        is_true(o, "Ready") && s.and_then(|s| s.deployments.first()).is_some_and(|d| d.task_definition.ends_with(":2"))
    })
    .await;
    assert!(saw_both, "status showed the new PRIMARY beside the draining old deployment");
    assert!(seen.iter().any(|[r, p, _]| r == "False" && p == "True"), "Progressing during the rollout: {seen:?}");

    let obj = wait_converged(&api, "api").await;
    let status = obj.status.clone().unwrap();
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    // Status matches ECS: one deployment, the new one, the old one drained away.
    let ecs_deployments: Vec<(String, String, String, i32)> = svc
        .deployments()
        .iter()
        .map(|d| {
            let id = d.id().unwrap().to_string();
            (id, d.status().unwrap().to_string(), d.task_definition().unwrap().to_string(), d.running_count())
        })
        .collect();
    let ours: Vec<(String, String, String, i32)> = status
        .deployments
        .iter()
        .map(|d| (d.id.clone(), d.status.clone(), d.task_definition.clone(), d.running_count))
        .collect();
    assert_eq!(ours, ecs_deployments);
    assert_eq!(ours.len(), 1);
    assert_ne!(ours[0].0, first.id, "a new deployment, not the first one changed in place");
    assert_eq!(svc.running_count(), 2);
    let ready = condition_of(&obj, "Ready").unwrap();
    assert_eq!(ready.observed_generation, obj.metadata.generation);
    assert_eq!(status.observed_generation, obj.metadata.generation);
}

/// Kubernetes Events the operator published from ECS service events, by message,
/// counting repeats the event recorder folded into one Event.
async fn published_ecs_events(ctx: &TestContext) -> BTreeMap<String, i32> {
    let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut out = BTreeMap::new();
    for e in events.list(&ListParams::default()).await.unwrap().items {
        if e.reason.as_deref() != Some("EcsServiceEvent") {
            continue;
        }
        let count = e.series.as_ref().map(|s| s.count).or(e.deprecated_count).unwrap_or(1).max(1);
        *out.entry(e.note.unwrap_or_default()).or_insert(0) += count;
    }
    out
}

#[tokio::test]
async fn a_failing_image_with_rollback_is_degraded_stays_on_the_old_revision_and_is_not_redeployed() {
    let ctx = TestContext::new("roll-fail").await.unwrap();
    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&service(&net, Some(2), "")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let good = wait_converged(&api, "api").await.status.unwrap().deployments[0].task_definition.clone();

    // The bed's convention: an image tag starting with `bed-fail` exits at start.
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:bed-fail", "awsvpc", "FARGATE")).unwrap();
    let degraded = wait_for_reason(&api, "api", "Degraded", "RolledBack").await;
    assert_eq!(degraded.status, "True");
    assert!(degraded.message.contains("circuit breaker"), "ECS's reason: {}", degraded.message);

    // ECS finishes the rollback: the old revision runs, Ready says why it is not.
    let obj = eventually(WAIT, "the rollback to complete", || async {
        let o = api.get("api").await.map_err(|e| e.to_string())?;
        let s = o.status.clone().ok_or("no status")?;
        let done = s.deployments.len() == 1 && s.deployments[0].rollout_state.as_deref() == Some("COMPLETED");
        if done { Ok(o) } else { Err(format!("{:?}", s.deployments)) }
    })
    .await;
    let status = obj.status.clone().unwrap();
    assert_eq!(status.deployments[0].task_definition, good, "the old revision runs");
    assert!(status.task_definition_arn.as_deref().is_some_and(|t| t.ends_with(":2")), "the spec still wants :2");
    assert_eq!(status.rolled_back_task_definition_arn, status.task_definition_arn);
    let ready = condition_of(&obj, "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", "NotOnWantedRevision"));
    let degraded = condition_of(&obj, "Degraded").unwrap();
    assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", "RolledBack"));
    assert!(degraded.message.contains("circuit breaker"), "ECS's words stay: {}", degraded.message);
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert_eq!(svc.task_definition(), Some(good.as_str()));

    // No loop: over three resyncs the operator does not deploy the failing revision
    // again (each attempt would be a new ECS service deployment).
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let deployments = || async {
        let out = ecs.list_service_deployments().cluster(&cluster).service("api").send().await.unwrap();
        out.service_deployments().len()
    };
    let made = deployments().await;
    let seen = op.successful_reconciles("Service").unwrap();
    eventually(Duration::from_secs(40), "three more Service reconciles", || async {
        let n = op.successful_reconciles("Service").map_err(|e| e.to_string())?;
        if n >= seen + 3 { Ok(()) } else { Err(format!("{n}")) }
    })
    .await;
    assert_eq!(deployments().await, made, "the rolled-back revision is not deployed again");

    // Every ECS service event became one Kubernetes Event: none twice, none dropped,
    // also where several share one creation time.
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    let mut in_ecs: BTreeMap<String, i32> = BTreeMap::new();
    for e in svc.events() {
        *in_ecs.entry(e.message().unwrap_or_default().to_string()).or_insert(0) += 1;
    }
    let times: Vec<_> = svc.events().iter().filter_map(|e| e.created_at()).collect();
    let shared = times.len() - times.iter().collect::<std::collections::BTreeSet<_>>().len();
    let published = eventually(Duration::from_secs(30), "every ECS event published once", || async {
        let published = published_ecs_events(&ctx).await;
        if published == in_ecs { Ok(published) } else { Err(format!("published {published:#?}\nin ECS {in_ecs:#?}")) }
    })
    .await;
    println!("{} ECS events published once each ({shared} sharing a creation time with another)", published.len());
    assert!(shared > 0, "the model writes several events in one step: the same-time case was exercised");

    // A new revision releases the hold and deploys.
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.29", "awsvpc", "FARGATE")).unwrap();
    let fixed = wait_for_reason(&api, "api", "Degraded", "Healthy").await;
    assert_eq!(fixed.status, "False");
    let obj = wait_converged(&api, "api").await;
    assert!(obj.status.unwrap().deployments[0].task_definition.ends_with(":3"));
}

#[tokio::test]
async fn scaling_up_down_to_zero_and_autoscaling_bounds_are_followed_by_ready() {
    let ctx = TestContext::new("roll-scale").await.unwrap();
    let mut op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    ctx.apply_ok(&service(&net, Some(1), "")).unwrap();
    wait_converged(&api, "api").await;

    // A change the operator has not seen (it is stopped): the status, Ready included,
    // still describes the previous generation, so nobody reads it as current.
    op.stop();
    ctx.apply_ok(&service(&net, Some(5), "")).unwrap();
    let unseen = api.get("api").await.unwrap();
    ecs_operator_tests::health_capture::capture(&unseen);
    let behind = unseen.status.as_ref().and_then(|s| s.observed_generation);
    assert!(behind < unseen.metadata.generation, "observedGeneration {behind:?} is behind");
    assert!(condition_of(&unseen, "Ready").unwrap().observed_generation < unseen.metadata.generation);
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    for desired in [1, 5, 0] {
        ctx.apply_ok(&service(&net, Some(desired), "")).unwrap();
        let obj = wait_converged(&api, "api").await;
        let s = obj.status.unwrap();
        assert_eq!((s.desired_count, s.running_count), (Some(desired), Some(desired)));
        let svc = describe(&ctx, &cluster, "api").await.unwrap();
        assert_eq!((svc.desired_count(), svc.running_count()), (desired, desired));
    }

    // Autoscaling takes the desired count over: 3 is inside 2..4, so Ready holds.
    ctx.apply_ok(&service(&net, Some(3), "")).unwrap();
    wait_converged(&api, "api").await;
    let bounds = "  autoscaling: {minCapacity: 2, maxCapacity: 4, targetCpuUtilization: 60}\n";
    ctx.apply_ok(&service(&net, None, bounds)).unwrap();
    let obj = wait_converged(&api, "api").await;
    let s = obj.status.unwrap();
    assert_eq!((s.desired_count, s.running_count), (Some(3), Some(3)));
    assert!(s.autoscaling_resource_id.is_some());

    // A desired count outside the bounds (set behind the operator's back) runs, but
    // is not Ready: the operator leaves the count to Application Auto Scaling.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.update_service().cluster(&cluster).service("api").desired_count(7).send().await.unwrap();
    let outside = wait_for_reason(&api, "api", "Ready", "OutsideAutoscalingBounds").await;
    assert_eq!(outside.status, "False");
    let s = api.get("api").await.unwrap().status.unwrap();
    assert_eq!((s.desired_count, s.running_count), (Some(7), Some(7)));
}

#[tokio::test]
async fn a_daemon_service_is_ready_when_one_task_runs_on_each_container_instance() {
    let ctx = TestContext::new("roll-daemon").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "fluent/fluent-bit:3", "bridge", "EC2")).unwrap();
    eventually(WAIT, "the ECS cluster", || async {
        let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
        let out = ecs.describe_clusters().clusters(&cluster).send().await.map_err(|e| e.to_string())?;
        if out.clusters().iter().any(|c| c.status() == Some("ACTIVE")) { Ok(()) } else { Err("none".into()) }
    })
    .await;
    let instances = ctx.bed.join_container_instances(&cluster, 3).unwrap();
    ctx.apply_ok(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {name: api}
spec:
  clusterRef: {name: web}
  taskDefinitionRef: {name: api}
  schedulingStrategy: DAEMON
  launchType: EC2
",
    )
    .unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let obj = wait_converged(&api, "api").await;
    let s = obj.status.unwrap();
    assert_eq!((s.desired_count, s.running_count), (Some(3), Some(3)), "one task per container instance");

    // An instance leaves the cluster: the daemon wants one task fewer.
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    ecs.deregister_container_instance()
        .cluster(&cluster)
        .container_instance(&instances[0])
        .force(true)
        .send()
        .await
        .unwrap();
    let obj = eventually(WAIT, "two daemon tasks, Ready", || async {
        let o = api.get("api").await.map_err(|e| e.to_string())?;
        let s = o.status.clone().ok_or("no status")?;
        let two = (s.desired_count, s.running_count) == (Some(2), Some(2));
        if two && is_true(&o, "Ready") { Ok(o) } else { Err(format!("{:?} {:?}", s.desired_count, s.running_count)) }
    })
    .await;
    assert!(is_true(&obj, "Ready"));
}

#[tokio::test]
async fn a_blue_green_deployment_shows_its_lifecycle_stages_in_status() {
    let ctx = TestContext::new("roll-bluegreen").await.unwrap();
    let _op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let listener_arn = ecs_operator_tests::fixtures::existing_listener(&ctx, &net, "bg", 443).await;
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    // The bed's convention: a bake time of N minutes lasts N scheduler steps.
    let blue_green = format!(
        "  deployment: {{strategy: BlueGreen, bakeTimeMinutes: 30}}
  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /health}}}}
    listenerArn: {listener_arn}
    rule: {{priority: 5, pathPatterns: ['/*']}}
    blueGreen: {{roleArn: 'arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers'}}
"
    );
    ctx.apply_ok(&fargate_service(&net, &blue_green)).unwrap();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let first = wait_converged(&api, "api").await.status.unwrap().service_deployment.unwrap();
    assert_eq!(first.status, "SUCCESSFUL");

    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.28", "awsvpc", "FARGATE")).unwrap();
    let mut stages: Vec<String> = Vec::new();
    let mut last = None;
    let deadline = Instant::now() + WAIT;
    loop {
        let o = api.get("api").await.unwrap();
        let d = o.status.as_ref().and_then(|s| s.service_deployment.clone());
        if let Some(d) = d.filter(|d| d.arn != first.arn) {
            if let Some(stage) = d.lifecycle_stage.clone().filter(|s| stages.last() != Some(s)) {
                stages.push(stage);
            }
            let done = d.status == "SUCCESSFUL" && is_true(&o, "Ready");
            last = Some(d);
            if done {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "blue/green deployment did not finish; stages seen {stages:?}, last {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("blue/green lifecycle stages seen in status: {stages:?}");
    const ORDER: [&str; 10] = [
        "RECONCILE_SERVICE",
        "PRE_SCALE_UP",
        "SCALE_UP",
        "POST_SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
    ];
    let positions: Vec<usize> = stages.iter().map(|s| ORDER.iter().position(|o| o == s).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "stages in ECS's order: {stages:?}");
    assert!(stages.len() >= 2 && stages.contains(&"BAKE_TIME".to_string()), "stages followed: {stages:?}");
    let s = api.get("api").await.unwrap().status.unwrap();
    assert!(s.deployments.len() == 1 && s.deployments[0].task_definition.ends_with(":2"));
}
