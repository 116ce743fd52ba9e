"""Makes moto's ELBv2 create calls idempotent as the ELBv2 API reference documents.

[API-CreateLoadBalancer], [API-CreateTargetGroup] and [API-CreateListener] each say:
"This operation is idempotent, which means that it completes at most one time. If you
attempt to create multiple <resources> with the same settings, each call succeeds."
With other settings the name (or the listener's port) is taken: DuplicateLoadBalancerName,
DuplicateTargetGroupName, DuplicateListener. moto 5.2.5 instead creates a second load
balancer with the same name and a second listener on the same port (its checks compare a
name or a port with ARNs), and refuses a repeated identical target group. A client whose
first answer was lost (the fault proxy answers 500 after moto did the work) and whose SDK
retries must meet AWS's behaviour here, or the bed shows leaks AWS would not have.

[API-CreateLoadBalancer]: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html
[API-CreateTargetGroup]: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
[API-CreateListener]: https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateListener.html
"""

from __future__ import annotations

import copy
from typing import Any, Callable

from moto.elbv2 import exceptions as elb_errors
from moto.elbv2 import models as elb_models

Backend = elb_models.ELBv2Backend


def _subnet_ids(subnet_ids: list[str] | None, mappings: list[dict[str, str]] | None) -> set[str]:
    return set(subnet_ids or []) | {m["SubnetId"] for m in mappings or []}


def _create_load_balancer(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_load_balancer(self: Any, name: str, security_groups: list[str], subnet_ids: list[str], **kwargs: Any) -> Any:
        for existing in self.load_balancers.values():
            if existing.name != name:
                continue
            same = (
                (existing.scheme or "internet-facing") == (kwargs.get("scheme") or "internet-facing")
                and existing.type == (kwargs.get("loadbalancer_type") or "application")
                and {s.id for s in existing.subnets} == _subnet_ids(subnet_ids, kwargs.get("subnet_mappings"))
                and set(existing.security_groups or []) == set(security_groups or [])
            )
            if same:
                return existing
            raise elb_errors.DuplicateLoadBalancerName()
        return original(self, name, security_groups, subnet_ids, **kwargs)

    return create_load_balancer


# CreateTargetGroup's settings a repeat must match (moto's keyword names).
TARGET_GROUP_SETTINGS = (
    ("vpc_id", "vpc_id"),
    ("protocol", "protocol"),
    ("port", "port"),
    ("target_type", "target_type"),
    ("healthcheck_path", "health_check_path"),
)


def _create_target_group(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_target_group(self: Any, name: str, **kwargs: Any) -> Any:
        for existing in self.target_groups.values():
            if existing.name != name:
                continue
            same = all(
                kwargs.get(given) is None or str(kwargs[given]) == str(getattr(existing, attr))
                for given, attr in TARGET_GROUP_SETTINGS
            )
            if same:
                return existing
            raise elb_errors.DuplicateTargetGroupName()
        return original(self, name, **kwargs)

    return create_target_group


def _action_data(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # FakeAction fills defaults into what it is given: compare in that form.
    return [elb_models.FakeAction(copy.deepcopy(a)).data for a in actions]


def _create_listener(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_listener(self: Any, load_balancer_arn: str, protocol: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is not None:
            for existing in balancer.listeners.values():
                if str(existing.port) != str(port):
                    continue
                actions = kwargs.get("actions", args[2] if len(args) > 2 else [])
                same = (existing.protocol == (protocol or "").upper()) and [
                    a.data for a in existing.default_actions
                ] == _action_data(actions)
                if same:
                    return existing
                raise elb_errors.DuplicateListenerError()
        return original(self, load_balancer_arn, protocol, port, *args, **kwargs)

    return create_listener


def install() -> None:
    if getattr(Backend, "_bed_idempotent", False):
        return
    Backend._bed_idempotent = True
    Backend.create_load_balancer = _create_load_balancer(Backend.create_load_balancer)
    Backend.create_target_group = _create_target_group(Backend.create_target_group)
    Backend.create_listener = _create_listener(Backend.create_listener)
