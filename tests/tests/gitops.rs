//! GitOps end to end: a real Argo CD (application controller and repo-server built
//! from the pinned module, redis, a git repository on loopback) syncs a copy of
//! `examples/web-app` through the real operator and the bed's ECS scheduler model,
//! with our health checks installed in argocd-cm as the docs tell users to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use ecs_operator::crd::{Cluster, Service, Task, TaskDefinition};
use ecs_operator_tests::argocd::ArgoCd;
use ecs_operator_tests::conditions::condition_of;
use ecs_operator_tests::testbed::repo_root;
use ecs_operator_tests::{TestContext, eventually};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject, Patch, PatchParams, WatchEvent, WatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(120);
const APP_RESYNC: Duration = Duration::from_secs(5);

/// The example manifests for the test's namespace and the bed's network, by file
/// name (the Namespace object is left out: the test's namespace exists).
fn examples(ctx: &TestContext, values: &BTreeMap<&str, String>) -> BTreeMap<String, String> {
    let dir = repo_root().join("examples/web-app");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut text = std::fs::read_to_string(&path).unwrap();
        if text.contains("kind: Namespace") {
            continue;
        }
        text = text.replace("namespace: shop", &format!("namespace: {}", ctx.namespace));
        for (key, value) in values {
            text = text.replace(&format!("${{{key}}}"), value);
        }
        out.insert(path.file_name().unwrap().to_string_lossy().into_owned(), text);
    }
    out
}

fn application_api(ctx: &TestContext, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    Api::namespaced_with(ctx.client.clone(), namespace, &ApiResource::from_gvk(&gvk))
}

/// What Argo CD says of the Application: (sync status, health status), and the
/// health it gives each of our resources, by kind/name.
#[derive(Debug, Clone, PartialEq)]
struct AppView {
    sync: String,
    health: String,
    revision: String,
    resources: BTreeMap<String, (String, String)>,
}

fn view(app: &DynamicObject) -> AppView {
    let s = |p: &str| app.data.pointer(p).and_then(Value::as_str).unwrap_or("-").to_string();
    let mut resources = BTreeMap::new();
    for r in app.data.pointer("/status/resources").and_then(Value::as_array).into_iter().flatten() {
        let f = |k: &str| r.pointer(k).and_then(Value::as_str).unwrap_or("-").to_string();
        resources.insert(format!("{}/{}", f("/kind"), f("/name")), (f("/health/status"), f("/health/message")));
    }
    AppView {
        sync: s("/status/sync/status"),
        health: s("/status/health/status"),
        revision: s("/status/sync/revision"),
        resources,
    }
}

/// Every change of `AppView` and of the Service's Ready condition, polled every
/// 100 ms, with the moment it was seen; and every moment the Application was
/// Healthy while the Service was not Ready (read after the Application, so that a
/// Service that became Ready in between is not counted).
#[derive(Debug, Default)]
struct Timeline {
    seen: Vec<(Duration, AppView, String)>,
    healthy_before_ready: Vec<Duration>,
}

fn watch_application(
    apps: Api<DynamicObject>,
    services: Api<Service>,
    start: Instant,
) -> (Arc<Mutex<Timeline>>, tokio::task::JoinHandle<()>) {
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let out = timeline.clone();
    let handle = tokio::spawn(async move {
        // Bounded: the test ends well before; the handle is aborted at the end.
        for _ in 0..(20 * 60 * 10) {
            if let Ok(app) = apps.get("shop").await {
                let v = view(&app);
                let ready = match services.get_opt("api").await {
                    Ok(Some(s)) => condition_of(&s, "Ready").map(|c| c.status).unwrap_or_else(|| "-".into()),
                    _ => "absent".into(),
                };
                let mut t = out.lock().unwrap();
                if v.health == "Healthy" && v.resources.contains_key("Service/api") && ready != "True" {
                    t.healthy_before_ready.push(start.elapsed());
                }
                if t.seen.last().is_none_or(|(_, last, r)| *last != v || *r != ready) {
                    t.seen.push((start.elapsed(), v, ready));
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (timeline, handle)
}

/// Watch events of our kinds in etcd order (resource versions): (version, kind,
/// name, whether Ready was True in that event).
type Events = Arc<Mutex<Vec<(u64, &'static str, String, bool)>>>;

fn record_events<K>(api: Api<K>, kind: &'static str, events: Events) -> tokio::task::JoinHandle<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + 'static,
{
    tokio::spawn(async move {
        let mut version = "0".to_string();
        // Bounded: reconnects at most 100 times (each watch lasts up to 290 s).
        for _ in 0..100 {
            let Ok(stream) = api.watch(&WatchParams::default().timeout(290), &version).await else {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let mut stream = stream.boxed();
            while let Ok(Some(event)) = stream.try_next().await {
                let obj = match event {
                    WatchEvent::Added(o) | WatchEvent::Modified(o) => o,
                    _ => continue,
                };
                let rv = obj.meta().resource_version.clone().unwrap_or_default();
                let ready = condition_of(&obj, "Ready").is_some_and(|c| c.status == "True");
                if let Ok(n) = rv.parse::<u64>() {
                    events.lock().unwrap().push((n, kind, obj.meta().name.clone().unwrap_or_default(), ready));
                }
                version = rv;
            }
        }
    })
}

/// The resource version of the first event of `kind` (its creation), and of the
/// first in which it was Ready.
fn created_and_ready(events: &Events, kind: &str) -> (u64, u64) {
    let events = events.lock().unwrap();
    let created = events.iter().filter(|e| e.1 == kind).map(|e| e.0).min().expect("created");
    let ready = events.iter().filter(|e| e.1 == kind && e.3).map(|e| e.0).min().expect("Ready");
    (created, ready)
}

async fn wait_app<F>(apps: &Api<DynamicObject>, what: &str, until: F) -> AppView
where
    F: Fn(&AppView) -> bool,
{
    eventually(WAIT, what, || async {
        let v = view(&apps.get("shop").await.map_err(|e| e.to_string())?);
        if until(&v) { Ok(v) } else { Err(format!("{v:?}")) }
    })
    .await
}

/// Asks Argo CD to compare with git now (a hard refresh), as `argocd app get
/// --hard-refresh` does.
async fn hard_refresh(apps: &Api<DynamicObject>) {
    let patch = json!({"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}}});
    apps.patch("shop", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

fn with_image(task_definition: &str, image: &str) -> String {
    let line = task_definition.lines().find(|l| l.trim_start().starts_with("image:")).unwrap();
    let indent = &line[..line.len() - line.trim_start().len()];
    task_definition.replace(line, &format!("{indent}image: {image}"))
}

/// The health Argo CD gave `resource` at each change seen since `from`, without repeats.
fn health_history(timeline: &Arc<Mutex<Timeline>>, resource: &str, from: Duration) -> Vec<String> {
    let t = timeline.lock().unwrap();
    let mut out: Vec<String> = Vec::new();
    for (_, v, _) in t.seen.iter().filter(|(at, _, _)| *at >= from) {
        if let Some((h, _)) = v.resources.get(resource)
            && out.last() != Some(h)
        {
            out.push(h.clone());
        }
    }
    out
}

/// Waits until the Service runs `revision` alone (older deployments drained) and is
/// Ready: what the operator sees, before asking what Argo CD shows.
async fn settled_on(services: &Api<Service>, revision: &str) {
    eventually(WAIT, &format!("the Service Ready on revision {revision} alone"), || async {
        let s = services.get("api").await.map_err(|e| e.to_string())?;
        let deployments = s.status.as_ref().map(|st| st.deployments.clone()).unwrap_or_default();
        let alone = deployments.len() == 1 && deployments[0].task_definition.ends_with(revision);
        let ready = condition_of(&s, "Ready").is_some_and(|c| c.status == "True");
        if alone && ready { Ok(()) } else { Err(format!("{deployments:?}")) }
    })
    .await;
}

/// A file of examples/migration for the test's namespace and network.
fn migration_file(ctx: &TestContext, values: &BTreeMap<&str, String>, file: &str) -> String {
    let mut text = std::fs::read_to_string(repo_root().join("examples/migration").join(file)).unwrap();
    text = text.replace("namespace: shop", &format!("namespace: {}", ctx.namespace));
    for (key, value) in values {
        text = text.replace(&format!("${{{key}}}"), value);
    }
    text
}

/// When ECS created the deployment of `revision` (an ARN suffix such as ":5") of
/// the example's service.
async fn deployment_created(ctx: &TestContext, services: &Api<Service>, revision: &str) -> i64 {
    let status = services.get("api").await.unwrap().status.unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let out = ecs.describe_services().cluster(status.cluster_arn.unwrap()).services("api").send().await.unwrap();
    let deployment = out.services()[0]
        .deployments()
        .iter()
        .find(|d| d.task_definition().is_some_and(|t| t.ends_with(revision)))
        .unwrap_or_else(|| panic!("no deployment of {revision}"))
        .clone();
    deployment.created_at().unwrap().secs()
}

/// 7: commits the migration (examples/migration: its TaskDefinition in wave 1, the
/// Task as a Sync hook in wave 2) with image bumps of both task definitions, and
/// checks the API's new revision exists, and rolls out, only after the Task
/// completed; a failing migration fails the sync with the API left as it was.
async fn migration_hook_gates_the_rollout(
    ctx: &TestContext,
    argocd: &ArgoCd,
    apps: &Api<DynamicObject>,
    services: &Api<Service>,
    td_text: &str,
    values: &BTreeMap<&str, String>,
) {
    let tasks: Api<Task> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let tds: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let migrate_td = migration_file(ctx, values, "task-definition.yaml");
    let hook = migration_file(ctx, values, "task.yaml");
    let run = r#"command: ["npm", "run", "migrate"]"#;
    let ok = hook.replace(run, r#"command: ["npm", "run", "migrate", "bed-run-seconds=3"]"#);
    let failing = hook.replace(run, r#"command: ["npm", "run", "migrate", "bed-exit-code=1"]"#);
    assert!(ok != hook && failing != hook, "the example's command changed: update this test");
    let image = |tag: &str| format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:{tag}");
    let commit_with = |tag: &str, task: &str, message: &str| {
        let files = [
            ("web-app/task-definition.yaml", with_image(td_text, &image(tag))),
            ("web-app/migrate-task-definition.yaml", with_image(&migrate_td, &image(tag))),
            ("web-app/migrate-task.yaml", task.to_string()),
        ];
        let files: Vec<(&str, Option<&str>)> = files.iter().map(|(p, t)| (*p, Some(t.as_str()))).collect();
        argocd.commit(&files, message).unwrap()
    };

    // Sampled every 100 ms, the TaskDefinition first, then the Task: the API's
    // revision :5 seen before a read of the Task that is not Complete means the
    // revision existed before the migration completed.
    let order = {
        let (tds, tasks) = (tds.clone(), tasks.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + WAIT * 2;
            while Instant::now() < deadline {
                let arn = tds.get("api").await.ok().and_then(|t| t.status).and_then(|s| s.arn).unwrap_or_default();
                let complete = match tasks.get_opt("migrate-db").await {
                    Ok(Some(t)) => condition_of(&t, "Complete").is_some_and(|c| c.status == "True"),
                    _ => false,
                };
                if arn.ends_with(":5") {
                    return complete;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        })
    };
    let commit = commit_with("1.4.5", &ok, "api 1.4.5 with a migration");
    hard_refresh(apps).await;
    settled_on(services, ":5").await;
    assert!(order.await.unwrap(), "the API's revision :5 was registered before the migration completed");
    wait_app(apps, "Healthy after the migration and the rollout", |v| healthy_at(v, &commit)).await;
    let task = tasks.get("migrate-db").await.unwrap();
    assert_eq!(condition_of(&task, "Complete").map(|c| c.status), Some("True".into()));
    let status = task.status.clone().unwrap();
    let migrated_with = status.task_definition_arn.clone().unwrap_or_default();
    let completed: k8s_openapi::jiff::Timestamp = status.completion_time.unwrap().parse().unwrap();
    let rolled = deployment_created(ctx, services, ":5").await;
    println!(
        "7. migration ({migrated_with}) completed at {completed}; the Service's deployment of :5 created at {rolled}"
    );
    assert!(migrated_with.contains("api-migrate:"), "the migration ran its own task definition");
    assert!(completed.as_second() <= rolled, "the Service rolled out only after the migration completed");

    let commit = commit_with("1.4.6", &failing, "api 1.4.6, the migration fails");
    hard_refresh(apps).await;
    let failed = eventually(WAIT, "the sync failed on the migration", || async {
        let app = apps.get("shop").await.map_err(|e| e.to_string())?;
        let at = |p: &str| app.data.pointer(p).and_then(Value::as_str).unwrap_or("-").to_string();
        let (phase, revision) = (at("/status/operationState/phase"), at("/status/operationState/syncResult/revision"));
        let message = at("/status/operationState/message");
        let task = tasks.get_opt("migrate-db").await.map_err(|e| e.to_string())?;
        let task = task.map(|t| (t.metadata.uid.clone(), t.status.map(|s| (s.phase, s.attempts, s.conditions))));
        if phase == "Failed" && revision == commit {
            Ok(message)
        } else {
            Err(format!("{phase} {revision}: {message}; Task: {task:?}"))
        }
    })
    .await;
    println!("7b. the sync with a failing migration: Failed: {failed}");
    let task = tasks.get("migrate-db").await.unwrap();
    assert_eq!(condition_of(&task, "Failed").map(|c| c.reason), Some("BackoffLimitExceeded".into()));
    let api_td = tds.get("api").await.unwrap().status.unwrap();
    assert!(api_td.arn.as_deref().is_some_and(|a| a.ends_with(":5")), "no new API revision: {:?}", api_td.arn);
    let svc = services.get("api").await.unwrap().status.unwrap();
    assert!(svc.task_definition_arn.as_deref().is_some_and(|a| a.ends_with(":5")), "the Service stays on :5");

    let commit = commit_with("1.4.7", &ok, "api 1.4.7, the migration fixed");
    hard_refresh(apps).await;
    settled_on(services, ":6").await;
    wait_app(apps, "Healthy after the fixed migration", |v| healthy_at(v, &commit)).await;
}

/// Whether Argo CD shows the Application at `commit`, Synced and Healthy, with the
/// Service Healthy.
fn healthy_at(v: &AppView, commit: &str) -> bool {
    let service = v.resources.get("Service/api").map(|(h, _)| h.as_str());
    v.revision == commit && v.sync == "Synced" && v.health == "Healthy" && service == Some("Healthy")
}

#[tokio::test]
async fn argo_cd_syncs_the_examples_in_waves_on_health_self_heals_and_prunes() {
    let ctx = TestContext::new("gitops").await.unwrap();
    let op = ctx.start_operator(&["--resync-seconds", "5"]).unwrap();
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let argo_ns = format!("{}-argocd", ctx.namespace);
    let started = Instant::now();
    let argocd = ArgoCd::start(ctx.bed, &argo_ns, &ctx.bed.dir.join(&argo_ns), APP_RESYNC).unwrap();
    println!("Argo CD started in {:.1} s", started.elapsed().as_secs_f64());

    let mut values = BTreeMap::new();
    values.insert("SANDBOX_SUBNET_A", net.subnet_ids[0].clone());
    values.insert("SANDBOX_SUBNET_B", net.subnet_ids[1].clone());
    values.insert("SANDBOX_SECURITY_GROUP_ID", net.security_group_id.clone());
    let files = examples(&ctx, &values);
    let path = |f: &str| format!("web-app/{f}");
    let staged: Vec<(String, String)> = files.iter().map(|(f, t)| (path(f), t.clone())).collect();
    let staged: Vec<(&str, Option<&str>)> = staged.iter().map(|(p, t)| (p.as_str(), Some(t.as_str()))).collect();
    argocd.commit(&staged, "the examples").unwrap();

    let events: Events = Arc::default();
    let clusters: Api<Cluster> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let tds: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let watchers = [
        record_events(clusters.clone(), "Cluster", events.clone()),
        record_events(tds.clone(), "TaskDefinition", events.clone()),
        record_events(services.clone(), "Service", events.clone()),
    ];
    let apps = application_api(&ctx, &argo_ns);
    let (timeline, poller) = watch_application(apps.clone(), services.clone(), Instant::now());
    let t0 = Instant::now();
    ctx.bed
        .kubectl(
            &["apply", "-f", "-"],
            Some(&format!(
                "apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {{name: shop, namespace: {argo_ns}}}
spec:
  project: default
  source: {{repoURL: '{repo}', targetRevision: main, path: web-app}}
  destination: {{server: 'https://kubernetes.default.svc', namespace: {ns}}}
  syncPolicy:
    automated: {{prune: true, selfHeal: true}}
    # Automated syncs retry a failed sync 5 times by default, each retry running
    # the migration hook again (a new Task); the failing migration of step 7
    # should fail the sync once.
    retry: {{limit: 0}}
",
                repo = argocd.repo_url,
                ns = ctx.namespace
            )),
        )
        .unwrap();

    // 1. Synced and Healthy, and only once the Service is Ready.
    let first = wait_app(&apps, "the Application Synced and Healthy", |v| {
        v.sync == "Synced" && v.health == "Healthy" && v.resources.contains_key("Service/api")
    })
    .await;
    println!("1. Synced and Healthy {:.1} s after the Application was created: {first:?}", t0.elapsed().as_secs_f64());
    let svc = services.get("api").await.unwrap();
    let ready = condition_of(&svc, "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.observed_generation), ("True", svc.metadata.generation));
    let status = svc.status.clone().unwrap();
    assert_eq!(status.running_count, status.desired_count, "Healthy means every task runs");
    assert!(timeline.lock().unwrap().healthy_before_ready.is_empty(), "Healthy before the Service was Ready");
    let initial = health_history(&timeline, "Service/api", Duration::ZERO);
    println!("   Argo CD's health of Service/api on the way: {initial:?}");
    assert!(initial.contains(&"Progressing".to_string()), "the Service was Progressing first: {initial:?}");

    // 4. Sync waves: each wave was applied only once the one before was Healthy.
    let (cluster_created, cluster_ready) = created_and_ready(&events, "Cluster");
    let (td_created, td_ready) = created_and_ready(&events, "TaskDefinition");
    let (svc_created, _) = created_and_ready(&events, "Service");
    println!(
        "4. resource versions: Cluster created {cluster_created}, Ready {cluster_ready}; TaskDefinition created \
         {td_created}, Ready {td_ready}; Service created {svc_created}"
    );
    assert!(cluster_ready < td_created, "the TaskDefinition's wave waited for the Cluster to be Healthy");
    assert!(td_ready < svc_created, "the Service's wave waited for the TaskDefinition to be Healthy");

    // 3. No flapping: over three resync periods the Application stays Synced and
    // Healthy, and the operator writes nothing to AWS.
    let writes = op.aws_writes().unwrap();
    let quiet_until = Instant::now() + APP_RESYNC * 3 + Duration::from_secs(1);
    let mut quiet: Vec<(String, String)> = Vec::new();
    let mut samples = 0;
    while Instant::now() < quiet_until {
        let v = view(&apps.get("shop").await.unwrap());
        samples += 1;
        if quiet.last() != Some(&(v.sync.clone(), v.health.clone())) {
            quiet.push((v.sync, v.health));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!("3. over 3 resync periods of {APP_RESYNC:?}, {samples} looks: {quiet:?}");
    assert_eq!(quiet, [("Synced".to_string(), "Healthy".to_string())], "no OutOfSync and no health change");
    assert_eq!(op.aws_writes().unwrap(), writes, "no AWS write at rest");

    // 2. An image bump: Progressing, then Healthy on the new revision.
    let td_file = path("task-definition.yaml");
    let td_text = files["task-definition.yaml"].clone();
    let bump_from = t0.elapsed();
    let bumped = with_image(&td_text, "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.3");
    let commit = argocd.commit(&[(&td_file, Some(&bumped))], "api 1.4.3").unwrap();
    hard_refresh(&apps).await;
    // The operator's view first (the old deployment drained), then Argo CD's.
    settled_on(&services, ":2").await;
    wait_app(&apps, "Healthy on the bumped image", |v| healthy_at(v, &commit)).await;
    // The poller samples every 100 ms (slower under load): it may see the last
    // Healthy a moment after the wait above did.
    let bump = eventually(Duration::from_secs(15), "Progressing, then Healthy", || async {
        let bump = health_history(&timeline, "Service/api", bump_from);
        if bump.windows(2).any(|w| w[0] == "Progressing" && w[1] == "Healthy") {
            Ok(bump)
        } else {
            Err(format!("{bump:?}"))
        }
    })
    .await;
    println!("2. image bump: Argo CD's health of Service/api: {bump:?}");

    // 2b. A failing rollout: ECS's circuit breaker rolls back; Argo CD says Degraded
    // with the operator's reason. Then a good image heals it.
    let fail_from = t0.elapsed();
    let failing = with_image(&td_text, "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:bed-fail");
    let commit = argocd.commit(&[(&td_file, Some(&failing))], "api bed-fail").unwrap();
    hard_refresh(&apps).await;
    let degraded =
        wait_app(&apps, "Degraded after the failing rollout", |v| v.revision == commit && v.health == "Degraded").await;
    let (health, message) = degraded.resources["Service/api"].clone();
    println!("2b. failing rollout: Service/api is {health}: {message}");
    assert_eq!(health, "Degraded");
    assert!(message.starts_with("RolledBack: ") && message.contains("circuit breaker"), "{message}");
    println!("    Argo CD's health of Service/api: {:?}", health_history(&timeline, "Service/api", fail_from));
    let fixed = with_image(&td_text, "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:1.4.4");
    let commit = argocd.commit(&[(&td_file, Some(&fixed))], "api 1.4.4").unwrap();
    hard_refresh(&apps).await;
    settled_on(&services, ":4").await;
    wait_app(&apps, "Healthy after the fix", |v| healthy_at(v, &commit)).await;

    // 7. A migration Task as a Sync hook (examples/migration) gates the rollout.
    migration_hook_gates_the_rollout(&ctx, &argocd, &apps, &services, &td_text, &values).await;

    // 6. A hand edit of the spec is reverted by self-heal; the operator writes at
    // most the edit and its revert to AWS.
    let writes = op.aws_writes().unwrap();
    let edit = json!({"spec": {"tags": {"team": "edited-by-hand"}}});
    clusters.patch("web", &PatchParams::default(), &Patch::Merge(&edit)).await.unwrap();
    let reverted = eventually(WAIT, "self-heal to revert the hand edit", || async {
        let c = clusters.get("web").await.map_err(|e| e.to_string())?;
        let team = c.spec.tags.get("team").cloned().unwrap_or_default();
        let ready = condition_of(&c, "Ready")
            .is_some_and(|r| r.status == "True" && r.observed_generation == c.metadata.generation);
        if team == "shop" && ready { Ok(c) } else { Err(format!("team={team} ready={ready}")) }
    })
    .await;
    let arn = reverted.status.unwrap().arn.unwrap();
    let ecs = aws_sdk_ecs::Client::new(&ctx.aws);
    let tags = ecs.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    let team: Vec<_> = tags.tags().iter().filter(|t| t.key() == Some("team")).filter_map(|t| t.value()).collect();
    assert_eq!(team, ["shop"], "ECS carries git's tag again");
    let healed_writes = op.aws_writes().unwrap() - writes;
    println!("6. self-heal reverted the hand edit; AWS writes for edit and revert: {healed_writes}");
    assert!(healed_writes <= 2, "at most the edit and the revert: {healed_writes}");

    // 5. Removing the Service from git prunes it, and the AWS side goes with it.
    let svc = services.get("api").await.unwrap().status.unwrap();
    let lb_arn = svc.load_balancer.as_ref().and_then(|l| l.load_balancer_arn.clone()).expect("a created load balancer");
    let cluster_name = reverted.spec.cluster_name.clone().unwrap_or_else(|| "web".into());
    let commit = argocd.commit(&[(&path("service.yaml"), None)], "retire the api").unwrap();
    hard_refresh(&apps).await;
    eventually(WAIT, "the Service pruned", || async {
        match services.get_opt("api").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(s) => Err(format!("still there, deleting since {:?}", s.metadata.deletion_timestamp)),
        }
    })
    .await;
    let out = ecs.describe_services().cluster(&cluster_name).services("api").send().await.unwrap();
    assert!(out.services().iter().all(|s| s.status() == Some("INACTIVE")), "the ECS service is gone");
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&ctx.aws);
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    assert!(lbs.load_balancers().iter().all(|l| l.load_balancer_arn() != Some(lb_arn.as_str())), "the ALB is gone");
    let after = wait_app(&apps, "Synced and Healthy after the prune", |v| {
        v.revision == commit && v.sync == "Synced" && v.health == "Healthy"
    })
    .await;
    assert!(!after.resources.contains_key("Service/api"));
    println!("5. pruned: {after:?}");

    poller.abort();
    for w in watchers {
        w.abort();
    }
    drop(argocd);
}
