//! The probes on the bed: `/healthz` fails while a reconcile is stuck (an AWS call
//! that does not answer, made by the fault proxy delaying every request) past
//! `--stuck-reconcile-seconds`, and recovers when it finishes; `/readyz` stays
//! ready meanwhile (restarting would not help readiness, only liveness). On
//! SIGTERM during a stuck reconcile, readiness turns off at once while both
//! endpoints keep answering until the drain ends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::fault_proxy::{FaultProxy, Rates};
use ecs_operator_tests::{OperatorProcess, TestContext, eventually};
use std::time::{Duration, Instant};

fn get(op: &OperatorProcess, path: &str) -> Result<String, String> {
    op.health(path).map_err(|e| e.to_string())
}

#[tokio::test]
async fn healthz_fails_while_a_reconcile_is_stuck_and_recovers_after() {
    let ctx = TestContext::new("probes").await.unwrap();
    let hang = Rates { delay: 1.0, delay_seconds: 25.0, ..Rates::default() };
    let proxy = FaultProxy::start(ctx.bed, &ctx.namespace, 7, hang).unwrap();
    let log = ctx.bed.dir.join(format!("{}-operator.log", ctx.namespace));
    let mut op = OperatorProcess::start_with_env(
        ctx.bed,
        &ctx.bed.control_plane.kubeconfig,
        &ctx.namespace,
        &log,
        &["--stuck-reconcile-seconds", "10"],
        &[("AWS_ENDPOINT_URL", &proxy.url)],
    )
    .unwrap();
    eventually(Duration::from_secs(30), "ready before any object", || async {
        let r = get(&op, "/readyz")?;
        if r.contains(" 200 ") { Ok(()) } else { Err(r) }
    })
    .await;
    ctx.apply_ok(&format!(
        "apiVersion: ecs.operator.dev/v1alpha1\nkind: Cluster\nmetadata: {{name: slow}}\nspec: {{clusterName: {}-slow}}\n",
        ctx.prefix
    ))
    .unwrap();
    let applied = Instant::now();
    let unhealthy = eventually(Duration::from_secs(25), "/healthz failing on the stuck reconcile", || async {
        let r = get(&op, "/healthz")?;
        if r.contains(" 503 ") { Ok(r) } else { Err(r) }
    })
    .await;
    assert!(unhealthy.contains("has been running for") && unhealthy.contains("Cluster/"), "{unhealthy}");
    let r = get(&op, "/readyz").unwrap();
    assert!(r.contains(" 200 "), "readiness is not liveness: {r}");
    eprintln!("probes: /healthz failed {:.1} s after the apply (limit 10 s)", applied.elapsed().as_secs_f64());
    proxy.set_rates(Rates::default()).unwrap();
    eventually(Duration::from_secs(60), "/healthz ok once the call answered", || async {
        let r = get(&op, "/healthz")?;
        if r.contains(" 200 ") { Ok(()) } else { Err(r) }
    })
    .await;
    ctx.kubectl_ok(&["wait", "--for=condition=Ready", "--timeout=60s", "ecscluster/slow"]).unwrap();

    // A stop while a reconcile hangs: the drain waits for it, and the kubelet
    // can still probe the process meanwhile. The reconcile comes from a spec
    // edit: an annotation alone leaves a Cluster at rest, which costs no AWS
    // call and so could not hang.
    proxy.set_rates(hang).unwrap();
    ctx.kubectl_ok(&["patch", "ecscluster/slow", "--type=merge", "-p", r#"{"spec":{"tags":{"probes":"again"}}}"#])
        .unwrap();
    eventually(Duration::from_secs(25), "/healthz failing on the second stuck reconcile", || async {
        let r = get(&op, "/healthz")?;
        if r.contains(" 503 ") { Ok(()) } else { Err(r) }
    })
    .await;
    op.terminate();
    let draining = eventually(Duration::from_secs(5), "/readyz off once the stop is asked for", || async {
        let r = get(&op, "/readyz")?;
        if r.contains(" 503 ") && r.contains("stopping") { Ok(r) } else { Err(r) }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(op.exited().is_none(), "the operator exited before its reconcile finished");
    let health = get(&op, "/healthz").unwrap();
    assert!(health.starts_with("HTTP/"), "/healthz stopped answering during the drain: {health} ({draining})");
    proxy.set_rates(Rates::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let exited = loop {
        if let Some(status) = op.exited() {
            break status;
        }
        assert!(Instant::now() < deadline, "the operator still drains 40 s after its reconcile was let go");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(exited.success(), "{exited:?}");
}
