"""What the API server and the volume controllers share about persistent storage: the annotations and
finalizers upstream names, which class a claim or volume belongs to, and which StorageClass is the default.

Upstream: pkg/apis/core/helper (GetPersistentVolumeClass, GetPersistentVolumeClaimClass),
pkg/apis/storage/util (IsDefaultAnnotation), plugin/pkg/admission/storage/storageclass/setdefault (the
DefaultStorageClass admission plugin) and pkg/volume/util (GetDefaultClass: the newest of several defaults).
"""

from __future__ import annotations

from typing import Any

from kubeling.api.types import Obj

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
BETA_DEFAULT_CLASS_ANNOTATION = "storageclass.beta.kubernetes.io/is-default-class"
# The class as an annotation, from before spec.storageClassName existed; still honoured where upstream does.
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"

# Written by the binder (pkg/controller/volume/persistentvolume/pv_controller.go).
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
# Set on a claim to ask a provisioner (named by the class) for a volume; the beta name is still written too.
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
# Set on a WaitForFirstConsumer claim by the scheduler: the node its first pod goes to.
SELECTED_NODE = "volume.kubernetes.io/selected-node"

# The protection finalizers (pkg/controller/volume/pvcprotection, pvprotection).
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"


def _annotations(obj: Obj) -> dict[str, Any]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def is_default_class(storage_class: Obj) -> bool:
    """Whether the class is marked as the cluster's default (IsDefaultAnnotation: the GA or beta annotation)."""
    annotations = _annotations(storage_class)
    return "true" in (annotations.get(DEFAULT_CLASS_ANNOTATION), annotations.get(BETA_DEFAULT_CLASS_ANNOTATION))


def default_class(classes: list[Obj]) -> Obj | None:
    """The default StorageClass, None when no class is marked. With several marked, upstream takes the newest
    (and, among equally new ones, the first by name)."""
    marked = [c for c in classes if is_default_class(c)]
    if not marked:
        return None
    marked.sort(key=lambda c: c["metadata"].get("name", ""))
    return max(marked, key=lambda c: c["metadata"].get("creationTimestamp", ""))


def claim_class(claim: Obj) -> str:
    """The class a claim asks for, "" for none (GetPersistentVolumeClaimClass: the beta annotation wins)."""
    annotations = _annotations(claim)
    if BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_CLASS_ANNOTATION])
    return (claim.get("spec") or {}).get("storageClassName") or ""


def volume_class(volume: Obj) -> str:
    """The class a volume belongs to, "" for none (GetPersistentVolumeClass)."""
    annotations = _annotations(volume)
    if BETA_CLASS_ANNOTATION in annotations:
        return str(annotations[BETA_CLASS_ANNOTATION])
    return (volume.get("spec") or {}).get("storageClassName") or ""


def admit_default_class(claim: Obj, classes: list[Obj]) -> None:
    """The DefaultStorageClass admission plugin, on a new claim: one that names no class (neither field nor beta
    annotation) gets the default class, if there is one. A claim that sets `storageClassName: ""` asked for no
    class and keeps it."""
    spec = claim.setdefault("spec", {})
    if not isinstance(spec, dict) or spec.get("storageClassName") is not None:
        return
    if BETA_CLASS_ANNOTATION in _annotations(claim):
        return
    chosen = default_class(classes)
    if chosen is not None:
        spec["storageClassName"] = chosen["metadata"]["name"]


def add_finalizer(obj: Obj, finalizer: str) -> None:
    """Append `finalizer` to metadata.finalizers unless it is there."""
    finalizers = obj.setdefault("metadata", {}).setdefault("finalizers", [])
    if finalizer not in finalizers:
        finalizers.append(finalizer)
