"""CustomResourceDefinitions: defaulted names, a status only the API server writes, and deletion held until
the definition's custom resources are gone.

Upstream: apiextensions-apiserver/pkg/registry/customresourcedefinition/strategy.go (PrepareForCreate,
PrepareForUpdate, Validate) and etcd.go (Delete adds the cleanup finalizer and the Terminating condition);
apis/apiextensions/v1/defaults.go for the defaults.
"""

from __future__ import annotations

from kubeling.api import conditions, meta
from kubeling.api.apiextensions.names import CLEANUP_FINALIZER, storage_version
from kubeling.api.apiextensions.validation import validate_crd
from kubeling.api.types import Obj
from kubeling.apiserver.strategies.base import Strategy, served

CRDS = served("apiextensions.k8s.io", "customresourcedefinitions")


def set_defaults(crd: Obj) -> None:
    """Upstream's SetDefaults_CustomResourceDefinition(Spec): singular and listKind from the kind, conversion None."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    spec["conversion"].setdefault("strategy", "None")


class CustomResourceDefinitionStrategy(Strategy):
    def __init__(self) -> None:
        super().__init__(CRDS)

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        set_defaults(obj)
        obj["metadata"]["generation"] = 1
        storage = storage_version(obj)
        obj["status"] = {"storedVersions": [storage] if storage else [], "conditions": [],
                         "acceptedNames": {"plural": "", "kind": ""}}

    def validate(self, obj: Obj) -> list[Obj]:
        return validate_crd(obj, None)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        set_defaults(new)
        new["status"] = meta.deep_copy(old.get("status") or {})
        storage = storage_version(new)
        stored = new["status"].setdefault("storedVersions", [])
        if storage and storage not in stored:
            stored.append(storage)
        if new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1

    def validate_update(self, new: Obj, old: Obj) -> list[Obj]:
        return validate_crd(new, old)

    # Deletion: the definition stays (Terminating) until the API server has deleted its custom resources and
    # removed the cleanup finalizer (apiserver/customresources.py).

    def holds_deletion(self, obj: Obj) -> bool:
        return not obj["metadata"].get("deletionTimestamp")

    def prepare_for_delete(self, obj: Obj, grace: int) -> None:
        super().prepare_for_delete(obj, grace)
        finalizers = obj["metadata"].setdefault("finalizers", [])
        if CLEANUP_FINALIZER not in finalizers:
            finalizers.append(CLEANUP_FINALIZER)
        status = obj.setdefault("status", {})
        conditions.set_condition(status.setdefault("conditions", []), {
            "type": "Terminating", "status": "True", "reason": "InstanceDeletionPending",
            "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon"})
