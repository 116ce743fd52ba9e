//! The sandbox: a real Kubernetes API server and moto on loopback, seeded with a
//! network, the CRDs and the examples, and the operator running in the foreground.
//! Ctrl-C or SIGTERM stops everything it started.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use clap::Parser;
use ecs_operator_tests::TestBed;
use ecs_operator_tests::process::{ServerProcess, free_port};
use ecs_operator_tests::testbed::{operator_bin, repo_root};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// Runs ecs-operator against a local Kubernetes API server and AWS emulator.
#[derive(Debug, Parser)]
struct Args {
    /// Directory for the sandbox's state; the env file is written there as `env`.
    #[arg(long, default_value_os_t = repo_root().join(".sandbox"))]
    state_dir: PathBuf,
    /// Directory of manifests to apply (recursively). `${SANDBOX_*}` placeholders are
    /// replaced by the seeded IDs.
    #[arg(long, default_value_os_t = repo_root().join("examples"))]
    examples: PathBuf,
    /// Seconds per step of the bed's ECS scheduler model: a task launched in one
    /// step runs in the next.
    #[arg(long, default_value_t = 2.0)]
    ecs_step_seconds: f64,
    /// Seconds between the operator's drift checks.
    #[arg(long, default_value_t = 30)]
    resync_seconds: u64,
}

fn say(message: &str) {
    eprintln!("==> {message}");
}

fn manifests(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn substitute(text: &str, values: &BTreeMap<String, String>) -> String {
    values.iter().fold(text.to_string(), |acc, (k, v)| acc.replace(&format!("${{{k}}}"), v))
}

/// Where the operator serves its metrics and health endpoints.
#[derive(Debug, Clone, Copy)]
struct OperatorPorts {
    metrics: u16,
    health: u16,
}

fn env_file(bed: &TestBed, values: &BTreeMap<String, String>, ports: OperatorPorts) -> String {
    let mut out = String::from("# ecs-operator sandbox: `source` this file to use kubectl, helm or AWS clients.\n");
    out.push_str(&format!("export KUBECONFIG='{}'\n", bed.control_plane.kubeconfig.display()));
    for (k, v) in bed.moto.client_env() {
        out.push_str(&format!("export {k}='{v}'\n"));
    }
    for (k, v) in values {
        out.push_str(&format!("export {k}='{v}'\n"));
    }
    out.push_str(&format!("export ECS_OPERATOR_METRICS_URL='http://127.0.0.1:{}/metrics'\n", ports.metrics));
    out.push_str(&format!("export ECS_OPERATOR_HEALTHZ_URL='http://127.0.0.1:{}/healthz'\n", ports.health));
    out.push_str(&format!("export ECS_OPERATOR_READYZ_URL='http://127.0.0.1:{}/readyz'\n", ports.health));
    out.push_str(&format!("export PATH='{}':\"$PATH\"\n", bed.tools_bin.display()));
    out
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

fn start(args: &Args, ports: OperatorPorts) -> Result<(TestBed, PathBuf), String> {
    let _ = std::fs::remove_dir_all(&args.state_dir);
    std::fs::create_dir_all(&args.state_dir).map_err(|e| e.to_string())?;
    say("starting etcd, kube-apiserver, kube-controller-manager and moto on 127.0.0.1");
    let step = Duration::try_from_secs_f64(args.ecs_step_seconds).map_err(|e| format!("--ecs-step-seconds: {e}"))?;
    let bed = TestBed::start(&args.state_dir.join("servers"), step).map_err(|e| e.to_string())?;
    say("seeding moto with a VPC, two subnets in two zones and a security group");
    let network = bed.seed_network("ecs-operator-sandbox").map_err(|e| e.to_string())?;
    let mut values = BTreeMap::new();
    values.insert("SANDBOX_VPC_ID".to_string(), network.vpc_id.clone());
    values.insert("SANDBOX_SUBNET_IDS".to_string(), network.subnet_ids.join(","));
    for (i, subnet) in network.subnet_ids.iter().enumerate() {
        values.insert(format!("SANDBOX_SUBNET_{}", char::from(b'A' + i as u8)), subnet.clone());
    }
    values.insert("SANDBOX_SECURITY_GROUP_ID".to_string(), network.security_group_id.clone());

    let files = manifests(&args.examples);
    if files.is_empty() {
        say(&format!("no manifests under {}", args.examples.display()));
    }
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let out = bed.kubectl(&["apply", "-f", "-"], Some(&substitute(&text, &values))).map_err(|e| e.to_string())?;
        let shown = file.strip_prefix(repo_root()).unwrap_or(&file).display().to_string();
        if !out.status.success() {
            return Err(format!("kubectl apply {shown} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            say(&format!("applied {shown}: {line}"));
        }
    }
    let env_path = args.state_dir.join("env");
    std::fs::write(&env_path, env_file(&bed, &values, ports)).map_err(|e| e.to_string())?;
    Ok((bed, env_path))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let (Ok(metrics_port), Ok(health_port)) = (free_port(), free_port()) else {
        eprintln!("error: no free port on 127.0.0.1");
        return ExitCode::FAILURE;
    };
    let (bed, env_path) = match start(&args, OperatorPorts { metrics: metrics_port, health: health_port }) {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e}");
            let _ = std::fs::remove_dir_all(&args.state_dir);
            return ExitCode::FAILURE;
        }
    };
    let operator = operator_bin().and_then(|bin| {
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--resync-seconds")
            .arg(args.resync_seconds.to_string())
            .arg("--rollout-poll-seconds")
            .arg("5")
            .arg("--metrics-address")
            .arg(format!("127.0.0.1:{metrics_port}"))
            .arg("--health-address")
            .arg(format!("127.0.0.1:{health_port}"))
            .env("KUBECONFIG", &bed.control_plane.kubeconfig)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info,kube_runtime=warn".into()))
            .envs(bed.moto.client_env());
        ServerProcess::start_in_foreground("ecs-operator", cmd)
            .map_err(|e| ecs_operator_tests::testbed::TestBedError::Setup(e.to_string()))
    });
    let mut operator = match operator {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    say(&format!(
        "sandbox ready. In another terminal:\n    source {}\n    kubectl get ecs -A\n    aws ecs list-clusters   # any AWS client works\n\
         operator metrics: http://127.0.0.1:{metrics_port}/metrics, health: http://127.0.0.1:{health_port}/readyz\n\
         Ctrl-C (or scripts/sandbox.sh down) stops everything.",
        env_path.display()
    ));
    let exited = loop {
        tokio::select! {
            _ = shutdown_signal() => break None,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some(status) = operator.exited() { break Some(status); }
            }
        }
    };
    say("stopping the operator, kube-apiserver, etcd and moto");
    let _ = operator.stop(Duration::from_secs(20));
    drop(bed);
    let _ = std::fs::remove_dir_all(&args.state_dir);
    match exited {
        Some(status) if !status.success() => {
            eprintln!("error: the operator exited with {status}");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}
