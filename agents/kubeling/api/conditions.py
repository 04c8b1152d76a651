"""Status conditions: find one by type, and set one the way upstream does.

A condition's `lastTransitionTime` says when its *status* last changed, so it moves only when the status does;
a new reason or message keeps it. Upstream: `SetStatusCondition` / `FindStatusCondition` in
k8s.io/apimachinery/pkg/api/meta/conditions.go, and the per-kind copies of the same rule (`UpdatePodCondition`
in pkg/api/v1/pod/util.go, `SetDeploymentCondition` in pkg/controller/deployment/util/deployment_util.go).
"""

from __future__ import annotations

from collections.abc import Iterable

from kubeling.api import meta
from kubeling.api.types import Condition, Obj

# The fields that tell when, not what: a condition that differs only in these has not changed.
TIMESTAMPS = ("lastTransitionTime", "lastProbeTime", "lastHeartbeatTime", "lastUpdateTime")


def find_condition(conditions: Iterable[Condition] | None, kind: str) -> Condition | None:
    """The condition of type `kind` in a list of conditions, if any."""
    for condition in conditions or ():
        if condition.get("type") == kind:
            return condition
    return None


def get_condition(obj: Obj, kind: str) -> Condition | None:
    """The condition of type `kind` in `obj`'s status (a pod's, a node's, a job's ...), if any."""
    return find_condition((obj.get("status") or {}).get("conditions"), kind)


def is_true(obj: Obj, kind: str) -> bool:
    """`obj` has the condition `kind` with status "True"."""
    condition = get_condition(obj, kind)
    return condition is not None and condition.get("status") == "True"


def transition_time(previous: Condition | None, status: str, now: str) -> str:
    """The lastTransitionTime of a condition that now has `status`: the previous one's while the status stays,
    else `now`."""
    if previous is not None and previous.get("status") == status and previous.get("lastTransitionTime"):
        return str(previous["lastTransitionTime"])
    return now


def set_condition(conditions: list[Condition], condition: Condition, now: str | None = None) -> bool:
    """Put `condition` into `conditions`, replacing the one of its type; True when it changed.

    A condition that differs from the one in place only in its timestamps changes nothing (upstream's
    UpdatePodCondition). Otherwise it replaces it, keeping its lastTransitionTime while the status stays the same;
    a new status, or a new condition, takes the condition's own lastTransitionTime, else `now`."""
    new: Condition = {**condition}
    previous = find_condition(conditions, new.get("type", ""))
    if previous is None:
        new["lastTransitionTime"] = new.get("lastTransitionTime") or now or meta.now()
        conditions.append(new)
        return True
    if _without_timestamps(previous) == _without_timestamps(new):
        return False  # unchanged, down to the times it was last probed or updated
    if previous.get("status") == new.get("status") and previous.get("lastTransitionTime"):
        new["lastTransitionTime"] = previous["lastTransitionTime"]
    else:
        new["lastTransitionTime"] = new.get("lastTransitionTime") or now or meta.now()
    conditions[conditions.index(previous)] = new
    return True


def remove_condition(conditions: list[Condition], kind: str) -> bool:
    """Drop the condition of type `kind`; True when there was one."""
    before = len(conditions)
    conditions[:] = [c for c in conditions if c.get("type") != kind]
    return len(conditions) != before


def _without_timestamps(condition: Condition) -> dict[str, object]:
    return {key: value for key, value in condition.items() if key not in TIMESTAMPS}
