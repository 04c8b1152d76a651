"""What several components ask about claims, volumes and storage classes: the annotations they meet through,
and small pure answers (which class a claim asks for, how much, whether a volume can be used on a node).

The scheduler's VolumeBinding plugin, the local-path provisioner (controller-manager) and the kubelet all read
these, so the names live here once. Upstream spreads them over `k8s.io/component-helpers/storage/volume`
(annotation names, GetPersistentVolumeClaimClass, PersistentVolumeNodeAffinity checks) and
`pkg/controller/volume/persistentvolume/util`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from kubeling.api.quantity import value
from kubeling.api.scheduling import compile_term, term_matches
from kubeling.api.types import Obj

# Written by the scheduler on a WaitForFirstConsumer claim: the node its first pod goes to.
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# Written by the PV controller on a claim to provision: which provisioner should make its volume.
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
# Written by a provisioner on the volumes it made.
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
IS_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"
NO_PROVISIONER = "kubernetes.io/no-provisioner"

# kubeling's default StorageClass and its provisioner (docs/storage.md).
LOCAL_PATH_CLASS = "local-path"
LOCAL_PATH_PROVISIONER = "kubeling.io/local-path"
LOCAL_PATH_FINALIZER = "kubeling.io/local-path-cleanup"  # dropped by the node's kubelet once the directory is gone
LOCAL_PATH_DIR = "/var/lib/kubeling/local-path"  # where volumes live on a node, unless the class says `nodePath`
HOSTNAME_LABEL = "kubernetes.io/hostname"


def claim_class(claim: Obj) -> str:
    """The class a claim asks for ("" for none), as upstream's GetPersistentVolumeClaimClass (the beta
    annotation first)."""
    annotations = claim.get("metadata", {}).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return annotations["volume.beta.kubernetes.io/storage-class"]
    return (claim.get("spec") or {}).get("storageClassName") or ""


def volume_class(pv: Obj) -> str:
    annotations = pv.get("metadata", {}).get("annotations") or {}
    if "volume.beta.kubernetes.io/storage-class" in annotations:
        return annotations["volume.beta.kubernetes.io/storage-class"]
    return (pv.get("spec") or {}).get("storageClassName") or ""


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
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    return any(term_matches(compile_term(term), labels, name) for term in terms)


def pv_nodes(pv: Obj) -> list[str]:
    """The node names a PV's affinity pins it to by hostname label (what the local-path provisioner writes)."""
    required = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
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
