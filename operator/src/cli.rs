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
    Run(RunArgs),
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
    #[arg(long = "namespace", env = "WATCH_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

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
    /// each); also the retry of a deletion that waits (at most 15 s).
    #[arg(long, env = "ROLLOUT_POLL_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub rollout_poll_seconds: u64,

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
    }

    #[test]
    fn rejects_a_resync_below_five_seconds() {
        assert!(Cli::try_parse_from(["ecs-operator", "run", "--resync-seconds", "1"]).is_err());
    }
}
