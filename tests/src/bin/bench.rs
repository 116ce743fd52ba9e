//! The benchmark behind `scripts/bench.sh`. On the test bed, with every AWS call
//! recorded by the bed's proxy, it runs in turn:
//! 1. a plain AWS client (`plain_client`) creating the same resources with the
//!    minimal calls, paced by the same client-side rate limits, and waiting until
//!    every service is stable: the baseline;
//! 2. the operator (the binary `ECS_OPERATOR_BIN` names: a release build from
//!    bench.sh) given N Services over a few Clusters, every `--rules-every`th with
//!    a rule on a shared listener, applied at once: time to converge after
//!    `kubectl apply` returned, AWS calls by operation;
//! 3. rest over whole resync periods: reads per Service and period, writes
//!    (counted by the operator's metrics);
//! 4. `--edits` single edits, one at a time: latency from the write to the
//!    operator's first AWS call naming that service (or its target group or load
//!    balancer);
//! 5. a TaskDefinition change that every Service follows: time and calls;
//! 6. deleting every Service: time and calls;
//!
//! and prints Markdown tables with the operator's memory and CPU. Figures, not
//! assertions: the tests assert the counts.
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use clap::Parser;
use ecs_operator::aws::AwsClients;
use ecs_operator::core::load_balancer::resource_name;
use ecs_operator::crd::{Service, TaskDefinition};
use ecs_operator::metrics::Metrics;
use ecs_operator_tests::fault_proxy::{Call, FaultProxy, Rates};
use ecs_operator_tests::fixtures::{existing_listener, network};
use ecs_operator_tests::fleet::Fleet;
use ecs_operator_tests::operator::{is_write_operation, sum_aws_requests};
use ecs_operator_tests::plain_client::{self, PlainFleet, PlainService};
use ecs_operator_tests::{TestContext, conditions, eventually};
use kube::Api;
use kube::api::{Patch, PatchParams};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Parser)]
struct Args {
    /// Services to apply at once.
    #[arg(long, default_value_t = 200)]
    services: usize,
    /// ECS clusters the Services are spread over (round robin).
    #[arg(long, default_value_t = 3)]
    clusters: usize,
    /// Every n-th Service gets a rule on the shared listener (0: none).
    #[arg(long, default_value_t = 5)]
    rules_every: usize,
    /// The operator's resync period.
    #[arg(long, default_value_t = 20)]
    resync_seconds: u64,
    /// Resync periods measured at rest.
    #[arg(long, default_value_t = 3)]
    rounds: u64,
    /// Single edits for the write-to-first-call latency.
    #[arg(long, default_value_t = 50)]
    edits: usize,
    /// The operator's `--rollout-poll-seconds`: how often it looks at a rollout
    /// (the bed's 1 by default, the operator's own default is 15). The plain
    /// client looks every second.
    #[arg(long, default_value_t = 1)]
    rollout_poll_seconds: u64,
    /// `--aws-rate-limit-percent` of the operator and of the plain client.
    #[arg(long, default_value_t = 100)]
    rate_limit_percent: u32,
}

const WAIT: Duration = Duration::from_secs(3600);

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

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// The Service reconciles the operator logged as started ("reconcile started"
/// at debug level, which the bed turns on): (Unix time, object name), in order.
fn reconcile_starts(log: &std::path::Path) -> Vec<(f64, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter(|l| l.contains("reconcile started") && l.contains("kind=\"Service\""))
        .filter_map(|l| {
            let at: k8s_openapi::jiff::Timestamp = l.split_whitespace().next()?.parse().ok()?;
            let name = l.split(" name=").nth(1)?.split_whitespace().next()?;
            Some((at.as_microsecond() as f64 / 1e6, name.trim_matches('"').to_string()))
        })
        .collect()
}

/// When the first reconcile of `name` at or after `t` started.
fn reconcile_started(starts: &[(f64, String)], name: &str, t: f64) -> Option<f64> {
    starts.iter().find(|(at, n)| *at >= t && n == name).map(|(at, _)| *at)
}

/// Calls by `app` that arrived in [from, to).
fn window<'a>(calls: &'a [Call], app: &str, from: f64, to: f64) -> Vec<&'a Call> {
    calls.iter().filter(|c| c.app.as_deref() == Some(app) && c.t >= from && c.t < to).collect()
}

fn by_operation(calls: &[&Call]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for c in calls {
        *out.entry(format!("{}:{}", c.service, c.operation)).or_default() += 1;
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The bench's manifests: Clusters `c0`..., one TaskDefinition, N Services.
struct Manifests<'a> {
    fleet: &'a Fleet<'a>,
    clusters: usize,
    rules_every: usize,
}

impl Manifests<'_> {
    fn cluster_name(&self, k: usize) -> String {
        format!("{}-c{k}", self.fleet.ctx.prefix)
    }

    fn has_rule(&self, i: usize) -> bool {
        self.rules_every > 0 && i.is_multiple_of(self.rules_every)
    }

    fn base(&self, image: &str) -> String {
        let mut out = String::new();
        for k in 0..self.clusters {
            out += &format!(
                "apiVersion: ecs.operator.dev/v1alpha1
kind: Cluster
metadata: {{name: c{k}}}
spec: {{clusterName: {name}, capacityProviders: [FARGATE]}}
---
",
                name = self.cluster_name(k)
            );
        }
        out + &format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: TaskDefinition
metadata: {{name: bench}}
spec:
  family: {p}-bench
  networkMode: awsvpc
  requiresCompatibilities: [FARGATE]
  cpu: '256'
  memory: '512'
  containers:
    - {{name: api, image: '{image}', portMappings: [{{containerPort: 3000}}]}}
---
",
            p = self.fleet.ctx.prefix
        )
    }

    fn service(&self, i: usize) -> String {
        let lb = if self.has_rule(i) {
            format!(
                "  loadBalancer:
    containerName: api
    containerPort: 3000
    targetGroup: {{healthCheck: {{path: /}}}}
    listenerArn: {listener}
    rule: {{priority: {priority}, pathPatterns: ['/s{i:04}/*']}}
",
                listener = self.fleet.listener,
                priority = i + 1
            )
        } else {
            String::new()
        };
        format!(
            "apiVersion: ecs.operator.dev/v1alpha1
kind: Service
metadata: {{name: s{i:04}}}
spec:
  clusterRef: {{name: c{k}}}
  taskDefinitionRef: {{name: bench}}
  launchType: FARGATE
  desiredCount: 1
{net}{lb}---
",
            k = i % self.clusters,
            net = network(&self.fleet.net),
        )
    }
}

/// Waits until `n` Services exist and each is Ready and Synced for its generation
/// and runs `task_definition` (when given).
async fn converged(api: &Api<Service>, n: usize, task_definition: Option<&str>, what: &str) {
    eventually(WAIT, what, || async {
        let listed = api.list(&Default::default()).await.map_err(|e| e.to_string())?;
        let behind = listed
            .items
            .iter()
            .filter(|s| {
                !conditions::is_converged(*s)
                    || task_definition.is_some_and(|td| {
                        s.status.as_ref().and_then(|st| st.task_definition_arn.as_deref()) != Some(td)
                    })
            })
            .count();
        if listed.items.len() != n || behind > 0 {
            return Err(format!("{} Services of {n}, {behind} not converged", listed.items.len()));
        }
        Ok(())
    })
    .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let n = args.services;
    let clusters = args.clusters.max(1);
    let ctx = TestContext::new("bench").await.expect("the test bed starts");
    let proxy = FaultProxy::start(ctx.bed, &ctx.namespace, 0, Rates::default()).expect("the proxy starts");
    let fleet = Fleet::new(&ctx).await.expect("the network and listener are seeded");
    let m = Manifests { fleet: &fleet, clusters, rules_every: args.rules_every };
    let with_lb = (0..n).filter(|&i| m.has_rule(i)).count();
    eprintln!("bench: {n} Services over {clusters} Clusters ({with_lb} with a rule), resync {} s", args.resync_seconds);

    // 1. The plain client, on clusters, a listener and names of its own.
    let plain_listener = existing_listener(&ctx, &fleet.net, "plain", 81).await;
    let plain = PlainFleet {
        clusters: (0..clusters).map(|k| format!("{}-plain{k}", ctx.prefix)).collect(),
        family: format!("{}-plain", ctx.prefix),
        vpc_id: fleet.net.vpc_id.clone(),
        subnets: fleet.net.subnet_ids.clone(),
        security_group: fleet.net.security_group_id.clone(),
        listener: plain_listener,
        target_group_prefix: format!("{}-p", ctx.prefix),
        services: (0..n)
            .map(|i| PlainService {
                name: format!("s{i:04}"),
                cluster: format!("{}-plain{}", ctx.prefix, i % clusters),
                rule_priority: m.has_rule(i).then_some(i as i32 + 1),
            })
            .collect(),
    };
    let config =
        ctx.aws.to_builder().endpoint_url(&proxy.url).app_name(aws_config::AppName::new("plain").unwrap()).build();
    let plain_aws = AwsClients::new(config, Metrics::new(), args.rate_limit_percent);
    let region = ctx.aws.region().map(ToString::to_string).unwrap_or_default();
    let plain_time = plain_client::create_and_wait(&plain_aws, &region, &plain, WAIT).await.expect("the plain client");
    eprintln!("bench: plain client done in {:.1} s", plain_time.as_secs_f64());

    // 2. The operator.
    let resync = args.resync_seconds.to_string();
    let percent = args.rate_limit_percent.to_string();
    let poll = args.rollout_poll_seconds.to_string();
    let op = proxy
        .start_operator(
            &ctx,
            &["--resync-seconds", &resync, "--aws-rate-limit-percent", &percent, "--rollout-poll-seconds", &poll],
        )
        .expect("the operator starts");
    let pid = op.pid().expect("the operator runs");
    let operator_log = ctx.bed.dir.join(format!("{}-operator.log", ctx.namespace));
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let manifest = m.base("nginx:1.27") + &(0..n).map(|i| m.service(i)).collect::<String>();
    ctx.apply_ok(&manifest).expect("the manifests apply");
    let applied = Instant::now();
    converged(&services, n, None, "every Service converged").await;
    let convergence = applied.elapsed();
    let t_converged = now();
    let calls = proxy.calls().expect("the call log reads");
    let ours = window(&calls, "operator", 0.0, t_converged);
    let plain_calls = window(&calls, "plain", 0.0, f64::MAX);
    // The minimal set: the plain client's writes and one DescribeServices pass that
    // finds every service stable (it polls more while they start).
    let plain_writes = plain_calls.iter().filter(|c| c.is_write()).count();
    let minimal =
        plain_writes + (0..clusters).map(|k| (0..n).filter(|i| i % clusters == k).count().div_ceil(10)).sum::<usize>();
    let (rss_converged, _, cpu_converged) = usage(pid);

    // 3. At rest: counted by the operator's own metrics over whole resync periods.
    let before = op.metrics().expect("metrics");
    let rest_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.resync_seconds * args.rounds)).await;
    let after = op.metrics().expect("metrics");
    let periods = rest_started.elapsed().as_secs_f64() / args.resync_seconds as f64;
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
    let rest_writes = delta(&is_write_operation);
    let (rss_rest, _, _) = usage(pid);

    // 4. Single edits, one at a time: from just before the write to the first
    // operator call naming the service.
    let edits = args.edits.min(n);
    let mut sent: Vec<(String, f64)> = Vec::new();
    for e in 0..edits {
        let name = format!("s{:04}", e * n / edits.max(1));
        let t = now();
        let patch = serde_json::json!({"spec": {"tags": {"bench": "edited"}}});
        services.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("the edit applies");
        sent.push((name, t));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every edit converged means every edit made its call: read the log after
    // that, so a slow edit counts instead of dropping out of the percentiles.
    converged(&services, n, None, "every edit converged").await;
    let calls = proxy.calls().expect("the call log reads");
    let starts = reconcile_starts(&operator_log);
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(name, t)| {
            // The ECS service, or the target groups and load balancer its edit looks
            // up by name (the operator's `--instance-id` is `default` here).
            let parts = ["", "-g"].map(|suffix| resource_name(&ctx.namespace, name, "default", suffix));
            let arn_suffix = format!("/{name}");
            let names = |c: &&Call| {
                c.names.iter().any(|x| x == name || x.ends_with(&arn_suffix) || parts.iter().any(|p| p == x))
            };
            let first = window(&calls, "operator", *t, f64::MAX).into_iter().find(names);
            // A slow edit is named with its first call and when its reconcile
            // started (the operator's log), which tells a late start (the queue)
            // from a slow reconcile (a wait inside it).
            let started = reconcile_started(&starts, name, *t)
                .map(|s| format!("reconcile started {:.0} ms later", (s - t) * 1000.0))
                .unwrap_or_else(|| "no reconcile start logged".into());
            match first {
                Some(c) if c.t - t > 1.0 => {
                    eprintln!(
                        "slow edit: {name} written at {t:.3}, {started}, first call {} {:.0} ms later",
                        c.operation,
                        (c.t - t) * 1000.0
                    )
                }
                None => eprintln!("slow edit: {name} written at {t:.3}, {started}, no call seen"),
                _ => {}
            }
            first.map(|c| (c.t - t) * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);

    // 5. A TaskDefinition change that every Service follows.
    let tds: Api<TaskDefinition> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let old_td = tds.get("bench").await.ok().and_then(|t| t.status).and_then(|s| s.arn);
    let t_td = now();
    let td_started = Instant::now();
    ctx.apply_ok(&m.base("nginx:1.28")).expect("the TaskDefinition change applies");
    let new_td = eventually(WAIT, "the new revision registered", || async {
        let arn = tds.get("bench").await.ok().and_then(|t| t.status).and_then(|s| s.arn);
        match arn {
            Some(a) if Some(&a) != old_td.as_ref() => Ok(a),
            _ => Err("no new revision yet".to_string()),
        }
    })
    .await;
    converged(&services, n, Some(&new_td), "every Service runs the new revision").await;
    let td_time = td_started.elapsed();
    let t_td_end = now();
    let (rss_after_td, _, _) = usage(pid);

    // 6. Deleting every Service.
    let t_delete = now();
    let delete_started = Instant::now();
    ctx.kubectl_ok(&["delete", "services.ecs.operator.dev", "--all", "--wait=false"]).expect("the delete applies");
    eventually(WAIT, "every Service deleted", || async {
        let left = services.list(&Default::default()).await.map_err(|e| e.to_string())?.items.len();
        if left == 0 { Ok(()) } else { Err(format!("{left} Services left")) }
    })
    .await;
    let delete_time = delete_started.elapsed();
    let t_deleted = now();
    let (_, rss_peak, cpu_total) = usage(pid);

    let calls = proxy.calls().expect("the call log reads");
    let td_calls = window(&calls, "operator", t_td, t_td_end);
    let delete_calls = window(&calls, "operator", t_delete, t_deleted);
    let count_op = |cs: &[&Call], op: &str| cs.iter().filter(|c| c.operation == op).count();

    println!("| figure | value |");
    println!("| --- | --- |");
    println!("| Services over Clusters (with a rule on the shared listener) | {n} over {clusters} ({with_lb}) |");
    println!("| rollout poll: plain client, operator | 1 s, {} s |", args.rollout_poll_seconds);
    println!("| plain client: create and wait until stable | {:.1} s |", plain_time.as_secs_f64());
    println!("| operator: convergence after `kubectl apply` returned | {:.1} s |", convergence.as_secs_f64());
    println!(
        "| ratio operator / plain client | {:.2} |",
        convergence.as_secs_f64() / plain_time.as_secs_f64().max(0.001)
    );
    println!(
        "| AWS calls during convergence: operator, plain client, minimal set | {} / {} / {minimal} ({:.2}× the minimal set) |",
        ours.len(),
        plain_calls.len(),
        ours.len() as f64 / minimal.max(1) as f64
    );
    println!(
        "| &nbsp;&nbsp;writes: operator, minimal set | {} / {plain_writes} |",
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
    println!("| at rest: writes | {rest_writes} |");
    println!(
        "| write to first AWS call ({} of {edits} single edits seen): p50 / p99 / max | {:.0} / {:.0} / {:.0} ms |",
        latencies.len(),
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "| TaskDefinition change followed by all {n}: time, calls (UpdateService) | {:.1} s, {} ({}) |",
        td_time.as_secs_f64(),
        td_calls.len(),
        count_op(&td_calls, "UpdateService")
    );
    println!(
        "| deleting all {n}: time, calls, DescribeServices per Service | {:.1} s, {}, {:.2} |",
        delete_time.as_secs_f64(),
        delete_calls.len(),
        count_op(&delete_calls, "DescribeServices") as f64 / n as f64
    );
    println!(
        "| operator RSS: converged, at rest, after the TaskDefinition change, peak | {} / {} / {} / {} MiB |",
        rss_converged / 1024,
        rss_rest / 1024,
        rss_after_td / 1024,
        rss_peak / 1024
    );
    println!("| operator CPU: to converge, in all | {cpu_converged:.1} s / {cpu_total:.1} s |");
    // The bed's directory goes when the bench ends; the operator's log stays.
    let kept = std::env::temp_dir().join("ecs-operator-bench-operator.log");
    match std::fs::copy(&operator_log, &kept) {
        Ok(_) => eprintln!("bench: the operator's log is kept in {}", kept.display()),
        Err(e) => eprintln!("bench: could not keep the operator's log: {e}"),
    }
    println!();
    println!("AWS calls by operation:");
    println!();
    println!("| operation | plain client | operator: convergence | TaskDefinition change | deletion |");
    println!("| --- | --- | --- | --- | --- |");
    let (conv, base, td, del) =
        (by_operation(&ours), by_operation(&plain_calls), by_operation(&td_calls), by_operation(&delete_calls));
    let ops: BTreeSet<&String> = conv.keys().chain(base.keys()).chain(td.keys()).chain(del.keys()).collect();
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    for o in ops {
        println!("| {o} | {} | {} | {} | {} |", get(&base, o), get(&conv, o), get(&td, o), get(&del, o));
    }
}
