"""Namespace deletion: empty a Terminating namespace, then drop its `kubernetes` finalizer so the API server
removes it (upstream's namespaced_resources_deleter).

Pods on nodes go Terminating and only vanish when their kubelet confirms, so a sync deletes what it can and
comes back (requeue after a short delay) until nothing is left.
"""

from __future__ import annotations

import logging

from kubeling.api import meta
from kubeling.api.conditions import transition_time
from kubeling.api.resources import ResourceType, all_types, must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client, resource_path
from kubeling.client.events import EventRecorder
from kubeling.controllers.base import Controller, InformerFactory
from kubeling.controllers.customresources import follow_custom_resources

log = logging.getLogger(__name__)

NAMESPACES = must_lookup("", "namespaces")
FINALIZER = "kubernetes"
RECHECK_SECONDS = 1.0

# Upstream's namespace condition types, each with the (reason, message) it has when all is well.
CONDITIONS_OK = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    "NamespaceDeletionContentFailure": ("ContentDeleted",
                                        "All content successfully deleted, may be waiting on finalization"),
    "NamespaceContentRemaining": ("ContentRemoved", "All content successfully removed"),
    "NamespaceFinalizersRemaining": ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


def namespaced_types() -> list[ResourceType]:
    """Every namespaced resource stored as itself that can be listed and deleted, custom resources included (as
    upstream's deleter keeps only resources with the `list` and `deletecollection` verbs: a LocalSubjectAccessReview
    is answered, never stored; events.k8s.io Events are the core Events, deleted once); events last, so the story
    of the deletion stays readable to the end."""
    types: dict[str, ResourceType] = {}
    for rtype in all_types():
        if rtype.namespaced and rtype.stored and {"list", "deletecollection"} <= set(rtype.verbs):
            types.setdefault(rtype.qualified, rtype)  # a custom resource's first served version stands for it
    return sorted(types.values(), key=lambda r: r.kind == "Event")


def deletion_conditions(remaining: dict[str, int], finalizers: dict[str, int], failures: list[str]) -> list[Obj]:
    """The namespace's status conditions given what is left: resource → count, finalizer → count, errors."""
    now = meta.now()
    problems: dict[str, tuple[str, str]] = {}
    if failures:
        problems["NamespaceDeletionContentFailure"] = ("ContentDeletionFailed",
                                                       "Failed to delete all resource types, "
                                                       f"{len(failures)} remaining: {', '.join(failures)}")
    if remaining:
        problems["NamespaceContentRemaining"] = ("SomeResourcesRemain", "Some resources are remaining: " + ", ".join(
            f"{resource} has {count} resource instances" for resource, count in sorted(remaining.items())))
    if finalizers:
        problems["NamespaceFinalizersRemaining"] = (
            "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: " + ", ".join(
                f"{name} in {count} resource instances" for name, count in sorted(finalizers.items())))
    conditions = []
    for kind, (reason, message) in CONDITIONS_OK.items():
        status = "True" if kind in problems else "False"
        reason, message = problems.get(kind, (reason, message))
        conditions.append({"type": kind, "status": status, "lastTransitionTime": now, "reason": reason,
                           "message": message})
    return conditions


class NamespaceController(Controller):
    name = "namespace"

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: None = None) -> None:
        super().__init__(client, informers, recorder)
        self.namespaces = informers.informer(NAMESPACES)
        self.namespaces.add_handler(self._on_namespace, lambda old, new: self._on_namespace(new))
        follow_custom_resources(informers)  # their objects are emptied from namespaces too

    def _on_namespace(self, namespace: Obj) -> None:
        if namespace["metadata"].get("deletionTimestamp"):
            self.enqueue(namespace)

    def sync(self, key: str) -> None:
        namespace = self.namespaces.store.get(key)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            return
        if FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return  # our part is done; other finalizers belong to someone else
        remaining, finalizers, failures = self._delete_content(key)
        self._write_conditions(namespace, deletion_conditions(remaining, finalizers, failures))
        if remaining or failures:
            self.queue.add_after(key, RECHECK_SECONDS)
            return
        self._finalize(key)

    def _delete_content(self, namespace: str) -> tuple[dict[str, int], dict[str, int], list[str]]:
        """Delete everything in the namespace; return what is still there (by resource and by finalizer)."""
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        failures: list[str] = []
        for rtype in namespaced_types():
            try:
                items = self.client.list_all(rtype, namespace).get("items") or []
                if not items:
                    continue
                if any(not item["metadata"].get("deletionTimestamp") for item in items):
                    self.client.request("DELETE", resource_path(rtype, namespace),
                                        body={"kind": "DeleteOptions", "apiVersion": "v1",
                                              "propagationPolicy": "Background"})
                    items = self.client.list_all(rtype, namespace).get("items") or []
            except errors.ApiError as exc:
                log.warning("namespace %s: cannot delete %s: %s", namespace, rtype.qualified, exc)
                failures.append(rtype.qualified)
                continue
            if items:
                remaining[rtype.qualified] = len(items)
                for item in items:
                    for finalizer in item["metadata"].get("finalizers") or []:
                        finalizers[finalizer] = finalizers.get(finalizer, 0) + 1
        return remaining, finalizers, failures

    def _write_conditions(self, namespace: Obj, conditions: list[Obj]) -> None:
        status = namespace.get("status") or {}
        old = {c["type"]: c for c in status.get("conditions") or []}
        if all(old.get(c["type"], {}).get(f) == c[f] for c in conditions for f in ("status", "reason", "message")):
            return
        for condition in conditions:
            condition["lastTransitionTime"] = transition_time(old.get(condition["type"]), condition["status"],
                                                              condition["lastTransitionTime"])
        updated = {**namespace, "status": {**status, "conditions": conditions}}
        try:
            self.client.replace_status(NAMESPACES, updated)
        except (errors.Conflict, errors.NotFound) as exc:
            log.debug("namespace %s: conditions not written: %s", namespace["metadata"]["name"], exc)

    def _finalize(self, name: str) -> None:
        try:
            current = self.client.get(NAMESPACES, name)
        except errors.NotFound:
            return
        spec = current.get("spec") or {}
        current["spec"] = {**spec, "finalizers": [f for f in spec.get("finalizers") or [] if f != FINALIZER]}
        try:
            self.client.replace(NAMESPACES, current, "finalize")
        except errors.NotFound:
            return
        log.info("namespace %s: content removed, finalized", name)
