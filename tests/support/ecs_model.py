"""The test bed's model of the ECS service scheduler, installed into moto's server.

moto stores services but runs nothing: every service reports the same running count,
deployments never progress or fail, UpdateService never starts a deployment, and no
service events exist. This module makes moto's ECS backend behave as ECS documents it,
so the operator's Ready, Progressing and Degraded paths can be tested end to end. It is
bed code: the operator never knows it exists and talks to moto through the standard
AWS API only.

Time: the scheduler advances in steps of ECS_BED_STEP_SECONDS (default 1 s). A task
launched in one step is RUNNING (or, for a failing image, STOPPED) in the next. The
model advances lazily, under one lock, before every ECS call that reads or changes a
service, so it needs no thread of its own and unit tests can drive it with a fake clock.

Bed conventions (not ECS behaviour):
- an image whose tag starts with "bed-fail" (for example `nginx:bed-fail`) stands for a
  container that exits as soon as it starts: its tasks stop with
  "Essential container in task exited";
- a blue/green bake time of N minutes lasts N steps;
- the RUNNING tasks of a service with load balancers are IP targets of its target
  groups (moto reports them healthy); tasks that stop are deregistered.

References (the rule each one backs is cited where it is implemented):
- [API-Deployment] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html
- [API-UpdateService] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
- [API-DeleteService] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html
- [API-DeleteCluster] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteCluster.html
- [API-Service] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html
- [API-Cluster] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Cluster.html
- [API-ServiceDeployment] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html
- [DG-rolling] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html
- [DG-circuit-breaker] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
- [DG-events] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-event-messages-list.html
- [DG-daemon] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html#service_scheduler_daemon
- [DG-blue-green] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html
- [DG-lb] https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-load-balancing.html
"""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import random
import threading
import time
import uuid
from typing import Any

import moto
from moto.core.exceptions import JsonRESTError
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses

# The model patches moto's internals: it is written for this moto release, pinned in
# tests/moto-requirements.txt beside it.
PINNED_MOTO = "5.2.5"

FAILING_IMAGE_TAG = "bed-fail"
FAILED_TASK_REASON = "Essential container in task exited"

# DescribeServices returns the 100 most recent events [API-Service: events].
EVENTS_KEPT = 100

# ECS's own fields the model keeps from CreateService (moto drops them); UpdateService
# already stores whatever it is sent.
KEPT_ON_CREATE = (
    "placementStrategy",
    "placementConstraints",
    "deploymentConfiguration",
    "capacityProviderStrategy",
    "healthCheckGracePeriodSeconds",
    "enableECSManagedTags",
    "enableExecuteCommand",
)

BLUE_GREEN_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
)

LOCK = threading.RLock()


def clock() -> float:
    """Seconds since the epoch; unit tests replace it."""
    return time.time()


def step_seconds() -> float:
    return float(os.environ.get("ECS_BED_STEP_SECONDS", "1.0"))


def _at(t: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)


def _deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


def _task_ids(n: int) -> str:
    return " ".join(f"(task {uuid.uuid4().hex})" for _ in range(n))


def failure_threshold(desired: int) -> int:
    # [DG-circuit-breaker]: "The failure threshold is calculated as ... 0.5 * desired
    # task count, rounded up", with a minimum of 3 and a maximum of 200.
    return min(max(math.ceil(desired * 0.5), 3), 200)


class Deployment:
    """One deployment of a service, as [API-Deployment] describes it."""

    def __init__(self, task_definition: str, desired: int, now: float, service: Any, failing: bool):
        self.id = _deployment_id()
        self.status = "PRIMARY"
        self.task_definition = task_definition
        self.desired = desired
        self.pending = 0
        self.running = 0
        self.failed_tasks = 0
        self.rollout_state = "IN_PROGRESS"
        self.reason = f"ECS deployment {self.id} in progress."
        self.created_at = now
        self.updated_at = now
        self.finished_at: float | None = None
        self.failing = failing
        self.launch_type = service.launch_type
        self.platform_version = service.platform_version
        self.network_configuration = service.network_configuration or None
        self.capacity_provider_strategy = getattr(service, "capacity_provider_strategy", None)
        self.blue_green = _strategy(service) == "BLUE_GREEN"
        self.stage = BLUE_GREEN_STAGES[0] if self.blue_green else None
        self.stage_steps = 0
        self.rolled_back_to: str | None = None
        self.arn = ""

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": self.pending,
            "runningCount": self.running,
            "failedTasks": self.failed_tasks,
            "createdAt": _at(self.created_at),
            "updatedAt": _at(self.updated_at),
            "launchType": self.launch_type,
            "platformVersion": self.platform_version,
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.reason,
        }
        if self.network_configuration:
            out["networkConfiguration"] = self.network_configuration
        if self.capacity_provider_strategy:
            out["capacityProviderStrategy"] = self.capacity_provider_strategy
        return out


class ServiceModel:
    """What the scheduler knows of one service beyond moto's record."""

    def __init__(self, now: float):
        self.deployments: list[Deployment] = []
        self.history: list[Deployment] = []  # every deployment ever made, for the ServiceDeployment API
        self.next_step = now + step_seconds()
        self.steady = False
        self.last_completed: Deployment | None = None


def _strategy(service: Any) -> str:
    config = getattr(service, "deployment_configuration", None) or {}
    return config.get("strategy") or "ROLLING"


def _deployment_config(service: Any) -> tuple[int, int, bool, bool, int]:
    """(minimumHealthyPercent, maximumPercent, circuit breaker, rollback, bake steps)."""
    config = getattr(service, "deployment_configuration", None) or {}
    # [API-DeploymentConfiguration] defaults for REPLICA services: 100 and 200.
    daemon = service.scheduling_strategy == "DAEMON"
    minimum = config.get("minimumHealthyPercent", 0 if daemon else 100)
    maximum = config.get("maximumPercent", 100 if daemon else 200)
    breaker = config.get("deploymentCircuitBreaker") or {}
    return (
        int(minimum),
        int(maximum),
        bool(breaker.get("enable")),
        bool(breaker.get("rollback")),
        int(config.get("bakeTimeInMinutes", 0) or 0),
    )


def _image_fails(backend: Any, task_definition: str | None) -> bool:
    if not task_definition:
        return False
    try:
        td = backend.describe_task_definition(task_definition)
    except Exception:  # a deregistered or unknown revision: nothing to run
        return False
    for container in td.container_definitions:
        image = str(container.get("image", ""))
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        if tag.startswith(FAILING_IMAGE_TAG):
            return True
    return False


def _event(service: Any, now: float, message: str) -> None:
    # [API-Service: events] newest first; [DG-events] message formats.
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _at(now), "message": message})
    del service.events[EVENTS_KEPT:]


def _model(service: Any, now: float) -> ServiceModel:
    model = getattr(service, "bed", None)
    if model is None:
        model = ServiceModel(now)
        service.bed = model
    return model


def _desired(backend: Any, service: Any) -> int:
    if service.scheduling_strategy == "DAEMON":
        # [DG-daemon]: one task on each active container instance of the cluster.
        instances = backend.container_instances.get(service.cluster_name, {})
        count = sum(1 for i in instances.values() if i.status == "ACTIVE")
        service.desired_count = count
        return count
    return int(service.desired_count or 0)


def start_deployment(backend: Any, service: Any, now: float, rollback: bool = False) -> Deployment:
    """A new PRIMARY deployment of the service's task definition; the old PRIMARY
    becomes ACTIVE and drains [API-Deployment: status]. A rollback is part of the
    failed service deployment [API-ServiceDeployment: rollback], not a new one."""
    model = _model(service, now)
    for old in model.deployments:
        old.status = "ACTIVE"
        old.updated_at = now
    deployment = Deployment(
        service.task_definition, _desired(backend, service), now, service, _image_fails(backend, service.task_definition)
    )
    deployment.arn = f"arn:aws:ecs:{service.region_name}:{service._account_id}:service-deployment/{service.cluster_name}/{service.name}/{deployment.id.split('/')[-1]}"
    model.deployments.insert(0, deployment)
    if not rollback:
        model.history.insert(0, deployment)
    model.steady = False
    publish(service)
    return deployment


def publish(service: Any) -> None:
    """Writes the model's picture into moto's record, which moto serializes."""
    model = service.bed
    service.deployments = [d.to_api() for d in model.deployments]
    service.running_count = sum(d.running for d in model.deployments)
    service.pending_count = sum(d.pending for d in model.deployments)
    register_targets(service)


def _target_prefix(service: Any) -> str:
    return f"10.{int(hashlib.sha256(service.arn.encode()).hexdigest()[:2], 16)}."


def task_target_ids(service: Any, count: int) -> list[str]:
    """The target ids (IPs) standing for a service's first `count` RUNNING tasks."""
    prefix = _target_prefix(service)
    return [f"{prefix}{i // 250}.{i % 250 + 1}" for i in range(count)]


def register_targets(service: Any) -> None:
    """[DG-lb]: ECS registers each RUNNING task of a service with the target groups of
    its load balancers and deregisters each task that stops. The model counts tasks
    rather than naming them, so the i-th RUNNING task is the target with the i-th id
    of `task_target_ids`. moto reports a registered IP target healthy and a
    deregistered one not at all."""
    lbs = getattr(service, "load_balancers", None) or []
    groups = [(lb["targetGroupArn"], lb.get("containerPort")) for lb in lbs if lb.get("targetGroupArn")]
    if not groups:
        return
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[service._account_id][service.region_name]
    wanted = task_target_ids(service, service.running_count if service.status == "ACTIVE" else 0)
    keep, prefix = set(wanted), _target_prefix(service)
    for arn, port in groups:
        group = backend.target_groups.get(arn)
        if group is None:
            continue
        gone = [{"Id": t} for t in group.targets if t.startswith(prefix) and t not in keep]
        if gone:
            group.deregister(gone)
        new = [{"Id": t, "Port": port or group.port} for t in wanted if t not in group.targets]
        if new:
            group.register(new)


def step(backend: Any, service: Any, now: float) -> None:
    """One scheduler step of one service."""
    model = _model(service, now)
    if service.status == "INACTIVE":
        return
    if service.status == "DRAINING":
        # [API-DeleteService]: a deleted service is DRAINING while its tasks stop,
        # then INACTIVE.
        stopped = sum(d.running + d.pending for d in model.deployments)
        for d in model.deployments:
            d.running = d.pending = 0
        if stopped:
            _event(service, now, f"(service {service.name}) has stopped {stopped} running tasks: {_task_ids(stopped)}.")
        else:
            service.status = "INACTIVE"
        publish(service)
        return
    if not model.deployments:
        return
    primary = model.deployments[0]
    desired = _desired(backend, service)
    primary.desired = desired
    minimum, maximum, breaker, rollback, bake = _deployment_config(service)
    olds = model.deployments[1:]

    if not primary.blue_green:
        _drain(service, primary, olds, math.ceil(desired * minimum / 100), now)

    # Tasks launched in the last step have started, or stopped at once.
    for d in model.deployments:
        if d.pending and d.failing:
            d.failed_tasks += d.pending
            d.updated_at = now
            _event(
                service, now, f"(service {service.name}) has stopped {d.pending} running tasks: "
                f"{_task_ids(d.pending)}. Reason: {FAILED_TASK_REASON}."
            )
            d.pending = 0
        elif d.pending:
            d.running += d.pending
            d.pending = 0
            d.updated_at = now

    # Scaling in: the PRIMARY stops what it runs beyond its desired count.
    if primary.running > desired:
        extra = primary.running - desired
        primary.running = desired
        _event(service, now, f"(service {service.name}) has stopped {extra} running tasks: {_task_ids(extra)}.")

    if primary.blue_green:
        _blue_green_step(service, model, primary, olds, desired, bake, now)
    else:
        _rolling_step(service, model, primary, olds, desired, minimum, maximum, now)

    # [DG-circuit-breaker]: once failed tasks reach the threshold the deployment is
    # FAILED; with rollback, ECS deploys the last COMPLETED deployment again.
    if breaker and primary.rollout_state == "IN_PROGRESS" and primary.failed_tasks >= failure_threshold(desired):
        primary.rollout_state = "FAILED"
        primary.reason = "ECS deployment circuit breaker: tasks failed to start."
        primary.updated_at = now
        primary.finished_at = now
        _event(service, now, f"(service {service.name}) (deployment {primary.id}) deployment failed: tasks failed to start.")
        if rollback and model.last_completed is not None:
            target = model.last_completed
            _event(service, now, f"(service {service.name}) (deployment {primary.id}) rolling back to deployment {target.id}.")
            service.task_definition = target.task_definition
            replacement = start_deployment(backend, service, now, rollback=True)
            replacement.rolled_back_to = target.id
            primary.rolled_back_to = target.id
            primary = replacement

    # Done: every wanted task runs and nothing older is left.
    olds = model.deployments[1:]
    draining = [d for d in olds if d.running or d.pending]
    converged = primary.running == desired and primary.pending == 0 and not draining
    if converged and primary.rollout_state == "IN_PROGRESS" and (not primary.blue_green or primary.stage == "CLEAN_UP"):
        primary.rollout_state = "COMPLETED"
        primary.reason = f"ECS deployment {primary.id} completed."
        primary.updated_at = now
        primary.finished_at = now
        model.last_completed = primary
        _event(service, now, f"(service {service.name}) (deployment {primary.id}) deployment completed.")
    # An older deployment without tasks is drained: it leaves the list (INACTIVE). A
    # FAILED one stays listed until the PRIMARY that replaced it settled.
    for d in olds:
        if not (d.running or d.pending) and (d.rollout_state != "FAILED" or primary.rollout_state != "IN_PROGRESS"):
            d.status = "INACTIVE"
            d.finished_at = d.finished_at or now
    model.deployments = [d for d in model.deployments if d.status != "INACTIVE"]
    if converged and primary.rollout_state == "COMPLETED" and len(model.deployments) == 1:
        if not model.steady:
            _event(service, now, f"(service {service.name}) has reached a steady state.")
            model.steady = True
    else:
        model.steady = False
    publish(service)


def _launch(service: Any, deployment: Deployment, count: int, now: float) -> None:
    if count <= 0:
        return
    deployment.pending += count
    deployment.updated_at = now
    _event(service, now, f"(service {service.name}) has started {count} tasks: {_task_ids(count)}.")


def _drain(service: Any, primary: Deployment, olds: list[Deployment], floor: int, now: float) -> None:
    # [DG-rolling]: minimumHealthyPercent (rounded up) is the floor of RUNNING tasks;
    # old tasks stop only for new tasks that were already running at the step's start.
    healthy = primary.running + sum(d.running for d in olds)
    for old in olds:
        stop = min(old.running, max(0, healthy - floor))
        if stop:
            old.running -= stop
            old.updated_at = now
            healthy -= stop
            _event(service, now, f"(service {service.name}) has stopped {stop} running tasks: {_task_ids(stop)}.")


def _rolling_step(
    service: Any, model: ServiceModel, primary: Deployment, olds: list[Deployment], desired: int, minimum: int, maximum: int, now: float
) -> None:
    # [DG-rolling]: maximumPercent (rounded down) is the ceiling of RUNNING plus
    # PENDING tasks across deployments.
    if primary.rollout_state == "FAILED":
        return  # a failed deployment launches nothing more
    ceiling = math.floor(desired * maximum / 100)
    total = primary.running + primary.pending + sum(d.running + d.pending for d in olds)
    wanted = desired - primary.running - primary.pending
    _launch(service, primary, min(wanted, max(0, ceiling - total)), now)


def _blue_green_step(
    service: Any, model: ServiceModel, primary: Deployment, olds: list[Deployment], desired: int, bake: int, now: float
) -> None:
    # [DG-blue-green]: the green tasks scale up in full beside the blue ones, traffic
    # moves test then production, the blue set stays for the bake time, then goes.
    if primary.rollout_state == "FAILED":
        return
    stage = primary.stage
    primary.stage_steps += 1
    if stage == "SCALE_UP":
        _launch(service, primary, desired - primary.running - primary.pending, now)
        if primary.running < desired:
            return
    if stage == "BAKE_TIME" and primary.stage_steps <= bake:
        return
    if stage == "CLEAN_UP":
        for old in olds:
            if old.running:
                _event(service, now, f"(service {service.name}) has stopped {old.running} running tasks: {_task_ids(old.running)}.")
                old.running = 0
        return
    index = BLUE_GREEN_STAGES.index(stage)
    primary.stage = BLUE_GREEN_STAGES[index + 1]
    primary.stage_steps = 0
    primary.updated_at = now


def advance(backend: Any, now: float | None = None) -> None:
    """Runs every scheduler step that is due, for every service of the backend."""
    now = clock() if now is None else now
    pace = step_seconds()
    for service in list(backend.services.values()):
        model = _model(service, now)
        if not model.deployments and service.status == "ACTIVE":
            start_deployment(backend, service, model.next_step - pace)
        steps = 0
        while model.next_step <= now and steps < 500:
            step(backend, service, model.next_step)
            model.next_step += pace
            steps += 1
        if model.next_step <= now:  # far behind (a long idle bed): catch up at once
            model.next_step = now + pace
