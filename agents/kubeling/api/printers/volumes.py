"""Printers for the core group's persistent volumes: PersistentVolumes and PersistentVolumeClaims.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printPersistentVolume and
printPersistentVolumeClaim (a deleted object's STATUS reads `Terminating`), and pkg/apis/core/helper
(GetAccessModesAsString: RWO, ROX, RWX, RWOP in that order, each once).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import AGE, NAME, Printer, column, dig, object_age, object_name
from kubeling.api.storage import claim_class, volume_class

# Upstream's short forms, in the order GetAccessModesAsString writes them.
ACCESS_MODE_SHORT = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}

_DOC = {
    "pv.capacity": ("capacity is the description of the persistent volume's resources and capacity. More info: "
                    "https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"),
    "pv.accessModes": ("accessModes contains all ways the volume can be mounted. More info: "
                       "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"),
    "pv.reclaimPolicy": (
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. "
        "Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically "
        "provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin "
        "underlying this PersistentVolume. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming"
    ),
    "pv.phase": ("phase indicates if a volume is available, bound to a claim, or released by a claim. More info: "
                 "https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase"),
    "pv.claimRef": (
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected "
        "to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: "
        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding"
    ),
    "pv.reason": ("reason is a brief CamelCase string that describes any failure and is meant for machine parsing "
                  "and tidy display in the CLI."),
    "pv.volumeMode": ("volumeMode defines if a volume is intended to be used with a formatted filesystem or to "
                      "remain in raw block state. Value of Filesystem is implied when not included in spec."),
    "pvc.phase": "phase represents the current phase of PersistentVolumeClaim.",
    "pvc.volumeName": "volumeName is the binding reference to the PersistentVolume backing this claim.",
    "pvc.capacity": "capacity represents the actual resources of the underlying volume.",
    "pvc.accessModes": ("accessModes contains the actual access modes the volume backing the PVC has. More info: "
                        "https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"),
    "pvc.volumeMode": ("volumeMode defines what type of volume is required by the claim. Value of Filesystem is "
                       "implied when not included in claim spec."),
}

_PV_COLUMNS = [
    NAME,
    column("Capacity", _DOC["pv.capacity"]),
    column("Access Modes", _DOC["pv.accessModes"]),
    column("Reclaim Policy", _DOC["pv.reclaimPolicy"]),
    column("Status", _DOC["pv.phase"]),
    column("Claim", _DOC["pv.claimRef"]),
    column("StorageClass", "StorageClass of the pv"),
    column("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
    column("Reason", _DOC["pv.reason"]),
    AGE,
    column("VolumeMode", _DOC["pv.volumeMode"], priority=1),
]
_PVC_COLUMNS = [
    NAME,
    column("Status", _DOC["pvc.phase"]),
    column("Volume", _DOC["pvc.volumeName"]),
    column("Capacity", _DOC["pvc.capacity"]),
    column("Access Modes", _DOC["pvc.accessModes"]),
    column("StorageClass", "StorageClass of the pvc"),
    column("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
    AGE,
    column("VolumeMode", _DOC["pvc.volumeMode"], priority=1),
]


def access_modes_string(modes: list[str] | None) -> str:
    """helper.GetAccessModesAsString: `RWO,ROX`, each known mode once, in upstream's order."""
    present = set(modes or [])
    return ",".join(short for mode, short in ACCESS_MODE_SHORT.items() if mode in present)


def _phase(obj: dict[str, Any]) -> str:
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    return dig(obj, "status", "phase") or ""


def _storage(resources: Any) -> str:
    value = resources.get("storage") if isinstance(resources, dict) else None
    return str(value) if value is not None else "0"


def _pv_cells(pv: dict[str, Any], now: datetime) -> list[Any]:
    spec = pv.get("spec") or {}
    claim = spec.get("claimRef")
    claim_cell = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if isinstance(claim, dict) else ""
    return [object_name(pv), _storage(spec.get("capacity")), access_modes_string(spec.get("accessModes")),
            spec.get("persistentVolumeReclaimPolicy", ""), _phase(pv), claim_cell, volume_class(pv),
            spec.get("volumeAttributesClassName") or "<unset>", dig(pv, "status", "reason") or "",
            object_age(pv, now), spec.get("volumeMode") or "<unset>"]


def _pvc_cells(pvc: dict[str, Any], now: datetime) -> list[Any]:
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    capacity = access_modes = ""
    if spec.get("volumeName"):  # what the claim got, shown once it is bound to a volume
        capacity = _storage(status.get("capacity"))
        access_modes = access_modes_string(status.get("accessModes"))
    return [object_name(pvc), _phase(pvc), spec.get("volumeName", ""), capacity, access_modes,
            claim_class(pvc), spec.get("volumeAttributesClassName") or "<unset>",
            object_age(pvc, now), spec.get("volumeMode") or "<unset>"]


GROUP = ""

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "PersistentVolume": Printer(_PV_COLUMNS, _pv_cells),
    "PersistentVolumeClaim": Printer(_PVC_COLUMNS, _pvc_cells),
}
