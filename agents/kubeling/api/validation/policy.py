"""Validation of the `policy` group: pod disruption budgets.

Upstream: pkg/apis/policy/validation/validation.go (ValidatePodDisruptionBudget, ValidatePodDisruptionBudgetSpec).
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.api.validation.apps import int_or_percent
from kubeling.api.validation.common import as_dict, child, invalid, not_supported
from kubeling.api.validation.meta import validate_label_selector, validate_object
from kubeling.api.validation.schema import ANY_OBJ, INT, INT_OR_STR, LABEL_SELECTOR, STR, Arr, Map, S, root

Causes = list[dict[str, str]]

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")

SCHEMA = root(
    spec=S(minAvailable=INT_OR_STR, maxUnavailable=INT_OR_STR, selector=LABEL_SELECTOR,
           unhealthyPodEvictionPolicy=STR),
    status=S(observedGeneration=INT, disruptedPods=Map(STR), disruptionsAllowed=INT, currentHealthy=INT,
             desiredHealthy=INT, expectedPods=INT, conditions=Arr(ANY_OBJ)),
)


def _validate(pdb: Obj) -> Causes:
    spec, path = as_dict(pdb.get("spec")), "spec"
    out: Causes = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
    if spec.get("minAvailable") is not None:
        out += int_or_percent(spec["minAvailable"], child(path, "minAvailable"), max_percent=100)
    if spec.get("maxUnavailable") is not None:
        out += int_or_percent(spec["maxUnavailable"], child(path, "maxUnavailable"), max_percent=100)
    if isinstance(spec.get("selector"), dict):
        out += validate_label_selector(spec["selector"], child(path, "selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        out.append(not_supported(child(path, "unhealthyPodEvictionPolicy"), policy, UNHEALTHY_POD_EVICTION_POLICIES))
    return out


def validate_pod_disruption_budget(obj: Obj, old: Obj | None = None) -> Causes:
    """A PodDisruptionBudget (upstream's ValidatePodDisruptionBudget); in policy/v1 its spec may change."""
    return validate_object(SCHEMA, obj, old, namespaced=True, rules=_validate)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "PodDisruptionBudget": validate_pod_disruption_budget,
}
