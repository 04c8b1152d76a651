"""What an object costs against a ResourceQuota, and whether a namespace can afford it: the pure part of quota,
shared by the API server's admission (apiserver/resourcequota.py) and the quota controller
(controllers/resourcequota.py).

Every object counts 1 against `count/<resource>` (`count/deployments.apps`, `count/pods`); a few core kinds also
have their own names (`pods`, `services`, `secrets`, ...). Pods count their containers' requests and limits
(`requests.cpu`, which `cpu` is a synonym of, `limits.memory`, ...), claims their storage. A finished pod costs
nothing. A quota's scopes narrow which pods it counts.

Upstream: pkg/quota/v1/evaluator/core/{pods,services,persistent_volume_claims}.go, the generic object-count
evaluator (staging/src/k8s.io/apiserver/pkg/quota/v1/generic), and pkg/quota/v1/resources.go (LessThanOrEqual,
Add, Subtract).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable

from kubeling.api.quantity import parse_quantity
from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj

Usage = dict[str, decimal.Decimal]

# Core kinds' own quota names, besides count/<resource>.
OBJECT_COUNT_NAMES = {
    "pods": "pods", "services": "services", "configmaps": "configmaps", "secrets": "secrets",
    "persistentvolumeclaims": "persistentvolumeclaims", "replicationcontrollers": "replicationcontrollers",
    "resourcequotas": "resourcequotas",
}
# Compute resources a pod is charged for: quota name → (requests or limits, resource).
POD_COMPUTE = {
    "cpu": ("requests", "cpu"), "memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"), "requests.memory": ("requests", "memory"),
    "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
    "ephemeral-storage": ("requests", "ephemeral-storage"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
    "limits.ephemeral-storage": ("limits", "ephemeral-storage"),
}


def count_name(rtype: ResourceType) -> str:
    """`count/pods`, `count/deployments.apps`."""
    return f"count/{rtype.qualified}"


def container_amounts(pod: Obj, kind: str) -> dict[str, decimal.Decimal]:
    """The pod's `requests` or `limits` per resource: containers add up, an init container runs alone, so the
    pod needs the larger of the two (upstream's PodRequests/PodLimits without overhead)."""
    spec = pod.get("spec") or {}
    total: dict[str, decimal.Decimal] = {}
    for container in spec.get("containers") or []:
        for name, amount in ((container.get("resources") or {}).get(kind) or {}).items():
            total[name] = total.get(name, decimal.Decimal(0)) + parse_quantity(amount)
    for container in spec.get("initContainers") or []:
        for name, amount in ((container.get("resources") or {}).get(kind) or {}).items():
            total[name] = max(total.get(name, decimal.Decimal(0)), parse_quantity(amount))
    return total


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_best_effort(pod: Obj) -> bool:
    return not any((c.get("resources") or {}).get(kind) for c in (pod.get("spec") or {}).get("containers") or []
                   for kind in ("requests", "limits"))


def pod_in_scope(pod: Obj, quota: Obj) -> bool:
    """Whether the quota's scopes (and scopeSelector) select this pod (upstream's podMatchesScopeFunc)."""
    spec = quota.get("spec") or {}
    scopes = list(spec.get("scopes") or [])
    expressions = ((spec.get("scopeSelector") or {}).get("matchExpressions")) or []
    pod_spec = pod.get("spec") or {}
    for scope in scopes:
        if scope == "Terminating" and pod_spec.get("activeDeadlineSeconds") is None:
            return False
        if scope == "NotTerminating" and pod_spec.get("activeDeadlineSeconds") is not None:
            return False
        if scope == "BestEffort" and not is_best_effort(pod):
            return False
        if scope == "NotBestEffort" and is_best_effort(pod):
            return False
    for expression in expressions:
        if expression.get("scopeName") != "PriorityClass":
            continue
        value, values = pod_spec.get("priorityClassName") or "", expression.get("values") or []
        operator = expression.get("operator")
        if (operator == "In" and value not in values) or (operator == "NotIn" and value in values) or \
                (operator == "Exists" and not value) or (operator == "DoesNotExist" and value):
            return False
    return True


def usage(rtype: ResourceType, obj: Obj) -> Usage:
    """What one object costs, under every name a quota may limit."""
    one = decimal.Decimal(1)
    if rtype.kind == "Pod" and is_terminal(obj):
        return {}
    cost: Usage = {count_name(rtype): one}
    if not rtype.group and rtype.plural in OBJECT_COUNT_NAMES:
        cost[OBJECT_COUNT_NAMES[rtype.plural]] = one
    if rtype.kind == "Pod":
        for name, (kind, resource) in POD_COMPUTE.items():
            amounts = container_amounts(obj, kind)
            if resource in amounts:
                cost[name] = amounts[resource]
    elif rtype.kind == "Service":
        spec = obj.get("spec") or {}
        if spec.get("type") in ("NodePort", "LoadBalancer"):  # every port of such a Service takes a node port
            cost["services.nodeports"] = decimal.Decimal(len(spec.get("ports") or []))
        if spec.get("type") == "LoadBalancer":
            cost["services.loadbalancers"] = one
    elif rtype.kind == "PersistentVolumeClaim":
        storage = ((obj.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
        if storage is not None:
            cost["requests.storage"] = parse_quantity(storage)
            klass = (obj.get("spec") or {}).get("storageClassName")
            if klass:
                cost[f"{klass}.storageclass.storage.k8s.io/requests.storage"] = parse_quantity(storage)
                cost[f"{klass}.storageclass.storage.k8s.io/persistentvolumeclaims"] = one
    return cost


def charged(rtype: ResourceType, obj: Obj, quota: Obj) -> Usage:
    """The object's cost restricted to what this quota limits and selects."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    if rtype.kind == "Pod" and not pod_in_scope(obj, quota):
        return {}
    return {name: amount for name, amount in usage(rtype, obj).items() if name in hard}


def total(rtype: ResourceType, objects: Iterable[Obj], quota: Obj) -> Usage:
    """What a namespace's objects of one type use against the quota."""
    used: Usage = {}
    for obj in objects:
        for name, amount in charged(rtype, obj, quota).items():
            used[name] = used.get(name, decimal.Decimal(0)) + amount
    return used


def missing_requests(pod: Obj, quota: Obj) -> list[str]:
    """Compute resources the quota limits that some container does not state: upstream refuses such a pod
    (`must specify limits.cpu for: web`), since its cost would be unbounded."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    if not pod_in_scope(pod, quota):
        return []
    out = []
    for name in sorted(hard):
        if name not in POD_COMPUTE or name in ("ephemeral-storage", "requests.ephemeral-storage",
                                               "limits.ephemeral-storage"):
            continue
        kind, resource = POD_COMPUTE[name]
        lacking = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []
                   if resource not in ((c.get("resources") or {}).get(kind) or {})]
        if lacking:
            out.append(f"{name} for: {','.join(lacking)}")
    return out


def format_quantity(amount: decimal.Decimal, like: object = None) -> str:
    """A quantity as the API writes it: whole numbers plain (in binary units, `128Mi`, when `like` is written in
    them and the amount divides evenly), fractions in thousandths (`500m`)."""
    binary = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
    if isinstance(like, str) and like.endswith(tuple(suffix for suffix, _ in binary)) and amount:
        for suffix, factor in binary:  # the largest binary suffix that divides evenly, as upstream canonicalises
            if amount % factor == 0:
                return f"{int(amount // factor)}{suffix}"
    if amount == amount.to_integral_value():
        return str(int(amount))
    return f"{int((amount * 1000).to_integral_value(rounding=decimal.ROUND_CEILING))}m"


def over(hard: dict[str, object], used: Usage, extra: Usage) -> list[str]:
    """The names whose use would pass the hard limit with `extra` added."""
    return sorted(name for name, amount in extra.items()
                  if used.get(name, decimal.Decimal(0)) + amount > parse_quantity(hard[name]))


def as_status(hard: dict[str, object], used: Usage) -> dict[str, dict[str, str]]:
    """A ResourceQuota's `status`: the hard limits, and `used` for each of them (0 when nothing uses it)."""
    return {"hard": dict(hard),  # type: ignore[dict-item]
            "used": {name: format_quantity(used.get(name, decimal.Decimal(0)), hard[name]) for name in hard}}
