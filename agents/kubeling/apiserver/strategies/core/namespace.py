"""Namespaces: their phase, the spec.finalizers that hold a deleted namespace, and which namespaces stay forever.

Upstream: `pkg/registry/core/namespace/strategy.go` (PrepareForCreate: phase Active),
`pkg/registry/core/namespace/storage/storage.go` (Delete: phase Terminating, kept while spec.finalizers is not
empty; FinalizeREST: the finalize subresource the namespace controller writes last), and
`plugin/pkg/admission/namespace/lifecycle/admission.go` (no new content in a terminating namespace; the
immortal namespaces).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeling.api import errors, meta
from kubeling.api.types import Obj
from kubeling.apiserver.strategies.base import Strategy, served

if TYPE_CHECKING:
    from kubeling.apiserver.registry import Registry


NAMESPACES = served("", "namespaces")
# Namespaces that exist from the start and can never be deleted.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")


class NamespaceStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(NAMESPACES, selectable_fields=("status.phase",))

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        super().prepare_for_create(obj, asked_name)
        obj.setdefault("status", {})["phase"] = "Active"

    def check_delete(self, name: str) -> None:
        if name in PROTECTED_NAMESPACES:
            raise errors.StatusError(
                403, f'namespaces "{name}" is forbidden: this namespace may not be deleted', "Forbidden",
                name=name, kind="namespaces")

    def holds_deletion(self, obj: Obj) -> bool:
        # The namespace controller empties spec.finalizers (through /finalize) once the content is gone.
        return bool(obj.get("spec", {}).get("finalizers"))

    def prepare_for_delete(self, obj: Obj, grace: int) -> None:
        super().prepare_for_delete(obj, grace)
        obj.setdefault("status", {})["phase"] = "Terminating"


def check_open(registry: Registry, namespace: str) -> None:
    """Refuse new content in a namespace that does not exist or is being deleted (NamespaceLifecycle)."""
    # Trust the watch cache when it knows the namespace, and ask etcd only when it does not (it may have been
    # created a moment ago).
    ns = registry.cached(NAMESPACES, None, namespace) or registry.store.try_get(NAMESPACES, None, namespace)
    if ns is None:
        raise errors.not_found("namespaces", "", namespace)
    if ns["metadata"].get("deletionTimestamp") or ns.get("status", {}).get("phase") == "Terminating":
        raise errors.StatusError(
            403,
            f"unable to create new content in namespace {namespace} because it is being terminated",
            "Forbidden",
            name=namespace,
            kind="namespaces",
        )


def finalize(registry: Registry, name: str, body: Obj) -> Obj:
    """PUT namespaces/<name>/finalize: replace spec.finalizers; a deleted namespace with none left goes."""
    finalizers = ((body or {}).get("spec") or {}).get("finalizers") or []
    current = registry.store.get(NAMESPACES, None, name)
    new = meta.deep_copy(current)
    new.setdefault("spec", {})["finalizers"] = finalizers
    expected = int(current["metadata"]["resourceVersion"])
    if current["metadata"].get("deletionTimestamp") and not finalizers and not new["metadata"].get("finalizers"):
        return registry.remove(NAMESPACES, new, expected)
    return registry.store.update(NAMESPACES, new, expected)
