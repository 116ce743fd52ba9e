//! Task (one-off runs): what to do next, how an attempt ended, and status. A Task
//! runs attempts one after another; an attempt is one RunTask of `count` tasks and
//! succeeds when every task exits 0. Failed attempts are retried up to
//! `backoffLimit`; `activeDeadlineSeconds` bounds the whole run.

use super::conditions::{self, ConditionUpdate};
use crate::crd::common::condition::{READY, SYNCED};
use crate::crd::task::{StartFailure, TaskPhase, TaskRun, TaskSpec, TaskStatus};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// Condition: every task of an attempt exited 0.
pub const COMPLETE: &str = "Complete";
/// Condition: the run gave up (backoff limit, deadline, or a spec that cannot run).
pub const FAILED: &str = "Failed";

/// ECS's lastStatus of a task that has stopped.
pub const STOPPED: &str = "STOPPED";

/// Attempts whose tasks status keeps (the newest), so that a long retry history
/// does not grow the object without bound.
pub const KEPT_ATTEMPTS: i32 = 10;

/// The RunTask clientToken of `attempt` of the object with `uid`: the same for
/// every reconcile, so a RunTask repeated after a crash or a lost answer (before
/// its tasks reached status) returns the tasks the first one started instead of
/// starting more. Unique per object: a re-created object has a new uid.
pub fn client_token(uid: &str, attempt: i32) -> String {
    // A uid is 36 characters; RunTask allows 64.
    let token = format!("{uid}-{attempt}");
    token.chars().take(64).collect()
}

/// The tasks of `attempt`.
pub fn tasks_of(status: &TaskStatus, attempt: i32) -> Vec<&TaskRun> {
    status.tasks.iter().filter(|t| t.attempt == attempt).collect()
}

fn failures_of(status: &TaskStatus, attempt: i32) -> Vec<&StartFailure> {
    status.start_failures.iter().filter(|f| f.attempt == attempt).collect()
}

/// Why a stopped task did not succeed, or `None` if it did: it ran and every
/// container that reported an exit code exited 0.
pub fn task_failure(t: &TaskRun) -> Option<String> {
    let reason = t.stopped_reason.clone().unwrap_or_default();
    let code = t.stop_code.clone().unwrap_or_default();
    let nonzero: Vec<String> = t
        .containers
        .iter()
        .filter_map(|c| match c.exit_code {
            Some(0) | None => None,
            Some(code) => Some(match &c.reason {
                Some(r) => format!("container {} exited {code} ({r})", c.name),
                None => format!("container {} exited {code}", c.name),
            }),
        })
        .collect();
    let exited = t.containers.iter().any(|c| c.exit_code.is_some());
    if nonzero.is_empty() && exited && code != "TaskFailedToStart" {
        return None;
    }
    let mut why = nonzero;
    if why.is_empty() {
        why.push(match (code.as_str(), reason.as_str()) {
            ("", "") => "stopped without an exit code".to_string(),
            (c, "") => format!("stopped: {c}"),
            ("", r) => format!("stopped: {r}"),
            (c, r) => format!("stopped: {c}: {r}"),
        });
    }
    Some(format!("task {}: {}", short_id(&t.arn), why.join(", ")))
}

/// The task id at the end of a task ARN.
pub fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// How an attempt stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// Some task has not stopped yet.
    Running,
    Succeeded,
    /// Why, for the condition and the Event.
    Failed(String),
}

/// How the attempt of `tasks` and `failures` stands, `count` tasks wanted.
pub fn attempt_result(count: i32, tasks: &[&TaskRun], failures: &[&StartFailure]) -> AttemptResult {
    if tasks.iter().any(|t| t.last_status.as_deref() != Some(STOPPED)) {
        return AttemptResult::Running;
    }
    let mut why: Vec<String> = tasks.iter().filter_map(|t| task_failure(t)).collect();
    for f in failures {
        let reason = f.reason.clone().unwrap_or_else(|| "unknown reason".into());
        why.push(match &f.detail {
            Some(d) => format!("RunTask could not start a task: {reason} ({d})"),
            None => format!("RunTask could not start a task: {reason}"),
        });
    }
    if why.is_empty() && tasks.len() < usize::try_from(count).unwrap_or(0) {
        why.push(format!("{} of {count} tasks started", tasks.len()));
    }
    if why.is_empty() { AttemptResult::Succeeded } else { AttemptResult::Failed(why.join("; ")) }
}

/// The wait before attempt `failed + 1`: 10 s, doubling per failed attempt, at most
/// 6 minutes (as a Job's pod backoff).
pub fn retry_backoff(failed: i32) -> SignedDuration {
    let exponent = u32::try_from(failed.saturating_sub(1)).unwrap_or(0).min(6);
    SignedDuration::from_secs((10i64 << exponent).min(360))
}

/// A time as status shows it: RFC 3339 in whole seconds, as Kubernetes writes times.
fn rfc3339(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second()).unwrap_or(t).to_string()
}

fn parse(time: Option<&String>) -> Option<Timestamp> {
    time.and_then(|t| t.parse().ok())
}

/// The next step of a reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start (or, after a crash, re-request with the same clientToken) `attempt`.
    Start { attempt: i32 },
    /// Read the tasks of the current attempt.
    Track,
    /// A failed attempt is retried at this time.
    WaitForRetry(Timestamp),
    /// The deadline passed while tasks may run: stop them, then fail.
    StopForDeadline,
    /// Complete or Failed; the object is deleted at this time (ttlSecondsAfterFinished).
    Finished { delete_at: Option<Timestamp> },
}

/// Whether the Task has finished (Complete or Failed).
pub fn finished(status: &TaskStatus) -> bool {
    matches!(status.phase, Some(TaskPhase::Succeeded | TaskPhase::Failed))
}

/// When `activeDeadlineSeconds` runs out, counted from the first start.
pub fn deadline(spec: &TaskSpec, status: &TaskStatus) -> Option<Timestamp> {
    let seconds = spec.active_deadline_seconds?;
    parse(status.start_time.as_ref())?.checked_add(SignedDuration::from_secs(seconds)).ok()
}

/// What to do now.
pub fn step(spec: &TaskSpec, status: &TaskStatus, now: Timestamp) -> Step {
    if finished(status) {
        let delete_at = spec
            .ttl_seconds_after_finished
            .and_then(|ttl| parse(status.completion_time.as_ref())?.checked_add(SignedDuration::from_secs(ttl)).ok());
        return Step::Finished { delete_at };
    }
    if deadline(spec, status).is_some_and(|d| now >= d) {
        return Step::StopForDeadline;
    }
    let current = status.attempts;
    let started = current > 0 && (!tasks_of(status, current).is_empty() || !failures_of(status, current).is_empty());
    if current == 0 || (!started && status.next_attempt_time.is_none()) {
        // Nothing recorded for the current attempt: start it (the same clientToken
        // finds tasks a crashed reconcile started).
        return Step::Start { attempt: current.max(1) };
    }
    if let Some(at) = parse(status.next_attempt_time.as_ref()) {
        return if now >= at { Step::Start { attempt: current + 1 } } else { Step::WaitForRetry(at) };
    }
    Step::Track
}

/// Status after RunTask of `attempt` answered: its tasks and failures recorded,
/// older attempts beyond `KEPT_ATTEMPTS` dropped.
pub fn record_start(
    status: &TaskStatus,
    attempt: i32,
    tasks: Vec<TaskRun>,
    failures: Vec<StartFailure>,
    now: Timestamp,
) -> TaskStatus {
    let mut next = status.clone();
    next.attempts = attempt;
    next.next_attempt_time = None;
    next.phase = Some(TaskPhase::Running);
    next.start_time.get_or_insert_with(|| rfc3339(now));
    next.tasks.retain(|t| t.attempt != attempt && t.attempt > attempt - KEPT_ATTEMPTS);
    next.tasks.extend(tasks.into_iter().map(|t| TaskRun { attempt, ..t }));
    next.start_failures.retain(|f| f.attempt != attempt && f.attempt > attempt - KEPT_ATTEMPTS);
    next.start_failures.extend(failures.into_iter().map(|f| StartFailure { attempt, ..f }));
    next
}

/// Status with the tasks DescribeTasks reported; tasks it did not report keep
/// their last record.
pub fn record_observation(status: &TaskStatus, observed: &[TaskRun]) -> TaskStatus {
    let mut next = status.clone();
    for t in next.tasks.iter_mut() {
        if let Some(seen) = observed.iter().find(|o| o.arn == t.arn) {
            *t = TaskRun { attempt: t.attempt, ..seen.clone() };
        }
    }
    next
}

/// What concluding the current attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conclusion {
    /// Still running.
    Running,
    /// Every task exited 0: Complete.
    Completed,
    /// Failed; retried at this time.
    Retrying { why: String, at: Timestamp },
    /// Failed with no retry left: Failed (BackoffLimitExceeded).
    GaveUp(String),
}

/// Status after the current attempt's tasks were observed: Complete, a retry, the
/// end of retries, or unchanged while running.
pub fn conclude(spec: &TaskSpec, status: &TaskStatus, now: Timestamp) -> (TaskStatus, Conclusion) {
    let attempt = status.attempts;
    let result = attempt_result(spec.count, &tasks_of(status, attempt), &failures_of(status, attempt));
    let mut next = status.clone();
    match result {
        AttemptResult::Running => (next, Conclusion::Running),
        AttemptResult::Succeeded => {
            next.phase = Some(TaskPhase::Succeeded);
            next.completion_time = Some(rfc3339(now));
            (next, Conclusion::Completed)
        }
        AttemptResult::Failed(why) => {
            next.failed += 1;
            next.last_failure = Some(why.clone());
            if next.failed > spec.backoff_limit {
                next.phase = Some(TaskPhase::Failed);
                next.completion_time = Some(rfc3339(now));
                let message = format!(
                    "attempt {attempt} failed ({why}); backoffLimit {} reached after {} failed attempt(s)",
                    spec.backoff_limit, next.failed
                );
                (next, Conclusion::GaveUp(message))
            } else {
                let at = now.checked_add(retry_backoff(next.failed)).unwrap_or(now);
                next.next_attempt_time = Some(rfc3339(at));
                (next, Conclusion::Retrying { why, at })
            }
        }
    }
}

/// Status once the deadline stopped the run.
pub fn fail_for_deadline(status: &TaskStatus, now: Timestamp) -> TaskStatus {
    let mut next = status.clone();
    next.phase = Some(TaskPhase::Failed);
    next.completion_time = Some(rfc3339(now));
    next.next_attempt_time = None;
    next
}

/// The tasks of the current attempt that have not stopped.
pub fn running_tasks(status: &TaskStatus) -> Vec<String> {
    tasks_of(status, status.attempts)
        .into_iter()
        .filter(|t| t.last_status.as_deref() != Some(STOPPED))
        .map(|t| t.arn.clone())
        .collect()
}

/// The reconcile's outcome, for the Synced condition (and Failed when the spec
/// can never run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Synced,
    /// A reference is missing or not Ready: (reason, message).
    Waiting(String, String),
    /// The spec cannot run (it cannot change either): the Task fails.
    Invalid(String),
    /// An AWS error that is retried.
    AwsRetrying(String),
    /// The run was stopped by its deadline.
    DeadlineExceeded(String),
    /// The last attempt failed with no retry left.
    BackoffLimitExceeded(String),
}

/// The status with its conditions: Complete, Failed and Ready follow the phase;
/// Synced the reconcile.
pub fn with_conditions(
    status: TaskStatus,
    spec: &TaskSpec,
    generation: Option<i64>,
    outcome: &Outcome,
    now: Timestamp,
) -> TaskStatus {
    let mut next = status;
    next.observed_generation = generation;
    let mut set = |type_: &str, ok: bool, reason: &str, message: String| {
        conditions::set(&mut next.conditions, ConditionUpdate { type_, status: ok, reason, message }, generation, now)
    };
    let (synced, synced_reason, synced_message) = match outcome {
        Outcome::Synced | Outcome::DeadlineExceeded(_) | Outcome::BackoffLimitExceeded(_) => {
            (true, "Synced", String::new())
        }
        Outcome::Waiting(reason, message) => (true, reason.as_str(), message.clone()),
        Outcome::Invalid(message) => (false, "Invalid", message.clone()),
        Outcome::AwsRetrying(message) => (false, "AwsRetrying", message.clone()),
    };
    set(SYNCED, synced, synced_reason, synced_message);
    // Failed is sticky: once the run gave up, a later reconcile only repeats it.
    let failed_before = conditions::find(&next.conditions, FAILED).filter(|c| c.status == "True").cloned();
    let failure = match outcome {
        Outcome::Invalid(m) => Some(("Invalid", m.clone())),
        Outcome::DeadlineExceeded(m) => Some(("DeadlineExceeded", m.clone())),
        Outcome::BackoffLimitExceeded(m) => Some(("BackoffLimitExceeded", m.clone())),
        _ => None,
    };
    if matches!(outcome, Outcome::Invalid(_)) {
        next.phase = Some(TaskPhase::Failed);
        next.completion_time.get_or_insert_with(|| rfc3339(now));
    }
    let phase = next.phase.unwrap_or(TaskPhase::Pending);
    let attempts = next.attempts;
    let running = running_tasks(&next).len();
    let retry = next.next_attempt_time.clone().map(|at| {
        let why = next.last_failure.clone().unwrap_or_default();
        format!("attempt {attempts} failed: {why}; retry {} of {} at {at}", next.failed, spec.backoff_limit)
    });
    let mut set = |type_: &str, ok: bool, reason: &str, message: String| {
        conditions::set(&mut next.conditions, ConditionUpdate { type_, status: ok, reason, message }, generation, now)
    };
    match (phase, failure, failed_before) {
        (TaskPhase::Succeeded, _, _) => {
            let message = format!("every task of attempt {attempts} exited 0");
            set(COMPLETE, true, "Completed", message.clone());
            set(FAILED, false, "Completed", String::new());
            set(READY, true, "Completed", message);
        }
        (TaskPhase::Failed, Some((reason, message)), _) => {
            set(COMPLETE, false, reason, String::new());
            set(FAILED, true, reason, message.clone());
            set(READY, false, reason, message);
        }
        (TaskPhase::Failed, None, Some(before)) => {
            set(COMPLETE, false, &before.reason, String::new());
            set(READY, false, &before.reason, before.message.clone());
        }
        (TaskPhase::Failed, None, None) => {
            set(COMPLETE, false, "Failed", String::new());
            set(FAILED, true, "Failed", "the run failed".into());
            set(READY, false, "Failed", "the run failed".into());
        }
        (TaskPhase::Running | TaskPhase::Pending, _, _) => {
            let (reason, message) = match (phase, outcome) {
                (_, Outcome::Waiting(reason, message)) => (reason.clone(), message.clone()),
                (TaskPhase::Running, _) if retry.is_some() => {
                    ("BackoffWaiting".to_string(), retry.clone().unwrap_or_default())
                }
                (TaskPhase::Running, _) => {
                    ("Running".to_string(), format!("attempt {attempts}: {running} task(s) not stopped yet"))
                }
                _ => ("Pending".to_string(), "not started yet".to_string()),
            };
            set(COMPLETE, false, &reason, String::new());
            set(FAILED, false, &reason, String::new());
            set(READY, false, &reason, message);
        }
    }
    next
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
