//! Child processes of the test bed that never outlive it.
//!
//! Three layers make sure nothing is left behind:
//! - `ServerProcess` stops its child when dropped;
//! - every child is registered, and an `atexit` hook stops the registered ones when
//!   the test binary exits (statics are never dropped, so `Drop` alone is not enough);
//! - every child is spawned with `PR_SET_PDEATHSIG`, so the kernel kills it if the
//!   test binary dies without running exit hooks (SIGKILL, abort). The signal fires
//!   when the *thread* that forked exits, so all children are forked from one
//!   thread that lives as long as the process.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Errors while starting or stopping a process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not start {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("could not create log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("the process spawner thread is gone")]
    SpawnerGone,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
static REGISTERED: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static CLEANUP_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static EXIT_HOOK: OnceLock<()> = OnceLock::new();

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("testbed-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
                // The sender lives in a static, so this loop never ends while the
                // process runs and children keep their parent thread.
            })
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("testbed: cannot start spawner thread: {e}"));
        Mutex::new(tx)
    })
}

#[allow(unsafe_code)]
fn install_exit_hook() {
    EXIT_HOOK.get_or_init(|| {
        extern "C" fn on_exit() {
            stop_all_registered();
        }
        // SAFETY: registering a plain `extern "C" fn` with no captured state.
        unsafe {
            libc::atexit(on_exit);
        }
    });
}

#[allow(unsafe_code)]
fn set_parent_death_signal(command: &mut Command, own_process_group: bool) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl and setpgid are async-signal-safe and touch only the child.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // Servers get their own process group, so a Ctrl-C in the terminal
            // reaches only the foreground program, which stops them in order.
            if own_process_group {
                libc::setpgid(0, 0);
            }
            Ok(())
        });
    }
}

/// Stops every registered child: SIGTERM, a short grace period, then SIGKILL; and
/// removes the registered directories.
pub fn stop_all_registered() {
    let pids: Vec<u32> = REGISTERED.lock().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default();
    for pid in &pids {
        signal(*pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for pid in &pids {
        while alive(*pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(*pid) {
            signal(*pid, libc::SIGKILL);
        }
    }
    let dirs: Vec<PathBuf> = CLEANUP_DIRS.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default();
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Removes `dir` when the test binary exits.
pub fn remove_at_exit(dir: &Path) {
    install_exit_hook();
    if let Ok(mut dirs) = CLEANUP_DIRS.lock() {
        dirs.push(dir.to_path_buf());
    }
}

#[allow(unsafe_code)]
fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a pid we spawned; a stale pid at worst gets ESRCH.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

#[allow(unsafe_code)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    let mut status = 0;
    // SAFETY: reap the child if it exited; WNOHANG never blocks.
    let reaped = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if reaped == pid {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// A child process with its output in a log file; stopped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn start(name: &str, mut command: Command, log: &Path) -> Result<Self, ProcessError> {
        let out = File::create(log).map_err(|source| ProcessError::Log { path: log.into(), source })?;
        let err = out.try_clone().map_err(|source| ProcessError::Log { path: log.into(), source })?;
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        set_parent_death_signal(&mut command, true);
        Self::spawn(name, command, log)
    }

    /// Starts `command` in the foreground: its output goes to this terminal and a
    /// Ctrl-C reaches it directly.
    pub fn start_in_foreground(name: &str, mut command: Command) -> Result<Self, ProcessError> {
        command.stdin(Stdio::null());
        set_parent_death_signal(&mut command, false);
        Self::spawn(name, command, Path::new("/dev/null"))
    }

    fn spawn(name: &str, command: Command, log: &Path) -> Result<Self, ProcessError> {
        install_exit_hook();
        let (reply_tx, reply_rx) = mpsc::channel();
        spawner()
            .lock()
            .map_err(|_| ProcessError::SpawnerGone)?
            .send((command, reply_tx))
            .map_err(|_| ProcessError::SpawnerGone)?;
        let child = reply_rx
            .recv()
            .map_err(|_| ProcessError::SpawnerGone)?
            .map_err(|source| ProcessError::Spawn { name: name.into(), source })?;
        if let Ok(mut pids) = REGISTERED.lock() {
            pids.push(child.id());
        }
        Ok(Self { name: name.into(), child: Some(child), log: log.into() })
    }

    /// The process's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last `lines` lines of the log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the process has exited, with its status.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. The exit status, if the process
    /// was still ours to stop.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id();
        signal(pid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
        }
        let status = child.wait().ok();
        if let Ok(mut pids) = REGISTERED.lock() {
            pids.retain(|p| *p != pid);
        }
        status
    }
}

impl ServerProcess {
    /// The process id, while the process is ours.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// SIGTERM without waiting: the process drains while the caller watches it;
    /// `stop` or `exited` reap it later.
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            signal(child.id(), libc::SIGTERM);
        }
    }

    /// SIGKILL, as the kernel's OOM killer or a node failure would; waits for it.
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id();
        let _ = child.kill();
        let status = child.wait().ok();
        if let Ok(mut pids) = REGISTERED.lock() {
            pids.retain(|p| *p != pid);
        }
        status
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(5));
    }
}

/// A free TCP port on 127.0.0.1, chosen by the kernel.
/// A loopback port nothing listens on, for a server this test starts.
///
/// Picked at random below Linux's ephemeral range (32768 and up), not by binding
/// port 0: the kernel hands out ephemeral ports in sequence, so a port freed here
/// could go to the next outgoing connection of a test running beside this one
/// (seen: kube-apiserver failing with "address already in use").
pub fn free_port() -> std::io::Result<u16> {
    use std::hash::{BuildHasher, Hasher};
    // Never the same port twice in one test process: the first may not be
    // listened on yet when the second is picked.
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..200 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `port`, or the process exits.
pub fn wait_for_port(process: &mut ServerProcess, port: u16, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Some(status) = process.exited() {
            return Err(format!(
                "{} exited ({status}) before listening on port {port}; log tail:\n{}",
                process.name(),
                process.log_tail(30)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not listen on port {port} within {timeout:?}; log tail:\n{}",
                process.name(),
                process.log_tail(30)
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
