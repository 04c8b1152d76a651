"""The LimitRanger admission plugin: the defaults and bounds a namespace's LimitRanges put on a new pod.

A container that states no limit gets the range's `default`, no request its `defaultRequest`; then every
container (type `Container`) and the pod as a whole (type `Pod`, its containers summed) must fit `min`, `max` and
`maxLimitRequestRatio`, or the pod is refused (403) with every reason. PersistentVolumeClaim ranges are not
checked here.

Upstream: plugin/pkg/admission/limitranger/admission.go (mergeContainerResources, PodValidateLimitFunc,
minConstraint, maxConstraint, limitRequestRatioConstraint); the range's own defaults (`default` from `max`,
`defaultRequest` from `default` or `min`) are in api/defaults.py, as pkg/apis/core/v1/defaults.go.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable

from kubeling.api import errors
from kubeling.api.quantity import parse_quantity
from kubeling.api.quota import container_amounts, format_quantity
from kubeling.api.types import Obj


def _set_missing(container: Obj, kind: str, defaults: dict[str, str]) -> None:
    resources = container.setdefault("resources", {})
    wanted = resources.setdefault(kind, {})
    for name, amount in defaults.items():
        wanted.setdefault(name, amount)


def _constraints(kind: str, item: Obj, requests: dict[str, decimal.Decimal],
                 limits: dict[str, decimal.Decimal]) -> list[str]:
    problems = []
    for name, low in sorted((item.get("min") or {}).items()):
        if name not in requests:
            problems.append(f"minimum {name} usage per {kind} is {low}.  No request is specified")
        elif requests[name] < parse_quantity(low):
            problems.append(f"minimum {name} usage per {kind} is {low}, but request is "
                            f"{format_quantity(requests[name], low)}")
    for name, high in sorted((item.get("max") or {}).items()):
        if name not in limits:
            problems.append(f"maximum {name} usage per {kind} is {high}.  No limit is specified")
        elif limits[name] > parse_quantity(high):
            problems.append(f"maximum {name} usage per {kind} is {high}, but limit is "
                            f"{format_quantity(limits[name], high)}")
    for name, ratio in sorted((item.get("maxLimitRequestRatio") or {}).items()):
        if name in limits and requests.get(name):
            actual = limits[name] / requests[name]
            if actual > parse_quantity(ratio):
                problems.append(f"{name} max limit to request ratio per {kind} is {ratio}, but provided ratio is "
                                f"{actual:f}")
    return problems


class LimitRanger:
    def __init__(self, list_ranges: Callable[[str], list[Obj]]) -> None:
        """`list_ranges(namespace)` returns the namespace's LimitRanges."""
        self.list_ranges = list_ranges

    def admit(self, pod: Obj, shown_name: str) -> None:
        ranges = self.list_ranges(pod["metadata"].get("namespace", ""))
        if not ranges:
            return
        items = [item for lr in ranges for item in (lr.get("spec") or {}).get("limits") or []]
        containers = [*((pod.get("spec") or {}).get("initContainers") or []),
                      *((pod.get("spec") or {}).get("containers") or [])]
        for item in items:
            if item.get("type") == "Container":
                for container in containers:
                    _set_missing(container, "limits", item.get("default") or {})
                    _set_missing(container, "requests", item.get("defaultRequest") or {})
        problems: list[str] = []
        for item in items:
            if item.get("type") == "Container":
                for container in containers:
                    resources = container.get("resources") or {}
                    requests, limits = (
                        {n: parse_quantity(v) for n, v in (resources.get(kind) or {}).items()}
                        for kind in ("requests", "limits"))
                    problems += _constraints("Container", item, requests, limits)
            elif item.get("type") == "Pod":
                problems += _constraints("Pod", item, container_amounts(pod, "requests"),
                                         container_amounts(pod, "limits"))
        if problems:
            why = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise errors.StatusError(403, f'pods "{shown_name}" is forbidden: {why}', "Forbidden",
                                     name=shown_name or None, kind="pods")
