"""Pods: status reset on create, admission defaults, a grace period on delete, and binding to a node.

Upstream: `pkg/registry/core/pod/strategy.go` (PrepareForCreate, CheckGracefulDelete, the selectable fields),
`pkg/registry/core/pod/storage/storage.go` (BindingREST: the binding subresource the scheduler posts), and the
admission plugins this server runs on every new pod, `plugin/pkg/admission/defaulttolerationseconds/admission.go`
and (when the server issues tokens) `plugin/pkg/admission/serviceaccount/admission.go`, and the Priority plugin
(`plugin/pkg/admission/priority/admission.go`), all composed into `admit` by app.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubeling.api import errors, meta
from kubeling.api.defaults import default_toleration_seconds
from kubeling.api.types import Obj
from kubeling.apiserver.strategies.base import Strategy, served

if TYPE_CHECKING:
    from kubeling.apiserver.registry import Registry


PODS = served("", "pods")
SELECTABLE_FIELDS = ("spec.nodeName", "status.phase", "spec.schedulerName", "spec.restartPolicy",
                     "spec.serviceAccountName", "status.podIP")
# Upstream's default when a pod sets no terminationGracePeriodSeconds.
DEFAULT_GRACE_SECONDS = 30


class PodStrategy(Strategy):
    def __init__(self, toleration_seconds: tuple[int, int] = (300, 300),
                 admit: Callable[[Obj, str], None] | None = None) -> None:
        """`toleration_seconds`: (not-ready, unreachable) for pods that set none; `admit(pod, asked_name)`:
        the admission of a new pod that reads other objects (admission.py: its service account), or None."""
        super().__init__(PODS, reset_status_on_create=True, selectable_fields=SELECTABLE_FIELDS)
        self.toleration_seconds = toleration_seconds
        self.admit = admit

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        super().prepare_for_create(obj, asked_name)
        default_toleration_seconds(obj, *self.toleration_seconds)
        if self.admit is not None:
            self.admit(obj, asked_name)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        """As upstream's podStatusStrategy: a status write also carries the pod's labels and annotations (the
        scheduler writes its record of an unschedulable pod with the Unschedulable condition); the spec, owner
        references and the rest of metadata stay. A write that sends no labels (or annotations) keeps them."""
        kept = super().prepare_for_status_update(new, old)
        for field in ("labels", "annotations"):
            value = (new.get("metadata") or {}).get(field)
            if value is not None:
                kept["metadata"][field] = value
        return kept

    def grace_period(self, obj: Obj, requested: Any) -> int:
        spec, status = obj.get("spec", {}), obj.get("status", {})
        # A pod no kubelet runs (unscheduled or finished) has nobody to wait for.
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if isinstance(requested, int) and requested >= 0:
            grace = requested
        elif obj["metadata"].get("deletionGracePeriodSeconds") is not None:
            grace = obj["metadata"]["deletionGracePeriodSeconds"]
        else:
            grace = spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        current = obj["metadata"].get("deletionGracePeriodSeconds")
        # A second delete may shorten the grace period, never lengthen it.
        if current is not None:
            grace = min(grace, current)
        return int(grace)


def bind(registry: Registry, namespace: str, name: str, binding: Obj) -> None:
    """POST pods/<name>/binding: set the pod's node, once (the scheduler's write)."""
    target = (binding or {}).get("target") or {}
    node = target.get("name")
    if not isinstance(node, str) or not node:
        raise errors.invalid("Binding", "", name, [errors.cause("target.name", "Required value",
                                                                   "FieldValueRequired")])
    uid = (binding.get("metadata") or {}).get("uid")
    annotations = (binding.get("metadata") or {}).get("annotations") or {}

    def assign(pod: Obj) -> Obj:
        if uid and uid != pod["metadata"]["uid"]:
            raise errors.conflict("pods", "", name, "the UID in the binding does not match the pod")
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", "", name, "pod is being deleted, cannot be assigned to a host")
        if pod.get("spec", {}).get("nodeName"):
            raise errors.conflict("pods", "", name, f'pod {name} is already assigned to node '
                                                     f'"{pod["spec"]["nodeName"]}"')
        pod["spec"]["nodeName"] = node
        if annotations:  # upstream's setPodHostAndAnnotations: the scheduler's record travels on the binding
            pod["metadata"]["annotations"] = {**(pod["metadata"].get("annotations") or {}), **annotations}
        set_condition(pod, "PodScheduled", "True")
        # Upstream replaces the whole condition: a scheduler's earlier "Unschedulable" reason must not stay.
        for condition in pod["status"]["conditions"]:
            if condition.get("type") == "PodScheduled":
                condition.pop("reason", None)
                condition.pop("message", None)
        return pod

    registry.guaranteed_update(PODS, namespace, name, assign)


def set_condition(obj: Obj, kind: str, status: str, reason: str = "", message: str = "") -> None:
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    for condition in conditions:
        if condition.get("type") == kind:
            if condition.get("status") != status:
                condition["lastTransitionTime"] = meta.now()
            condition["status"] = status
            break
    else:
        condition = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": meta.now()}
        conditions.append(condition)
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
