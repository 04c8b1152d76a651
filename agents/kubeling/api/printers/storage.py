"""Printers for the `storage.k8s.io` group: StorageClasses, the default one marked `(default)`.

Upstream (v1.32): pkg/printers/internalversion/printers.go, printStorageClass (unset reclaimPolicy,
volumeBindingMode and allowVolumeExpansion print as their defaults; the default class, as `api/storage.py`
tells it, is marked).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeling.api.printers.common import AGE, NAME, Printer, column, object_age, object_name
from kubeling.api.storage import is_default_class

_COLUMNS = [
    NAME,
    column("Provisioner", "provisioner indicates the type of the provisioner."),
    column("ReclaimPolicy", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                            "PersistentVolumes of this storage class. Defaults to Delete."),
    column("VolumeBindingMode", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and "
                                "bound.  When unset, VolumeBindingImmediate is used. This field is only honored by "
                                "servers that enable the VolumeScheduling feature."),
    column("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
]


def _storage_class_cells(sc: dict[str, Any], now: datetime) -> list[Any]:
    name = object_name(sc) + (" (default)" if is_default_class(sc) else "")
    return [name, sc.get("provisioner", ""), sc.get("reclaimPolicy") or "Delete",
            sc.get("volumeBindingMode") or "Immediate", bool(sc.get("allowVolumeExpansion")), object_age(sc, now)]


GROUP = "storage.k8s.io"

# kind → how it prints; the package registry collects these.
PRINTERS: dict[str, Printer] = {
    "StorageClass": Printer(_COLUMNS, _storage_class_cells),
}
