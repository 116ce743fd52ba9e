//! AWS's own throttling on the bed: the proxy answers ThrottlingException as soon
//! as one of the published token buckets (tests/support/aws_buckets.json: ECS's
//! and ELB's quotas per account and region) is empty. 60 Services applied at
//! once (every fifth with a rule on a shared listener), then deleted at once,
//! converge without a single throttled call: the operator's client-side rate
//! limits spread the burst below the buckets. The burst is large enough to
//! need them: the operator's metrics show requests that waited (ELB's account
//! bucket, 40 and 10 a second for every ELB call, binds first).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ecs_operator_tests::fault_proxy::FaultProxy;
use ecs_operator_tests::fleet::{Fleet, Lb, Member, Specs};
use ecs_operator_tests::{TestContext, eventually};
use std::time::{Duration, Instant};

const SERVICES: usize = 60;

/// `ecs_operator_aws_rate_limited_total` of `family` (every family when
/// empty), summed over regions.
fn waited(metrics: &str, family: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("ecs_operator_aws_rate_limited_total{"))
        .filter(|l| family.is_empty() || l.contains(&format!("family=\"{family}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn a_burst_of_services_converges_without_being_throttled_by_aws() {
    let ctx = TestContext::new("throttling").await.unwrap();
    let proxy = FaultProxy::start_throttling_like_aws(ctx.bed, &ctx.namespace).unwrap();
    let op = proxy.start_operator(&ctx, &[]).unwrap();
    let fleet = Fleet::new(&ctx).await.unwrap();
    let specs: Specs = (0..SERVICES)
        .map(|i| {
            let lb = if i.is_multiple_of(5) { Lb::SharedRule } else { Lb::None };
            (format!("s{i:02}"), Some(Member { lb, desired: 1, tag: 0 }))
        })
        .collect();
    let started = Instant::now();
    ctx.apply_ok(&(fleet.base() + "---\n" + &fleet.services(&specs))).unwrap();
    fleet.converge(&specs, Duration::from_secs(420), &format!("{SERVICES} Services converged")).await;
    let converged_in = started.elapsed();

    let deleting = Instant::now();
    ctx.kubectl_ok(&["delete", "ecssvc", "--all", "--wait=false"]).unwrap();
    eventually(Duration::from_secs(300), "every Service deleted", || async {
        let left = ctx.kubectl_ok(&["get", "ecssvc", "-o", "name"]).map_err(|e| e.to_string())?;
        if left.trim().is_empty() { Ok(()) } else { Err(format!("{} left", left.lines().count())) }
    })
    .await;
    let deleted_in = deleting.elapsed();

    let calls = proxy.calls().unwrap();
    let ours: Vec<_> = calls.iter().filter(|c| c.app.as_deref() == Some("operator")).collect();
    let throttled: Vec<String> =
        ours.iter().filter(|c| c.fault == "bucket").map(|c| format!("{}:{}", c.service, c.operation)).collect();
    let metrics = op.metrics().unwrap();
    let service_writes = waited(&metrics, "ecs-service-modify");
    let elb_calls = waited(&metrics, "elbv2-account");
    let all = waited(&metrics, "");
    eprintln!(
        "throttling: {SERVICES} Services converged in {:.1} s and were deleted in {:.1} s; {} AWS calls, \
         {} throttled by the buckets; {service_writes} ECS service writes and {elb_calls} ELB calls waited for the \
         operator's limits",
        converged_in.as_secs_f64(),
        deleted_in.as_secs_f64(),
        ours.len(),
        throttled.len(),
    );
    assert!(throttled.is_empty(), "AWS would have throttled {} calls: {throttled:?}", throttled.len());
    // The burst was larger than the operator's quotas: calls waited for them.
    assert!(all > 0, "no call waited: the burst did not reach the limits\n{metrics}");
}
