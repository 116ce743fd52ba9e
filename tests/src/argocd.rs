//! A real Argo CD on the test bed: redis, a git repository served by `git daemon`,
//! Argo CD's repo-server and application controller (the `argocd` binary built from
//! the module pinned in `tests/argocd/go.mod`), all on 127.0.0.1, with the
//! application controller pointed at the bed's apiserver as its in-cluster
//! destination (`ARGOCD_FAKE_IN_CLUSTER`). Our health checks reach it the way users
//! install them: `argocd/argocd-cm-patch.yaml` in argocd-cm.

use crate::process::{ServerProcess, free_port, wait_for_port};
use crate::testbed::{TestBed, TestBedError, check, repo_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Argo CD's processes and the git repository it syncs from.
#[derive(Debug)]
pub struct ArgoCd {
    // Field order is drop order: the controller stops before what it uses.
    pub controller: ServerProcess,
    pub repo_server: ServerProcess,
    pub git_daemon: ServerProcess,
    pub redis: ServerProcess,
    /// The namespace of Argo CD's own objects (argocd-cm, Applications).
    pub namespace: String,
    /// The repository's URL as Argo CD reaches it.
    pub repo_url: String,
    /// A clone of the repository to commit to; `commit` pushes it.
    pub work_tree: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> Result<String, TestBedError> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    // No user or system git configuration: the bed's commits are the same anywhere.
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1");
    let out = cmd.output()?;
    check(&out, &format!("git {}", args.join(" ")))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl ArgoCd {
    /// Starts Argo CD under `dir` with its objects in `namespace` (created here).
    /// Applications are compared with git every `app_resync` (Argo CD's default
    /// is 3 minutes).
    pub fn start(bed: &TestBed, namespace: &str, dir: &Path, app_resync: Duration) -> Result<Self, TestBedError> {
        std::fs::create_dir_all(dir)?;
        let redis = start_redis(dir)?;
        let (git_daemon, repo_url, work_tree) = start_git(dir)?;
        install_argocd_objects(bed, namespace)?;

        let redis_addr = format!("127.0.0.1:{}", redis.1);
        let home = dir.join("home");
        std::fs::create_dir_all(home.join("tmp"))?;
        let repo_port = free_port()?;
        let mut cmd = Command::new(bed.tools_bin.join("argocd-repo-server"));
        cmd.args(["--disable-tls", "--address", "127.0.0.1", "--metrics-address", "127.0.0.1"])
            .args(["--port", &repo_port.to_string(), "--metrics-port", &free_port()?.to_string()])
            .args(["--redis", &redis_addr, "--loglevel", "info"])
            .env("HOME", &home)
            .env("TMPDIR", home.join("tmp"))
            .env("ARGOCD_GPG_ENABLED", "false")
            .env("GIT_CONFIG_NOSYSTEM", "1");
        let mut repo_server = ServerProcess::start("argocd-repo-server", cmd, &dir.join("argocd-repo-server.log"))?;
        wait_for_port(&mut repo_server, repo_port, Duration::from_secs(60)).map_err(TestBedError::Setup)?;

        let metrics_port = free_port()?;
        let kubeconfig = bed.control_plane.kubeconfig.to_string_lossy().into_owned();
        let mut cmd = Command::new(bed.tools_bin.join("argocd-application-controller"));
        cmd.args(["--kubeconfig", &kubeconfig, "--namespace", namespace])
            .args(["--repo-server", &format!("127.0.0.1:{repo_port}"), "--repo-server-plaintext"])
            .args(["--redis", &redis_addr, "--metrics-port", &metrics_port.to_string()])
            .args(["--app-resync", &app_resync.as_secs().to_string(), "--self-heal-timeout-seconds", "1"])
            .args(["--status-processors", "4", "--operation-processors", "4", "--loglevel", "info"])
            .env("HOME", &home)
            .env("KUBECONFIG", &kubeconfig)
            // The destination https://kubernetes.default.svc is the kubeconfig's apiserver.
            .env("ARGOCD_FAKE_IN_CLUSTER", "true")
            // No pause between sync waves: the waves still wait for health.
            .env("ARGOCD_SYNC_WAVE_DELAY", "0");
        let mut controller =
            ServerProcess::start("argocd-application-controller", cmd, &dir.join("argocd-application-controller.log"))?;
        wait_for_port(&mut controller, metrics_port, Duration::from_secs(60)).map_err(TestBedError::Setup)?;
        Ok(Self {
            controller,
            repo_server,
            git_daemon,
            redis: redis.0,
            namespace: namespace.to_string(),
            repo_url,
            work_tree,
        })
    }

    /// Writes `files` (path relative to the repository, content; `None` removes the
    /// file), commits them with `message` and pushes. Returns the commit's hash.
    pub fn commit(&self, files: &[(&str, Option<&str>)], message: &str) -> Result<String, TestBedError> {
        for (path, content) in files {
            let full = self.work_tree.join(path);
            match content {
                Some(text) => {
                    if let Some(parent) = full.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&full, text)?;
                }
                None => std::fs::remove_file(&full)?,
            }
        }
        git(&self.work_tree, &["add", "--all"])?;
        git(
            &self.work_tree,
            &["-c", "user.name=bed", "-c", "user.email=bed@localhost", "commit", "-q", "-m", message],
        )?;
        git(&self.work_tree, &["push", "-q", "origin", "HEAD:main"])?;
        Ok(git(&self.work_tree, &["rev-parse", "HEAD"])?.trim().to_string())
    }
}

/// A real redis server on loopback, without persistence. Returns it and its port.
fn start_redis(dir: &Path) -> Result<(ServerProcess, u16), TestBedError> {
    let port = free_port()?;
    let mut cmd = Command::new("redis-server");
    cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir);
    let mut redis = ServerProcess::start("redis-server", cmd, &dir.join("redis.log"))?;
    wait_for_port(&mut redis, port, Duration::from_secs(20)).map_err(TestBedError::Setup)?;
    Ok((redis, port))
}

/// A bare repository with an empty first commit on `main`, served read-only by
/// `git daemon` on loopback, and a work tree cloned from it.
fn start_git(dir: &Path) -> Result<(ServerProcess, String, PathBuf), TestBedError> {
    let served = dir.join("git");
    let bare = served.join("gitops.git");
    std::fs::create_dir_all(&bare)?;
    git(&bare, &["init", "-q", "--bare", "--initial-branch=main"])?;
    let work_tree = dir.join("work");
    std::fs::create_dir_all(&work_tree)?;
    git(&work_tree, &["init", "-q", "--initial-branch=main"])?;
    git(&work_tree, &["remote", "add", "origin", &bare.to_string_lossy()])?;
    git(
        &work_tree,
        &["-c", "user.name=bed", "-c", "user.email=bed@localhost", "commit", "-q", "--allow-empty", "-m", "empty"],
    )?;
    git(&work_tree, &["push", "-q", "origin", "HEAD:main"])?;

    let port = free_port()?;
    let mut cmd = Command::new("git");
    cmd.args(["daemon", "--listen=127.0.0.1", &format!("--port={port}"), "--export-all", "--reuseaddr"])
        .arg(format!("--base-path={}", served.display()))
        .arg(&served)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let mut daemon = ServerProcess::start("git-daemon", cmd, &dir.join("git-daemon.log"))?;
    wait_for_port(&mut daemon, port, Duration::from_secs(20)).map_err(TestBedError::Setup)?;
    Ok((daemon, format!("git://127.0.0.1:{port}/gitops.git"), work_tree))
}

/// Argo CD's CRDs (server-side: they are too large for the last-applied
/// annotation), its namespace, argocd-cm with our health checks as users install
/// them, argocd-secret and the default project.
fn install_argocd_objects(bed: &TestBed, namespace: &str) -> Result<(), TestBedError> {
    let kubectl =
        |args: &[&str], stdin: Option<&str>| check(&bed.kubectl(args, stdin)?, &format!("kubectl {}", args.join(" ")));
    // A link to the directory: kubectl wants the directory itself.
    let crds = std::fs::canonicalize(bed.tools_bin.join("argocd-crds"))?;
    let crds = crds.to_string_lossy();
    kubectl(&["apply", "--server-side", "--field-manager=testbed", "-f", &crds], None)?;
    // A CRD that has no conditions yet makes `kubectl wait` fail at once: try again.
    let mut established = kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &crds], None);
    for _ in 0..20 {
        if established.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        established = kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &crds], None);
    }
    established?;
    kubectl(&["create", "namespace", namespace], None)?;

    let patch = repo_root().join("argocd/argocd-cm-patch.yaml");
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: {namespace}\n  labels: {{app.kubernetes.io/part-of: argocd}}\n"
    );
    kubectl(&["apply", "-f", "-"], Some(&cm))?;
    // The patch as the docs tell users to apply it.
    let patch = patch.to_string_lossy();
    kubectl(&["-n", namespace, "patch", "configmap", "argocd-cm", "--type", "merge", "--patch-file", &patch], None)?;
    let rest = format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: argocd-secret
  namespace: {namespace}
  labels: {{app.kubernetes.io/part-of: argocd}}
stringData:
  server.secretkey: bed-secret-key
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
  namespace: {namespace}
spec:
  sourceRepos: ['*']
  destinations: [{{server: '*', namespace: '*'}}]
  clusterResourceWhitelist: [{{group: '*', kind: '*'}}]
"
    );
    kubectl(&["apply", "-f", "-"], Some(&rest))?;
    Ok(())
}
