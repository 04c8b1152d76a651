"""Validation of the `scheduling.k8s.io` group: priority classes.

Upstream: pkg/apis/scheduling/validation/validation.go (ValidatePriorityClass, ValidatePriorityClassUpdate) and
the reserved values of pkg/apis/scheduling/types.go.
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.api.validation.common import forbidden, immutable, not_supported
from kubeling.api.validation.meta import validate_object
from kubeling.api.validation.schema import BOOL, INT, STR, root

Causes = list[dict[str, str]]

# User-defined classes may go up to a billion; above that is reserved for the system's own classes.
HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_CRITICAL_PRIORITY = 2 * HIGHEST_USER_DEFINABLE_PRIORITY
SYSTEM_PREFIX = "system-"
# The classes every cluster has (pkg/apis/scheduling/types.go and pkg/registry/scheduling/rest/storage_scheduling.go).
SYSTEM_PRIORITY_CLASSES: dict[str, tuple[int, str]] = {
    "system-node-critical": (SYSTEM_CRITICAL_PRIORITY + 1000,
                             "Used for system critical pods that must not be moved from their current node."),
    "system-cluster-critical": (SYSTEM_CRITICAL_PRIORITY, "Used for system critical pods that must run in the "
                                                          "cluster, but can be moved to another node if necessary."),
}
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")

SCHEMA = root(value=INT, globalDefault=BOOL, description=STR, preemptionPolicy=STR)


def _validate(pc: Obj) -> Causes:
    name = pc["metadata"].get("name") or ""
    value = pc.get("value")
    out: Causes = []
    if name.startswith(SYSTEM_PREFIX):
        known = SYSTEM_PRIORITY_CLASSES.get(name)
        if known is None:
            out.append(forbidden("metadata.name", "priority class names with 'system-' prefix are reserved"))
        elif value != known[0]:
            out.append(forbidden("value", f"value of {name} PriorityClass must be {known[0]}"))
    elif not isinstance(value, int) or value > HIGHEST_USER_DEFINABLE_PRIORITY:
        out.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                      f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    policy = pc.get("preemptionPolicy")
    if policy is not None and policy not in PREEMPTION_POLICIES:
        out.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    return out


def _validate_update(new: Obj, old: Obj) -> Causes:
    return immutable(new, old, "value", "") + immutable(new, old, "preemptionPolicy", "")


def validate_priority_class(obj: Obj, old: Obj | None = None) -> Causes:
    """A PriorityClass (upstream's ValidatePriorityClass / ValidatePriorityClassUpdate)."""
    return validate_object(SCHEMA, obj, old, namespaced=False, rules=_validate, update_rules=_validate_update)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "PriorityClass": validate_priority_class,
}
