"""Storage object in-use protection: a claim is not removed while a pod uses it, a volume not while it is bound.

Upstream: pkg/controller/volume/pvcprotection/pvc_protection_controller.go and
pkg/controller/volume/pvprotection/pv_protection_controller.go. The API server puts the finalizer on every new
object (apiserver/strategies/core/persistentvolume.py, as upstream's StorageObjectInUseProtection admission);
these controllers add it to objects that lack it, and remove it from a deleted object once nothing needs it, so
`kubectl delete pvc` of a claim in use leaves it Terminating until its pods are gone.

A pod uses a claim when it is scheduled (a pod on no node has started nothing, and the kubelet refuses to start
one whose claim is being deleted), has not finished (Succeeded or Failed), and names the claim in a
`persistentVolumeClaim` volume. A volume is in use while its phase is Bound: the binder moves it to Released
once its claim is gone.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kubeling.api import meta, storage
from kubeling.api.resources import must_lookup
from kubeling.api.types import Obj
from kubeling.client import errors
from kubeling.client.api import Client
from kubeling.client.events import EventRecorder
from kubeling.client.keys import key, split_key
from kubeling.controllers.base import Controller, InformerFactory

VOLUMES = must_lookup("", "persistentvolumes")
CLAIMS = must_lookup("", "persistentvolumeclaims")
PODS = must_lookup("", "pods")


# Pure decisions


def claims_of(pod: Obj) -> list[str]:
    """The names of the claims a pod's volumes name."""
    names = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        source = volume.get("persistentVolumeClaim") if isinstance(volume, dict) else None
        if isinstance(source, dict) and source.get("claimName"):
            names.append(source["claimName"])
    return names


def pod_uses_claim(pod: Obj, claim_name: str) -> bool:
    """Whether the pod holds the claim: scheduled, not finished, and naming it in a volume."""
    if not (pod.get("spec") or {}).get("nodeName"):
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return claim_name in claims_of(pod)


def volume_in_use(volume: Obj) -> bool:
    """pvprotection's isBeingUsed: the binder says the volume is Bound."""
    return (volume.get("status") or {}).get("phase") == "Bound"


def is_deletion_candidate(obj: Obj, finalizer: str) -> bool:
    """Deleted, and still held by our finalizer."""
    metadata = obj.get("metadata") or {}
    return bool(metadata.get("deletionTimestamp")) and finalizer in (metadata.get("finalizers") or [])


def needs_finalizer(obj: Obj, finalizer: str) -> bool:
    """Not deleted, and without our finalizer."""
    metadata = obj.get("metadata") or {}
    return not metadata.get("deletionTimestamp") and finalizer not in (metadata.get("finalizers") or [])


# Controllers


class _Protection(Controller):
    """Adds `finalizer` to objects of `rtype` that lack it; removes it from deleted ones no longer in use."""

    rtype = CLAIMS
    finalizer = ""

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: Any = None) -> None:
        super().__init__(client, informers, recorder, options)
        informer = informers.informer(self.rtype)
        self.objects = informer.store
        informer.add_handler(self._changed, lambda old, new: self._changed(new))

    def _changed(self, obj: Obj) -> None:
        if is_deletion_candidate(obj, self.finalizer) or needs_finalizer(obj, self.finalizer):
            self.enqueue(obj)

    def in_use(self, obj: Obj) -> bool:
        raise NotImplementedError

    def sync(self, object_key: str) -> None:
        obj = self.objects.get(object_key)
        if obj is None:
            return
        if is_deletion_candidate(obj, self.finalizer):
            if not self.in_use(obj):
                self._write_finalizers(obj, [f for f in obj["metadata"]["finalizers"] if f != self.finalizer])
        elif needs_finalizer(obj, self.finalizer):
            self._write_finalizers(obj, [*(obj["metadata"].get("finalizers") or []), self.finalizer])

    def _write_finalizers(self, obj: Obj, finalizers: list[str]) -> None:
        updated = meta.deep_copy(obj)
        updated["metadata"]["finalizers"] = finalizers
        with contextlib.suppress(errors.NotFound):  # gone already
            self.client.replace(self.rtype, updated)


class PVCProtectionController(_Protection):
    name = "pvc-protection"
    rtype = CLAIMS
    finalizer = storage.PVC_PROTECTION

    def __init__(self, client: Client, informers: InformerFactory, recorder: EventRecorder,
                 options: Any = None) -> None:
        super().__init__(client, informers, recorder, options)
        pod_informer = informers.informer(PODS)
        self.pods = pod_informer.store
        pod_informer.add_handler(self._pod_changed, lambda old, new: self._pod_changed(new), self._pod_changed)

    def _pod_changed(self, pod: Obj) -> None:
        """A pod that appears, finishes or goes may free a claim being deleted."""
        namespace = meta.namespace_of(pod)
        for name in claims_of(pod):
            claim = self.objects.get(key(namespace, name))
            if claim is not None and is_deletion_candidate(claim, self.finalizer):
                self.enqueue(claim)

    def in_use(self, claim: Obj) -> bool:
        namespace, name = split_key(meta.key_of(claim))
        if any(pod_uses_claim(pod, name) for pod in self.pods.list(namespace)):
            return True
        # The informer may not have seen a pod created a moment ago: ask the API server before letting go (as
        # upstream's askAPIServer).
        pods = self.client.list_all(PODS, namespace).get("items") or []
        return any(pod_uses_claim(pod, name) for pod in pods)


class PVProtectionController(_Protection):
    name = "pv-protection"
    rtype = VOLUMES
    finalizer = storage.PV_PROTECTION

    def in_use(self, volume: Obj) -> bool:
        return volume_in_use(volume)
