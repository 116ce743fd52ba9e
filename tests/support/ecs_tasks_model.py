"""The test bed's model of standalone ECS tasks (RunTask), pure: no moto, no clock.

moto stores the tasks RunTask starts but runs nothing: a task is RUNNING at once, each
DescribeTasks moves it one status on (DEACTIVATING, STOPPING, DEPROVISIONING, STOPPED)
while its desiredStatus stays RUNNING, its containers stay PENDING with exit code 0, no
task has a stopCode, a clientToken is ignored and a placement failure is an error
instead of a `failures` entry. This module is the task lifecycle ECS documents, as a
state machine over the scheduler steps of ecs_model.py; ecs_tasks_moto.py installs it
into moto's backend. It is bed code: the operator never knows it exists.

Time: the caller passes `now`; a task takes a step every `pace` seconds
(ECS_BED_STEP_SECONDS) from its creation. RunTask makes it PENDING; at its first step it
is RUNNING (or STOPPED, if its image cannot be pulled or its container exits at once);
it stays RUNNING for its run time, then its essential container exits and it is
STOPPED. A StopTask takes effect at the task's next step.

Bed conventions (not ECS behaviour), read from each container's image and its effective
command (the containerOverrides' command if the request gives one, else the task
definition's):
- `bed-run-seconds=N` in the command: the container runs N seconds, rounded up to
  whole steps (0: it exits in the step it starts); without it, RUN_STEPS_DEFAULT steps;
- `bed-exit-code=N` in the command: it exits with N (0-255, taken modulo 256); without
  it, 0;
- an image tag starting with "bed-fail": the container exits as soon as it starts,
  with exit code 1 unless the command says otherwise;
- an image tag starting with "bed-nopull": the image cannot be pulled, the task never
  starts.

References (the rule each one backs is cited where it is implemented):
- [API-RunTask] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html
- [API-StopTask] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_StopTask.html
- [API-DescribeTasks] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html
- [API-ListTasks] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html
- [API-DeleteCluster] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteCluster.html
- [API-Task] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Task.html
- [API-Container] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Container.html
- [API-Failure] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Failure.html
- [API-AwsVpcConfiguration] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AwsVpcConfiguration.html
- [API-Idempotency] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html
- [DG-lifecycle] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html
- [DG-stop-codes] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html
- [DG-api-failures] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/api_failures_messages.html
- [DG-td-states] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-definition-state.html
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, Iterable

RUN_STEPS_DEFAULT = 2
RUN_TOKEN = re.compile(r"(?<![\w-])bed-run-seconds=(\d+)")
EXIT_TOKEN = re.compile(r"(?<![\w-])bed-exit-code=(\d+)")
FAILING_IMAGE_TAG = "bed-fail"
FAILING_EXIT_CODE = 1
NOPULL_IMAGE_TAG = "bed-nopull"

# [API-StopTask]: "the equivalent of docker stop": SIGTERM, then SIGKILL after 30 s.
# The bed's containers ignore SIGTERM (a process that is PID 1 without a handler does),
# so a container that was running when its task is stopped exits with 128 + 9.
KILLED_EXIT_CODE = 137

# [DG-stop-codes] and [API-Task: stopCode].
ESSENTIAL_EXITED = "EssentialContainerExited"
ESSENTIAL_EXITED_REASON = "Essential container in task exited"
FAILED_TO_START = "TaskFailedToStart"
USER_INITIATED = "UserInitiated"
USER_STOPPED_REASON = "Task stopped by user"  # the bed's words when StopTask gives no reason

# [API-Idempotency]: a RunTask client token lives 24 hours, per cluster.
TOKEN_TTL_SECONDS = 24 * 3600


def _at(t: float | None) -> datetime.datetime | None:
    return None if t is None else datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)


def image_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1].split("@", 1)[0]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def effective_command(definition: dict[str, Any], overrides: dict[str, Any] | None) -> list[str]:
    """[API-RunTask: overrides]: a container override's command replaces the task
    definition container's command."""
    for override in (overrides or {}).get("containerOverrides") or []:
        if override.get("name") == definition.get("name") and override.get("command") is not None:
            return list(override["command"])
    return list(definition.get("command") or [])


def pull_error(image: str) -> str:
    return (
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        f"failed to resolve ref {image}: {image}: not found"
    )


class ContainerRun:
    """One container of a task, as [API-Container] describes it."""

    def __init__(self, definition: dict[str, Any], overrides: dict[str, Any] | None, pace: float, static: dict[str, Any]):
        self.name = str(definition.get("name", ""))
        self.image = str(definition.get("image", ""))
        self.essential = definition.get("essential", True) is not False
        tag = image_tag(self.image)
        self.pull_fails = tag.startswith(NOPULL_IMAGE_TAG)
        text = " ".join(effective_command(definition, overrides))
        run, code = RUN_TOKEN.search(text), EXIT_TOKEN.search(text)
        if tag.startswith(FAILING_IMAGE_TAG):
            self.run_steps, self.planned_exit = 0, FAILING_EXIT_CODE
        elif run:
            self.run_steps, self.planned_exit = math.ceil(int(run.group(1)) / pace - 1e-9), 0
        else:
            self.run_steps, self.planned_exit = RUN_STEPS_DEFAULT, 0
        if code:
            self.planned_exit = int(code.group(1)) % 256
        self.static = static
        self.last_status = "PENDING"
        self.exit_code: int | None = None
        self.reason: str | None = None
        self.exit_step: int | None = None

    def stop(self, exit_code: int | None, reason: str | None = None) -> None:
        self.last_status = "STOPPED"
        self.exit_code = exit_code
        self.reason = reason or self.reason

    def to_api(self) -> dict[str, Any]:
        out = dict(self.static)
        out.update({"name": self.name, "image": self.image, "lastStatus": self.last_status, "healthStatus": "UNKNOWN"})
        if self.exit_code is not None:
            out["exitCode"] = self.exit_code
        if self.reason:
            out["reason"] = self.reason
        return out


class TaskRun:
    """One standalone task: [DG-lifecycle] PENDING -> RUNNING -> STOPPED, in steps."""

    def __init__(self, arn: str, cluster: str, containers: list[ContainerRun], now: float, pace: float, **labels: Any):
        self.arn = arn
        self.cluster = cluster
        self.containers = containers
        self.pace = pace
        self.next_step = now + pace
        self.steps = 0
        self.version = 1
        self.last_status = "PENDING"
        self.desired_status = "RUNNING"
        self.stop_requested = False
        self.stop_code: str | None = None
        self.stopped_reason: str | None = None
        self.created_at = now
        self.pull_started_at: float | None = None
        self.pull_stopped_at: float | None = None
        self.started_at: float | None = None
        self.stopping_at: float | None = None
        self.stopped_at: float | None = None
        # What ListTasks filters on: startedBy, family, launchType, containerInstanceArn, group.
        self.started_by = labels.get("started_by") or ""
        self.family = labels.get("family") or ""
        self.launch_type = labels.get("launch_type") or ""
        self.container_instance = labels.get("container_instance") or ""
        self.group = labels.get("group") or ""

    @property
    def stopped(self) -> bool:
        return self.last_status == "STOPPED"

    def request_stop(self, reason: str | None, now: float) -> bool:
        """[API-StopTask]: the task's desired status is STOPPED at once, with stopCode
        UserInitiated and the caller's reason; it stops at its next step. A task that
        stopped or is already stopping is left as it is. True if this call stops it."""
        if self.stopped or self.desired_status == "STOPPED":
            return False
        self.stop_requested = True
        self.desired_status = "STOPPED"
        self.stop_code = USER_INITIATED
        self.stopped_reason = reason or USER_STOPPED_REASON
        self.stopping_at = now
        self.version += 1
        return True

    def advance(self, now: float) -> bool:
        """Runs the steps that are due; True if the task stopped in them."""
        was = self.stopped
        while self.next_step <= now and not self.stopped:
            self.step(self.next_step)
            self.next_step += self.pace
        return self.stopped and not was

    def step(self, t: float) -> None:
        self.steps += 1
        if self.stopped:
            return
        if self.last_status == "PENDING":
            if self.stop_requested:
                self._finish(t)
                return
            self.pull_started_at = t
            failing = next((c for c in self.containers if c.pull_fails), None)
            if failing is not None:
                # [DG-stop-codes]: TaskFailedToStart, "CannotPullContainerError: ...";
                # the container never ran, so it has no exit code.
                failing.reason = pull_error(failing.image)
                self._finish(t, FAILED_TO_START, failing.reason)
                return
            self.pull_stopped_at = t
            self.started_at = t
            self.last_status = "RUNNING"
            self.version += 1
            for c in self.containers:
                c.last_status = "RUNNING"
                c.exit_step = self.steps + c.run_steps
        if self.stop_requested:
            self._finish(t)
            return
        for c in self.containers:
            if c.last_status == "RUNNING" and c.exit_step is not None and c.exit_step <= self.steps:
                c.stop(c.planned_exit)
                self.version += 1
        # [DG-stop-codes]: EssentialContainerExited, whatever the exit code; a task
        # without an essential container stops when all its containers did.
        exited = [c for c in self.containers if c.last_status == "STOPPED"]
        if any(c.essential for c in exited) or len(exited) == len(self.containers):
            self._finish(t, ESSENTIAL_EXITED, ESSENTIAL_EXITED_REASON)

    def _finish(self, t: float, code: str | None = None, reason: str | None = None) -> None:
        for c in self.containers:
            if c.last_status == "RUNNING":
                c.stop(KILLED_EXIT_CODE)
            elif c.last_status == "PENDING":
                c.stop(None)
        self.stop_code = self.stop_code or code
        self.stopped_reason = self.stopped_reason or reason
        self.last_status = self.desired_status = "STOPPED"
        self.stopping_at = self.stopping_at or t
        self.stopped_at = t
        self.version += 1

    def matches(self, desired_status: str = "RUNNING", **filters: str | None) -> bool:
        """[API-ListTasks]: the filters given all hold; desiredStatus defaults to RUNNING."""
        if self.desired_status != desired_status:
            return False
        if filters.get("started_by") and self.started_by != filters["started_by"]:
            return False
        if filters.get("family") and self.family != filters["family"]:
            return False
        if filters.get("launch_type") and self.launch_type != filters["launch_type"]:
            return False
        instance = filters.get("container_instance")
        if instance and self.container_instance.split("/")[-1] != instance.split("/")[-1]:
            return False
        if filters.get("service_name") and self.group != f"service:{filters['service_name']}":
            return False
        return True

    def to_api(self) -> dict[str, Any]:
        """The lifecycle fields of [API-Task]; the adapter adds the task's identity."""
        out: dict[str, Any] = {
            "lastStatus": self.last_status,
            "desiredStatus": self.desired_status,
            "createdAt": _at(self.created_at),
            "version": self.version,
            "healthStatus": "UNKNOWN",  # no container health checks in the bed
            "containers": [c.to_api() for c in self.containers],
        }
        for key, value in (
            ("pullStartedAt", self.pull_started_at),
            ("pullStoppedAt", self.pull_stopped_at),
            ("startedAt", self.started_at),
            ("stoppingAt", self.stopping_at),
            ("executionStoppedAt", self.stopped_at),
            ("stoppedAt", self.stopped_at),
        ):
            if value is not None:
                out[key] = _at(value)
        if self.stop_code:
            out["stopCode"] = self.stop_code
        if self.stopped_reason:
            out["stoppedReason"] = self.stopped_reason
        return out


class TokenConflict(Exception):
    """[API-RunTask: ConflictException]: the client token is in use with a different
    RunTask request; `arns` are the tasks it started."""

    def __init__(self, arns: list[str]):
        super().__init__("client token in use with a different RunTask request")
        self.arns = arns


class TaskBook:
    """Every standalone task of one backend, and the RunTask client tokens it saw."""

    def __init__(self) -> None:
        self.runs: dict[str, TaskRun] = {}
        self.tokens: dict[tuple[str, str], tuple[str, list[str], list[dict[str, str]], float]] = {}

    def add(self, run: TaskRun) -> None:
        self.runs[run.arn] = run

    def advance(self, now: float) -> list[TaskRun]:
        """Steps every task that is due; returns the ones that stopped."""
        return [run for run in self.runs.values() if run.advance(now)]

    def recall(self, cluster: str, token: str, fingerprint: str, now: float) -> tuple[list[str], list[dict[str, str]]] | None:
        """[API-Idempotency]: a retry "using the same client token and the same
        parameters" returns the original request's tasks and failures and starts
        nothing; the same token with other parameters is a conflict. A token is known
        per cluster, for 24 hours."""
        seen = self.tokens.get((cluster, token))
        if seen is None or now - seen[3] >= TOKEN_TTL_SECONDS:
            self.tokens.pop((cluster, token), None)
            return None
        if seen[0] != fingerprint:
            raise TokenConflict(seen[1])
        return list(seen[1]), list(seen[2])

    def remember(self, cluster: str, token: str, fingerprint: str, arns: list[str], failures: list[dict[str, str]], now: float) -> None:
        self.tokens[(cluster, token)] = (fingerprint, list(arns), list(failures), now)

    def select(self, cluster: str, **filters: Any) -> list[TaskRun]:
        return [run for run in self.runs.values() if run.cluster == cluster and run.matches(**filters)]

    def counts(self, cluster: str) -> tuple[int, int]:
        """(RUNNING, PENDING) standalone tasks of the cluster."""
        runs = [r for r in self.runs.values() if r.cluster == cluster]
        return sum(r.last_status == "RUNNING" for r in runs), sum(r.last_status == "PENDING" for r in runs)


def _units(value: Any, unit: str) -> int | None:
    """A task-level cpu or memory: "256", "0.25 vCPU", "1 GB"."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if text.upper().endswith(unit):
        return int(float(text[: -len(unit)].strip()) * 1024)
    return int(float(text))


def requirements(task_cpu: Any, task_memory: Any, definitions: Iterable[dict[str, Any]], network_mode: str | None) -> dict[str, Any]:
    """What one task reserves on a container instance: the task-level cpu and memory if
    the task definition has them, else the sum of its containers'; the host ports of
    its port mappings (none in awsvpc mode, where each task has its own interface)."""
    definitions = list(definitions)
    cpu = _units(task_cpu, "VCPU")
    memory = _units(task_memory, "GB")
    ports: list[int] = []
    if network_mode != "awsvpc":
        for d in definitions:
            ports += [int(p["hostPort"]) for p in d.get("portMappings") or [] if p.get("hostPort")]
    return {
        "CPU": cpu if cpu is not None else sum(int(d.get("cpu") or 0) for d in definitions),
        "MEMORY": memory if memory is not None else sum(int(d.get("memory") or d.get("memoryReservation") or 0) for d in definitions),
        "PORTS": ports,
        "PORTS_UDP": [],
    }


def shortfall(remaining: dict[str, Any], needed: dict[str, Any]) -> str | None:
    """[DG-api-failures]: why a container instance cannot take the task, as RunTask's
    failure reason: RESOURCE:CPU, RESOURCE:MEMORY or RESOURCE:PORTS; None if it can."""
    if needed["CPU"] > remaining.get("CPU", 0):
        return "RESOURCE:CPU"
    if needed["MEMORY"] > remaining.get("MEMORY", 0):
        return "RESOURCE:MEMORY"
    taken = {str(p) for p in remaining.get("PORTS", [])}
    if any(str(p) in taken for p in needed["PORTS"]):
        return "RESOURCE:PORTS"
    return None
