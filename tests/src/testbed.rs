//! The test bed: one control plane and one moto per test binary, and a fresh
//! namespace, AWS name prefix and clients for every test.

use crate::control_plane::{ControlPlane, ControlPlaneError};
use crate::moto::{Moto, MotoError, REGION, SeededNetwork};
use crate::process::remove_at_exit;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Errors of the test bed.
#[derive(Debug, thiserror::Error)]
pub enum TestBedError {
    #[error(transparent)]
    ControlPlane(#[from] ControlPlaneError),
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("{0}")]
    Setup(String),
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    // Cargo sets CARGO_MANIFEST_DIR when it runs a test, too; prefer that to the
    // compile-time value, which a build cache shared between checkouts at other
    // paths can leave pointing at another checkout.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let manifest_dir = manifest_dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The directory holding etcd, kube-apiserver, kubectl, helm and moto_server:
/// `ECS_OPERATOR_TOOLS_BIN` when set, else what `scripts/build-tools.sh` builds.
pub fn tools_bin() -> Result<PathBuf, TestBedError> {
    if let Some(dir) = std::env::var_os("ECS_OPERATOR_TOOLS_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let out = Command::new("bash").arg(repo_root().join("scripts/build-tools.sh")).stderr(Stdio::inherit()).output()?;
    if !out.status.success() {
        return Err(TestBedError::Setup("scripts/build-tools.sh failed".into()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The `ecs-operator` binary: `ECS_OPERATOR_BIN` when set, else the one cargo built
/// beside this test binary.
pub fn operator_bin() -> Result<PathBuf, TestBedError> {
    if let Some(path) = std::env::var_os("ECS_OPERATOR_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let candidates = exe.ancestors().skip(1).take(3).map(|d| d.join("ecs-operator"));
    for candidate in candidates {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(TestBedError::Setup("ecs-operator binary not found: run `cargo build -p ecs-operator` first".into()))
}

/// The ECS scheduler model's pace in tests: a task launched in one step runs in
/// the next, so a rollout of a few tasks takes a few seconds.
pub const TEST_STEP: Duration = Duration::from_millis(500);

/// The servers every test of one binary shares.
#[derive(Debug)]
pub struct TestBed {
    // Field order is drop order: moto and the control plane stop before `dir` goes.
    pub moto: Moto,
    pub control_plane: ControlPlane,
    pub tools_bin: PathBuf,
    pub dir: PathBuf,
}

impl TestBed {
    /// Starts every server under `dir` and installs the CRDs from `crds/`. `step` is
    /// the pace of the ECS scheduler model (see `Moto::start`).
    pub fn start(dir: &Path, step: Duration) -> Result<Self, TestBedError> {
        let tools_bin = tools_bin()?;
        std::fs::create_dir_all(dir)?;
        let control_plane = ControlPlane::start(&tools_bin, dir)?;
        let venv = std::fs::canonicalize(tools_bin.join("moto_server"))?
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .ok_or_else(|| TestBedError::Setup("moto venv not found".into()))?;
        let launcher = repo_root().join("tests/support/moto_bed_server.py");
        let moto = Moto::start(&venv, &launcher, dir, step)?;
        let bed = Self { moto, control_plane, tools_bin, dir: dir.to_path_buf() };
        bed.install_crds()?;
        Ok(bed)
    }

    /// The shared test bed of this test binary, started on first use. Every process
    /// and file is removed when the binary exits.
    pub fn shared() -> Result<&'static TestBed, String> {
        static BED: OnceLock<Result<TestBed, String>> = OnceLock::new();
        BED.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("ecs-operator-testbed-{}", std::process::id()));
            remove_at_exit(&dir);
            TestBed::start(&dir, TEST_STEP).map_err(|e| format!("test bed failed to start: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
    }

    /// Runs the real kubectl against the control plane.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<Output, TestBedError> {
        let mut cmd = Command::new(self.tools_bin.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.control_plane.kubeconfig).args(args);
        run_with_stdin(cmd, stdin)
    }

    /// Runs the real helm against the control plane.
    pub fn helm(&self, args: &[&str]) -> Result<Output, TestBedError> {
        let mut cmd = Command::new(self.tools_bin.join("helm"));
        cmd.arg("--kubeconfig").arg(&self.control_plane.kubeconfig).args(args);
        cmd.env("HELM_CACHE_HOME", self.dir.join("helm/cache"))
            .env("HELM_CONFIG_HOME", self.dir.join("helm/config"))
            .env("HELM_DATA_HOME", self.dir.join("helm/data"));
        run_with_stdin(cmd, None)
    }

    fn install_crds(&self) -> Result<(), TestBedError> {
        let crds = repo_root().join("crds");
        let crds = crds.to_string_lossy();
        let applied = self.kubectl(&["apply", "--server-side", "--field-manager=testbed", "-f", &crds], None)?;
        check(&applied, "installing CRDs")?;
        let waited = self.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &crds], None)?;
        check(&waited, "waiting for CRDs")
    }

    /// An admin client (client certificate in `system:masters`).
    pub async fn admin_client(&self) -> Result<Client, TestBedError> {
        Ok(Client::try_from(self.admin_config().await?)?)
    }

    async fn admin_config(&self) -> Result<Config, TestBedError> {
        let kubeconfig = Kubeconfig::read_from(&self.control_plane.kubeconfig)?;
        Ok(Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?)
    }

    /// An AWS configuration aimed at moto.
    pub async fn aws_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.moto.url)
            .credentials_provider(Credentials::new(
                crate::moto::ACCESS_KEY_ID,
                crate::moto::SECRET_ACCESS_KEY,
                None,
                None,
                "testbed",
            ))
            .load()
            .await
    }

    /// Seeds a VPC, two subnets and a security group named after `name`.
    pub fn seed_network(&self, name: &str) -> Result<SeededNetwork, TestBedError> {
        Ok(self.moto.seed_network(&repo_root().join("tests/support/seed_network.py"), name)?)
    }

    /// Joins `count` EC2 container instances to the ECS cluster `cluster`, as the ECS
    /// agent does; returns their container instance ARNs.
    pub fn join_container_instances(&self, cluster: &str, count: u32) -> Result<Vec<String>, TestBedError> {
        let script = repo_root().join("tests/support/join_instances.py");
        Ok(self.moto.run_script(&script, &[cluster, &count.to_string()])?)
    }
}

fn run_with_stdin(mut cmd: Command, stdin: Option<&str>) -> Result<Output, TestBedError> {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// `Ok` when the command `what` succeeded, else its stderr as the error.
pub(crate) fn check(out: &Output, what: &str) -> Result<(), TestBedError> {
    if out.status.success() {
        Ok(())
    } else {
        Err(TestBedError::Setup(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr))))
    }
}

/// A short name unique in this run: a mix of the process id, the time and a counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::new();
    for _ in 0..6 {
        out.push(char::from(ALPHABET[(x % 36) as usize]));
        x /= 36;
    }
    out
}

/// What one test gets: its own namespace and AWS name prefix, and clients.
#[allow(missing_debug_implementations)] // kube::Client has no Debug
pub struct TestContext {
    pub bed: &'static TestBed,
    /// The test's own namespace, already created.
    pub namespace: String,
    /// A prefix for every AWS name the test makes, unique in this run.
    pub prefix: String,
    /// An admin client.
    pub client: Client,
    /// An AWS configuration aimed at moto.
    pub aws: aws_config::SdkConfig,
}

impl TestContext {
    /// Starts (or reuses) the test bed and creates a namespace named after `test`.
    pub async fn new(test: &str) -> Result<Self, TestBedError> {
        let bed = TestBed::shared().map_err(TestBedError::Setup)?;
        let suffix = unique_suffix();
        let namespace = format!("{}-{suffix}", test.replace('_', "-"));
        let client = bed.admin_client().await?;
        let ns = Namespace {
            metadata: ObjectMeta { name: Some(namespace.clone()), ..Default::default() },
            ..Default::default()
        };
        Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
        Ok(Self { bed, namespace, prefix: format!("t{suffix}"), client, aws: bed.aws_config().await })
    }

    /// kubectl in the test's namespace.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output, TestBedError> {
        let mut all = vec!["--namespace", &self.namespace];
        all.extend_from_slice(args);
        self.bed.kubectl(&all, None)
    }

    /// `kubectl apply -f -` of `yaml` in the test's namespace.
    pub fn apply(&self, yaml: &str) -> Result<Output, TestBedError> {
        self.bed.kubectl(&["--namespace", &self.namespace, "apply", "-f", "-"], Some(yaml))
    }

    /// Starts the operator for this test's namespace, with `extra` arguments.
    pub fn start_operator(&self, extra: &[&str]) -> Result<crate::OperatorProcess, TestBedError> {
        let log = self.bed.dir.join(format!("{}-operator.log", self.namespace));
        crate::OperatorProcess::start(self.bed, &self.namespace, &log, extra)
    }

    /// Starts the operator with another default AWS region (`AWS_REGION`).
    pub fn start_operator_in_region(
        &self,
        region: &str,
        extra: &[&str],
    ) -> Result<crate::OperatorProcess, TestBedError> {
        let log = self.bed.dir.join(format!("{}-operator-{region}.log", self.namespace));
        let env = [("AWS_REGION", region), ("AWS_DEFAULT_REGION", region)];
        crate::OperatorProcess::start_with_env(
            self.bed,
            &self.bed.control_plane.kubeconfig,
            &self.namespace,
            &log,
            extra,
            &env,
        )
    }

    /// kubectl output as text, failing with its stderr.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String, TestBedError> {
        let out = self.kubectl(args)?;
        check(&out, &format!("kubectl {}", args.join(" ")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kubectl apply` that must succeed.
    pub fn apply_ok(&self, yaml: &str) -> Result<String, TestBedError> {
        let out = self.apply(yaml)?;
        check(&out, "kubectl apply")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A client that authenticates as the ServiceAccount `name` of the test's
    /// namespace, with a token from the TokenRequest API. The account is created.
    pub async fn service_account_client(&self, name: &str) -> Result<Client, TestBedError> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let account = ServiceAccount {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            ..Default::default()
        };
        accounts.create(&PostParams::default(), &account).await?;
        let token = self.token_for(name).await?;
        let mut config = self.bed.admin_config().await?;
        config.auth_info = AuthInfo { token: Some(token.into()), ..Default::default() };
        Ok(Client::try_from(config)?)
    }

    /// A token for the existing ServiceAccount `name`, from the TokenRequest API.
    pub async fn token_for(&self, name: &str) -> Result<String, TestBedError> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &self.namespace);
        let request = TokenRequest {
            spec: TokenRequestSpec { audiences: vec![], expiration_seconds: Some(3600), ..Default::default() },
            ..Default::default()
        };
        let token = accounts.create_token_request(name, &PostParams::default(), &request).await?;
        token.status.map(|s| s.token).ok_or_else(|| TestBedError::Setup("TokenRequest returned no token".into()))
    }

    /// A kubeconfig file that authenticates as the existing ServiceAccount `name`.
    pub async fn service_account_kubeconfig(&self, name: &str) -> Result<PathBuf, TestBedError> {
        use base64::Engine;
        let token = self.token_for(name).await?;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.bed.control_plane.certs.ca_pem);
        let path = self.bed.dir.join(format!("{}-{name}.kubeconfig", self.namespace));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: testbed\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\n\
                 users:\n- name: sa\n  user:\n    token: {token}\ncontexts:\n- name: sa\n  context: {{cluster: testbed, user: sa, namespace: {}}}\n\
                 current-context: sa\n",
                self.bed.control_plane.url, self.namespace
            ),
        )?;
        Ok(path)
    }
}
