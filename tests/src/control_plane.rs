//! A real Kubernetes control plane on loopback: etcd and kube-apiserver, started the
//! way controller-runtime's envtest starts them, and kube-controller-manager with the
//! controllers a cluster without nodes needs (namespace deletion, garbage collection,
//! service-account tokens).

use crate::certs::{self, ControlPlaneCerts};
use crate::process::{ProcessError, ServerProcess, free_port, wait_for_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Errors while starting the control plane.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    NotReady(String),
}

/// The kube-controller-manager controllers the bed runs. No node, so nothing that
/// schedules, routes or attaches; these are what namespace deletion, ownerReferences
/// and ServiceAccount tokens (Argo CD-style in-cluster clients) rely on.
pub const CONTROLLERS: &str =
    "namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller";

/// The processes of a control plane; field order is drop order, so the controller
/// manager stops first and the apiserver before etcd.
#[derive(Debug)]
struct Running {
    _controller_manager: ServerProcess,
    _apiserver: ServerProcess,
    _etcd: ServerProcess,
}

/// A running etcd, kube-apiserver and kube-controller-manager.
#[derive(Debug)]
pub struct ControlPlane {
    // Held to be dropped (which stops them) or replaced (a restart).
    running: std::sync::Mutex<Option<Running>>,
    /// The apiserver's URL, `https://127.0.0.1:<port>`.
    pub url: String,
    /// An admin kubeconfig (client certificate in `system:masters`).
    pub kubeconfig: PathBuf,
    pub certs: ControlPlaneCerts,
    bin: PathBuf,
    dir: PathBuf,
    ports: Ports,
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    etcd: u16,
    peer: u16,
    apiserver: u16,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver from `bin`, with all state under `dir`, and
    /// waits until the apiserver reports ready.
    pub fn start(bin: &Path, dir: &Path) -> Result<Self, ControlPlaneError> {
        let cert_dir = dir.join("pki");
        std::fs::create_dir_all(&cert_dir)?;
        let certs = certs::generate(&cert_dir)?;
        let ports = Ports { etcd: free_port()?, peer: free_port()?, apiserver: free_port()? };
        let url = format!("https://127.0.0.1:{}", ports.apiserver);
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, admin_kubeconfig(&url, &certs))?;
        let plane = Self {
            running: std::sync::Mutex::new(None),
            url,
            kubeconfig,
            certs,
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            ports,
        };
        let running = plane.launch()?;
        if let Ok(mut slot) = plane.running.lock() {
            *slot = Some(running);
        }
        Ok(plane)
    }

    /// Stops kube-apiserver and etcd (and the controller manager), then starts
    /// them again on the same ports with the same data, as after a control-plane
    /// upgrade or a node reboot; returns once the apiserver is ready again.
    /// `down` is how long they stay stopped.
    pub fn restart(&self, down: Duration) -> Result<(), ControlPlaneError> {
        let mut slot = self.running.lock().map_err(|_| ControlPlaneError::NotReady("control plane lock".into()))?;
        drop(slot.take());
        std::thread::sleep(down);
        *slot = Some(self.launch()?);
        Ok(())
    }

    fn launch(&self) -> Result<Running, ControlPlaneError> {
        let (bin, dir, certs) = (self.bin.as_path(), self.dir.as_path(), &self.certs);
        let cert_dir = dir.join("pki");
        let etcd_url = format!("http://127.0.0.1:{}", self.ports.etcd);
        let peer_url = format!("http://127.0.0.1:{}", self.ports.peer);
        let mut etcd_cmd = Command::new(bin.join("etcd"));
        etcd_cmd
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .arg("--unsafe-no-fsync=true")
            .arg("--quota-backend-bytes=4294967296")
            .arg("--log-level=warn");
        let mut etcd = ServerProcess::start("etcd", etcd_cmd, &dir.join("etcd.log"))?;
        wait_for_port(&mut etcd, self.ports.etcd, Duration::from_secs(30)).map_err(ControlPlaneError::NotReady)?;

        let port = self.ports.apiserver;
        let url = &self.url;
        let mut api_cmd = Command::new(bin.join("kube-apiserver"));
        api_cmd
            .arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", cert_dir.display()))
            .arg(format!("--tls-cert-file={}", certs.serving_cert.display()))
            .arg(format!("--tls-private-key-file={}", certs.serving_key.display()))
            .arg(format!("--client-ca-file={}", certs.ca_cert.display()))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--service-account-issuer={url}"))
            .arg(format!("--service-account-key-file={}", certs.service_account_public_key.display()))
            .arg(format!("--service-account-signing-key-file={}", certs.service_account_key.display()))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .arg("--profiling=false")
            .arg("--v=0");
        let mut apiserver = ServerProcess::start("kube-apiserver", api_cmd, &dir.join("kube-apiserver.log"))?;
        wait_for_port(&mut apiserver, port, Duration::from_secs(60)).map_err(ControlPlaneError::NotReady)?;
        wait_ready(bin, &self.kubeconfig, &mut apiserver, Duration::from_secs(90))?;
        let controller_manager = start_controller_manager(bin, dir, &self.kubeconfig, certs)?;
        Ok(Running { _controller_manager: controller_manager, _apiserver: apiserver, _etcd: etcd })
    }
}

// The controller manager needs no readiness wait of its own: its controllers act
// whenever they come up, and a test that needs one (namespace deletion) waits for
// the effect with a bounded loop.
fn start_controller_manager(
    bin: &Path,
    dir: &Path,
    kubeconfig: &Path,
    certs: &ControlPlaneCerts,
) -> Result<ServerProcess, ControlPlaneError> {
    let port = free_port()?;
    let mut cmd = Command::new(bin.join("kube-controller-manager"));
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg(format!("--authentication-kubeconfig={}", kubeconfig.display()))
        .arg(format!("--authorization-kubeconfig={}", kubeconfig.display()))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!("--cert-dir={}", dir.join("kcm-pki").display()))
        .arg(format!("--controllers={CONTROLLERS}"))
        .arg(format!("--service-account-private-key-file={}", certs.service_account_key.display()))
        .arg(format!("--root-ca-file={}", certs.ca_cert.display()))
        .arg("--use-service-account-credentials=false")
        .arg("--leader-elect=false")
        // Namespace deletion is what tests wait on: sync often.
        .arg("--namespace-sync-period=10s")
        .arg("--concurrent-namespace-syncs=4")
        .arg("--profiling=false")
        .arg("--v=0");
    Ok(ServerProcess::start("kube-controller-manager", cmd, &dir.join("kube-controller-manager.log"))?)
}

/// A kubeconfig with the certificates inline, usable by kubectl, helm and kube-rs.
pub fn admin_kubeconfig(url: &str, certs: &ControlPlaneCerts) -> String {
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: {url}
    certificate-authority-data: {ca}
users:
- name: testbed-admin
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: testbed
  context:
    cluster: testbed
    user: testbed-admin
current-context: testbed
",
        ca = b64(&certs.ca_pem),
        cert = b64(&certs.admin_cert_pem),
        key = b64(&certs.admin_key_pem),
    )
}

// Readiness through the real kubectl: `/readyz` only answers ok once the
// post-start hooks (RBAC bootstrap roles among them) have finished.
fn wait_ready(
    bin: &Path,
    kubeconfig: &Path,
    apiserver: &mut ServerProcess,
    timeout: Duration,
) -> Result<(), ControlPlaneError> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some(status) = apiserver.exited() {
            return Err(ControlPlaneError::NotReady(format!(
                "kube-apiserver exited ({status}); log tail:\n{}",
                apiserver.log_tail(40)
            )));
        }
        let out = Command::new(bin.join("kubectl"))
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["get", "--raw", "/readyz"])
            .output()?;
        if out.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(ControlPlaneError::NotReady(format!(
        "kube-apiserver not ready within {timeout:?}: {last}\nlog tail:\n{}",
        apiserver.log_tail(40)
    )))
}
