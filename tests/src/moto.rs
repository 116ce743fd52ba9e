//! moto's server mode as the AWS endpoint of the test bed, with the bed's model of
//! the ECS service scheduler installed (tests/support/ecs_model.py): deployments
//! progress, fail, roll back and drain at a configurable pace, as ECS documents.

use crate::process::{ProcessError, ServerProcess, free_port, wait_for_port};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The region the test bed and the sandbox use.
pub const REGION: &str = "us-east-1";
/// Credentials moto accepts (it does not check signatures).
pub const ACCESS_KEY_ID: &str = "testing";
pub const SECRET_ACCESS_KEY: &str = "testing";

/// Errors while starting or seeding moto.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    NotReady(String),
    #[error("a support script failed: {0}")]
    Seed(String),
}

/// A running moto server.
#[derive(Debug)]
pub struct Moto {
    // Held only to be dropped, which stops the server.
    _process: ServerProcess,
    venv: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

/// The network a realistic example needs, as seeded into moto.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeededNetwork {
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub security_group_id: String,
    pub zones: Vec<String>,
    /// A subnet in a third zone and a second security group, unused at first.
    pub spare_subnet_id: String,
    pub spare_security_group_id: String,
    /// An ACM certificate, for HTTPS listeners.
    pub certificate_arn: String,
}

impl Moto {
    /// Starts moto's server from the virtual environment `venv` through `launcher`
    /// (tests/support/moto_bed_server.py, which installs the ECS scheduler model),
    /// with its log in `dir`. `step` is the scheduler's pace: a task launched in one
    /// step runs in the next.
    pub fn start(venv: &Path, launcher: &Path, dir: &Path, step: Duration) -> Result<Self, MotoError> {
        let port = free_port()?;
        let mut cmd = Command::new(venv.join("bin").join("python"));
        cmd.arg(launcher)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("ECS_BED_STEP_SECONDS", step.as_secs_f64().to_string())
            .env("AWS_DEFAULT_REGION", REGION);
        let mut process = ServerProcess::start("moto", cmd, &dir.join("moto.log"))?;
        wait_for_port(&mut process, port, Duration::from_secs(60)).map_err(MotoError::NotReady)?;
        Ok(Self { _process: process, venv: venv.to_path_buf(), url: format!("http://127.0.0.1:{port}") })
    }

    /// The Python of moto's virtual environment (for the bed's support programs).
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin").join("python")
    }

    /// The environment an AWS client needs to reach this server through the
    /// standard variables.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
        ]
    }

    /// Creates a VPC, two subnets in two zones and a security group named after `name`.
    pub fn seed_network(&self, seed_script: &Path, name: &str) -> Result<SeededNetwork, MotoError> {
        self.run_script(seed_script, &[name])
    }

    /// Runs a Python script of tests/support with moto's environment and the
    /// standard AWS variables aimed at this server; its stdout is JSON.
    pub fn run_script<T: serde::de::DeserializeOwned>(&self, script: &Path, args: &[&str]) -> Result<T, MotoError> {
        let out = Command::new(self.venv.join("bin").join("python"))
            .arg(script)
            .args(args)
            .envs(self.client_env())
            .output()?;
        if !out.status.success() {
            return Err(MotoError::Seed(format!("{}: {}", script.display(), String::from_utf8_lossy(&out.stderr))));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| MotoError::Seed(e.to_string()))
    }
}
