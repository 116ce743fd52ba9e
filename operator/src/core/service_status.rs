//! Service status and conditions from what ECS reports. `Ready` means the rollout
//! finished: the PRIMARY deployment COMPLETED, it runs the wanted task definition,
//! no older deployment is still draining, and running equals desired.

use super::conditions::{self, ConditionUpdate};
use super::service::{ObservedService, task_definition_matches};
use crate::crd::common::condition::{DEGRADED, PROGRESSING, READY, SYNCED};
use crate::crd::service::{DeploymentStatus, LoadBalancerStatus, ServiceStatus};
use k8s_openapi::jiff::Timestamp;

/// How the last reconcile ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Synced,
    /// Waiting for a reference: (reason, message).
    Waiting(String, String),
    Invalid(String),
    Conflict(String),
    Immutable(String),
    /// AWS refused the request; retrying the same spec cannot help.
    AwsError(String),
    /// AWS failed in a way that retrying may fix (throttling, a server error).
    AwsRetrying(String),
    Deleting(String),
}

/// Inputs of the status computation besides the observed service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusInputs<'a> {
    pub generation: Option<i64>,
    pub region: &'a str,
    pub wanted_task_definition: Option<&'a str>,
    /// Autoscaling bounds, when enabled.
    pub autoscaling: Option<(i32, i32)>,
    pub load_balancer: Option<LoadBalancerStatus>,
    pub last_event_time: Option<String>,
    /// The wanted task definition ECS rolled back from (see `rolled_back_from`).
    pub rolled_back_from: Option<&'a str>,
    /// Why ECS rolled back, when its service deployment says.
    pub rollback_reason: Option<&'a str>,
    pub now: Timestamp,
}

/// The wanted task definition when ECS rolled back from it: its deployment is
/// listed as FAILED now, or a previous reconcile saw that (`previously`), and ECS
/// runs another revision. Deploying it again would fail and roll back again, in a
/// loop: the operator holds it until the spec wants another revision.
pub fn rolled_back_from(previously: Option<&str>, observed: Option<&ObservedService>, wanted: &str) -> Option<String> {
    let o = observed.filter(|o| o.exists())?;
    if task_definition_matches(&o.task_definition, wanted) {
        return None;
    }
    let failed_now = o
        .deployments
        .iter()
        .any(|d| d.rollout_state.as_deref() == Some("FAILED") && task_definition_matches(&d.task_definition, wanted));
    let failed_before = previously.is_some_and(|p| p == wanted);
    (failed_now || failed_before).then(|| wanted.to_string())
}

fn deployments(o: &ObservedService) -> Vec<DeploymentStatus> {
    let mut list: Vec<DeploymentStatus> = o
        .deployments
        .iter()
        .map(|d| DeploymentStatus {
            id: d.id.clone(),
            status: d.status.clone(),
            rollout_state: d.rollout_state.clone(),
            rollout_state_reason: d.rollout_state_reason.clone(),
            task_definition: d.task_definition.clone(),
            desired_count: d.desired_count,
            running_count: d.running_count,
            pending_count: d.pending_count,
            failed_tasks: d.failed_tasks,
        })
        .collect();
    list.sort_by_key(|d| d.status != "PRIMARY");
    list
}

/// The rollout picture: (ready, progressing, degraded) as condition updates.
fn rollout<'a>(o: &ObservedService, inputs: &StatusInputs<'_>) -> [ConditionUpdate<'a>; 3] {
    let primary = o.deployments.iter().find(|d| d.status == "PRIMARY");
    let others_active = o.deployments.iter().filter(|d| d.status == "ACTIVE").count();
    let failed = o.deployments.iter().find(|d| d.rollout_state.as_deref() == Some("FAILED"));
    let runs_wanted = inputs.wanted_task_definition.is_none_or(|w| task_definition_matches(&o.task_definition, w));

    let degraded = match (failed, runs_wanted) {
        (Some(f), false) => ConditionUpdate {
            type_: DEGRADED,
            status: true,
            reason: "RolledBack",
            message: format!(
                "deployment {} failed and ECS rolled back to {}: {}",
                f.id,
                o.task_definition,
                f.rollout_state_reason.as_deref().unwrap_or("no reason given")
            ),
        },
        (Some(f), true) => ConditionUpdate {
            type_: DEGRADED,
            status: true,
            reason: "RolloutFailed",
            message: format!(
                "deployment {} failed: {}",
                f.id,
                f.rollout_state_reason.as_deref().unwrap_or("no reason given")
            ),
        },
        (None, _) => match inputs.rolled_back_from {
            // The failed deployment has left ECS's list; the rollback stands.
            Some(td) => ConditionUpdate {
                type_: DEGRADED,
                status: true,
                reason: "RolledBack",
                message: format!(
                    "the deployment of {td} failed{} and ECS rolled back to {}; apply a new TaskDefinition revision \
                     to deploy again",
                    inputs.rollback_reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                    o.task_definition
                ),
            },
            None => ConditionUpdate {
                type_: DEGRADED,
                status: false,
                reason: "Healthy",
                message: "no failed deployment".into(),
            },
        },
    };

    let in_bounds = inputs.autoscaling.is_none_or(|(min, max)| o.desired_count >= min && o.desired_count <= max);
    let counts = format!("{} of {} tasks running", o.running_count, o.desired_count);
    let (ready, progressing) = match primary {
        None => (
            ConditionUpdate {
                type_: READY,
                status: false,
                reason: "NoDeployment",
                message: "ECS reports no PRIMARY deployment".into(),
            },
            ConditionUpdate {
                type_: PROGRESSING,
                status: false,
                reason: "NoDeployment",
                message: "no deployment".into(),
            },
        ),
        Some(p) => {
            let completed = match p.rollout_state.as_deref() {
                Some(state) => state == "COMPLETED",
                // Services without rollout tracking: done when nothing else runs.
                None => others_active == 0 && p.running_count == p.desired_count,
            };
            let in_progress = !completed && p.rollout_state.as_deref() != Some("FAILED") || others_active > 0;
            let progressing = if in_progress {
                ConditionUpdate {
                    type_: PROGRESSING,
                    status: true,
                    reason: "RolloutInProgress",
                    message: format!(
                        "deployment {} ({}): {counts}{}",
                        p.id,
                        p.rollout_state.as_deref().unwrap_or("unknown state"),
                        if others_active > 0 {
                            format!(", {others_active} older deployment(s) draining")
                        } else {
                            String::new()
                        }
                    ),
                }
            } else {
                ConditionUpdate {
                    type_: PROGRESSING,
                    status: false,
                    reason: if completed { "RolloutComplete" } else { "RolloutStopped" },
                    message: p.rollout_state_reason.clone().unwrap_or_else(|| format!("deployment {}", p.id)),
                }
            };
            let ready = if !runs_wanted {
                ConditionUpdate {
                    type_: READY,
                    status: false,
                    reason: "NotOnWantedRevision",
                    message: format!(
                        "ECS runs {} instead of {}",
                        o.task_definition,
                        inputs.wanted_task_definition.unwrap_or("?")
                    ),
                }
            } else if !completed || others_active > 0 {
                ConditionUpdate {
                    type_: READY,
                    status: false,
                    reason: "RolloutInProgress",
                    message: progressing.message.clone(),
                }
            } else if o.running_count != o.desired_count {
                ConditionUpdate { type_: READY, status: false, reason: "TasksNotRunning", message: counts.clone() }
            } else if !in_bounds {
                ConditionUpdate {
                    type_: READY,
                    status: false,
                    reason: "OutsideAutoscalingBounds",
                    message: {
                        let (min, max) = inputs.autoscaling.unwrap_or_default();
                        format!(
                            "desired count {} is outside the autoscaling bounds (min {min}, max {max})",
                            o.desired_count
                        )
                    },
                }
            } else {
                ConditionUpdate {
                    type_: READY,
                    status: true,
                    reason: "RolloutComplete",
                    message: format!("deployment {} completed: {counts}", p.id),
                }
            };
            (ready, progressing)
        }
    };
    [ready, progressing, degraded]
}

/// The status to write after a reconcile.
pub fn status(
    previous: Option<&ServiceStatus>,
    observed: Option<&ObservedService>,
    outcome: &Outcome,
    inputs: StatusInputs<'_>,
) -> ServiceStatus {
    let mut status = previous.cloned().unwrap_or_default();
    let generation = inputs.generation;
    let now = inputs.now;
    status.observed_generation = generation;
    status.region = Some(inputs.region.to_string());
    if let Some(td) = inputs.wanted_task_definition {
        status.task_definition_arn = Some(td.to_string());
    }
    if inputs.load_balancer.is_some() {
        status.load_balancer = inputs.load_balancer.clone();
    }
    if inputs.last_event_time.is_some() {
        status.last_event_time = inputs.last_event_time.clone();
    }
    let observed = observed.filter(|o| o.exists());
    if let Some(o) = observed {
        status.arn = Some(o.arn.clone());
        status.cluster_arn = Some(o.cluster_arn.clone());
        status.ecs_status = Some(o.status.clone());
        status.desired_count = Some(o.desired_count);
        status.running_count = Some(o.running_count);
        status.pending_count = Some(o.pending_count);
        status.deployments = deployments(o);
        status.rollout_state = status.deployments.first().and_then(|d| d.rollout_state.clone());
    }
    let (synced, reason, message) = match outcome {
        Outcome::Synced => (true, "Synced", "the ECS service matches the spec".to_string()),
        Outcome::Waiting(r, m) => (false, r.as_str(), m.clone()),
        Outcome::Invalid(m) => (false, "Invalid", m.clone()),
        Outcome::Conflict(m) => (false, "Conflict", m.clone()),
        Outcome::Immutable(m) => (false, "ImmutableFieldChanged", m.clone()),
        Outcome::AwsError(m) => (false, "AwsError", m.clone()),
        Outcome::AwsRetrying(m) => (false, "AwsRetrying", m.clone()),
        Outcome::Deleting(m) => (false, "Deleting", m.clone()),
    };
    status.rolled_back_task_definition_arn = inputs.rolled_back_from.map(str::to_string);
    let previous_rollback = previous
        .and_then(|p| conditions::find(&p.conditions, DEGRADED))
        .filter(|c| c.status == "True" && c.reason == "RolledBack")
        .map(|c| c.message.clone());
    let set = |c: &mut Vec<_>, mut u: ConditionUpdate<'_>| {
        // ECS's own words stay once its failed deployment has left the list.
        if let (true, "RolledBack", Some(before)) = (u.status, u.reason, previous_rollback.as_ref())
            && inputs.rolled_back_from.is_some()
            && !observed.is_some_and(|o| o.deployments.iter().any(|d| d.rollout_state.as_deref() == Some("FAILED")))
        {
            u.message.clone_from(before);
        }
        conditions::set(c, u, generation, now)
    };
    set(&mut status.conditions, ConditionUpdate { type_: SYNCED, status: synced, reason, message: message.clone() });
    match (observed, outcome) {
        (Some(o), Outcome::Synced) => {
            for update in rollout(o, &inputs) {
                set(&mut status.conditions, update);
            }
        }
        (Some(o), _) => {
            // The service runs, but the spec is not applied: report the rollout as
            // ECS sees it, and Ready false with the reason.
            let [_, progressing, degraded] = rollout(o, &inputs);
            set(&mut status.conditions, progressing);
            set(&mut status.conditions, degraded);
            set(&mut status.conditions, ConditionUpdate { type_: READY, status: false, reason, message });
        }
        (None, _) => {
            set(&mut status.conditions, ConditionUpdate { type_: READY, status: false, reason, message });
            set(
                &mut status.conditions,
                ConditionUpdate {
                    type_: PROGRESSING,
                    status: false,
                    reason: "NoService",
                    message: "the ECS service does not exist".into(),
                },
            );
            set(
                &mut status.conditions,
                ConditionUpdate {
                    type_: DEGRADED,
                    status: false,
                    reason: "NoService",
                    message: "the ECS service does not exist".into(),
                },
            );
        }
    }
    status
}

#[cfg(test)]
#[path = "service_status_tests.rs"]
mod tests;
