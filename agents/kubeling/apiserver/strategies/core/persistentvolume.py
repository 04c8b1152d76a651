"""PersistentVolumes and PersistentVolumeClaims: status reset on create, and the admission plugins that act on
them.

Upstream: `pkg/registry/core/persistentvolume/strategy.go` and `pkg/registry/core/persistentvolumeclaim/
strategy.go` (PrepareForCreate: the status is the binder's), and the admission plugins
`plugin/pkg/admission/storage/storageobjectinuseprotection` (every new claim and volume carries its protection
finalizer), `plugin/pkg/admission/storage/storageclass/setdefault` (a claim that names no class gets the default
one) and `plugin/pkg/admission/storage/persistentvolume/resize` (only a bound claim of a class that allows
expansion may grow).
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.api import errors, storage
from kubeling.api.quantity import parse_quantity
from kubeling.api.types import Obj
from kubeling.api.validation.volumes import storage_request
from kubeling.apiserver.strategies.base import Strategy, served

PERSISTENT_VOLUMES = served("", "persistentvolumes")
PERSISTENT_VOLUME_CLAIMS = served("", "persistentvolumeclaims")
RESIZE_FORBIDDEN = ("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc "
                    "must support resize")


class PersistentVolumeStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(PERSISTENT_VOLUMES, reset_status_on_create=True)

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        super().prepare_for_create(obj, asked_name)
        storage.add_finalizer(obj, storage.PV_PROTECTION)


class PersistentVolumeClaimStrategy(Strategy):
    def __init__(self, storage_classes: Callable[[], list[Obj]] | None = None) -> None:
        """`storage_classes()` lists the StorageClasses, for the admission plugins (None: no class is known)."""
        super().__init__(PERSISTENT_VOLUME_CLAIMS, reset_status_on_create=True)
        self.storage_classes = storage_classes or (lambda: [])

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        super().prepare_for_create(obj, asked_name)
        storage.add_finalizer(obj, storage.PVC_PROTECTION)
        storage.admit_default_class(obj, self.storage_classes())

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        self._admit_resize(new, old)

    def _admit_resize(self, new: Obj, old: Obj) -> None:
        try:
            grows = parse_quantity(storage_request(new)) > parse_quantity(storage_request(old))
        except ValueError:
            return  # validation reports the unreadable size
        if not grows:
            return
        name = old["metadata"]["name"]

        def forbidden(why: str) -> errors.StatusError:
            return errors.StatusError(403, f'persistentvolumeclaims "{name}" is forbidden: {why}', "Forbidden",
                                      name=name, kind="persistentvolumeclaims")

        if (old.get("status") or {}).get("phase") != "Bound":
            raise forbidden("Only bound persistent volume claims can be expanded")
        class_name = storage.claim_class(new)
        found = [c for c in self.storage_classes() if c["metadata"].get("name") == class_name]
        if not class_name or not found or not found[0].get("allowVolumeExpansion"):
            raise forbidden(RESIZE_FORBIDDEN)
