//! AWS faults: the fault proxy (tests/support/fault_proxy.py, seeded) answers 30 %
//! of calls with throttling, 5 % with HTTP 500 (half of them after moto did the
//! work) and delays 2 % by 2 s. 50 Services behind load balancers converge, then
//! every ECS service, target group, load balancer, listener and rule exists exactly
//! once; deleting them leaves nothing. The same fleet runs once without faults
//! first; the calls under faults must stay within CALL_BOUND times those.
//!
//! `ECS_OPERATOR_FAULT_SEED` replays a run; `ECS_OPERATOR_FAULT_SERVICES` changes
//! the fleet's size (default 50).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::fault_proxy::{FaultProxy, Rates};
use ecs_operator_tests::fleet::Fleet;
use ecs_operator_tests::{TestContext, eventually};
use std::time::{Duration, Instant};

/// Calls under faults, at most this many times the fault-free run's (every
/// faulted attempt is retried, by the SDK or by a later reconcile).
const CALL_BOUND: f64 = 3.0;

struct Run {
    calls: usize,
    writes: usize,
    faulted: usize,
    converged_in: Duration,
    deleted_in: Duration,
}

async fn run(name: &str, seed: u64, rates: Rates, services: usize) -> Run {
    let ctx = TestContext::new(name).await.unwrap();
    let proxy = FaultProxy::start(ctx.bed, &ctx.namespace, seed, rates).unwrap();
    let _op = proxy.start_operator(&ctx, &[]).unwrap();
    let fleet = Fleet::new(&ctx).await.unwrap();
    let specs = Fleet::specs(services);
    let started = Instant::now();
    ctx.apply_ok(&(fleet.base() + "---\n" + &fleet.services(&specs))).unwrap();
    fleet.converge(&specs, Duration::from_secs(420), &format!("{name}: {services} Services converged")).await;
    let converged_in = started.elapsed();
    let calls = proxy.calls().unwrap();
    let operator_calls: Vec<_> = calls.iter().filter(|c| c.app.as_deref() == Some("operator")).collect();
    let summary = Run {
        calls: operator_calls.len(),
        writes: operator_calls.iter().filter(|c| c.is_write()).count(),
        faulted: operator_calls.iter().filter(|c| c.fault != "none").count(),
        converged_in,
        deleted_in: Duration::ZERO,
    };
    // Deleting, still under faults, leaves nothing behind.
    let deleting = Instant::now();
    ctx.kubectl_ok(&["delete", "ecssvc", "--all", "--wait=false"]).unwrap();
    eventually(Duration::from_secs(300), &format!("{name}: every Service deleted"), || async {
        let left = ctx.kubectl_ok(&["get", "ecssvc", "-o", "name"]).map_err(|e| e.to_string())?;
        if left.trim().is_empty() { Ok(()) } else { Err(format!("{} left", left.lines().count())) }
    })
    .await;
    let deleted_in = deleting.elapsed();
    let have = fleet.inventory().await.unwrap();
    let only_cluster: std::collections::BTreeSet<String> = [format!("cluster {}", fleet.cluster())].into();
    assert_eq!(have, only_cluster, "{name}: after deleting every Service only the Cluster remains");
    Run { deleted_in, ..summary }
}

#[tokio::test]
async fn fifty_services_converge_exactly_once_under_throttling_errors_and_delays() {
    let seed: u64 = std::env::var("ECS_OPERATOR_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20261202);
    let services: usize = std::env::var("ECS_OPERATOR_FAULT_SERVICES").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    eprintln!("faults: seed {seed}, {services} Services (replay with ECS_OPERATOR_FAULT_SEED={seed})");
    let clean = run("faults-none", seed, Rates::default(), services).await;
    let faults = Rates { throttle: 0.30, error: 0.05, delay: 0.02, delay_seconds: 2.0 };
    let faulty = run("faults-on", seed, faults, services).await;
    for (what, r) in [("without faults", &clean), ("with faults", &faulty)] {
        eprintln!(
            "faults: {what}: {} AWS calls ({} writes, {} faulted), converged in {:.1} s, deleted in {:.1} s",
            r.calls,
            r.writes,
            r.faulted,
            r.converged_in.as_secs_f64(),
            r.deleted_in.as_secs_f64()
        );
    }
    let ratio = faulty.calls as f64 / clean.calls.max(1) as f64;
    eprintln!("faults: calls with faults / without = {ratio:.2} (bound {CALL_BOUND})");
    assert!(faulty.faulted > 0, "the proxy injected faults");
    assert!(
        ratio <= CALL_BOUND,
        "{} calls under faults, {} without: more than {CALL_BOUND}x",
        faulty.calls,
        clean.calls
    );
}
