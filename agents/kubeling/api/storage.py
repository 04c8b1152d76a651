"""What the API server and the volume controllers share about persistent storage: the annotations and
finalizers upstream names, which class a claim or volume belongs to, and which StorageClass is the default.

Upstream: pkg/apis/core/helper (GetPersistentVolumeClass, GetPersistentVolumeClaimClass),
pkg/apis/storage/util (IsDefaultAnnotation), plugin/pkg/admission/storage/storageclass/setdefault (the
DefaultStorageClass admission plugin) and pkg/volume/util (GetDefaultClass: the newest of several defaults).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from kubeling.api.quantity import value
from kubeling.api.scheduling import compile_term, term_matches
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


# What the scheduler (VolumeBinding), the local-path provisioner and the kubelet ask (added with the node side:
# upstream's k8s.io/component-helpers/storage/volume and pkg/controller/volume/persistentvolume/util).

WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
HOSTNAME_LABEL = "kubernetes.io/hostname"

# kubeling's default StorageClass and its provisioner (docs/storage.md).
LOCAL_PATH_CLASS = "local-path"
LOCAL_PATH_PROVISIONER = "kubeling.io/local-path"
LOCAL_PATH_FINALIZER = "kubeling.io/local-path-cleanup"  # dropped by the node's kubelet once the directory is gone
LOCAL_PATH_DIR = "/var/lib/kubeling/local-path"  # where volumes live on a node, unless the class says `nodePath`


def claim_request(claim: Obj) -> int:
    """The bytes a claim asks for (0 when it does not say)."""
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return value(requests["storage"]) if "storage" in requests else 0


def volume_capacity(pv: Obj) -> int:
    capacity = (pv.get("spec") or {}).get("capacity") or {}
    return value(capacity["storage"]) if "storage" in capacity else 0


def is_bound(claim: Obj) -> bool:
    """The PV controller has finished binding the claim: it names its volume and says Bound."""
    return bool((claim.get("spec") or {}).get("volumeName")) and \
        (claim.get("status") or {}).get("phase") == "Bound"


def pv_node_affinity_matches(pv: Obj, labels: dict[str, str], name: str) -> bool:
    """Can `pv` be used on the node with these labels and name? Upstream's CheckNodeAffinity: no required
    affinity means anywhere; otherwise one of the (ORed) terms must match."""
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    return any(term_matches(compile_term(term), labels, name) for term in terms)


def pv_nodes(pv: Obj) -> list[str]:
    """The node names a PV's affinity pins it to by hostname label (what the local-path provisioner writes)."""
    required = ((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}
    names: list[str] = []
    for term in required.get("nodeSelectorTerms") or []:
        for expression in term.get("matchExpressions") or []:
            if expression.get("key") == HOSTNAME_LABEL and expression.get("operator") == "In":
                names += expression.get("values") or []
    return names


def path_inside(base: str, path: str) -> bool:
    """Is `path` strictly below the directory `base`, without `..` steps? (No filesystem access: a provisioned
    volume's path is checked before its directory exists.)"""
    candidate = PurePosixPath(path)
    if not candidate.is_absolute() or ".." in candidate.parts:
        return False
    root = PurePosixPath(base)
    return candidate != root and root in candidate.parents
