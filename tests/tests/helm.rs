//! The Helm chart installs with the real helm, and the RBAC it grants is exactly
//! enough for the operator: the operator runs with the chart's ServiceAccount token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::testbed::repo_root;
use ecs_operator_tests::{OperatorProcess, TestContext};

#[tokio::test]
async fn the_chart_installs_and_its_rbac_is_enough_to_reconcile() {
    let ctx = TestContext::new("helm").await.unwrap();
    let chart = repo_root().join("charts/ecs-operator");
    let chart = chart.to_str().unwrap();
    let lint = ctx.bed.helm(&["lint", chart]).unwrap();
    assert!(lint.status.success(), "helm lint: {}", String::from_utf8_lossy(&lint.stdout));

    let release = format!("eo-{}", ctx.prefix);
    let values = format!("watchNamespaces={{{}}}", ctx.namespace);
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
            &values,
            "--wait=false",
        ])
        .unwrap();
    assert!(install.status.success(), "helm install: {}", String::from_utf8_lossy(&install.stderr));
    let deployment = ctx.kubectl_ok(&["get", "deployment", "-o", "name"]).unwrap();
    assert!(deployment.contains(&format!("deployment.apps/{release}-ecs-operator")), "{deployment}");

    // No kubelet runs here, so run the operator binary as the chart's ServiceAccount.
    let kubeconfig = ctx.service_account_kubeconfig(&format!("{release}-ecs-operator")).await.unwrap();
    let log = ctx.bed.dir.join(format!("{}-operator.log", ctx.namespace));
    let _op = OperatorProcess::start_with_kubeconfig(ctx.bed, &kubeconfig, &ctx.namespace, &log, &[]).unwrap();
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: rbac}}
spec: {{clusterName: {}-rbac, capacityProviders: [FARGATE]}}
",
        ctx.prefix
    ))
    .unwrap();
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/rbac"]).unwrap();
    // Events were allowed too.
    let events = ctx.kubectl_ok(&["get", "events", "-o", "jsonpath={.items[*].reason}"]).unwrap();
    assert!(events.contains("Created"), "{events}");
    // And deletion (finalizer removal) works under the same RBAC.
    ctx.kubectl_ok(&["delete", "ecscluster/rbac", "--timeout=60s"]).unwrap();
}
