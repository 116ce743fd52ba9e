//! The fault-injecting proxy (tests/support/fault_proxy.py) between the operator
//! and moto: throttling, HTTP 500 (before or after moto did the work) and delays
//! at seeded rates, and a log of every AWS call with the caller's SDK app id.

use crate::process::{ServerProcess, free_port, wait_for_port};
use crate::testbed::{TestBed, TestBedError, repo_root};
use serde::Deserialize;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Fault rates, each a probability per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    pub throttle: f64,
    pub error: f64,
    pub delay: f64,
    pub delay_seconds: f64,
}

/// One AWS call as the proxy saw it.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    pub seq: u64,
    /// Arrival and answer, seconds since the epoch.
    pub t: f64,
    pub t_end: f64,
    pub service: String,
    pub operation: String,
    /// The caller's `AWS_SDK_UA_APP_ID`.
    pub app: Option<String>,
    /// `none`, `throttle`, `bucket` (AWS's own throttling), `error-before` or
    /// `error-after`.
    pub fault: String,
    pub status: u16,
    /// What the request names: an ECS request's service names or ARNs, an ELBv2
    /// request's `Names` (empty for others).
    #[serde(default)]
    pub names: Vec<String>,
}

impl Call {
    /// Whether the call may change something in AWS (it reached moto and is not a
    /// read).
    pub fn is_write(&self) -> bool {
        crate::operator::is_write_operation(&self.operation) && matches!(self.fault.as_str(), "none" | "error-after")
    }
}

/// A running proxy in front of the bed's moto.
#[derive(Debug)]
pub struct FaultProxy {
    _process: ServerProcess,
    port: u16,
    /// `http://127.0.0.1:<port>`: the operator's AWS_ENDPOINT_URL.
    pub url: String,
    calls: PathBuf,
}

impl FaultProxy {
    /// Starts the proxy with `seed` and `rates`; its files are named after `name`.
    pub fn start(bed: &TestBed, name: &str, seed: u64, rates: Rates) -> Result<Self, TestBedError> {
        Self::start_with(bed, name, seed, rates, false)
    }

    /// Starts a proxy that throttles as AWS does (the published token buckets of
    /// tests/support/aws_buckets.json) and injects nothing else.
    pub fn start_throttling_like_aws(bed: &TestBed, name: &str) -> Result<Self, TestBedError> {
        Self::start_with(bed, name, 0, Rates::default(), true)
    }

    fn start_with(bed: &TestBed, name: &str, seed: u64, rates: Rates, buckets: bool) -> Result<Self, TestBedError> {
        let port = free_port()?;
        let calls = bed.dir.join(format!("{name}-calls.jsonl"));
        let mut cmd = Command::new(bed.moto.python());
        cmd.arg(repo_root().join("tests/support/fault_proxy.py"))
            .args(["--port", &port.to_string(), "--upstream", &bed.moto.url, "--seed", &seed.to_string()])
            .args(["--throttle", &rates.throttle.to_string(), "--error", &rates.error.to_string()])
            .args(["--delay", &rates.delay.to_string(), "--delay-seconds", &rates.delay_seconds.to_string()])
            .arg("--calls")
            .arg(&calls);
        if buckets {
            cmd.arg("--buckets").arg(repo_root().join("tests/support/aws_buckets.json"));
        }
        let mut process = ServerProcess::start("fault-proxy", cmd, &bed.dir.join(format!("{name}-proxy.log")))
            .map_err(|e| TestBedError::Setup(e.to_string()))?;
        wait_for_port(&mut process, port, Duration::from_secs(30)).map_err(TestBedError::Setup)?;
        Ok(Self { _process: process, port, url: format!("http://127.0.0.1:{port}"), calls })
    }

    /// Starts the operator for `ctx`'s namespace with its AWS calls through this
    /// proxy, marked with the SDK app id `operator` in the call log.
    pub fn start_operator(
        &self,
        ctx: &crate::TestContext,
        extra: &[&str],
    ) -> Result<crate::OperatorProcess, TestBedError> {
        let log = ctx.bed.dir.join(format!("{}-operator.log", ctx.namespace));
        crate::OperatorProcess::start_with_env(
            ctx.bed,
            &ctx.bed.control_plane.kubeconfig,
            &ctx.namespace,
            &log,
            extra,
            &[("AWS_ENDPOINT_URL", &self.url), ("AWS_SDK_UA_APP_ID", "operator")],
        )
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Result<Vec<Call>, TestBedError> {
        let text = std::fs::read_to_string(&self.calls).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| TestBedError::Setup(format!("call log: {e}: {l}"))))
            .collect()
    }

    /// Changes the fault rates from now on.
    pub fn set_rates(&self, rates: Rates) -> Result<(), TestBedError> {
        let body = serde_json::json!({
            "throttle": rates.throttle, "error": rates.error, "delay": rates.delay, "delay_seconds": rates.delay_seconds
        })
        .to_string();
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "POST /__proxy/rates HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(TestBedError::Setup(format!("setting the proxy's rates: {response}")))
        }
    }
}
