//! Command-line interface.

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;

/// ecs-operator: reconciles Amazon ECS clusters, task definitions and services from
/// Kubernetes custom resources.
#[derive(Debug, Parser)]
#[command(name = "ecs-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controllers.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Readable lines for a terminal.
    Text,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Namespace to watch; repeat for several. Default: all namespaces.
    #[arg(long = "namespace", alias = "watch-namespaces", env = "WATCH_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// Watch only objects whose labels match this selector (for example
    /// `ecs.operator.dev/shard=a`), to split one cluster's objects between
    /// installations. Label a Service's Cluster and TaskDefinition too.
    #[arg(long, env = "WATCH_LABEL_SELECTOR")]
    pub label_selector: Option<String>,

    /// Elect a leader through a Lease: only the replica holding it reconciles.
    /// Needed with more than one replica.
    #[arg(long, env = "LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,

    /// Namespace of the Lease (the operator's own namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease. Default: `ecs-operator-<instance id>`, so that
    /// installations with their own instance ids elect their own leaders.
    #[arg(long)]
    pub leader_election_lease: Option<String>,

    /// Seconds a lease lasts without renewal: how long a standby waits after the
    /// leader disappears.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(4..=300))]
    pub leader_election_lease_seconds: u64,

    /// Seconds between renewals of the lease by the leader; with 2 s of margin,
    /// less than the lease duration.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=298))]
    pub leader_election_renew_seconds: u64,

    /// `/healthz` fails when a reconcile has been running this many seconds (a
    /// stuck controller), so that the kubelet restarts the operator.
    #[arg(long, env = "STUCK_RECONCILE_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86400))]
    pub stuck_reconcile_seconds: u64,

    /// Address of the Prometheus metrics endpoint (/metrics).
    #[arg(long, env = "METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,

    /// Address of the health endpoints (/healthz, /readyz).
    #[arg(long, env = "HEALTH_ADDRESS", default_value = "0.0.0.0:8081")]
    pub health_address: SocketAddr,

    /// Seconds between comparisons of a healthy object with AWS (drift detection).
    #[arg(long, env = "RESYNC_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=86400))]
    pub resync_seconds: u64,

    /// Seconds between looks at a Service while its rollout is under way, so that
    /// Ready follows ECS closely (DescribeServices calls are batched, 10 services
    /// each), and at a Task's running tasks (DescribeTasks, 100 each); also the
    /// retry of a deletion that waits (at most 15 s).
    #[arg(long, env = "ROLLOUT_POLL_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rollout_poll_seconds: u64,

    /// Reconciles of one kind that may run at once (each object is reconciled by
    /// one at a time anyway). Bounds memory and the burst of AWS calls when
    /// thousands of objects change together; the client-side AWS rate limits
    /// bound the calls further.
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_concurrent_reconciles: u16,

    /// Client-side AWS rate limits, in percent of the operator's quotas per API
    /// family (about 80 % of each of the account's published buckets; see
    /// docs/operating.md). Raise it for an account with raised quotas; 0 turns
    /// the limits off.
    #[arg(long, env = "AWS_RATE_LIMIT_PERCENT", default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=10000))]
    pub aws_rate_limit_percent: u32,

    /// Names this operator installation in the ownership tags of what it creates.
    /// Two installations managing one AWS account need different ids.
    #[arg(long, env = "INSTANCE_ID", default_value = "default")]
    pub instance_id: String,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Seconds to wait for the CRDs to be established before giving up.
    #[arg(long, default_value_t = 120)]
    pub crd_wait_seconds: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_run_with_defaults_and_namespace_lists() {
        let cli = Cli::try_parse_from(["ecs-operator", "run", "--namespace", "a,b", "--namespace", "c"]).unwrap();
        let Command::Run(args) = cli.command else { panic!("expected run") };
        assert_eq!(args.namespaces, vec!["a", "b", "c"]);
        assert_eq!(args.resync_seconds, 60);
        assert_eq!(args.log_format, LogFormat::Text);
        assert!(!args.leader_election);
        assert_eq!((args.leader_election_lease_seconds, args.leader_election_renew_seconds), (15, 5));
        assert_eq!(args.max_concurrent_reconciles, 32);
    }

    #[test]
    fn parses_sharding_and_leader_election() {
        let cli = Cli::try_parse_from([
            "ecs-operator",
            "run",
            "--watch-namespaces",
            "a",
            "--label-selector",
            "shard=a",
            "--leader-election",
            "--leader-election-namespace",
            "ops",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else { panic!("expected run") };
        assert_eq!(args.namespaces, vec!["a"]);
        assert_eq!(args.label_selector.as_deref(), Some("shard=a"));
        assert!(args.leader_election);
        assert_eq!(args.leader_election_namespace.as_deref(), Some("ops"));
    }

    #[test]
    fn rejects_a_resync_below_five_seconds() {
        assert!(Cli::try_parse_from(["ecs-operator", "run", "--resync-seconds", "1"]).is_err());
    }
}
