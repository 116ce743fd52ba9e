//! The operator binary, run as a user runs it: a separate process that reaches
//! Kubernetes through a kubeconfig and AWS through the standard environment.

use crate::process::{ProcessError, ServerProcess, free_port, wait_for_port};
use crate::testbed::{TestBed, TestBedError, operator_bin};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A running `ecs-operator run`.
#[derive(Debug)]
pub struct OperatorProcess {
    process: ServerProcess,
    /// Address of the metrics endpoint.
    pub metrics_port: u16,
    /// Address of the health endpoints.
    pub health_port: u16,
}

impl OperatorProcess {
    /// Starts the operator against the test bed, watching `namespace` only (every
    /// namespace when empty), with its log at `log`. `extra` adds command-line
    /// arguments.
    pub fn start(bed: &TestBed, namespace: &str, log: &Path, extra: &[&str]) -> Result<Self, TestBedError> {
        Self::start_with_kubeconfig(bed, &bed.control_plane.kubeconfig, namespace, log, extra)
    }

    /// Like `start`, authenticating with `kubeconfig` (for example a ServiceAccount's).
    pub fn start_with_kubeconfig(
        bed: &TestBed,
        kubeconfig: &Path,
        namespace: &str,
        log: &Path,
        extra: &[&str],
    ) -> Result<Self, TestBedError> {
        Self::start_with_env(bed, kubeconfig, namespace, log, extra, &[])
    }

    /// Like `start_with_kubeconfig`, with some of the AWS environment replaced (for
    /// example another default region, as after a change of the operator's settings).
    /// An empty value removes the variable.
    pub fn start_with_env(
        bed: &TestBed,
        kubeconfig: &Path,
        namespace: &str,
        log: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, TestBedError> {
        let metrics_port = free_port()?;
        let health_port = free_port()?;
        let mut cmd = Command::new(operator_bin()?);
        cmd.arg("run");
        // An empty namespace: every namespace (the chart's default).
        if !namespace.is_empty() {
            cmd.arg("--namespace").arg(namespace);
        }
        cmd.arg("--metrics-address")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--health-address")
            .arg(format!("127.0.0.1:{health_port}"))
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            // ECS_OPERATOR_TEST_LOG replaces the filter, to look closer at one test.
            .env(
                "RUST_LOG",
                std::env::var("ECS_OPERATOR_TEST_LOG").unwrap_or_else(|_| "info,ecs_operator=debug".into()),
            )
            .envs(bed.moto.client_env())
            .envs(env.iter().filter(|(_, v)| !v.is_empty()).copied());
        for (name, _) in env.iter().filter(|(_, v)| v.is_empty()) {
            cmd.env_remove(name);
        }
        // The bed's scheduler takes a step every 0.5 s: look at rollouts often,
        // unless the caller says how often.
        if !extra.contains(&"--rollout-poll-seconds") {
            cmd.args(["--rollout-poll-seconds", "1"]);
        }
        let mut process = ServerProcess::start("ecs-operator", cmd, log)
            .map_err(|e: ProcessError| TestBedError::Setup(e.to_string()))?;
        wait_for_port(&mut process, health_port, Duration::from_secs(60)).map_err(TestBedError::Setup)?;
        Ok(Self { process, metrics_port, health_port })
    }

    /// The operator's Prometheus metrics text.
    pub fn metrics(&self) -> Result<String, TestBedError> {
        http_get(self.metrics_port, "/metrics")
    }

    /// The HTTP response of a health endpoint (`/healthz`, `/readyz`).
    pub fn health(&self, path: &str) -> Result<String, TestBedError> {
        http_get(self.health_port, path)
    }

    /// The last lines of the operator's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }

    /// SIGTERM and wait up to 20 s for the graceful shutdown; the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.process.stop(Duration::from_secs(20))
    }

    /// The operator's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// SIGTERM without waiting, as the kubelet sends it: the operator drains.
    pub fn terminate(&self) {
        self.process.terminate()
    }

    /// SIGKILL: no graceful shutdown, no lease release.
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        self.process.kill()
    }

    /// Whether this replica reconciles (`ecs_operator_leader` is 1).
    pub fn is_leader(&self) -> Result<bool, TestBedError> {
        Ok(self.metrics()?.lines().any(|l| l.trim() == "ecs_operator_leader 1"))
    }

    /// Whether the process exited, with its status.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.process.exited()
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        // A failing test shows what the operator was doing.
        if std::thread::panicking() {
            eprintln!("---- ecs-operator log (last 60 lines) ----\n{}", self.log_tail(60));
        }
    }
}

impl OperatorProcess {
    /// AWS operations that change something, counted by the operator since it started.
    pub fn aws_writes(&self) -> Result<u64, TestBedError> {
        Ok(sum_aws_requests(&self.metrics()?, is_write_operation))
    }

    /// Successful reconciles of `kind` since the operator started.
    pub fn successful_reconciles(&self, kind: &str) -> Result<u64, TestBedError> {
        self.reconciles(kind, "success")
    }

    /// Reconciles of `kind` with `result` (success, error, requeue) since the operator started.
    pub fn reconciles(&self, kind: &str, result: &str) -> Result<u64, TestBedError> {
        let needle = format!("ecs_operator_reconciles_total{{kind=\"{kind}\",result=\"{result}\"}}");
        Ok(self
            .metrics()?
            .lines()
            .find(|l| l.starts_with(&needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| v as u64)
            .unwrap_or(0))
    }
}

/// Sums the `ecs_operator_aws_requests_total` samples whose operation matches `pick`.
pub fn sum_aws_requests(metrics: &str, pick: impl Fn(&str) -> bool) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("ecs_operator_aws_requests_total{"))
        .filter_map(|l| {
            let operation = l.split("operation=\"").nth(1)?.split('"').next()?;
            let value = l.rsplit(' ').next()?.parse::<f64>().ok()?;
            pick(operation).then_some(value as u64)
        })
        .sum()
}

/// Whether an AWS operation changes anything (everything but Describe/List/Get).
pub fn is_write_operation(operation: &str) -> bool {
    !["Describe", "List", "Get"].iter().any(|p| operation.starts_with(p))
}

// Plain HTTP/1.0 on loopback: enough for the operator's own endpoints, and no
// extra HTTP client dependency.
fn http_get(port: u16, path: &str) -> Result<String, TestBedError> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}
