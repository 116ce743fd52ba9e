//! Leader election over a Kubernetes Lease (crate kube-lease-manager), with a
//! fence: the leader stops writing before the lease could be taken by another
//! replica, even when it cannot reach the apiserver to learn that it lost it.
//!
//! The crate renews the lease `renew` seconds after each renewal, inside
//! `changed()`, and tells nothing of a renewal that worked. So the fence reads
//! the Lease itself (every 2 s): each read that shows this replica as holder
//! moves the fence to `renewTime + duration - SAFETY`. A replica that reaches its
//! fence, sees another holder, or hears from the crate that it lost the lease,
//! stops at once (the operator exits; the kubelet restarts it as a standby).

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerBuilder};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

/// Margin kept between the fence and the lease's expiry: clock skew between
/// replicas and requests already on their way.
pub const SAFETY: Duration = Duration::from_secs(2);
/// How often the fence reads the Lease.
const CONFIRM_EVERY: Duration = Duration::from_secs(2);

/// Errors of the election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("cannot set up leader election on Lease {namespace}/{name}: {source}")]
    Setup { namespace: String, name: String, source: kube_lease_manager::LeaseManagerError },
    #[error(
        "leader election needs renew ({renew} s) + {safety} s safety to be less than the lease duration ({duration} s)",
        safety = SAFETY.as_secs()
    )]
    Timing { duration: u64, renew: u64 },
    #[error("lost the lease: {0}")]
    Lost(String),
    #[error("cannot build the Kubernetes client of the election: {0}")]
    Client(#[from] kube::Error),
    #[error("cannot read the kubeconfig for the election: {0}")]
    Config(#[from] kube::config::InferConfigError),
}

/// Settings of the election.
#[derive(Debug, Clone)]
pub struct ElectionConfig {
    pub namespace: String,
    pub lease: String,
    pub identity: String,
    /// Seconds a lease lasts without renewal; a standby takes over after that.
    pub duration: u64,
    /// Seconds between renewals by the leader.
    pub renew: u64,
}

impl ElectionConfig {
    /// Checks that a renewal (and the fence's margin) fits in the lease duration.
    pub fn check(&self) -> Result<(), LeaderError> {
        if self.renew == 0 || self.renew + SAFETY.as_secs() >= self.duration {
            return Err(LeaderError::Timing { duration: self.duration, renew: self.renew });
        }
        Ok(())
    }
}

/// What a read of the Lease says about this replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseView {
    /// This replica holds it; it may write for `remaining` more (expiry minus SAFETY).
    Held { remaining: Duration },
    /// Someone else (or no one) holds it.
    NotHeld { holder: Option<String> },
}

/// Reads `lease` as seen at wall-clock time `now`.
pub fn view(lease: &Lease, identity: &str, now: SystemTime) -> LeaseView {
    let spec = lease.spec.clone().unwrap_or_default();
    if spec.holder_identity.as_deref() != Some(identity) {
        return LeaseView::NotHeld { holder: spec.holder_identity };
    }
    let (Some(renewed), Some(duration)) = (spec.renew_time, spec.lease_duration_seconds) else {
        return LeaseView::NotHeld { holder: spec.holder_identity };
    };
    let renewed =
        SystemTime::UNIX_EPOCH + Duration::from_nanos(u64::try_from(renewed.0.as_nanosecond()).unwrap_or_default());
    let expiry = renewed + Duration::from_secs(u64::try_from(duration).unwrap_or_default());
    let remaining = expiry.duration_since(now).unwrap_or_default().saturating_sub(SAFETY);
    LeaseView::Held { remaining }
}

/// A replica taking part in the election.
pub struct Elector {
    manager: Arc<LeaseManager>,
    changes: Changes,
    leases: Api<Lease>,
    client: kube::Client,
    config: ElectionConfig,
    // The task that runs the crate's `changed()`; restarted only while standing by.
    task: tokio::task::JoinHandle<()>,
}

async fn build_manager(client: &kube::Client, config: &ElectionConfig) -> Result<LeaseManager, LeaderError> {
    LeaseManagerBuilder::new(client.clone(), &config.lease)
        .with_namespace(&config.namespace)
        .with_identity(&config.identity)
        .with_duration(config.duration)
        .with_grace(config.duration - config.renew)
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .build()
        .await
        .map_err(|source| LeaderError::Setup {
            namespace: config.namespace.clone(),
            name: config.lease.clone(),
            source,
        })
}

type Changes = mpsc::Receiver<Result<bool, kube_lease_manager::LeaseManagerError>>;

// Runs the crate's `changed()` in a task of its own, so that the leader never
// cancels it midway through a renewal.
fn spawn_runner(manager: Arc<LeaseManager>) -> (Changes, tokio::task::JoinHandle<()>) {
    let (tx, changes) = mpsc::channel(8);
    let task = tokio::spawn(async move {
        loop {
            let result = manager.changed().await;
            let failed = result.is_err();
            if tx.send(result).await.is_err() {
                return;
            }
            if failed {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    (changes, task)
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A kube client for the election with short timeouts: a hung request must not
/// outlive the lease.
async fn election_client() -> Result<kube::Client, LeaderError> {
    let mut config = kube::Config::infer().await?;
    config.connect_timeout = Some(Duration::from_secs(2));
    config.read_timeout = Some(Duration::from_secs(3));
    config.write_timeout = Some(Duration::from_secs(3));
    Ok(kube::Client::try_from(config)?)
}

impl Elector {
    /// Joins the election (creating the Lease if it does not exist).
    pub async fn join(config: ElectionConfig) -> Result<Self, LeaderError> {
        config.check()?;
        let client = election_client().await?;
        let manager = build_manager(&client, &config).await?;
        let manager = Arc::new(manager);
        let (changes, task) = spawn_runner(manager.clone());
        Ok(Self { manager, changes, leases: Api::namespaced(client.clone(), &config.namespace), client, config, task })
    }

    /// Waits until this replica holds the lease, and returns the moment until
    /// which it may write (the fence), read from the Lease itself: a replica only
    /// starts writing once a read shows it as holder with time left.
    ///
    /// The crate's standby sleeps until the holder's lease would expire; a Lease
    /// released by its holder (a graceful stop) is seen by reading it every 2 s,
    /// and taken at once.
    pub async fn acquire(&mut self) -> Result<Instant, LeaderError> {
        let mut look = tokio::time::interval_at(tokio::time::Instant::now() + CONFIRM_EVERY, CONFIRM_EVERY);
        look.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The release this replica last rebuilt its manager for: one rebuild per
        // release seen, not one every 2 s while the Lease stays free.
        let mut rebuilt_for: Option<String> = None;
        loop {
            tokio::select! {
                change = self.changes.recv() => match change {
                    Some(Ok(true)) => {
                        if let Some(fence) = self.confirm_held().await {
                            return Ok(fence);
                        }
                        tracing::warn!("leader election: the crate reports the lease taken, but a read of the Lease does not confirm it yet");
                    }
                    Some(Ok(false)) => {}
                    Some(Err(e)) => tracing::warn!(error = %e, "leader election: cannot reach the Lease; retrying"),
                    None => return Err(LeaderError::Lost("the election task ended".into())),
                },
                _ = look.tick() => {
                    let Ok(lease) = self.leases.get(&self.config.lease).await else { continue };
                    match view(&lease, &self.config.identity, SystemTime::now()) {
                        LeaseView::Held { remaining } if !remaining.is_zero() => return Ok(Instant::now() + remaining),
                        LeaseView::NotHeld { holder: None } => {
                            let version = lease.metadata.resource_version.clone();
                            if rebuilt_for.is_some() && rebuilt_for == version {
                                continue;
                            }
                            // The crate's standby sleeps on what it read last; a new
                            // manager reads the Lease afresh and takes it.
                            match build_manager(&self.client, &self.config).await {
                                Ok(manager) => {
                                    self.stop_runner().await;
                                    self.manager = Arc::new(manager);
                                    (self.changes, self.task) = spawn_runner(self.manager.clone());
                                    rebuilt_for = version;
                                }
                                Err(e) => tracing::warn!(error = %e, "leader election: cannot read the released Lease"),
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    // Reads the Lease: the fence when it names this replica with time left.
    async fn confirm_held(&self) -> Option<Instant> {
        let lease = self.leases.get(&self.config.lease).await.ok()?;
        match view(&lease, &self.config.identity, SystemTime::now()) {
            LeaseView::Held { remaining } if !remaining.is_zero() => Some(Instant::now() + remaining),
            _ => None,
        }
    }

    // Stops the crate's task and waits for it, so that no renewal is in flight.
    async fn stop_runner(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Holds the lease from `fence` (as `acquire` returned it); returns (an
    /// error) as soon as this replica may no longer write: the crate says it lost
    /// the lease, a read shows another holder, or the fence passes without a
    /// confirmed renewal. The fence is checked first and bounds every read, so a
    /// hung request cannot carry the leader past it.
    pub async fn hold(&mut self, mut fence: Instant) -> LeaderError {
        let mut confirm = tokio::time::interval_at(tokio::time::Instant::now() + CONFIRM_EVERY, CONFIRM_EVERY);
        confirm.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let expired = |config: &ElectionConfig| {
            LeaderError::Lost(format!(
                "no renewal confirmed for {} s (lease {} s): stopping before another replica may take over",
                config.duration - SAFETY.as_secs(),
                config.duration
            ))
        };
        loop {
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(fence.into()) => return expired(&self.config),
                change = self.changes.recv() => match change {
                    Some(Ok(true)) => {}
                    Some(Ok(false)) => return LeaderError::Lost("another replica holds the lease".into()),
                    Some(Err(e)) => tracing::warn!(error = %e, "leader election: renewal failed; keeps leading until the fence"),
                    None => return LeaderError::Lost("the election task ended".into()),
                },
                _ = confirm.tick() => {
                    let read = tokio::time::timeout_at(fence.into(), self.leases.get(&self.config.lease)).await;
                    match read {
                        Err(_) => return expired(&self.config),
                        Ok(Ok(lease)) => match view(&lease, &self.config.identity, SystemTime::now()) {
                            LeaseView::Held { remaining } => {
                                fence = Instant::now() + remaining;
                                tracing::trace!(?remaining, "leader election: lease confirmed");
                            }
                            LeaseView::NotHeld { holder } => {
                                return LeaderError::Lost(format!("the Lease names {} as holder", holder.unwrap_or_else(|| "no one".into())));
                            }
                        },
                        Ok(Err(e)) => tracing::warn!(error = %e, "leader election: cannot read the Lease; keeps leading until the fence"),
                    }
                }
            }
        }
    }

    /// Gives the lease up (on shutdown), so that a standby takes over at once.
    /// The crate's task is stopped first: a renewal under way cannot take the
    /// lease back after the release.
    pub async fn release(&mut self) {
        self.stop_runner().await;
        if let Err(e) = self.manager.release().await {
            tracing::warn!(error = %e, "could not release the lease; a standby takes over when it expires");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use k8s_openapi::jiff::Timestamp;

    fn lease(holder: Option<&str>, renewed_at_secs: i64, duration: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: Some(MicroTime(Timestamp::from_second(renewed_at_secs).unwrap())),
                lease_duration_seconds: Some(duration),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_holder_may_write_until_the_expiry_minus_the_safety_margin() {
        let l = lease(Some("a"), 1_000, 15);
        assert_eq!(view(&l, "a", at(1_000)), LeaseView::Held { remaining: Duration::from_secs(13) });
        assert_eq!(view(&l, "a", at(1_010)), LeaseView::Held { remaining: Duration::from_secs(3) });
        assert_eq!(view(&l, "a", at(1_013)), LeaseView::Held { remaining: Duration::ZERO });
        assert_eq!(view(&l, "a", at(1_020)), LeaseView::Held { remaining: Duration::ZERO });
    }

    #[test]
    fn another_holder_or_an_empty_lease_is_not_held() {
        assert_eq!(view(&lease(Some("b"), 1_000, 15), "a", at(1_000)), LeaseView::NotHeld { holder: Some("b".into()) });
        assert_eq!(view(&lease(None, 1_000, 15), "a", at(1_000)), LeaseView::NotHeld { holder: None });
        assert_eq!(view(&Lease::default(), "a", at(1_000)), LeaseView::NotHeld { holder: None });
    }

    #[test]
    fn timing_must_leave_room_for_a_renewal_and_the_margin() {
        let config = |duration, renew| ElectionConfig {
            namespace: "ops".into(),
            lease: "ecs-operator".into(),
            identity: "a".into(),
            duration,
            renew,
        };
        assert!(config(15, 5).check().is_ok());
        assert!(config(15, 12).check().is_ok());
        assert!(config(15, 13).check().is_err());
        assert!(config(15, 0).check().is_err());
        assert!(config(2, 1).check().is_err());
    }
}
