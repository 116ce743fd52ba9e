"""Installs the ECS scheduler model (ecs_model.py) into moto's ECS backend, and
corrects where moto answers otherwise than the AWS API reference documents. It installs
the standalone task model (ecs_tasks_moto.py) with it.

Every patched call advances the model first, under the model's lock. The API rules
enforced here are cited from ECS's API reference (see ecs_model's reference list).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import moto
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend as AutoScaling
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.core.utils import camelcase_to_underscores
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.ecs.exceptions import ECSException

import ecs_model as m
import ecs_tasks_moto

Backend = ecs_models.EC2ContainerServiceBackend
Response = ecs_responses.EC2ContainerServiceResponse

# What UpdateService changes that makes ECS start a new deployment [API-UpdateService]:
# a new task definition, network configuration, platform version, load balancers,
# service registries, capacity provider strategy or launch type, or forceNewDeployment.
# A desiredCount-only change scales the PRIMARY deployment.
DEPLOYMENT_TRIGGERS = (
    "task_definition",
    "network_configuration",
    "platform_version",
    "load_balancers",
    "service_registries",
    "capacity_provider_strategy",
    "launch_type",
)


def _error(code: str, message: str) -> ECSException:
    return ECSException(code, message)


def _advancing(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with m.LOCK:
            m.advance(self)
            ecs_tasks_moto.advance(self)
            _count_cluster_tasks(self)
            return method(self, *args, **kwargs)

    return wrapper


def _count_cluster_tasks(backend: Any) -> None:
    for cluster in backend.clusters.values():
        services = [s for s in backend.services.values() if s.cluster_name == cluster.name]
        # [API-Cluster]: runningTasksCount and pendingTasksCount count every task of
        # the cluster, the services' and the standalone ones.
        running, pending = ecs_tasks_moto.counts(backend, cluster.name)
        cluster.running_tasks_count = running + sum(s.running_count for s in services if s.status != "INACTIVE")
        cluster.pending_tasks_count = pending + sum(s.pending_count for s in services if s.status != "INACTIVE")
        cluster.active_services_count = sum(1 for s in services if s.status == "ACTIVE")


def _snapshot(service: Any) -> dict[str, Any]:
    return {key: repr(getattr(service, key, None)) for key in DEPLOYMENT_TRIGGERS}


def _create_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        with m.LOCK:
            m.advance(self)
            service = original(self, *args, **kwargs)
            # The deployment starts once the response layer stored the request's
            # deployment configuration (see _respond_create_service).
            service.bed = m.ServiceModel(m.clock())
            service.events = []
            service.deployments = []
            service.running_count = service.pending_count = 0
            return service

    return create_service


def _existing_service(backend: Any, cluster: str, name: str) -> Any:
    key = f"{backend._get_cluster(cluster).name}:{name}"
    service = backend.services.get(key)
    return service if service is not None and service.status != "INACTIVE" else None


def _respond_create_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_service(self: Any) -> Any:
        backend = self.ecs_backend
        cluster, name = self._get_param("cluster", "default"), self._get_param("serviceName")
        token = self._get_param("clientToken")
        with m.LOCK:
            m.advance(backend)
            existing = _existing_service(backend, cluster, name)
            if existing is not None:
                # [API-CreateService] clientToken "ensures the idempotency of the
                # request": a retry with the token that created the ACTIVE service
                # is answered with that service. Any other create of a name that an
                # ACTIVE or DRAINING service holds fails as ECS fails it; moto would
                # replace the service silently.
                if token and existing.status == "ACTIVE" and getattr(existing, "client_token", None) == token:
                    return ActionResult({"service": existing})
                raise _error("InvalidParameterException", "Creation of service was not idempotent.")
        result = original(self)
        with m.LOCK:
            service = backend._get_service(cluster, name)
            service.client_token = token
            # [API-CreateService]: these request fields are part of the service and
            # DescribeServices returns them; moto drops them.
            for key in m.KEPT_ON_CREATE:
                value = self._get_param(key)
                if value is not None:
                    setattr(service, camelcase_to_underscores(key), value)
            m.start_deployment(backend, service, m.clock())
        return result

    return create_service


def _update_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def update_service(self: Any, props: dict[str, Any]) -> Any:
        with m.LOCK:
            m.advance(self)
            service = self._get_service(props.get("cluster", "default"), props["service"].split("/")[-1])
            # [API-UpdateService] ServiceNotActiveException: "the service isn't active".
            if service.status != "ACTIVE":
                raise _error("ServiceNotActiveException", "Service was not ACTIVE.")
            force = bool(props.get("force_new_deployment"))
            before = _snapshot(service)
            result = original(self, props)
            if service.task_definition:
                service.task_definition = self.describe_task_definition(service.task_definition).arn
            model = m._model(service, m.clock())
            if force or _snapshot(service) != before or not model.deployments:
                m.start_deployment(self, service, m.clock())
            else:
                model.deployments[0].desired = m._desired(self, service)
                model.steady = False
            # moto sets the running count to the desired count; the model decides.
            m.publish(service)
            return result

    return update_service


def _delete_service(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_service(self: Any, cluster: str, name: str, force: bool) -> Any:
        with m.LOCK:
            m.advance(self)
            # moto enforces [API-DeleteService]: "you must update the service to a
            # desired task count of 0 ... unless you use force".
            service = original(self, cluster, name, force)
            service.status = "DRAINING"
            service.desired_count = 0
            m.publish(service)
            return service

    return delete_service


def _delete_cluster(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_cluster(self: Any, cluster_str: str) -> Any:
        with m.LOCK:
            m.advance(self)
            cluster = self._get_cluster(cluster_str)
            # [API-DeleteCluster]: "You must delete all services that are running in
            # the cluster before you can delete it" (ClusterContainsServicesException);
            # tasks still stopping give ClusterContainsTasksException.
            services = [s for s in self.services.values() if s.cluster_name == cluster.name]
            if any(s.status == "ACTIVE" for s in services):
                raise _error(
                    "ClusterContainsServicesException",
                    "The Cluster cannot be deleted while Services are active.",
                )
            if any(s.status == "DRAINING" for s in services):
                raise _error("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
            return original(self, cluster_str)

    return delete_cluster


def _list_services(original: Callable[..., Any]) -> Callable[..., Any]:
    def list_services(self: Any, *args: Any, **kwargs: Any) -> Any:
        arns = original(self, *args, **kwargs)
        inactive = {s.arn for s in self.services.values() if s.status == "INACTIVE"}
        # ListServices returns ACTIVE and DRAINING services, not INACTIVE ones.
        return [arn for arn in arns if arn not in inactive]

    return list_services


def _deployment_status(model: m.ServiceModel, d: m.Deployment) -> tuple[str, str]:
    """[API-ServiceDeployment] status and statusReason of one deployment."""
    if d.rollout_state == "FAILED":
        if d.rolled_back_to:
            # The rollback runs as a deployment ECS lists beside the failed one.
            rollback = next((x for x in model.deployments if x.rolled_back_to == d.rolled_back_to and x is not d), None)
            done = rollback is None or rollback.rollout_state == "COMPLETED"
            return ("ROLLBACK_SUCCESSFUL" if done else "ROLLBACK_IN_PROGRESS", d.reason)
        return "STOPPED", d.reason
    if d.rollout_state == "COMPLETED":
        return "SUCCESSFUL", d.reason
    if d in model.deployments and d.status == "PRIMARY":
        return "IN_PROGRESS", d.reason
    return "STOPPED", "A newer deployment replaced this one."


def _revision_arn(service: Any, d: m.Deployment) -> str:
    return d.arn.replace(":service-deployment/", ":service-revision/")


def _brief(service: Any, model: m.ServiceModel, d: m.Deployment) -> dict[str, Any]:
    status, reason = _deployment_status(model, d)
    out = {
        "serviceDeploymentArn": d.arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "createdAt": m._at(d.created_at),
        "startedAt": m._at(d.created_at),
        "targetServiceRevisionArn": _revision_arn(service, d),
        "status": status,
        "statusReason": reason,
    }
    if d.finished_at is not None:
        out["finishedAt"] = m._at(d.finished_at)
    return out


def _full(service: Any, model: m.ServiceModel, d: m.Deployment) -> dict[str, Any]:
    out = _brief(service, model, d)
    del out["targetServiceRevisionArn"]
    out["updatedAt"] = m._at(d.updated_at)
    out["targetServiceRevision"] = {
        "arn": _revision_arn(service, d),
        "requestedTaskCount": d.desired,
        "runningTaskCount": d.running,
        "pendingTaskCount": d.pending,
    }
    if d.stage:
        out["lifecycleStage"] = d.stage
    config = getattr(service, "deployment_configuration", None)
    if config:
        out["deploymentConfiguration"] = config
    if d.rolled_back_to:
        out["rollback"] = {"reason": d.reason, "startedAt": m._at(d.updated_at)}
    return out


def list_service_deployments(self: Any) -> ActionResult:
    backend = self.ecs_backend
    with m.LOCK:
        m.advance(backend)
        service = backend._get_service(self._get_param("cluster", "default"), self._get_param("service"))
        model = m._model(service, m.clock())
        wanted = self._get_param("status") or []
        briefs = [_brief(service, model, d) for d in model.history]
        briefs = [b for b in briefs if not wanted or b["status"] in wanted]
    return ActionResult({"serviceDeployments": briefs})


def describe_service_deployments(self: Any) -> ActionResult:
    backend = self.ecs_backend
    arns = self._get_param("serviceDeploymentArns") or []
    found, failures = [], []
    with m.LOCK:
        m.advance(backend)
        for arn in arns:
            match = None
            for service in backend.services.values():
                model = getattr(service, "bed", None)
                for d in model.history if model else []:
                    if d.arn == arn:
                        match = _full(service, model, d)
            if match:
                found.append(match)
            else:
                failures.append({"arn": arn, "reason": "MISSING"})
    return ActionResult({"serviceDeployments": found, "failures": failures})


def _deregister_scalable_target(original: Callable[..., Any]) -> Callable[..., Any]:
    def deregister_scalable_target(self: Any, namespace: str, r_id: str, dimension: str) -> None:
        # Application Auto Scaling's API reference, DeregisterScalableTarget:
        # ObjectNotFoundException "is thrown if the scalable target with the specified
        # service namespace, resource ID, and scalable dimension does not exist";
        # moto answers ValidationException.
        if not self._scalable_target_exists(r_id, dimension):
            raise JsonRESTError(
                "ObjectNotFoundException",
                f"No scalable target registered for service namespace: {namespace}, resource ID: {r_id}, "
                f"scalable dimension: {dimension}",
            )
        return original(self, namespace, r_id, dimension)

    return deregister_scalable_target


def install() -> None:
    if moto.__version__ != m.PINNED_MOTO:
        raise RuntimeError(f"the ECS model is written for moto {m.PINNED_MOTO}, found {moto.__version__}")
    if getattr(Backend, "_bed_installed", False):
        return
    Backend._bed_installed = True
    # First, so that DeleteCluster checks the services before the tasks.
    ecs_tasks_moto.install()
    for name in ("describe_services", "describe_clusters", "register_container_instance", "deregister_container_instance"):
        setattr(Backend, name, _advancing(getattr(Backend, name)))
    Backend.list_services = _advancing(_list_services(Backend.list_services))
    Backend.create_service = _create_service(Backend.create_service)
    Backend.update_service = _update_service(Backend.update_service)
    Backend.delete_service = _delete_service(Backend.delete_service)
    Backend.delete_cluster = _delete_cluster(Backend.delete_cluster)
    Response.create_service = _respond_create_service(Response.create_service)
    Response.list_service_deployments = list_service_deployments
    Response.describe_service_deployments = describe_service_deployments
    AutoScaling.deregister_scalable_target = _deregister_scalable_target(AutoScaling.deregister_scalable_target)
