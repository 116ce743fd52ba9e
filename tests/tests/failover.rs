//! Two operator replicas with leader election against one apiserver: only the
//! leader writes to AWS; SIGKILL of the leader hands over to the standby, which
//! makes a Service created after the kill Ready. The AWS call log (the fault proxy
//! with no faults, recording each caller's SDK app id) shows one writer at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator::crd::Service;
use ecs_operator_tests::conditions::wait_converged;
use ecs_operator_tests::fault_proxy::{FaultProxy, Rates};
use ecs_operator_tests::fixtures::{cluster_and_task, fargate_service};
use ecs_operator_tests::{OperatorProcess, TestContext, eventually};
use kube::Api;
use std::time::{Duration, Instant, SystemTime};

// Short lease: the takeover waits for the lease to expire.
const LEASE_SECONDS: &str = "6";
const RENEW_SECONDS: &str = "2";

fn replica(ctx: &TestContext, proxy: &FaultProxy, name: &str) -> OperatorProcess {
    let log = ctx.bed.dir.join(format!("{}-{name}.log", ctx.namespace));
    let lease = format!("{}-lease", ctx.prefix);
    OperatorProcess::start_with_env(
        ctx.bed,
        &ctx.bed.control_plane.kubeconfig,
        &ctx.namespace,
        &log,
        &[
            "--leader-election",
            "--leader-election-namespace",
            &ctx.namespace,
            "--leader-election-lease",
            &lease,
            "--leader-election-lease-seconds",
            LEASE_SECONDS,
            "--leader-election-renew-seconds",
            RENEW_SECONDS,
        ],
        &[("AWS_ENDPOINT_URL", &proxy.url), ("AWS_SDK_UA_APP_ID", name), ("POD_NAME", name)],
    )
    .unwrap()
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

#[tokio::test]
async fn the_standby_takes_over_after_the_leader_is_killed_and_never_writes_beside_it() {
    let ctx = TestContext::new("failover").await.unwrap();
    let proxy = FaultProxy::start(ctx.bed, &ctx.namespace, 0, Rates::default()).unwrap();
    let a = replica(&ctx, &proxy, "op-a");
    let b = replica(&ctx, &proxy, "op-b");

    // One leads, the other waits; both are ready (the standby can take over).
    let (leader_is_a, _) = eventually(Duration::from_secs(30), "one leader among two replicas", || async {
        let (la, lb) = (a.is_leader().map_err(|e| e.to_string())?, b.is_leader().map_err(|e| e.to_string())?);
        if la != lb { Ok((la, lb)) } else { Err(format!("a leads: {la}, b leads: {lb}")) }
    })
    .await;
    let (mut leader, standby, standby_app) = if leader_is_a { (a, b, "op-b") } else { (b, a, "op-a") };
    for (who, op) in [("leader", &leader), ("standby", &standby)] {
        let ready = eventually(Duration::from_secs(30), &format!("{who} ready"), || async {
            let r = op.health("/readyz").map_err(|e| e.to_string())?;
            if r.contains(" 200 ") { Ok(r) } else { Err(r) }
        })
        .await;
        if who == "standby" {
            assert!(ready.contains("standby"), "{ready}");
        }
    }

    let net = ctx.bed.seed_network(&ctx.prefix).unwrap();
    let cluster = format!("{}-web", ctx.prefix);
    ctx.apply_ok(&cluster_and_task(&ctx, &cluster, "nginx:1.27", "awsvpc", "FARGATE")).unwrap();
    ctx.apply_ok(&fargate_service(&net, "")).unwrap();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_converged(&services, "api").await;
    let leader_app = if standby_app == "op-a" { "op-b" } else { "op-a" };
    let before = proxy.calls().unwrap();
    assert!(before.iter().any(|c| c.is_write() && c.app.as_deref() == Some(leader_app)), "the leader wrote");
    assert!(
        !before.iter().any(|c| c.app.as_deref() == Some(standby_app)),
        "the standby called AWS before the takeover"
    );

    // SIGKILL: no lease release; the standby waits for the lease to expire.
    let killed_at = Instant::now();
    let killed_wall = now_secs();
    leader.kill();
    let after = fargate_service(&net, "").replace("metadata: {name: api}", "metadata: {name: after}");
    ctx.apply_ok(&after).unwrap();
    eventually(Duration::from_secs(60), "the standby leads", || async {
        if standby.is_leader().map_err(|e| e.to_string())? { Ok(()) } else { Err("still standby".into()) }
    })
    .await;
    let took_over = killed_at.elapsed();
    wait_converged(&services, "after").await;
    let ready = killed_at.elapsed();
    eprintln!(
        "failover: lease {LEASE_SECONDS} s, renew every {RENEW_SECONDS} s; the standby led {:.1} s after the SIGKILL, \
         the Service created after the kill was Ready {:.1} s after it",
        took_over.as_secs_f64(),
        ready.as_secs_f64()
    );

    // One writer at a time: every write of the old leader ended before the first
    // write of the new one began, and the new one wrote nothing before the kill.
    let calls = proxy.calls().unwrap();
    let writes = |app: &'static str| calls.iter().filter(move |c| c.is_write() && c.app.as_deref() == Some(app));
    let old_last_end = writes(leader_app).map(|c| c.t_end).fold(f64::MIN, f64::max);
    let new_first = writes(standby_app).map(|c| c.t).fold(f64::MAX, f64::min);
    assert!(new_first < f64::MAX, "the new leader wrote (it created the Service `after`)");
    assert!(old_last_end <= killed_wall, "the old leader wrote after its kill?");
    assert!(
        old_last_end < new_first,
        "writes overlap: the old leader's last ended at {old_last_end}, the new leader's first began at {new_first}"
    );
    assert!(new_first > killed_wall, "the standby wrote before the leader was killed");
    let untagged = calls.iter().filter(|c| c.app.is_none()).count();
    assert_eq!(untagged, 0, "every AWS call came from one of the two replicas");
    eprintln!(
        "failover: {} AWS calls by the old leader, {} by the new one; last old write {:.2} s before the first new one",
        calls.iter().filter(|c| c.app.as_deref() == Some(leader_app)).count(),
        calls.iter().filter(|c| c.app.as_deref() == Some(standby_app)).count(),
        new_first - old_last_end
    );
}

#[tokio::test]
async fn a_leader_stopped_gracefully_hands_over_at_once() {
    let ctx = TestContext::new("handover").await.unwrap();
    let proxy = FaultProxy::start(ctx.bed, &ctx.namespace, 0, Rates::default()).unwrap();
    let mut a = replica(&ctx, &proxy, "op-a");
    eventually(Duration::from_secs(30), "a leads", || async {
        if a.is_leader().map_err(|e| e.to_string())? { Ok(()) } else { Err("not yet".into()) }
    })
    .await;
    let b = replica(&ctx, &proxy, "op-b");
    eventually(Duration::from_secs(30), "b is a ready standby", || async {
        let r = b.health("/readyz").map_err(|e| e.to_string())?;
        if r.contains(" 200 ") && r.contains("standby") { Ok(()) } else { Err(r) }
    })
    .await;
    // SIGTERM: the leader finishes, releases the lease, exits 0.
    let stopped_at = Instant::now();
    let status = a.stop().expect("a was running");
    assert!(status.success(), "{status}");
    eventually(Duration::from_secs(20), "b leads", || async {
        if b.is_leader().map_err(|e| e.to_string())? { Ok(()) } else { Err("still standby".into()) }
    })
    .await;
    eprintln!("handover: b led {:.1} s after a's SIGTERM (released lease)", stopped_at.elapsed().as_secs_f64());
}
