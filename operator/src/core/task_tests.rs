use super::*;
use crate::crd::task::ContainerRun;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + seconds).unwrap()
}

fn spec(count: i32, backoff_limit: i32) -> TaskSpec {
    TaskSpec { count, backoff_limit, ..TaskSpec::default() }
}

fn task(arn: &str, last: &str, exit: Option<i32>) -> TaskRun {
    TaskRun {
        attempt: 0,
        arn: arn.into(),
        last_status: Some(last.into()),
        stop_code: (last == STOPPED).then(|| "EssentialContainerExited".to_string()),
        stopped_reason: (last == STOPPED).then(|| "Essential container in task exited".to_string()),
        containers: vec![ContainerRun {
            name: "app".into(),
            last_status: Some(last.into()),
            exit_code: exit,
            reason: None,
        }],
        ..TaskRun::default()
    }
}

fn condition<'a>(s: &'a TaskStatus, type_: &str) -> (&'a str, &'a str) {
    let c = conditions::find(&s.conditions, type_).unwrap();
    (c.status.as_str(), c.reason.as_str())
}

#[test]
fn the_client_token_is_stable_per_attempt_and_fits_run_tasks_limit() {
    let uid = "6f1c2a4e-9b7d-4c1e-8f3a-2d5b6c7e8f90";
    assert_eq!(client_token(uid, 1), client_token(uid, 1));
    assert_ne!(client_token(uid, 1), client_token(uid, 2));
    assert!(client_token(uid, 100).len() <= 64);
    assert!(client_token(&"x".repeat(80), 1).len() <= 64);
}

#[test]
fn a_task_succeeds_only_when_it_ran_and_every_exit_code_is_zero() {
    assert_eq!(task_failure(&task("arn/a", STOPPED, Some(0))), None);
    let failed = task_failure(&task("arn/a", STOPPED, Some(3))).unwrap();
    assert!(failed.contains("container app exited 3"), "{failed}");
    // Failed to start: no exit code at all.
    let mut no_pull = task("arn/b", STOPPED, None);
    no_pull.stop_code = Some("TaskFailedToStart".into());
    no_pull.stopped_reason = Some("CannotPullContainerError: pull image manifest".into());
    let why = task_failure(&no_pull).unwrap();
    assert!(why.contains("TaskFailedToStart") && why.contains("CannotPullContainerError"), "{why}");
    // Stopped by someone (exit 137 after SIGKILL).
    let mut stopped = task("arn/c", STOPPED, Some(137));
    stopped.stop_code = Some("UserInitiated".into());
    assert!(task_failure(&stopped).unwrap().contains("exited 137"));
}

#[test]
fn an_attempt_runs_until_every_task_stopped_and_needs_all_count_tasks() {
    let a = task("arn/a", STOPPED, Some(0));
    let b = task("arn/b", "RUNNING", None);
    assert_eq!(attempt_result(2, &[&a, &b], &[]), AttemptResult::Running);
    let b = task("arn/b", STOPPED, Some(0));
    assert_eq!(attempt_result(2, &[&a, &b], &[]), AttemptResult::Succeeded);
    assert_eq!(attempt_result(3, &[&a, &b], &[]), AttemptResult::Failed("2 of 3 tasks started".into()));
    let f = StartFailure { attempt: 1, arn: None, reason: Some("RESOURCE:MEMORY".into()), detail: None };
    let AttemptResult::Failed(why) = attempt_result(3, &[&a, &b], &[&f]) else { panic!() };
    assert!(why.contains("RESOURCE:MEMORY"), "{why}");
}

#[test]
fn retries_wait_ten_seconds_doubling_up_to_six_minutes() {
    let secs: Vec<i64> = (1..=8).map(|f| retry_backoff(f).as_secs()).collect();
    assert_eq!(secs, vec![10, 20, 40, 80, 160, 320, 360, 360]);
}

#[test]
fn a_new_task_starts_attempt_one_then_tracks_it() {
    let s = spec(1, 0);
    assert_eq!(step(&s, &TaskStatus::default(), at(0)), Step::Start { attempt: 1 });
    let started = record_start(&TaskStatus::default(), 1, vec![task("arn/a", "PENDING", None)], vec![], at(0));
    assert_eq!(started.attempts, 1);
    assert_eq!(started.tasks[0].attempt, 1);
    assert_eq!(started.start_time, Some(at(0).to_string()));
    assert_eq!(step(&s, &started, at(1)), Step::Track);
}

#[test]
fn success_is_complete_and_ready_and_the_ttl_deletes_it_later() {
    let s = TaskSpec { ttl_seconds_after_finished: Some(30), ..spec(1, 0) };
    let started = record_start(&TaskStatus::default(), 1, vec![task("arn/a", "RUNNING", None)], vec![], at(0));
    let stopped = record_observation(&started, &[task("arn/a", STOPPED, Some(0))]);
    let (done, conclusion) = conclude(&s, &stopped, at(5));
    assert_eq!(conclusion, Conclusion::Completed);
    let done = with_conditions(done, &s, Some(1), &Outcome::Synced, at(5));
    assert_eq!(done.phase, Some(TaskPhase::Succeeded));
    assert_eq!(condition(&done, COMPLETE), ("True", "Completed"));
    assert_eq!(condition(&done, READY), ("True", "Completed"));
    assert_eq!(condition(&done, FAILED).0, "False");
    assert_eq!(step(&s, &done, at(6)), Step::Finished { delete_at: Some(at(35)) });
}

#[test]
fn a_non_zero_exit_is_retried_up_to_the_backoff_limit_then_fails() {
    let s = spec(1, 2);
    let mut status = TaskStatus::default();
    let mut now = 0;
    for attempt in 1..=3 {
        assert_eq!(step(&s, &status, at(now)), Step::Start { attempt });
        let arn = format!("arn/t{attempt}");
        status = record_start(&status, attempt, vec![task(&arn, "RUNNING", None)], vec![], at(now));
        status = record_observation(&status, &[task(&arn, STOPPED, Some(1))]);
        let (next, conclusion) = conclude(&s, &status, at(now));
        status = next;
        match conclusion {
            Conclusion::Retrying { at: retry_at, .. } => {
                assert!(attempt < 3);
                assert_eq!(step(&s, &status, at(now)), Step::WaitForRetry(retry_at));
                let waiting = with_conditions(status.clone(), &s, Some(1), &Outcome::Synced, at(now));
                assert_eq!(condition(&waiting, READY), ("False", "BackoffWaiting"));
                now = retry_at.as_second() - at(0).as_second();
            }
            Conclusion::GaveUp(message) => {
                assert_eq!(attempt, 3);
                assert!(message.contains("backoffLimit 2"), "{message}");
                let failed =
                    with_conditions(status.clone(), &s, Some(1), &Outcome::BackoffLimitExceeded(message), at(now));
                assert_eq!(condition(&failed, FAILED), ("True", "BackoffLimitExceeded"));
                assert_eq!(condition(&failed, READY), ("False", "BackoffLimitExceeded"));
                assert_eq!(condition(&failed, COMPLETE).0, "False");
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    assert_eq!((status.attempts, status.failed), (3, 3));
    assert_eq!(status.tasks.len(), 3);
    assert!(finished(&status));
}

#[test]
fn a_run_task_that_starts_nothing_is_a_failed_attempt() {
    let s = spec(1, 0);
    let f =
        StartFailure { attempt: 0, arn: None, reason: Some("RunTask failed: ClientException".into()), detail: None };
    let status = record_start(&TaskStatus::default(), 1, vec![], vec![f], at(0));
    assert_eq!(status.start_failures[0].attempt, 1);
    let (status, conclusion) = conclude(&s, &status, at(0));
    assert!(matches!(conclusion, Conclusion::GaveUp(ref m) if m.contains("ClientException")), "{conclusion:?}");
    assert_eq!(status.phase, Some(TaskPhase::Failed));
}

#[test]
fn the_deadline_counts_from_the_first_start_and_beats_retries() {
    let s = TaskSpec { active_deadline_seconds: Some(60), ..spec(1, 5) };
    let status = record_start(&TaskStatus::default(), 1, vec![task("arn/a", "RUNNING", None)], vec![], at(0));
    assert_eq!(step(&s, &status, at(59)), Step::Track);
    assert_eq!(step(&s, &status, at(60)), Step::StopForDeadline);
    assert_eq!(running_tasks(&status), vec!["arn/a".to_string()]);
    let failed = fail_for_deadline(&status, at(60));
    let failed = with_conditions(failed, &s, Some(1), &Outcome::DeadlineExceeded("exceeded".into()), at(60));
    assert_eq!(condition(&failed, FAILED), ("True", "DeadlineExceeded"));
    assert!(matches!(step(&s, &failed, at(61)), Step::Finished { delete_at: None }));
    // Failed stays Failed on later reconciles.
    let again = with_conditions(failed, &s, Some(1), &Outcome::Synced, at(70));
    assert_eq!(condition(&again, FAILED), ("True", "DeadlineExceeded"));
}

#[test]
fn a_spec_that_cannot_run_fails_at_once() {
    let s = spec(1, 3);
    let status = with_conditions(TaskStatus::default(), &s, Some(1), &Outcome::Invalid("no such region".into()), at(0));
    assert_eq!(condition(&status, FAILED), ("True", "Invalid"));
    assert_eq!(condition(&status, SYNCED), ("False", "Invalid"));
    assert!(finished(&status));
}

#[test]
fn waiting_for_a_reference_is_pending_not_failed() {
    let s = spec(1, 0);
    let w = Outcome::Waiting("WaitingForCluster".into(), "waiting for Cluster c".into());
    let status = with_conditions(TaskStatus::default(), &s, Some(1), &w, at(0));
    assert_eq!(condition(&status, READY), ("False", "WaitingForCluster"));
    assert_eq!(condition(&status, FAILED).0, "False");
    assert_eq!(step(&s, &status, at(1)), Step::Start { attempt: 1 });
}

#[test]
fn a_repeated_start_of_the_same_attempt_replaces_its_record_and_old_attempts_are_dropped() {
    let mut status = TaskStatus::default();
    for attempt in 1..=KEPT_ATTEMPTS + 2 {
        status = record_start(&status, attempt, vec![task(&format!("arn/{attempt}"), STOPPED, Some(1))], vec![], at(0));
    }
    assert_eq!(status.tasks.len(), usize::try_from(KEPT_ATTEMPTS).unwrap());
    assert_eq!(status.tasks[0].attempt, 3);
    let again = record_start(&status, KEPT_ATTEMPTS + 2, vec![task("arn/x", "RUNNING", None)], vec![], at(1));
    assert_eq!(tasks_of(&again, KEPT_ATTEMPTS + 2).len(), 1);
    assert_eq!(again.start_time, status.start_time);
}
