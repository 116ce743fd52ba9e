//! `ecs-operator run`: start the endpoints, wait for the CRDs, run the controllers
//! until SIGTERM or Ctrl-C.

use crate::aws::AwsClients;
use crate::cli::{LogFormat, RunArgs};
use crate::controller::{self, Context, ControllerConfig, Namespaces};
use crate::crd::{Cluster, Service, TaskDefinition};
use crate::metrics::Metrics;
use crate::server::{self, Readiness};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, CustomResourceExt};
use std::sync::Arc;
use std::time::Duration;

/// Errors that stop the operator.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("CRD {0} is not established after {1:?}; install the CRDs (crds/ or the Helm chart) first")]
    CrdsMissing(String, Duration),
    #[error("cannot serve {what} on {address}: {source}")]
    Serve { what: &'static str, address: std::net::SocketAddr, source: std::io::Error },
}

/// Sets up logging in the chosen format; `RUST_LOG` picks the levels.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_runtime=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

async fn wait_for_crds(client: &kube::Client, timeout: Duration) -> Result<(), RunError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [Cluster::crd_name(), TaskDefinition::crd_name(), Service::crd_name()] {
        tracing::info!(crd = name, "waiting for CRD to be established");
        let established = await_condition(api.clone(), name, conditions::is_crd_established());
        match tokio::time::timeout(timeout, established).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(crd = name, error = %e, "watching CRD failed"),
            Err(_) => return Err(RunError::CrdsMissing(name.to_string(), timeout)),
        }
    }
    Ok(())
}

pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let metrics = Metrics::new();
    let readiness = Arc::new(Readiness::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let health = tokio::spawn(server::serve_health(args.health_address, readiness.clone(), stopped()));
    let metrics_server = tokio::spawn(server::serve_metrics(args.metrics_address, metrics.clone(), stopped()));

    let client = kube::Client::try_default().await?;
    wait_for_crds(&client, Duration::from_secs(args.crd_wait_seconds)).await?;
    let aws = Arc::new(AwsClients::from_env(metrics.clone()).await);
    tracing::info!(region = ?aws.default_region(), "AWS configuration loaded");

    let namespaces =
        if args.namespaces.is_empty() { Namespaces::All } else { Namespaces::Only(args.namespaces.clone()) };
    let ctx = Arc::new(Context::new(
        client.clone(),
        aws,
        metrics,
        ControllerConfig {
            resync: Duration::from_secs(args.resync_seconds),
            rollout_poll: Duration::from_secs(args.rollout_poll_seconds),
            instance_id: args.instance_id.clone(),
        },
    ));
    tracing::info!(?namespaces, resync_seconds = args.resync_seconds, "starting controllers");
    readiness.set(true);
    // Each controller stops by itself on SIGTERM or Ctrl-C (shutdown_on_signal),
    // finishing the reconciles under way.
    tokio::join!(
        controller::run_controller(
            namespaces.apis::<Cluster>(&client),
            ctx.clone(),
            "Cluster",
            controller::cluster::reconcile
        ),
        controller::run_controller(
            namespaces.apis::<TaskDefinition>(&client),
            ctx.clone(),
            "TaskDefinition",
            controller::task_definition::reconcile
        ),
        controller::service::run(client.clone(), &namespaces, ctx.clone()),
    );
    readiness.set(false);
    let _ = stop_tx.send(true);
    for (what, address, task) in
        [("health endpoints", args.health_address, health), ("metrics", args.metrics_address, metrics_server)]
    {
        if let Ok(Err(source)) = task.await {
            return Err(RunError::Serve { what, address, source });
        }
    }
    tracing::info!("stopped");
    Ok(())
}
