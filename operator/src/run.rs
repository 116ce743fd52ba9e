//! `ecs-operator run`: start the endpoints, wait for the CRDs, join the leader
//! election if asked, run the controllers until SIGTERM or Ctrl-C (or, as leader,
//! until the lease is lost).

use crate::aws::AwsClients;
use crate::cli::{LogFormat, RunArgs};
use crate::controller::{self, Context, ControllerConfig, WatchScope};
use crate::crd::{Cluster, Service, TaskDefinition};
use crate::leader::{ElectionConfig, Elector, LeaderError};
use crate::metrics::Metrics;
use crate::probes::{Probes, Role};
use crate::server;
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
    #[error("leader election is on: set --leader-election-namespace (or POD_NAMESPACE) to the namespace of its Lease")]
    LeaseNamespace,
    #[error(transparent)]
    Leader(#[from] LeaderError),
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

/// The identity of this replica in the election: the pod's name (else the host
/// name) and a random suffix, as client-go does. The suffix makes it unique per
/// process: a container restarted in the same pod must not take the Lease as
/// its own before a read confirms it.
fn identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let name = std::env::var("POD_NAME").ok().filter(|n| !n.is_empty()).unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "ecs-operator".into())
    });
    // RandomState is seeded from the operating system's randomness per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{name}_{:016x}", hasher.finish())
}

fn election_config(args: &RunArgs) -> Result<Option<ElectionConfig>, RunError> {
    if !args.leader_election {
        return Ok(None);
    }
    let namespace = args.leader_election_namespace.clone().filter(|n| !n.is_empty()).ok_or(RunError::LeaseNamespace)?;
    let config = ElectionConfig {
        namespace,
        lease: args.leader_election_lease.clone().unwrap_or_else(|| format!("ecs-operator-{}", args.instance_id)),
        identity: identity(),
        duration: args.leader_election_lease_seconds,
        renew: args.leader_election_renew_seconds,
    };
    config.check()?;
    Ok(Some(config))
}

// SIGTERM (the kubelet) or Ctrl-C.
async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let election = election_config(&args)?;
    let metrics = Metrics::new();
    let probes = Arc::new(Probes::new(Duration::from_secs(args.stuck_reconcile_seconds)));
    let (signal_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        signalled().await;
        tracing::info!("stop requested: finishing the reconciles under way");
        let _ = signal_tx.send(true);
    });
    let (servers_tx, servers_rx) = tokio::sync::watch::channel(false);
    let health = tokio::spawn(server::serve_health(
        args.health_address,
        probes.clone(),
        controller::stopped(servers_rx.clone()),
    ));
    let metrics_server =
        tokio::spawn(server::serve_metrics(args.metrics_address, metrics.clone(), controller::stopped(servers_rx)));

    let client = kube::Client::try_default().await?;
    wait_for_crds(&client, Duration::from_secs(args.crd_wait_seconds)).await?;
    let aws = Arc::new(AwsClients::from_env(metrics.clone(), args.aws_rate_limit_percent).await);
    match aws.default_region() {
        Some(region) => tracing::info!(region, "AWS configuration loaded"),
        None => tracing::warn!(
            "no default AWS region (AWS_REGION): objects without spec.region are reported Invalid until one is set"
        ),
    }

    let mut elector = None;
    if let Some(config) = election {
        tracing::info!(lease = %config.lease, namespace = %config.namespace, identity = %config.identity, "joining the leader election");
        let mut joined = Elector::join(config).await?;
        probes.set_role(Role::Standby);
        metrics.leader.set(0);
        let fence = tokio::select! {
            acquired = joined.acquire() => acquired?,
            _ = controller::stopped(stop_rx.clone()) => {
                probes.set_role(Role::Stopping);
                return finish(servers_tx, health, metrics_server, &args).await;
            }
        };
        tracing::info!("leading: starting the controllers");
        elector = Some((joined, fence));
    }
    metrics.leader.set(1);
    probes.set_role(Role::Reconciling);

    let scope = WatchScope { namespaces: args.namespaces.clone(), label_selector: args.label_selector.clone() };
    let ctx = Arc::new(Context::new(
        client.clone(),
        aws,
        metrics.clone(),
        ControllerConfig {
            resync: Duration::from_secs(args.resync_seconds),
            rollout_poll: Duration::from_secs(args.rollout_poll_seconds),
            instance_id: args.instance_id.clone(),
            max_concurrent_reconciles: args.max_concurrent_reconciles,
        },
        probes.clone(),
    ));
    tracing::info!(?scope, resync_seconds = args.resync_seconds, "starting controllers");
    let watched = |name: &'static str,
                   probes: Arc<Probes>,
                   fut: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>| async move {
        fut.await;
        probes.controller_stopped(name);
    };
    let controllers = async {
        tokio::join!(
            watched(
                "Cluster",
                probes.clone(),
                Box::pin(controller::run_controller::<Cluster, _, _>(
                    &scope,
                    ctx.clone(),
                    stop_rx.clone(),
                    "Cluster",
                    controller::cluster::reconcile
                ))
            ),
            watched(
                "TaskDefinition",
                probes.clone(),
                Box::pin(controller::run_controller::<TaskDefinition, _, _>(
                    &scope,
                    ctx.clone(),
                    stop_rx.clone(),
                    "TaskDefinition",
                    controller::task_definition::reconcile
                ))
            ),
            watched(
                "Service",
                probes.clone(),
                Box::pin(controller::service::run(&scope, ctx.clone(), stop_rx.clone()))
            ),
            watched("Task", probes.clone(), Box::pin(controller::task::run(&scope, ctx.clone(), stop_rx.clone()))),
        );
    };
    // Readiness turns false as soon as a stop is asked for, while the reconciles
    // under way finish. If a controller loop ends by itself, this waits for the
    // stop with /healthz failing, so that the kubelet restarts the operator.
    let mark_stopping = async {
        let _ = stop_rx.clone().wait_for(|s| *s).await;
        probes.set_role(Role::Stopping);
    };
    let work = async {
        tokio::join!(controllers, mark_stopping);
    };
    match &mut elector {
        None => work.await,
        Some((elector, fence)) => {
            tokio::select! {
                _ = work => {}
                lost = elector.hold(*fence) => {
                    // Dropping the controllers cancels every reconcile under way:
                    // no AWS write starts after this line.
                    metrics.leader.set(0);
                    tracing::error!(error = %lost, "stopping at once: this replica may no longer write");
                    return Err(RunError::Leader(lost));
                }
            }
        }
    }
    probes.set_role(Role::Stopping);
    if let Some((elector, _)) = &mut elector {
        elector.release().await;
        metrics.leader.set(0);
    }
    finish(servers_tx, health, metrics_server, &args).await
}

// Stops the endpoints last: /healthz answers (and the metrics can be scraped)
// all through the drain of the reconciles under way.
async fn finish(
    servers_tx: tokio::sync::watch::Sender<bool>,
    health: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics_server: tokio::task::JoinHandle<std::io::Result<()>>,
    args: &RunArgs,
) -> Result<(), RunError> {
    let _ = servers_tx.send(true);
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
