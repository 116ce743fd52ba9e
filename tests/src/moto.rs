//! moto's server mode as the AWS endpoint of the test bed.

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
    #[error("seeding the network failed: {0}")]
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
    /// Starts `moto_server` from the virtual environment `venv` with its log in `dir`.
    /// `running_tasks` is what moto reports as each service's running count
    /// (`MOTO_ECS_SERVICE_RUNNING`).
    pub fn start(venv: &Path, dir: &Path, running_tasks: u32) -> Result<Self, MotoError> {
        let port = free_port()?;
        let mut cmd = Command::new(venv.join("bin").join("moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ECS_SERVICE_RUNNING", running_tasks.to_string())
            .env("AWS_DEFAULT_REGION", REGION);
        let mut process = ServerProcess::start("moto", cmd, &dir.join("moto.log"))?;
        wait_for_port(&mut process, port, Duration::from_secs(60)).map_err(MotoError::NotReady)?;
        Ok(Self { _process: process, venv: venv.to_path_buf(), url: format!("http://127.0.0.1:{port}") })
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
        let out = Command::new(self.venv.join("bin").join("python"))
            .arg(seed_script)
            .arg(name)
            .envs(self.client_env())
            .output()?;
        if !out.status.success() {
            return Err(MotoError::Seed(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| MotoError::Seed(e.to_string()))
    }
}
