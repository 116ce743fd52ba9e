// Status from real-shaped DescribeServices responses, every rollout stage ECS goes
// through. The bed's ECS scheduler model runs them end to end in
// tests/tests/rollouts.rs.

use super::*;
use crate::core::service::{ObservedDeployment, ObservedService};

const TD1: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:1";
const TD2: &str = "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:2";

fn at() -> Timestamp {
    Timestamp::from_second(1_760_000_000).unwrap()
}

fn deployment(id: &str, status: &str, state: &str, td: &str, desired: i32, running: i32) -> ObservedDeployment {
    ObservedDeployment {
        id: id.into(),
        status: status.into(),
        rollout_state: Some(state.into()),
        rollout_state_reason: Some(format!("ECS deployment {id} {}.", state.to_lowercase())),
        task_definition: td.into(),
        desired_count: desired,
        running_count: running,
        pending_count: desired - running,
        failed_tasks: 0,
    }
}

fn service(td: &str, desired: i32, running: i32, deployments: Vec<ObservedDeployment>) -> ObservedService {
    ObservedService {
        arn: "arn:aws:ecs:eu-west-1:123456789012:service/web/api".into(),
        name: "api".into(),
        cluster_arn: "arn:aws:ecs:eu-west-1:123456789012:cluster/web".into(),
        status: "ACTIVE".into(),
        task_definition: td.into(),
        desired_count: desired,
        running_count: running,
        pending_count: desired - running,
        deployments,
        ..Default::default()
    }
}

fn inputs(wanted: &str) -> StatusInputs<'_> {
    StatusInputs {
        generation: Some(2),
        region: "eu-west-1",
        wanted_task_definition: Some(wanted),
        autoscaling: None,
        load_balancer: None,
        last_event_time: None,
        rolled_back_from: None,
        rollback_reason: None,
        now: at(),
    }
}

fn cond<'a>(s: &'a ServiceStatus, t: &str) -> (&'a str, &'a str, &'a str) {
    let c = conditions::find(&s.conditions, t).unwrap();
    assert_eq!(c.observed_generation, Some(2), "{t} carries observedGeneration");
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

#[test]
fn completed_rollout_with_all_tasks_running_is_ready() {
    let o = service(TD2, 2, 2, vec![deployment("ecs-svc/2", "PRIMARY", "COMPLETED", TD2, 2, 2)]);
    let s = status(None, Some(&o), &Outcome::Synced, inputs(TD2));
    assert_eq!(cond(&s, READY).0, "True");
    assert_eq!(cond(&s, PROGRESSING), ("False", "RolloutComplete", "ECS deployment ecs-svc/2 completed."));
    assert_eq!(cond(&s, DEGRADED).0, "False");
    assert_eq!((s.desired_count, s.running_count, s.rollout_state.as_deref()), (Some(2), Some(2), Some("COMPLETED")));
}

#[test]
fn a_rollout_in_progress_is_progressing_not_ready() {
    let o = service(
        TD2,
        2,
        3,
        vec![
            deployment("ecs-svc/1", "ACTIVE", "COMPLETED", TD1, 2, 2),
            deployment("ecs-svc/2", "PRIMARY", "IN_PROGRESS", TD2, 2, 1),
        ],
    );
    let s = status(None, Some(&o), &Outcome::Synced, inputs(TD2));
    assert_eq!(cond(&s, READY).1, "RolloutInProgress");
    let (p, reason, message) = cond(&s, PROGRESSING);
    assert_eq!((p, reason), ("True", "RolloutInProgress"));
    assert!(message.contains("1 older deployment(s) draining"), "{message}");
    assert_eq!(s.deployments[0].status, "PRIMARY", "PRIMARY first");
}

#[test]
fn a_completed_primary_with_an_old_deployment_still_draining_is_not_ready() {
    let o = service(
        TD2,
        2,
        2,
        vec![
            deployment("ecs-svc/2", "PRIMARY", "COMPLETED", TD2, 2, 2),
            deployment("ecs-svc/1", "ACTIVE", "COMPLETED", TD1, 0, 1),
        ],
    );
    let s = status(None, Some(&o), &Outcome::Synced, inputs(TD2));
    assert_eq!(cond(&s, READY).0, "False");
    assert_eq!(cond(&s, PROGRESSING).0, "True");
}

#[test]
fn circuit_breaker_rollback_is_degraded_with_the_ecs_reason() {
    // After the breaker trips with rollback, ECS makes the last good revision the
    // PRIMARY again and marks the failed deployment FAILED.
    let mut failed = deployment("ecs-svc/2", "ACTIVE", "FAILED", TD2, 0, 0);
    failed.rollout_state_reason =
        Some("ECS deployment circuit breaker: tasks failed to start. Rolling back to deployment ecs-svc/1.".into());
    failed.failed_tasks = 4;
    let o = service(TD1, 2, 2, vec![deployment("ecs-svc/3", "PRIMARY", "IN_PROGRESS", TD1, 2, 2), failed]);
    let s = status(None, Some(&o), &Outcome::Synced, inputs(TD2));
    let (d, reason, message) = cond(&s, DEGRADED);
    assert_eq!((d, reason), ("True", "RolledBack"));
    assert!(message.contains("circuit breaker") && message.contains(TD1), "{message}");
    assert_eq!(cond(&s, READY).1, "NotOnWantedRevision");
    assert_eq!(s.deployments.iter().find(|d| d.status == "ACTIVE").unwrap().failed_tasks, 4);
}

#[test]
fn a_rollback_stays_degraded_with_the_ecs_reason_after_the_failed_deployment_left_the_list() {
    let mut failed = deployment("ecs-svc/2", "ACTIVE", "FAILED", TD2, 0, 0);
    failed.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
    let during = service(TD1, 2, 2, vec![deployment("ecs-svc/3", "PRIMARY", "IN_PROGRESS", TD1, 2, 2), failed]);
    let held = rolled_back_from(None, Some(&during), TD2);
    assert_eq!(held.as_deref(), Some(TD2), "a FAILED deployment of the wanted revision holds it");
    let first = status(
        None,
        Some(&during),
        &Outcome::Synced,
        StatusInputs { rolled_back_from: held.as_deref(), ..inputs(TD2) },
    );
    assert_eq!(first.rolled_back_task_definition_arn.as_deref(), Some(TD2));

    // ECS finished the rollback: only the PRIMARY on the old revision is listed.
    let after = service(TD1, 2, 2, vec![deployment("ecs-svc/3", "PRIMARY", "COMPLETED", TD1, 2, 2)]);
    let held = rolled_back_from(first.rolled_back_task_definition_arn.as_deref(), Some(&after), TD2);
    assert_eq!(held.as_deref(), Some(TD2), "the record keeps holding it");
    let s = status(
        Some(&first),
        Some(&after),
        &Outcome::Synced,
        StatusInputs { rolled_back_from: held.as_deref(), ..inputs(TD2) },
    );
    let (d, reason, message) = cond(&s, DEGRADED);
    assert_eq!((d, reason), ("True", "RolledBack"));
    assert!(message.contains("circuit breaker"), "ECS's words stay: {message}");
    assert_eq!(cond(&s, READY).1, "NotOnWantedRevision");

    // Found only after the fact (the failed deployment was never seen): ECS's
    // service deployment gives the reason.
    let late = status(
        None,
        Some(&after),
        &Outcome::Synced,
        StatusInputs { rolled_back_from: Some(TD2), rollback_reason: Some("tasks failed to start."), ..inputs(TD2) },
    );
    let (d, reason, message) = cond(&late, DEGRADED);
    assert_eq!((d, reason), ("True", "RolledBack"));
    assert!(message.contains("(tasks failed to start.)") && message.contains(TD1), "{message}");

    // A new revision in the spec releases the hold; so does ECS running the wanted one.
    assert_eq!(rolled_back_from(Some(TD2), Some(&after), "app:3"), None);
    let fixed = service(TD2, 2, 2, vec![deployment("ecs-svc/4", "PRIMARY", "COMPLETED", TD2, 2, 2)]);
    assert_eq!(rolled_back_from(Some(TD2), Some(&fixed), TD2), None);
    let s = status(Some(&s), Some(&fixed), &Outcome::Synced, inputs(TD2));
    assert_eq!((cond(&s, DEGRADED).0, s.rolled_back_task_definition_arn.as_deref()), ("False", None));
}

#[test]
fn a_held_rollback_sends_no_task_definition_but_everything_else() {
    use crate::core::service::{ServicePlan, ServiceUpdate, hold_task_definition};
    let update = ServiceUpdate { task_definition: Some(TD2.into()), desired_count: Some(3), ..Default::default() };
    match hold_task_definition(ServicePlan::Update(Box::new(update))) {
        ServicePlan::Update(u) => assert_eq!((u.task_definition, u.desired_count), (None, Some(3))),
        other => panic!("{other:?}"),
    }
    assert!(matches!(hold_task_definition(ServicePlan::Create), ServicePlan::Create));
}

#[test]
fn a_failed_rollout_without_rollback_is_degraded() {
    let mut failed = deployment("ecs-svc/2", "PRIMARY", "FAILED", TD2, 2, 0);
    failed.rollout_state_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
    let o = service(TD2, 2, 0, vec![failed]);
    let s = status(None, Some(&o), &Outcome::Synced, inputs(TD2));
    assert_eq!(cond(&s, DEGRADED).1, "RolloutFailed");
    assert_eq!(
        cond(&s, PROGRESSING),
        ("False", "RolloutStopped", "ECS deployment circuit breaker: tasks failed to start.")
    );
    assert_eq!(cond(&s, READY).0, "False");
}

#[test]
fn blue_green_stages_progress_until_the_bake_time_ends() {
    // Native blue/green: the green deployment is PRIMARY and IN_PROGRESS through
    // scale-up, traffic shift and bake time, with blue still ACTIVE and fully running.
    let shifting = service(
        TD2,
        2,
        4,
        vec![
            deployment("ecs-svc/green", "PRIMARY", "IN_PROGRESS", TD2, 2, 2),
            deployment("ecs-svc/blue", "ACTIVE", "COMPLETED", TD1, 2, 2),
        ],
    );
    let s = status(None, Some(&shifting), &Outcome::Synced, inputs(TD2));
    assert_eq!(cond(&s, READY).0, "False");
    assert_eq!(cond(&s, PROGRESSING).0, "True");
    // After the bake time ECS stops blue and completes green.
    let done = service(TD2, 2, 2, vec![deployment("ecs-svc/green", "PRIMARY", "COMPLETED", TD2, 2, 2)]);
    let s = status(Some(&s), Some(&done), &Outcome::Synced, inputs(TD2));
    assert_eq!(cond(&s, READY).0, "True");
    assert_eq!(cond(&s, PROGRESSING).0, "False");
}

#[test]
fn daemon_services_are_ready_when_every_instance_runs_a_task() {
    let mut o = service(TD1, 3, 3, vec![deployment("ecs-svc/d", "PRIMARY", "COMPLETED", TD1, 3, 3)]);
    o.scheduling_strategy = Some("DAEMON".into());
    assert_eq!(cond(&status(None, Some(&o), &Outcome::Synced, inputs(TD1)), READY).0, "True");
    // A new instance joined: desired 4, one task still starting.
    let o = ObservedService { desired_count: 4, running_count: 3, ..o };
    let s = status(None, Some(&o), &Outcome::Synced, inputs(TD1));
    assert_eq!(cond(&s, READY).1, "TasksNotRunning");
}

#[test]
fn deployments_without_rollout_state_are_judged_by_counts() {
    let mut d = deployment("ecs-svc/1", "PRIMARY", "COMPLETED", TD1, 2, 2);
    d.rollout_state = None;
    let o = service(TD1, 2, 2, vec![d]);
    assert_eq!(cond(&status(None, Some(&o), &Outcome::Synced, inputs(TD1)), READY).0, "True");
}

#[test]
fn autoscaling_bounds_are_respected() {
    let o = service(TD1, 12, 12, vec![deployment("ecs-svc/1", "PRIMARY", "COMPLETED", TD1, 12, 12)]);
    let mut i = inputs(TD1);
    i.autoscaling = Some((2, 10));
    let outside = status(None, Some(&o), &Outcome::Synced, i.clone());
    let (_, reason, message) = cond(&outside, READY);
    assert_eq!(reason, "OutsideAutoscalingBounds");
    assert_eq!(message, "desired count 12 is outside the autoscaling bounds (min 2, max 10)");
    i.autoscaling = Some((2, 20));
    assert_eq!(cond(&status(None, Some(&o), &Outcome::Synced, i), READY).0, "True");
}

#[test]
fn family_revision_references_match_the_arn() {
    let o = service(TD1, 1, 1, vec![deployment("ecs-svc/1", "PRIMARY", "COMPLETED", TD1, 1, 1)]);
    assert_eq!(cond(&status(None, Some(&o), &Outcome::Synced, inputs("api:1")), READY).0, "True");
}

#[test]
fn waiting_and_errors_keep_the_rollout_picture_but_are_not_ready() {
    let o = service(TD1, 2, 2, vec![deployment("ecs-svc/1", "PRIMARY", "COMPLETED", TD1, 2, 2)]);
    let s = status(None, Some(&o), &Outcome::Immutable("launchType".into()), inputs(TD1));
    assert_eq!(cond(&s, READY), ("False", "ImmutableFieldChanged", "launchType"));
    assert_eq!(cond(&s, SYNCED).1, "ImmutableFieldChanged");
    let s = status(
        None,
        None,
        &Outcome::Waiting("WaitingForCluster".into(), "Cluster web is not Ready".into()),
        inputs(TD1),
    );
    assert_eq!(cond(&s, READY), ("False", "WaitingForCluster", "Cluster web is not Ready"));
    assert_eq!(cond(&s, PROGRESSING).1, "NoService");
}
