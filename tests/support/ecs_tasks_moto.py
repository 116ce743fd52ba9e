"""Installs the standalone task model (ecs_tasks_model.py) into moto's ECS backend:
RunTask, StartTask, DescribeTasks, StopTask, ListTasks and DeleteCluster answer as the
ECS API reference documents (see ecs_tasks_model's reference list).

Every call advances the tasks first, under the scheduler model's lock and on its clock
(ecs_model.LOCK, ecs_model.clock), at its pace (ECS_BED_STEP_SECONDS). moto's Task
objects stay the record of a task's identity (ARN, task definition, overrides, tags,
network attachment); the model is its lifecycle. ecs_model_moto.install() installs
this module too.
"""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from typing import Any, Callable

from moto.core.responses import ActionResult
from moto.ec2 import ec2_backends
from moto.ec2.utils import generate_dns_from_ip
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import EcsClientException, ECSException, InvalidParameterException
from moto.utilities.utils import get_partition

import ecs_model as m
import ecs_tasks_model as t

Backend = ecs_models.EC2ContainerServiceBackend
Response = ecs_responses.EC2ContainerServiceResponse

MAX_COUNT = 10  # [API-RunTask: count] "You can specify up to 10 tasks for each call."
MAX_DESCRIBED = 100  # [API-DescribeTasks: tasks] "A list of up to 100 task IDs or full ARN entries."
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")


def book(backend: Any) -> t.TaskBook:
    found = getattr(backend, "bed_tasks", None)
    if found is None:
        found = backend.bed_tasks = t.TaskBook()
    return found


def advance(backend: Any, now: float | None = None) -> None:
    """Runs every task step that is due; a task that stopped gives its resources back."""
    now = m.clock() if now is None else now
    for run in book(backend).advance(now):
        _release(backend, run)


def counts(backend: Any, cluster: str) -> tuple[int, int]:
    return book(backend).counts(cluster)


def _release(backend: Any, run: t.TaskRun) -> None:
    task = backend.tasks.get(run.cluster, {}).get(run.arn)
    if task is None:
        return
    arn = task.container_instance_arn
    instance = backend.container_instances.get(run.cluster, {}).get(arn.split("/")[-1]) if arn else None
    if instance is not None and task.resource_requirements:
        backend.update_container_instance_resources(instance, task.resource_requirements, removing=True)
    # [DG-lifecycle] DEPROVISIONING: the task's network interface is detached and deleted.
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    for attachment in task.attachments:
        for detail in attachment.get("details", []):
            if detail.get("name") == "networkInterfaceId":
                ec2.enis.pop(detail["value"], None)
        attachment["status"] = "DELETED"


def _find(backend: Any, cluster: str, ref: str) -> Any:
    """A task of the cluster by ARN (short or long format) or ID."""
    wanted = ref.split("/")[-1]
    for task in backend.tasks.get(cluster, {}).values():
        if task.id == wanted and getattr(task, "bed", None) is not None:
            return task
    return None


def _api(task: Any, tags: bool) -> dict[str, Any]:
    """[API-Task]: the task's identity from moto's record, its lifecycle from the model."""
    out = dict(task.bed_static)
    out.update(task.bed.to_api())
    if tags:
        out["tags"] = list(task.tags or [])
    return out


def _attach(backend: Any, task: Any, td: Any, now: float) -> None:
    partition = get_partition(task.region_name)
    eni = next((a for a in task.attachments if a["type"] == "ElasticNetworkInterface"), None)
    interfaces = []
    if eni is not None:
        ip = next(d["value"] for d in eni["details"] if d["name"] == "privateIPv4Address")
        interfaces = [{"attachmentId": eni["id"], "privateIpv4Address": ip}]
    containers = []
    for d in td.container_definitions:
        static = {
            "containerArn": f"arn:{partition}:ecs:{task.region_name}:{backend.account_id}:container/"
            f"{task.cluster_name}/{task.id}/{uuid.uuid4()}",
            "taskArn": task.task_arn,
            "cpu": str(d.get("cpu") or 0),
            "networkBindings": [],
            "networkInterfaces": interfaces,
        }
        for key in ("memory", "memoryReservation"):
            if d.get(key) is not None:
                static[key] = str(d[key])
        containers.append(t.ContainerRun(d, task.overrides, m.step_seconds(), static))
    task.bed = t.TaskRun(
        task.task_arn, task.cluster_name, containers, now, m.step_seconds(),
        started_by=task.started_by, family=td.family, launch_type=task.launch_type,
        container_instance=task.container_instance_arn, group=task.group,
    )
    static = {
        "taskArn": task.task_arn,
        "clusterArn": task.cluster_arn,
        "taskDefinitionArn": task.task_definition_arn,
        "group": task.group,
        "overrides": task.overrides or {"containerOverrides": []},
        "attachments": task.attachments,
    }
    for key, value in (
        ("startedBy", task.started_by),
        ("launchType", task.launch_type),
        ("platformVersion", task.platform_version),
        ("capacityProviderName", task.capacity_provider_name),
        ("containerInstanceArn", task.container_instance_arn),
        ("availabilityZone", getattr(task, "availability_zone", None)),
        ("cpu", td.cpu),
        ("memory", td.memory),
    ):
        if value:
            static[key] = value
    task.bed_static = static
    book(backend).add(task.bed)


class _Unnetworked:
    """A task definition as moto's Task sees it: without awsvpc, because moto makes the
    task's interface itself and fails (AttributeError, HTTP 500) in a VPC without DNS
    hostnames, as the bed's seeded one; the bed makes the interface (_attach_eni)."""

    network_mode = "bridge"

    def __init__(self, td: Any):
        self._td = td

    def __getattr__(self, name: str) -> Any:
        return getattr(self._td, name)


def _attach_eni(backend: Any, task: Any, network: dict[str, Any]) -> None:
    """[DG-lifecycle] PROVISIONING: an awsvpc task gets an elastic network interface
    in the first subnet of its awsvpcConfiguration, attached as the task's attachment
    [API-Task: attachments]; security groups are optional [API-AwsVpcConfiguration]."""
    conf = network["awsvpcConfiguration"]
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    subnet = ec2.get_subnet(conf["subnets"][0])
    cidr = ipaddress.IPv4Network(subnet.cidr_block)
    ip = str(cidr.network_address + random.randint(4, max(4, cidr.num_addresses - 2)))
    attachment = str(uuid.uuid4())
    partition = get_partition(backend.region_name)
    eni = ec2.create_network_interface(
        subnet=subnet, private_ip_address=ip, group_ids=conf.get("securityGroups") or [],
        description=f"arn:{partition}:ecs:{backend.region_name}:{backend.account_id}:attachment/{attachment}",
    )
    eni.status, eni.device_index = "in-use", 0
    task.network_configuration = network
    task.availability_zone = subnet.availability_zone
    details = [
        ("subnetId", subnet.id),
        ("networkInterfaceId", eni.id),
        ("macAddress", eni.mac_address),
        ("privateDnsName", generate_dns_from_ip(ip)),
        ("privateIPv4Address", ip),
    ]
    task.attachments.append({
        "id": attachment, "type": "ElasticNetworkInterface", "status": "ATTACHED",
        "details": [{"name": k, "value": v} for k, v in details],
    })


def _start(backend: Any, cluster: Any, td: Any, params: dict[str, Any], launch_type: str, provider: str | None,
           host: Any, needed: dict[str, Any], now: float) -> Any:
    task = ecs_models.Task(
        cluster, _Unnetworked(td), host.container_instance_arn if host else None, needed, backend=backend,
        group=params.get("group") or f"family:{td.family}", launch_type=launch_type,
        overrides=params.get("overrides") or {}, started_by=params.get("startedBy") or "",
        tags=params.get("tags") or [], platform_version=params.get("platformVersion"),
        capacity_provider_name=provider,
    )
    task.id = uuid.uuid4().hex  # [API-Task: taskArn] ECS task IDs are 32 hex digits
    if td.network_mode == "awsvpc":
        _attach_eni(backend, task, params["networkConfiguration"])
    if host is not None:
        backend.update_container_instance_resources(host, needed)
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    _attach(backend, task, td, now)
    return task


def _remaining(instance: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in instance.remaining_resources:
        out[r["name"]] = r.get("stringSetValue", []) if r["type"] == "STRINGSET" else r.get("integerValue", 0)
    return out


def _launch(backend: Any, cluster: Any, params: dict[str, Any], now: float) -> tuple[list[Any], list[dict[str, str]]]:
    launch_type = params.get("launchType")
    strategy = params.get("capacityProviderStrategy")
    # moto's own checks, kept as moto words them.
    if launch_type and launch_type not in ("EC2", "FARGATE", "EXTERNAL"):
        raise InvalidParameterException("launch type should be one of [EC2,FARGATE,EXTERNAL]")
    if launch_type and strategy:
        raise InvalidParameterException("Specify either Launch Type or Capacity Provider Strategy, but not both.")
    count = int(params.get("count") or 1)
    if not 1 <= count <= MAX_COUNT:
        raise InvalidParameterException(f"Count must be between 1 and {MAX_COUNT}.")
    td = backend.describe_task_definition(params.get("taskDefinition") or "")
    if td.status != "ACTIVE":
        # [DG-td-states]: "You cannot run new tasks ... with a task definition in the INACTIVE state."
        raise EcsClientException("TaskDefinition is inactive")
    if not launch_type and not strategy:
        strategy = cluster.default_capacity_provider_strategy
    provider = strategy[0]["capacityProvider"] if strategy else None
    fargate = launch_type == "FARGATE" or provider in FARGATE_PROVIDERS
    launch_type = launch_type or ("" if provider else "EC2")
    if fargate and td.network_mode != "awsvpc":
        raise InvalidParameterException("Task definition does not support launch_type FARGATE.")
    if td.network_mode == "awsvpc" and not params.get("networkConfiguration"):
        raise InvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
    needed = t.requirements(td.cpu, td.memory, td.container_definitions, td.network_mode)
    if fargate:
        return [_start(backend, cluster, td, params, launch_type, provider, None, needed, now) for _ in range(count)], []
    instances = [i for i in backend.container_instances.get(cluster.name, {}).values() if i.status == "ACTIVE"]
    if not instances:
        # ECS answers an exception here, not a failure (moto: a bare Exception, HTTP 500).
        raise InvalidParameterException("No Container Instances were found in your cluster.")
    tasks: list[Any] = []
    failures: list[dict[str, str]] = []
    for _ in range(count):
        # [API-RunTask: failures], [API-Failure], [DG-api-failures]: a task that no
        # container instance can take is a failure per instance with its reason.
        reasons = [(i, t.shortfall(_remaining(i), needed)) for i in instances]
        host = next((i for i, why in reasons if why is None), None)
        if host is None:
            for i, why in reasons:
                failure = {"arn": i.container_instance_arn, "reason": str(why)}
                if failure not in failures:
                    failures.append(failure)
            continue
        tasks.append(_start(backend, cluster, td, params, launch_type, provider, host, needed, now))
    return tasks, failures


def _fingerprint(params: dict[str, Any]) -> str:
    same = {k: v for k, v in params.items() if k not in ("clientToken", "cluster")}
    same["count"] = int(params.get("count") or 1)
    return json.dumps(same, sort_keys=True, default=str)


def run_task(self: Any) -> ActionResult:
    backend = self.ecs_backend
    params = dict(getattr(self, "params", None) or {})
    with m.LOCK:
        now = m.clock()
        advance(backend, now)
        cluster = backend._get_cluster(params.get("cluster") or "default")
        token, fingerprint = params.get("clientToken"), _fingerprint(params)
        if token:
            try:
                seen = book(backend).recall(cluster.name, token, fingerprint, now)
            except t.TokenConflict as conflict:
                err = ECSException(
                    "ConflictException",
                    "The RunTask request could not be processed due to conflicts. The provided clientToken "
                    "is already in use with a different RunTask request.",
                )
                err.resource_ids = conflict.arns  # [API-RunTask: ConflictException] resourceIds
                raise err
            if seen is not None:
                arns, failures = seen
                tasks = [_find(backend, cluster.name, arn) for arn in arns]
                return ActionResult({"tasks": [_api(x, tags=True) for x in tasks if x], "failures": failures})
        tasks, failures = _launch(backend, cluster, params, now)
        if token:
            book(backend).remember(cluster.name, token, fingerprint, [x.task_arn for x in tasks], failures, now)
        return ActionResult({"tasks": [_api(x, tags=True) for x in tasks], "failures": failures})


def describe_tasks(self: Any) -> ActionResult:
    backend = self.ecs_backend
    wanted = self._get_param("tasks") or []
    with_tags = "TAGS" in (self._get_param("include") or [])
    with m.LOCK:
        advance(backend)
        cluster = backend._get_cluster(self._get_param("cluster") or "default")
        if not wanted:
            raise InvalidParameterException("Tasks cannot be empty.")
        if len(wanted) > MAX_DESCRIBED:
            raise InvalidParameterException(f"Tasks cannot have more than {MAX_DESCRIBED} entries.")
        found, failures = [], []
        for ref in wanted:
            task = _find(backend, cluster.name, ref)
            if task is not None:
                found.append(_api(task, with_tags))
                continue
            # [DG-api-failures] DescribeTasks: MISSING, the task is not in this cluster.
            arn = ref if ref.startswith("arn:") else (
                f"arn:{get_partition(backend.region_name)}:ecs:{backend.region_name}:{backend.account_id}:task/{cluster.name}/{ref}"
            )
            failures.append({"arn": arn, "reason": "MISSING"})
    return ActionResult({"tasks": found, "failures": failures})


def stop_task(self: Any) -> ActionResult:
    backend = self.ecs_backend
    with m.LOCK:
        now = m.clock()
        advance(backend, now)
        cluster = backend._get_cluster(self._get_param("cluster") or "default")
        task = _find(backend, cluster.name, self._get_param("task") or "")
        if task is None:
            raise InvalidParameterException("The referenced task was not found.")
        if task.bed.request_stop(self._get_param("reason"), now):
            task.tags = []  # [API-StopTask]: "Any tags associated with the task will be deleted."
        return ActionResult({"task": _api(task, tags=True)})


def list_tasks(self: Any) -> ActionResult:
    backend = self.ecs_backend
    with m.LOCK:
        advance(backend)
        cluster = backend._get_cluster(self._get_param("cluster") or "default")
        runs = book(backend).select(
            cluster.name,
            desired_status=self._get_param("desiredStatus") or "RUNNING",
            started_by=self._get_param("startedBy"),
            family=self._get_param("family"),
            launch_type=self._get_param("launchType"),
            container_instance=self._get_param("containerInstance"),
            service_name=self._get_param("serviceName"),
        )
        # [API-ListTasks: maxResults] 1-100, default 100; nextToken continues.
        size = max(1, min(int(self._get_param("maxResults") or 100), 100))
        start = int(self._get_param("nextToken") or 0)
        page = [r.arn for r in runs[start : start + size]]
        out: dict[str, Any] = {"taskArns": page}
        if start + size < len(runs):
            out["nextToken"] = str(start + size)
    return ActionResult(out)


def _start_task(original: Callable[..., Any]) -> Callable[..., Any]:
    def start_task(self: Any, *args: Any, **kwargs: Any) -> Any:
        with m.LOCK:
            advance(self)
            tasks = original(self, *args, **kwargs)
            for task in tasks:
                _attach(self, task, self.describe_task_definition(task.task_definition_arn), m.clock())
            return tasks

    return start_task


def _delete_cluster(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_cluster(self: Any, cluster_str: str) -> Any:
        with m.LOCK:
            advance(self)
            cluster = self._get_cluster(cluster_str)
            # [API-DeleteCluster] ClusterContainsTasksException: the cluster has active tasks.
            if any(r.cluster == cluster.name and not r.stopped for r in book(self).runs.values()):
                raise ECSException("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
            return original(self, cluster_str)

    return delete_cluster


def install() -> None:
    if getattr(Backend, "_bed_tasks_installed", False):
        return
    Backend._bed_tasks_installed = True
    Response.run_task = run_task
    Response.describe_tasks = describe_tasks
    Response.stop_task = stop_task
    Response.list_tasks = list_tasks
    Backend.start_task = _start_task(Backend.start_task)
    Backend.delete_cluster = _delete_cluster(Backend.delete_cluster)
