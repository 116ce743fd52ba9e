//! The Task controller: one-off runs (RunTask), attempt by attempt.

use super::status::apply_status;
use super::{Context, ReconcileError};
use crate::aws::{AwsError, ecs_task};
use crate::core::ownership::Owner;
use crate::core::task::{self as core, Conclusion, Outcome, Step};
use crate::core::task_request::{self, RUN_TAG};
use crate::crd::common::DeletionPolicy;
use crate::crd::task::{StartFailure, Task, TaskStatus};
use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "Task";

/// While a reference is missing or not Ready.
const WAITING_RETRY: Duration = Duration::from_secs(5);

/// Runs the Task controller until shutdown. Its store tells the TaskDefinition
/// controller which revisions unfinished Tasks still need.
pub async fn run(scope: &super::WatchScope, ctx: Arc<Context>, shutdown: tokio::sync::watch::Receiver<bool>) {
    let (store, stream) = super::watch::<Task>(scope, &ctx.client);
    super::report_listed(&ctx, KIND, &store);
    let _ = ctx.task_store.set(store.clone());
    super::controller_for(stream, store, &ctx)
        .graceful_shutdown_on(super::stopped(shutdown))
        .run(reconcile, move |obj, err, ctx| ctx.error_action(KIND, obj.as_ref(), err), ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(kind = KIND, error = %e, "reconcile did not succeed");
            }
        })
        .await;
}

/// Reconciles one Task object.
pub async fn reconcile(obj: Arc<Task>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    super::reconcile_with_finalizer(obj, ctx, KIND, apply, cleanup).await
}

/// Where the attempts run: recorded at the first start, so every retry (and the
/// cleanup) uses the same cluster, region and task definition.
struct Placement {
    region: String,
    cluster: String,
    task_definition: String,
}

fn recorded(status: &TaskStatus) -> Option<Placement> {
    Some(Placement {
        region: status.region.clone()?,
        cluster: status.cluster.clone()?,
        task_definition: status.task_definition_arn.clone()?,
    })
}

/// The placement of the spec's references; `Err` is a waiting state or a spec
/// that can never run.
async fn resolve(obj: &Task, ctx: &Context) -> Result<Placement, Outcome> {
    let ns = obj.namespace().unwrap_or_default();
    let spec = &obj.spec;
    let (cluster, cluster_region) =
        match super::service::resolve_cluster(ctx, &ns, spec.cluster_ref.as_ref(), spec.cluster.as_ref()).await {
            Ok(Some(found)) => found,
            Ok(None) => return Err(Outcome::Invalid("set clusterRef or cluster".into())),
            Err((reason, message)) => return Err(Outcome::Waiting(reason, message)),
        };
    let task_definition = match (&spec.task_definition_ref, &spec.task_definition) {
        (Some(r), _) => {
            let waiting = |message: String| Outcome::Waiting("WaitingForTaskDefinition".into(), message);
            let store = ctx.reference_stores.get().map(|s| &s.1);
            let Some(td) = super::service::lookup(store, &ns, &r.name).await else {
                return Err(waiting(format!("waiting for TaskDefinition {} to exist in namespace {ns}", r.name)));
            };
            let Some(arn) = td.status.as_ref().and_then(|s| s.arn.clone()) else {
                return Err(waiting(format!("waiting for TaskDefinition {} to register a revision", r.name)));
            };
            match r.revision {
                None => arn,
                Some(revision) => task_request::pinned_revision(&arn, revision).ok_or_else(|| {
                    Outcome::Invalid(format!("TaskDefinition {} has no revision ARN to pin ({arn})", r.name))
                })?,
            }
        }
        (None, Some(external)) => external.clone(),
        (None, None) => return Err(Outcome::Invalid("set taskDefinitionRef or taskDefinition".into())),
    };
    let region = ctx.aws.region_for(spec.region.as_deref().or(cluster_region.as_deref()));
    if let Some(problem) = crate::core::region::problem(&region) {
        return Err(Outcome::Invalid(problem));
    }
    Ok(Placement { region, cluster, task_definition })
}

async fn write(
    api: &Api<Task>,
    obj: &Task,
    status: TaskStatus,
    outcome: &Outcome,
) -> Result<TaskStatus, ReconcileError> {
    let status = core::with_conditions(status, &obj.spec, obj.metadata.generation, outcome, Timestamp::now());
    apply_status(api, &obj.name_any(), obj.status.as_ref(), &status).await?;
    Ok(status)
}

fn until(at: Timestamp, now: Timestamp) -> Duration {
    let wait = at.duration_since(now);
    Duration::try_from(wait).unwrap_or(Duration::ZERO).max(Duration::from_secs(1))
}

fn owner(obj: &Task, ctx: &Context) -> Owner {
    Owner::new(&obj.namespace().unwrap_or_default(), KIND, &obj.name_any(), &ctx.config.instance_id)
}

async fn apply(api: &Api<Task>, obj: &Task, ctx: &Context) -> Result<Action, ReconcileError> {
    let status = obj.status.clone().unwrap_or_default();
    let now = Timestamp::now();
    match core::step(&obj.spec, &status, now) {
        Step::Finished { delete_at } => finished(api, obj, ctx, delete_at, now).await,
        Step::StopForDeadline => stop_for_deadline(api, obj, ctx, status).await,
        Step::WaitForRetry(at) => {
            write(api, obj, status, &Outcome::Synced).await?;
            Ok(Action::requeue(until(at, now)))
        }
        Step::Start { attempt } => start(api, obj, ctx, status, attempt).await,
        Step::Track => track(api, obj, ctx, status).await,
    }
}

async fn finished(
    api: &Api<Task>,
    obj: &Task,
    ctx: &Context,
    delete_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<Action, ReconcileError> {
    match delete_at {
        Some(at) if now >= at => {
            let ttl = obj.spec.ttl_seconds_after_finished.unwrap_or_default();
            ctx.event(
                obj,
                EventType::Normal,
                "Expired",
                "Delete",
                format!("deleting: finished {ttl} s ago (ttlSecondsAfterFinished)"),
            )
            .await;
            api.delete(&obj.name_any(), &DeleteParams::background()).await?;
            Ok(Action::await_change())
        }
        Some(at) => Ok(Action::requeue(until(at, now))),
        None => Ok(Action::await_change()),
    }
}

/// The requeue after a status write: poll while tasks run, wake for a retry or
/// the TTL, else wait for a change.
fn next(obj: &Task, ctx: &Context, status: &TaskStatus) -> Action {
    let now = Timestamp::now();
    match core::step(&obj.spec, status, now) {
        Step::Finished { delete_at: Some(at) } => Action::requeue(until(at, now)),
        Step::Finished { delete_at: None } => Action::await_change(),
        Step::WaitForRetry(at) => Action::requeue(until(at, now)),
        Step::Start { .. } | Step::StopForDeadline => Action::requeue(Duration::from_secs(1)),
        Step::Track => {
            let poll = ctx.config.rollout_poll;
            match core::deadline(&obj.spec, status) {
                Some(d) => Action::requeue(poll.min(until(d, now))),
                None => Action::requeue(poll),
            }
        }
    }
}

async fn aws_error(
    api: &Api<Task>,
    obj: &Task,
    ctx: &Context,
    status: TaskStatus,
    err: AwsError,
) -> Result<Action, ReconcileError> {
    let message = err.to_string();
    if super::is_new_problem(obj, &message) {
        ctx.event(obj, EventType::Warning, "AwsError", "Reconcile", message.clone()).await;
    }
    write(api, obj, status, &Outcome::AwsRetrying(message)).await?;
    Err(err.into())
}

async fn start(
    api: &Api<Task>,
    obj: &Task,
    ctx: &Context,
    status: TaskStatus,
    attempt: i32,
) -> Result<Action, ReconcileError> {
    let placement = match recorded(&status) {
        Some(p) => p,
        None => match resolve(obj, ctx).await {
            Ok(p) => p,
            Err(outcome @ Outcome::Waiting(..)) => {
                write(api, obj, status, &outcome).await?;
                return Ok(Action::requeue(WAITING_RETRY));
            }
            Err(outcome) => {
                if let Outcome::Invalid(message) = &outcome
                    && super::is_new_problem(obj, message)
                {
                    ctx.event(obj, EventType::Warning, "InvalidSpec", "Validate", message.clone()).await;
                }
                let status = write(api, obj, status, &outcome).await?;
                return Ok(next(obj, ctx, &status));
            }
        },
    };
    let uid = obj.uid().unwrap_or_default();
    let token = core::client_token(&uid, attempt);
    let mut tags = owner(obj, ctx).tags();
    tags.insert(RUN_TAG.to_string(), token.clone());
    let request = task_request::run_request(&obj.spec, &placement.cluster, &placement.task_definition, &tags, token);
    let ecs = ctx.aws.ecs(&placement.region);
    let (tasks, failures) = match ecs_task::run_task(&ecs, &request).await {
        Ok(answer) => answer,
        Err(e) if e.is_retryable() => return aws_error(api, obj, ctx, status, e).await,
        // A request ECS refuses (a task definition that is not there, a network
        // configuration it cannot use) is an attempt that failed to start.
        Err(e) => (Vec::new(), vec![StartFailure { attempt, arn: None, reason: Some(e.to_string()), detail: None }]),
    };
    let mut started = core::record_start(&status, attempt, tasks.clone(), failures.clone(), Timestamp::now());
    started.region = Some(placement.region);
    started.cluster = Some(placement.cluster);
    started.task_definition_arn = Some(placement.task_definition.clone());
    let new = status.attempts != attempt || core::tasks_of(&status, attempt).is_empty();
    if new {
        for t in &tasks {
            let note = format!("attempt {attempt}: started task {} ({})", t.arn, placement.task_definition);
            ctx.event(obj, EventType::Normal, "Started", "RunTask", note).await;
        }
        for f in &failures {
            let why = [f.reason.as_deref(), f.detail.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(": ");
            ctx.event(obj, EventType::Warning, "FailedToStart", "RunTask", format!("attempt {attempt}: {why}")).await;
        }
    }
    if tasks.is_empty() {
        return conclude(api, obj, ctx, started).await;
    }
    let status = write(api, obj, started, &Outcome::Synced).await?;
    Ok(next(obj, ctx, &status))
}

/// Tasks ECS no longer reports (it forgets stopped tasks after about an hour)
/// count as stopped without an exit code.
fn forgotten(status: &TaskStatus, seen: &[crate::crd::task::TaskRun]) -> Vec<crate::crd::task::TaskRun> {
    core::tasks_of(status, status.attempts)
        .into_iter()
        .filter(|t| t.last_status.as_deref() != Some(core::STOPPED) && !seen.iter().any(|s| s.arn == t.arn))
        .map(|t| crate::crd::task::TaskRun {
            last_status: Some(core::STOPPED.into()),
            stopped_reason: Some("ECS no longer reports this task (DescribeTasks: MISSING)".into()),
            ..t.clone()
        })
        .collect()
}

async fn track(api: &Api<Task>, obj: &Task, ctx: &Context, status: TaskStatus) -> Result<Action, ReconcileError> {
    let Some(placement) = recorded(&status) else {
        // A status written by hand, or lost: start over from the spec.
        let status = TaskStatus { attempts: 0, ..status };
        return start(api, obj, ctx, status, 1).await;
    };
    let arns = core::running_tasks(&status);
    let mut seen = match ctx.tasks.describe(&placement.region, &placement.cluster, &arns).await {
        Ok(seen) => seen,
        Err(e) => return aws_error(api, obj, ctx, status, e).await,
    };
    seen.extend(forgotten(&status, &seen));
    let observed = core::record_observation(&status, &seen);
    for t in core::tasks_of(&observed, observed.attempts) {
        let before = status.tasks.iter().find(|b| b.arn == t.arn);
        if t.last_status.as_deref() == Some(core::STOPPED)
            && before.and_then(|b| b.last_status.as_deref()) != Some(core::STOPPED)
        {
            let (type_, note) = match core::task_failure(t) {
                None => (EventType::Normal, format!("task {} exited 0", t.arn)),
                Some(why) => (EventType::Warning, why),
            };
            ctx.event(obj, type_, "Stopped", "DescribeTasks", note).await;
        }
    }
    conclude(api, obj, ctx, observed).await
}

async fn conclude(api: &Api<Task>, obj: &Task, ctx: &Context, status: TaskStatus) -> Result<Action, ReconcileError> {
    let attempt = status.attempts;
    let (status, conclusion) = core::conclude(&obj.spec, &status, Timestamp::now());
    let outcome = match &conclusion {
        Conclusion::Running => Outcome::Synced,
        Conclusion::Completed => {
            ctx.event(
                obj,
                EventType::Normal,
                "Completed",
                "Complete",
                format!("every task of attempt {attempt} exited 0"),
            )
            .await;
            Outcome::Synced
        }
        Conclusion::Retrying { why, at } => {
            let note = format!(
                "attempt {attempt} failed: {why}; attempt {} at {at} (retry {} of backoffLimit {})",
                attempt + 1,
                status.failed,
                obj.spec.backoff_limit
            );
            ctx.event(obj, EventType::Warning, "Retrying", "Retry", note).await;
            Outcome::Synced
        }
        Conclusion::GaveUp(message) => {
            ctx.event(obj, EventType::Warning, "BackoffLimitExceeded", "Fail", message.clone()).await;
            Outcome::BackoffLimitExceeded(message.clone())
        }
    };
    let status = write(api, obj, status, &outcome).await?;
    Ok(next(obj, ctx, &status))
}

/// Stops `arns` with `reason`.
async fn stop(ctx: &Context, p: &Placement, arns: &[String], reason: &str) -> Result<(), AwsError> {
    let ecs = ctx.aws.ecs(&p.region);
    for arn in arns {
        ecs_task::stop_task(&ecs, &p.cluster, arn, reason).await?;
    }
    Ok(())
}

async fn stop_for_deadline(
    api: &Api<Task>,
    obj: &Task,
    ctx: &Context,
    status: TaskStatus,
) -> Result<Action, ReconcileError> {
    let seconds = obj.spec.active_deadline_seconds.unwrap_or_default();
    let message = format!("activeDeadlineSeconds ({seconds} s) exceeded");
    let running = core::running_tasks(&status);
    if let Some(p) = recorded(&status)
        && let Err(e) = stop(ctx, &p, &running, &message).await
    {
        return aws_error(api, obj, ctx, status, e).await;
    }
    let note = if running.is_empty() { message.clone() } else { format!("{message}: stopped {}", running.join(", ")) };
    ctx.event(obj, EventType::Warning, "DeadlineExceeded", "Fail", note).await;
    let status =
        write(api, obj, core::fail_for_deadline(&status, Timestamp::now()), &Outcome::DeadlineExceeded(message))
            .await?;
    Ok(next(obj, ctx, &status))
}

async fn cleanup(_api: &Api<Task>, obj: &Task, ctx: &Context) -> Result<Action, ReconcileError> {
    let status = obj.status.clone().unwrap_or_default();
    // Nothing ran yet, or the run finished: nothing to stop.
    let Some(p) = recorded(&status).filter(|_| !core::finished(&status)) else {
        return Ok(Action::await_change());
    };
    let ecs = ctx.aws.ecs(&p.region);
    // The tasks status records as not stopped, and any a RunTask started whose
    // answer never reached status (found by startedBy and this object's run tag).
    let mut running = core::running_tasks(&status);
    let uid = obj.uid().unwrap_or_default();
    let started_by = task_request::started_by(&obj.spec);
    for (arn, tags) in ecs_task::list_running(&ecs, &p.cluster, &started_by).await? {
        if tags.get(RUN_TAG).is_some_and(|run| run.starts_with(&uid)) && !running.contains(&arn) {
            running.push(arn);
        }
    }
    if running.is_empty() {
        return Ok(Action::await_change());
    }
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        let note = format!("left {} running (deletionPolicy: Retain)", running.join(", "));
        ctx.event(obj, EventType::Normal, "Retained", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let reason = format!("Task {}/{} was deleted", obj.namespace().unwrap_or_default(), obj.name_any());
    stop(ctx, &p, &running, &reason).await?;
    ctx.event(obj, EventType::Normal, "Stopped", "Delete", format!("stopped {} ({reason})", running.join(", "))).await;
    Ok(Action::await_change())
}
