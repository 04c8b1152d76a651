"""POST pods/<name>/eviction: a delete that first asks the pod's PodDisruptionBudget (what `kubectl drain` uses).

An eviction is allowed when the budget's status (written by the disruption controller) says a disruption is
allowed; the API server then counts this one against it (decrements `disruptionsAllowed` and records the pod in
`disruptedPods`, in one conditional write) before deleting the pod, so two evictions racing for the last allowed
disruption cannot both win. Refused, it is a 429 that kubectl drain retries every 5 s.

Upstream: pkg/registry/core/pod/storage/eviction.go (EvictionREST.Create, checkAndDecrement, canIgnorePDB).
"""

from __future__ import annotations

import datetime

from kubeling.api import errors, meta
from kubeling.api.podutil import is_pod_ready
from kubeling.api.resources import must_lookup
from kubeling.api.selectors import selector_from_label_selector
from kubeling.api.types import Obj
from kubeling.apiserver.registry import Registry

PODS = must_lookup("", "pods")
BUDGETS = must_lookup("policy", "poddisruptionbudgets")
# More pods than this recorded as disrupted means the disruption controller is not keeping up.
MAX_DISRUPTED_PODS = 2000
REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."
SUCCESS: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def too_many_requests(cause: str) -> errors.StatusError:
    return errors.StatusError(429, REFUSED, "TooManyRequests",
                              causes=[{"reason": "DisruptionBudget", "message": cause}])


def budget_for(registry: Registry, pod: Obj) -> Obj | None:
    """The one budget whose selector picks the pod; more than one is an error, as upstream."""
    namespace, labels = pod["metadata"]["namespace"], pod["metadata"].get("labels") or {}
    matching = []
    for pdb in registry.list(BUDGETS, namespace).items:
        selector = (pdb.get("spec") or {}).get("selector")
        # policy/v1: an empty selector picks every pod of the namespace; a missing one picks none.
        if selector is not None and selector_from_label_selector(selector).matches(labels):
            matching.append(pdb)
    if len(matching) > 1:
        raise errors.StatusError(500, "This pod has more than one PodDisruptionBudget, which the eviction "
                                      "subresource does not support.", "InternalError")
    return matching[0] if matching else None


def can_ignore_budget(pod: Obj) -> bool:
    """A pod that is finished, not started, or already going away disrupts nothing by leaving."""
    return bool(pod["metadata"].get("deletionTimestamp")) or \
        (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed", "Pending")


def count_against(pdb: Obj, pod: Obj) -> Obj | None:
    """The budget's status with this eviction counted, or None when the pod may go without counting (an
    unhealthy pod under `AlwaysAllow`, or under `IfHealthyBudget` while the budget is met); raises the 429
    (or 403) when the budget allows no disruption now."""
    name, spec, status = pdb["metadata"]["name"], pdb.get("spec") or {}, pdb.get("status") or {}
    if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        raise too_many_requests(f"The disruption budget {name} is still being processed by the server.")
    if not is_pod_ready(pod):
        policy = spec.get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
        if policy == "AlwaysAllow" or status.get("currentHealthy", 0) >= status.get("desiredHealthy", 0) > 0:
            return None
    allowed = status.get("disruptionsAllowed", 0)
    if allowed < 0:
        raise errors.StatusError(403, "pdb disruptions allowed is negative", "Forbidden")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
        raise errors.StatusError(403, "DisruptedPods map too big - too many evictions not confirmed by PDB "
                                      "controller", "Forbidden")
    if allowed == 0:
        raise too_many_requests(f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy pods "
                                f"and has {status.get('currentHealthy', 0)} currently")
    counted = meta.deep_copy(status)
    counted["disruptionsAllowed"] = allowed - 1
    now = meta.format_time(datetime.datetime.now(datetime.UTC))
    counted.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now
    return counted


def evict(registry: Registry, namespace: str, name: str, eviction: Obj, dry_run: bool) -> Obj:
    """Answer an Eviction: delete the pod if its budget allows, counting the disruption first."""
    options = eviction.get("deleteOptions") or {}
    for _ in range(16):
        pod = registry.get(PODS, namespace, name)
        pdb = None if can_ignore_budget(pod) else budget_for(registry, pod)
        counted = count_against(pdb, pod) if pdb is not None else None
        if pdb is not None and counted is not None and not dry_run:
            written = dict(pdb, status=counted)
            try:
                registry.update(BUDGETS, namespace, pdb["metadata"]["name"], written, subresource="status")
            except errors.StatusError as exc:
                if exc.reason == "Conflict":
                    continue  # another eviction counted first: read the budget again
                raise
        registry.delete(PODS, namespace, name, options, dry_run=dry_run)
        return SUCCESS
    raise errors.StatusError(429, REFUSED, "TooManyRequests")
