"""Makes moto's Application Auto Scaling deletes answer as the API reference documents.

[ObjectNotFoundException]: "For any operation that deletes or deregisters a resource,
this exception is thrown if the resource cannot be found." moto 5.2.5 answers
ValidationException instead, for DeleteScalingPolicy and DeregisterScalableTarget.
[API-DeregisterScalableTarget]: "Deregistering a scalable target deletes the scaling
policies and the scheduled actions that are associated with it." moto keeps the policies.

A client that deletes something a second time (its first answer was lost, or it read a
status older than its last write) must meet AWS's answer, or the bed reports a stuck
deletion AWS would not cause; and a policy left behind by a deregistration is one AWS
would not keep.

[ObjectNotFoundException]: https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DeleteScalingPolicy.html
[API-DeregisterScalableTarget]: https://docs.aws.amazon.com/autoscaling/application/APIReference/API_DeregisterScalableTarget.html
"""

from __future__ import annotations

from typing import Any, Callable

from moto.applicationautoscaling import models as aas_models
from moto.core.exceptions import JsonRESTError

Backend = aas_models.ApplicationAutoscalingBackend
Policy = aas_models.FakeApplicationAutoscalingPolicy


class ObjectNotFound(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


def _delete_scaling_policy(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_scaling_policy(
        self: Any, policy_name: str, service_namespace: str, resource_id: str, scalable_dimension: str
    ) -> Any:
        key = Policy.formulate_key(service_namespace, resource_id, scalable_dimension, policy_name)
        if key not in self.policies:
            raise ObjectNotFound(
                f"No scaling policy found for service namespace: {service_namespace}, resource ID: {resource_id}, "
                f"scalable dimension: {scalable_dimension}, policy name: {policy_name}"
            )
        return original(self, policy_name, service_namespace, resource_id, scalable_dimension)

    return delete_scaling_policy


def _deregister_scalable_target(original: Callable[..., Any]) -> Callable[..., Any]:
    def deregister_scalable_target(self: Any, namespace: str, r_id: str, dimension: str) -> Any:
        if not self._scalable_target_exists(r_id, dimension):
            raise ObjectNotFound(
                f"No scalable target found for service namespace: {namespace}, resource ID: {r_id}, "
                f"scalable dimension: {dimension}"
            )
        result = original(self, namespace, r_id, dimension)
        for key, policy in list(self.policies.items()):
            if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == (
                namespace,
                r_id,
                dimension,
            ):
                policy.delete_alarms(self.account_id, self.region_name)
                del self.policies[key]
        return result

    return deregister_scalable_target


def install() -> None:
    if getattr(Backend, "_bed_as_documented", False):
        return
    Backend._bed_as_documented = True
    Backend.delete_scaling_policy = _delete_scaling_policy(Backend.delete_scaling_policy)
    Backend.deregister_scalable_target = _deregister_scalable_target(Backend.deregister_scalable_target)
