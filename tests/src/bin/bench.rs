//! The benchmark behind `scripts/bench.sh`: N Services in one ECS cluster (every
//! `--rules-every`th with a rule on a shared listener) applied at once to the
//! operator (the binary `ECS_OPERATOR_BIN` names: a release build from bench.sh)
//! on the test bed, with every AWS call recorded by the bed's proxy. It prints a
//! Markdown table: time to converge after `kubectl apply` returned, AWS calls
//! by operation during convergence, reads per Service and resync period at rest
//! (counted by the operator's metrics), writes at rest, and the operator's memory
//! and CPU. Figures, not assertions: the tests assert the counts.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use ecs_operator_tests::TestContext;
use ecs_operator_tests::fault_proxy::{FaultProxy, Rates};
use ecs_operator_tests::fleet::{Fleet, Lb, Member, Specs};
use ecs_operator_tests::operator::{is_write_operation, sum_aws_requests};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Parser)]
struct Args {
    /// Services to apply at once.
    #[arg(long, default_value_t = 200)]
    services: usize,
    /// Every n-th Service gets a rule on the shared listener (0: none).
    #[arg(long, default_value_t = 5)]
    rules_every: usize,
    /// The operator's resync period.
    #[arg(long, default_value_t = 20)]
    resync_seconds: u64,
    /// Resync periods measured at rest.
    #[arg(long, default_value_t = 3)]
    rounds: u64,
}

/// Resident memory now and at its peak (KiB), and CPU seconds, of `pid`.
fn usage(pid: u32) -> (u64, u64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are
    // the 12th and 13th, in clock ticks (100 a second on Linux).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (kib("VmRSS:"), kib("VmHWM:"), (ticks(11) + ticks(12)) as f64 / 100.0)
}

fn family(operation: &str, service: &str) -> &'static str {
    match (service, is_write_operation(operation)) {
        ("ecs", false) => "ECS reads",
        ("ecs", true) => "ECS writes",
        ("elasticloadbalancing", false) => "ELBv2 reads",
        ("elasticloadbalancing", true) => "ELBv2 writes",
        (_, false) => "other reads",
        (_, true) => "other writes",
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let n = args.services;
    let ctx = TestContext::new("bench").await.expect("the test bed starts");
    let proxy = FaultProxy::start(ctx.bed, &ctx.namespace, 0, Rates::default()).expect("the proxy starts");
    let resync = args.resync_seconds.to_string();
    let op = proxy.start_operator(&ctx, &["--resync-seconds", &resync]).expect("the operator starts");
    let pid = op.pid().expect("the operator runs");
    let fleet = Fleet::new(&ctx).await.expect("the network and listener are seeded");
    let specs: Specs = (0..n)
        .map(|i| {
            let lb = if args.rules_every > 0 && i.is_multiple_of(args.rules_every) { Lb::SharedRule } else { Lb::None };
            (format!("s{i:04}"), Some(Member { lb, desired: 1, tag: 0 }))
        })
        .collect();
    let with_lb = specs.values().flatten().filter(|m| m.lb != Lb::None).count();
    eprintln!("bench: {n} Services ({with_lb} with a rule), resync {} s", args.resync_seconds);
    let manifest = fleet.base() + "---\n" + &fleet.services(&specs);
    ctx.apply_ok(&manifest).expect("the manifests apply");
    let applied = Instant::now();
    fleet.converge(&specs, Duration::from_secs(3600), "every Service converged").await;
    let converged = applied.elapsed();

    let calls = proxy.calls().expect("the call log reads");
    let ours: Vec<_> = calls.iter().filter(|c| c.app.as_deref() == Some("operator")).collect();
    let mut by_operation: BTreeMap<String, u64> = BTreeMap::new();
    for c in &ours {
        *by_operation.entry(format!("{}:{}", c.service, c.operation)).or_default() += 1;
    }
    let (rss_converged, _, cpu_converged) = usage(pid);

    // At rest: counted by the operator's own metrics over whole resync periods.
    let before = op.metrics().expect("metrics");
    let rest_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.resync_seconds * args.rounds)).await;
    let after = op.metrics().expect("metrics");
    let rest = rest_started.elapsed().as_secs_f64();
    let periods = rest / args.resync_seconds as f64;
    let delta = |pick: &dyn Fn(&str) -> bool| sum_aws_requests(&after, pick) - sum_aws_requests(&before, pick);
    let ecs_reads = delta(&|o| {
        matches!(
            o,
            "DescribeServices" | "ListServices" | "DescribeClusters" | "DescribeTaskDefinition" | "ListTaskDefinitions"
        )
    });
    let elb_reads = delta(&|o| {
        o.starts_with("Describe")
            && !matches!(
                o,
                "DescribeServices" | "DescribeClusters" | "DescribeTaskDefinition" | "DescribeCapacityProviders"
            )
            && !o.starts_with("DescribeScal")
            && !o.starts_with("DescribeService")
    });
    let writes = delta(&is_write_operation);
    let (rss_rest, rss_peak, cpu_total) = usage(pid);

    println!("| figure | value |");
    println!("| --- | --- |");
    println!("| Services (with a rule on the shared listener) | {n} ({with_lb}) |");
    println!("| convergence after `kubectl apply` returned | {:.1} s |", converged.as_secs_f64());
    println!(
        "| AWS calls during convergence | {} ({} writes) |",
        ours.len(),
        ours.iter().filter(|c| c.is_write()).count()
    );
    let mut families: BTreeMap<&str, u64> = BTreeMap::new();
    for c in &ours {
        *families.entry(family(&c.operation, &c.service)).or_default() += 1;
    }
    for (f, count) in &families {
        println!("| &nbsp;&nbsp;{f} | {count} |");
    }
    println!("| at rest: periods measured | {periods:.1} of {} s |", args.resync_seconds);
    println!("| at rest: ECS reads per Service and period | {:.3} |", ecs_reads as f64 / (n as f64 * periods));
    if with_lb > 0 {
        println!(
            "| at rest: ELBv2 reads per Service with a rule and period | {:.3} |",
            elb_reads as f64 / (with_lb as f64 * periods)
        );
    }
    println!("| at rest: writes | {writes} |");
    println!(
        "| operator RSS: converged, at rest, peak | {} / {} / {} MiB |",
        rss_converged / 1024,
        rss_rest / 1024,
        rss_peak / 1024
    );
    println!("| operator CPU: to converge, in all | {cpu_converged:.1} s / {cpu_total:.1} s |");
    println!();
    println!("AWS calls during convergence by operation:");
    println!();
    println!("| operation | calls |");
    println!("| --- | --- |");
    for (operation, count) in &by_operation {
        println!("| {operation} | {count} |");
    }
}
