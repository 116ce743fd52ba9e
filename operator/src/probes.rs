//! What `/readyz` and `/healthz` answer, decided from the operator's state.
//!
//! Ready: a standby replica as soon as it takes part in the election (it can
//! take over); the replica that reconciles once every watch has listed.
//! Healthy: no controller loop has stopped while the operator runs, and no
//! reconcile has been running for longer than the stuck limit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The replica's part in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Connecting to Kubernetes, waiting for the CRDs.
    Starting,
    /// Waiting for the lease; takes over when the leader goes.
    Standby,
    /// Reconciling (the leader, or the only replica without leader election).
    Reconciling,
    /// Shutting down.
    Stopping,
}

/// The state the probes read.
#[derive(Debug)]
pub struct ProbeState {
    pub role: Role,
    /// Watches that must list before the replica is ready: name → listed.
    pub watches: BTreeMap<&'static str, bool>,
    /// Reconciles under way: object key → when it started.
    pub in_flight: HashMap<String, Instant>,
    /// Controller loops that ended.
    pub stopped: Vec<&'static str>,
}

/// The answer of one probe: `Ok(text)` is HTTP 200, `Err(text)` HTTP 503.
pub type Answer = Result<String, String>;

/// `/readyz`.
pub fn readiness(state: &ProbeState) -> Answer {
    match state.role {
        Role::Starting => Err("starting: waiting for Kubernetes and the CRDs".into()),
        Role::Stopping => Err("stopping".into()),
        Role::Standby => Ok("standby: ready to take over the lease".into()),
        Role::Reconciling => {
            let waiting: Vec<&str> = state.watches.iter().filter(|(_, listed)| !**listed).map(|(n, _)| *n).collect();
            if state.watches.is_empty() {
                Err("starting the controllers".into())
            } else if waiting.is_empty() {
                Ok("ok: every watch has listed".into())
            } else {
                Err(format!("waiting for the first list of: {}", waiting.join(", ")))
            }
        }
    }
}

/// `/healthz`: fails when a controller loop stopped while the operator runs, or a
/// reconcile has been running for more than `stuck_after`.
pub fn liveness(state: &ProbeState, now: Instant, stuck_after: Duration) -> Answer {
    if state.role != Role::Stopping && !state.stopped.is_empty() {
        return Err(format!("controller loop stopped: {}", state.stopped.join(", ")));
    }
    let oldest = state
        .in_flight
        .iter()
        .map(|(key, started)| (key, now.saturating_duration_since(*started)))
        .max_by_key(|(_, running)| *running);
    match oldest {
        Some((key, running)) if running > stuck_after => Err(format!(
            "reconcile of {key} has been running for {} s (limit {} s): a controller is stuck",
            running.as_secs(),
            stuck_after.as_secs()
        )),
        _ => Ok("ok".into()),
    }
}

/// The shared probe state.
#[derive(Debug)]
pub struct Probes {
    state: Mutex<ProbeState>,
    stuck_after: Duration,
}

impl Probes {
    pub fn new(stuck_after: Duration) -> Self {
        Self {
            state: Mutex::new(ProbeState {
                role: Role::Starting,
                watches: BTreeMap::new(),
                in_flight: HashMap::new(),
                stopped: Vec::new(),
            }),
            stuck_after,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut ProbeState) -> T) -> T {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn set_role(&self, role: Role) {
        self.with(|s| s.role = role);
    }

    /// Registers a watch that must list before the replica is ready.
    pub fn expect_watch(&self, name: &'static str) {
        self.with(|s| {
            s.watches.insert(name, false);
        });
    }

    pub fn watch_listed(&self, name: &'static str) {
        self.with(|s| {
            s.watches.insert(name, true);
        });
    }

    pub fn controller_stopped(&self, name: &'static str) {
        self.with(|s| s.stopped.push(name));
    }

    /// Marks a reconcile of `key` as under way until the guard is dropped.
    pub fn reconcile_started(&self, key: String) -> InFlight<'_> {
        self.with(|s| s.in_flight.insert(key.clone(), Instant::now()));
        InFlight { probes: self, key }
    }

    pub fn readiness(&self) -> Answer {
        self.with(|s| readiness(s))
    }

    pub fn liveness(&self) -> Answer {
        self.with(|s| liveness(s, Instant::now(), self.stuck_after))
    }
}

/// A reconcile under way; dropping it (at the end or on cancellation) ends it.
#[derive(Debug)]
pub struct InFlight<'a> {
    probes: &'a Probes,
    key: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.probes.with(|s| s.in_flight.remove(&self.key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(role: Role) -> ProbeState {
        ProbeState { role, watches: BTreeMap::new(), in_flight: HashMap::new(), stopped: Vec::new() }
    }

    #[test]
    fn a_reconciling_replica_is_ready_only_once_every_watch_has_listed() {
        let mut s = state(Role::Reconciling);
        assert!(readiness(&s).is_err(), "no watch started yet");
        s.watches.insert("Service", true);
        s.watches.insert("TaskDefinition", false);
        assert_eq!(readiness(&s), Err("waiting for the first list of: TaskDefinition".into()));
        s.watches.insert("TaskDefinition", true);
        assert!(readiness(&s).is_ok());
    }

    #[test]
    fn a_standby_is_ready_and_starting_or_stopping_is_not() {
        assert!(readiness(&state(Role::Standby)).is_ok());
        assert!(readiness(&state(Role::Starting)).is_err());
        let mut stopping = state(Role::Stopping);
        stopping.watches.insert("Service", true);
        assert!(readiness(&stopping).is_err());
    }

    #[test]
    fn liveness_fails_on_a_stopped_loop_unless_the_operator_stops() {
        let now = Instant::now();
        let limit = Duration::from_secs(600);
        let mut s = state(Role::Reconciling);
        assert!(liveness(&s, now, limit).is_ok());
        s.stopped.push("Cluster");
        assert_eq!(liveness(&s, now, limit), Err("controller loop stopped: Cluster".into()));
        s.role = Role::Stopping;
        assert!(liveness(&s, now, limit).is_ok());
    }

    #[test]
    fn liveness_fails_when_a_reconcile_runs_past_the_limit() {
        let start = Instant::now();
        let limit = Duration::from_secs(600);
        let mut s = state(Role::Reconciling);
        s.in_flight.insert("Service/ns/a".into(), start);
        s.in_flight.insert("Service/ns/b".into(), start + Duration::from_secs(300));
        assert!(liveness(&s, start + Duration::from_secs(600), limit).is_ok());
        let err = liveness(&s, start + Duration::from_secs(601), limit).unwrap_err();
        assert!(err.contains("Service/ns/a") && err.contains("601 s"), "{err}");
    }

    #[test]
    fn a_finished_or_cancelled_reconcile_leaves_the_in_flight_set() {
        let probes = Probes::new(Duration::from_secs(0));
        {
            let _guard = probes.reconcile_started("Cluster/ns/a".into());
            std::thread::sleep(Duration::from_millis(5));
            assert!(probes.liveness().is_err());
        }
        assert!(probes.liveness().is_ok());
    }
}
