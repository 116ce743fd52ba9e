//! The HTTP endpoints: health and readiness for the kubelet, metrics for Prometheus.

use crate::metrics::Metrics;
use crate::probes::{Answer, Probes};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::Arc;

fn answer(a: Answer) -> (StatusCode, String) {
    match a {
        Ok(text) => (StatusCode::OK, text),
        Err(text) => (StatusCode::SERVICE_UNAVAILABLE, text),
    }
}

/// Serves /healthz and /readyz (see `probes`) on `address` until `shutdown` resolves.
pub async fn serve_health(
    address: SocketAddr,
    probes: Arc<Probes>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|State(p): State<Arc<Probes>>| async move { answer(p.liveness()) }))
        .route("/readyz", get(|State(p): State<Arc<Probes>>| async move { answer(p.readiness()) }))
        .with_state(probes);
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Serves /metrics on `address` until `shutdown` resolves.
pub async fn serve_metrics(
    address: SocketAddr,
    metrics: Metrics,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/metrics",
            get(|State(m): State<Metrics>| async move {
                ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.render())
            }),
        )
        .with_state(metrics);
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
