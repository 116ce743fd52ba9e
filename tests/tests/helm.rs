//! The Helm chart installs with the real helm, and the RBAC it grants is exactly
//! enough for the operator: the operator runs with the chart's ServiceAccount token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::Service;
use ecs_operator_tests::conditions::wait_converged;
use ecs_operator_tests::fixtures::{cluster_and_task, describe, fargate_service};
use ecs_operator_tests::testbed::repo_root;
use ecs_operator_tests::{OperatorProcess, TestContext, eventually};
use kube::Api;
use std::time::Duration;

#[tokio::test]
async fn the_chart_installs_and_its_rbac_is_enough_to_reconcile() {
    let ctx = TestContext::new("helm").await.unwrap();
    let chart = repo_root().join("charts/ecs-operator");
    let chart = chart.to_str().unwrap();
    let lint = ctx.bed.helm(&["lint", chart]).unwrap();
    assert!(lint.status.success(), "helm lint: {}", String::from_utf8_lossy(&lint.stdout));

    // The chart's defaults (every namespace: a ClusterRole), sharded by a label so
    // that this installation leaves the other tests' objects alone.
    let release = format!("eo-{}", ctx.prefix);
    let shard = format!("ecs.operator.dev/shard={}", ctx.prefix);
    let install = ctx
        .bed
        .helm(&[
            "install",
            &release,
            chart,
            "--namespace",
            &ctx.namespace,
            "--skip-crds",
            "--set",
            &format!("labelSelector={shard}"),
            "--set",
            &format!("instanceId={}", ctx.prefix),
            "--wait=false",
        ])
        .unwrap();
    assert!(install.status.success(), "helm install: {}", String::from_utf8_lossy(&install.stderr));
    let notes = String::from_utf8_lossy(&install.stdout);
    assert!(
        notes.contains("Check that it works")
            && notes.contains("It watches every namespace")
            && notes.contains(&format!("only the objects whose labels match {shard}"))
            && notes.contains("only the leader reconciles"),
        "NOTES.txt tells how to check the operator: {notes}"
    );
    let deployment = ctx.kubectl_ok(&["get", "deployment", "-o", "name"]).unwrap();
    assert!(deployment.contains(&format!("deployment.apps/{release}-ecs-operator")), "{deployment}");

    // No kubelet runs here, so run the chart's pods by hand: its replicas, each the
    // operator binary with the Deployment's own arguments, as its ServiceAccount.
    let spec: serde_json::Value = serde_json::from_str(
        &ctx.kubectl_ok(&["get", &format!("deployment/{release}-ecs-operator"), "-o", "jsonpath={.spec}"]).unwrap(),
    )
    .unwrap();
    assert_eq!(spec["replicas"], 2, "two replicas by default");
    assert_eq!(spec["strategy"]["type"], "RollingUpdate");
    let args: Vec<String> = spec["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .map(str::to_string)
        .collect();
    assert!(args.contains(&"--leader-election".to_string()), "{args:?}");
    // The bed picks the addresses and the rollout poll; the rest is the chart's.
    let chart_args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "run" && !a.starts_with("--metrics-address=") && !a.starts_with("--health-address="))
        .filter(|a| !a.starts_with("--rollout-poll-seconds="))
        .collect();
    let kubeconfig = ctx.service_account_kubeconfig(&format!("{release}-ecs-operator")).await.unwrap();
    let replicas: Vec<OperatorProcess> = ["pod-0", "pod-1"]
        .iter()
        .map(|pod| {
            let log = ctx.bed.dir.join(format!("{}-{pod}.log", ctx.namespace));
            let env = [("POD_NAME", *pod), ("POD_NAMESPACE", ctx.namespace.as_str())];
            OperatorProcess::start_with_env(ctx.bed, &kubeconfig, "", &log, &chart_args, &env).unwrap()
        })
        .collect();
    let leader = eventually(Duration::from_secs(40), "one of the two replicas leads", || async {
        let leading: Vec<usize> = (0..2).filter(|i| replicas[*i].is_leader().unwrap_or(false)).collect();
        if leading.len() == 1 { Ok(leading[0]) } else { Err(format!("leaders: {leading:?}")) }
    })
    .await;
    let cluster = |name: &str, labels: &str| {
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: {name}, labels: {{{labels}}}}}
spec: {{clusterName: {}-{name}, capacityProviders: [FARGATE]}}
",
            ctx.prefix
        )
    };
    let (key, value) = shard.split_once('=').unwrap();
    ctx.apply_ok(&cluster("rbac", &format!("{key}: {value}"))).unwrap();
    ctx.apply_ok(&cluster("other-shard", "")).unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/rbac"]).unwrap();
    // An object outside the label selector is another installation's: untouched.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other =
        ctx.kubectl_ok(&["get", "ecscluster/other-shard", "-o", "jsonpath={.status}{.metadata.finalizers}"]).unwrap();
    assert!(other.is_empty(), "the unlabelled Cluster was reconciled: {other}");
    // Events were allowed too.
    let events = ctx.kubectl_ok(&["get", "events", "-o", "jsonpath={.items[*].reason}"]).unwrap();
    assert!(events.contains("Created"), "{events}");
    // And deletion (finalizer removal) works under the same RBAC.
    ctx.kubectl_ok(&["delete", "ecscluster/rbac", "ecscluster/other-shard", "--timeout=60s"]).unwrap();
    // Only the leader reconciled or called AWS; the standby is ready all along.
    let standby = &replicas[1 - leader];
    assert!(replicas[leader].successful_reconciles("Cluster").unwrap() >= 1);
    let denied = ecs_operator_tests::iam::not_allowed(&replicas[leader].metrics().unwrap()).unwrap();
    assert!(denied.is_empty(), "operations missing from docs/iam-policy.json: {denied:?}");
    assert_eq!(standby.successful_reconciles("Cluster").unwrap(), 0, "the standby reconciled");
    assert_eq!(
        ecs_operator_tests::operator::sum_aws_requests(&standby.metrics().unwrap(), |_| true),
        0,
        "the standby called AWS"
    );
    let ready = standby.health("/readyz").unwrap();
    assert!(ready.contains(" 200 ") && ready.contains("standby"), "{ready}");
    let rbac_denials: Vec<String> = replicas
        .iter()
        .flat_map(|r| {
            r.log_tail(400).lines().filter(|l| l.contains("forbidden")).map(str::to_string).collect::<Vec<_>>()
        })
        .collect();
    assert!(rbac_denials.is_empty(), "the chart's RBAC refused a request: {rbac_denials:?}");
}

/// `helm template` of the chart with `--set` values, as parsed documents.
fn render(ctx: &TestContext, sets: &[&str]) -> Result<Vec<serde_json::Value>, String> {
    let chart = repo_root().join("charts/ecs-operator");
    let mut args = vec!["template", "eo", chart.to_str().unwrap(), "--namespace", "ops"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = ctx.bed.helm(&args).unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    Ok(text
        .split("\n---")
        .filter_map(|doc| serde_yaml::from_str::<serde_json::Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect())
}

fn of_kind<'a>(docs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[tokio::test]
async fn the_chart_lints_strictly_and_its_switches_render_what_they_say() {
    let ctx = TestContext::new("helm-template").await.unwrap();
    let chart = repo_root().join("charts/ecs-operator");
    let lint = ctx.bed.helm(&["lint", "--strict", chart.to_str().unwrap()]).unwrap();
    assert!(lint.status.success(), "helm lint --strict: {}", String::from_utf8_lossy(&lint.stdout));

    // The chart's version and appVersion are the workspace's.
    let meta: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart.join("Chart.yaml")).unwrap()).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!((meta["version"].as_str(), meta["appVersion"].as_str()), (Some(version), Some(version)));

    // Defaults: all namespaces (a ClusterRole), no IRSA annotation, no ServiceMonitor.
    let docs = render(&ctx, &[]).unwrap();
    let deployment = of_kind(&docs, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let image = container["image"].as_str().unwrap();
    assert!(image.ends_with(&format!(":{version}")), "the image tag defaults to the appVersion: {image}");
    assert!(of_kind(&docs, "ServiceMonitor").is_empty());
    assert!(of_kind(&docs, "ServiceAccount")[0]["metadata"].get("annotations").is_none());
    let cluster_roles = of_kind(&docs, "ClusterRole");
    assert!(cluster_roles.len() >= 2, "the CRD reader and the operator's ClusterRole: {}", cluster_roles.len());
    let roles: Vec<&str> = of_kind(&docs, "Role").iter().filter_map(|r| r["metadata"]["name"].as_str()).collect();
    assert_eq!(roles, ["eo-ecs-operator-leader-election"], "only the Lease's Role, in the release namespace");

    // High availability by default: 2 replicas, leader election, a rolling update
    // that starts the new standby first, a PDB and spreading over nodes.
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let args = |docs: &[serde_json::Value]| -> Vec<String> {
        of_kind(docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect()
    };
    assert!(args(&docs).contains(&"--leader-election".to_string()));
    let env: Vec<&str> = container["env"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(env.contains(&"POD_NAMESPACE") && env.contains(&"POD_NAME"), "{env:?}");
    assert_eq!(of_kind(&docs, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"], 1);
    let anti =
        &spec["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"];
    assert_eq!(anti[0]["podAffinityTerm"]["topologyKey"], "kubernetes.io/hostname");
    // One replica: no PDB (it would block every drain) and no anti-affinity.
    let single = render(&ctx, &["replicas=1"]).unwrap();
    assert!(of_kind(&single, "PodDisruptionBudget").is_empty());
    assert!(of_kind(&single, "Deployment")[0]["spec"]["template"]["spec"].get("affinity").is_none());
    // Without leader election: Recreate (never two replicas at once), no Lease Role.
    let no_election = render(&ctx, &["leaderElection.enabled=false", "replicas=1"]).unwrap();
    assert_eq!(of_kind(&no_election, "Deployment")[0]["spec"]["strategy"]["type"], "Recreate");
    assert!(!args(&no_election).contains(&"--leader-election".to_string()));
    assert!(of_kind(&no_election, "Role").is_empty());
    // Sharding: the label selector reaches the operator.
    let shard = render(&ctx, &["labelSelector=ecs.operator.dev/shard=a", "instanceId=shard-a"]).unwrap();
    let shard_args = args(&shard);
    assert!(shard_args.contains(&"--label-selector=ecs.operator.dev/shard=a".to_string()), "{shard_args:?}");

    // IRSA: the role ARN becomes the service account's annotation.
    let arn = "arn:aws:iam::123456789012:role/ecs-operator";
    let docs = render(&ctx, &[&format!("aws.roleArn={arn}"), "serviceAccount.annotations.team=platform"]).unwrap();
    let annotations = &of_kind(&docs, "ServiceAccount")[0]["metadata"]["annotations"];
    assert_eq!(annotations["eks.amazonaws.com/role-arn"], arn);
    assert_eq!(annotations["team"], "platform");

    // Metrics: a ServiceMonitor with the labels Prometheus selects by.
    let docs =
        render(&ctx, &["metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=prom"]).unwrap();
    let monitor = of_kind(&docs, "ServiceMonitor")[0];
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");

    // Resources, pod labels and priority class reach the pod.
    let docs = render(
        &ctx,
        &["resources.limits.memory=512Mi", "podLabels.tier=ops", "priorityClassName=system-cluster-critical"],
    )
    .unwrap();
    let pod = &of_kind(&docs, "Deployment")[0]["spec"]["template"];
    assert_eq!(pod["spec"]["containers"][0]["resources"]["limits"]["memory"], "512Mi");
    assert_eq!(pod["metadata"]["labels"]["tier"], "ops");
    assert_eq!(pod["spec"]["priorityClassName"], "system-cluster-critical");

    // Namespaces to watch: one --namespace per namespace and a Role in each, no
    // ClusterRole for the custom resources.
    let docs = render(&ctx, &["watchNamespaces={shop,billing}"]).unwrap();
    let args: Vec<&str> = of_kind(&docs, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(args.contains(&"--namespace=shop") && args.contains(&"--namespace=billing"), "{args:?}");
    let roles: Vec<&str> = of_kind(&docs, "Role")
        .iter()
        .filter(|r| !r["metadata"]["name"].as_str().unwrap_or_default().ends_with("-leader-election"))
        .filter_map(|r| r["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(roles, ["shop", "billing"]);
    assert_eq!(of_kind(&docs, "ClusterRole").len(), 1, "only the CRD reader");

    // A typo or a wrong type in values fails at install, with the field named.
    for (bad, field) in
        [("resyncSecond=5", "resyncSecond"), ("logFormat=yaml", "logFormat"), ("aws.region=EU", "region")]
    {
        let err = render(&ctx, &[bad]).expect_err(bad);
        assert!(
            err.contains("values don't meet the specifications of the schema") && err.contains(field),
            "{bad}: {err}"
        );
    }
}

/// Runs the operator as the chart's ServiceAccount of `release` (no kubelet runs
/// here, so the Deployment's pod never starts).
async fn operator_as_chart_account(ctx: &TestContext, release: &str, log: &str) -> OperatorProcess {
    let kubeconfig = ctx.service_account_kubeconfig(&format!("{release}-ecs-operator")).await.unwrap();
    let log = ctx.bed.dir.join(format!("{}-{log}.log", ctx.namespace));
    OperatorProcess::start_with_kubeconfig(ctx.bed, &kubeconfig, &ctx.namespace, &log, &["--resync-seconds", "5"])
        .unwrap()
}

#[tokio::test]
async fn upgrading_from_the_previous_chart_release_changes_nothing_in_aws() {
    let ctx = TestContext::new("helm-upgrade").await.unwrap();
    // The chart as released before this one (tests/fixtures, packaged from git).
    let previous = repo_root().join("tests/fixtures/ecs-operator-0.1.0.tgz");
    let release = format!("up-{}", ctx.prefix);
    let namespaces = format!("watchNamespaces={{{}}}", ctx.namespace);
    let helm = |args: &[&str]| {
        let out = ctx.bed.helm(args).unwrap();
        assert!(out.status.success(), "helm {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
    };
    let ns = ctx.namespace.as_str();
    helm(&["install", &release, previous.to_str().unwrap(), "-n", ns, "--skip-crds", "--set", &namespaces]);
    let selector = || ctx.kubectl_ok(&["get", "deployment", "-o", "jsonpath={.items[0].spec.selector}"]).unwrap();
    let selector_before = selector();

    let op = operator_as_chart_account(&ctx, &release, "operator-before").await;
    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&fargate_service(&net, "")).unwrap();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), ns);
    let before = wait_converged(&services, "api").await.status.unwrap();
    drop(op);

    // The upgrade: the new chart over the old release; then the operator restarts
    // under the upgraded RBAC, as the rolled pod would.
    let chart = repo_root().join("charts/ecs-operator");
    helm(&["upgrade", &release, chart.to_str().unwrap(), "-n", ns, "--set", &namespaces]);
    assert_eq!(selector(), selector_before, "the Deployment's selector is immutable: an upgrade must keep it");
    let op = operator_as_chart_account(&ctx, &release, "operator-after").await;
    let seen = op.successful_reconciles("Service").unwrap();
    eventually(Duration::from_secs(40), "two resyncs of the Service after the upgrade", || async {
        let n = op.successful_reconciles("Service").map_err(|e| e.to_string())?;
        if n >= seen + 2 { Ok(()) } else { Err(format!("{n} reconciles")) }
    })
    .await;
    assert_eq!(op.aws_writes().unwrap(), 0, "the upgraded operator wrote nothing to AWS");
    let after = wait_converged(&services, "api").await.status.unwrap();
    assert_eq!(after.deployments, before.deployments, "the ECS service was not redeployed");
    let svc = describe(&ctx, &cluster, "api").await.unwrap();
    assert_eq!(svc.deployments().len(), 1);
}
