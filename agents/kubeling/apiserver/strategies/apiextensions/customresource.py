"""The one strategy every custom resource is served with, made from its CRD.

Upstream: apiextensions-apiserver/pkg/registry/customresource/strategy.go (PrepareForCreate, PrepareForUpdate,
Validate, GetAttrs with the CRD's selectableFields), status_strategy.go, validator.go (the scale paths),
and pkg/apiserver/customresource_handler.go, which prunes and defaults every object it decodes.

What the schema does to an object, in order: unknown fields are pruned, defaults filled, then it is validated
(kubeling/api/apiextensions/schema.py). With a status subresource, the main resource never changes the status
and /status changes nothing else, and metadata.generation counts changes to anything but metadata and status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.api import errors, meta, printers
from kubeling.api.apiextensions import table
from kubeling.api.apiextensions.names import resource_types, storage_version, version_of
from kubeling.api.apiextensions.schema import Validator, apply_defaults, defaults_only, prune
from kubeling.api.resources import ResourceType
from kubeling.api.selectors import label_selector_string
from kubeling.api.types import Obj
from kubeling.api.validation.common import dns1123_subdomain, invalid
from kubeling.api.validation.meta import validate_object
from kubeling.api.validation.schema import root
from kubeling.apiserver.strategies.base import Strategy


def _read(obj: Any, path: str) -> Any:
    """The value at a simple JSON path such as `.spec.replicas` (None when missing)."""
    for part in path.strip(".").split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _write(obj: Obj, path: str, value: Any) -> None:
    *parents, last = path.strip(".").split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[last] = value


class _Version:
    """What one served version of the CRD says: its schema, columns, selectable fields and subresources."""

    def __init__(self, version: Obj) -> None:
        self.schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
        self.validator = Validator(self.schema)
        self.printer = table.printer(version.get("additionalPrinterColumns"))
        self.selectable = tuple(str(f.get("jsonPath", "")).lstrip(".") for f in version.get("selectableFields") or [])
        subresources = version.get("subresources") or {}
        self.has_status = "status" in subresources
        self.defaults = defaults_only(self.schema)  # the schema's paths to its defaults, None without any
        self.scale = subresources.get("scale")


class CustomResourceStrategy(Strategy):
    """A custom resource's behaviour; remade whenever its CRD changes."""

    typed = False
    strategic_merge = False

    def __init__(self, crd: Obj) -> None:
        types = resource_types(crd)
        storage = next((t for t in types if t.version == storage_version(crd)), types[0])
        self.crd_name = crd["metadata"]["name"]
        self.terminating = bool(crd["metadata"].get("deletionTimestamp"))
        self.versions = {t.version: _Version(version_of(crd, t.version) or {}) for t in types}
        selectable = tuple(dict.fromkeys(f for v in self.versions.values() for f in v.selectable))
        super().__init__(storage, selectable_fields=selectable)

    def _version(self, obj: Obj) -> _Version:
        version = str(obj.get("apiVersion", "")).rpartition("/")[2]
        return self.versions.get(version) or self.versions[self.rtype.version]

    def _normalize(self, obj: Obj) -> None:
        """Prune what the schema does not know, then fill its defaults (upstream does both on every decode)."""
        version = self._version(obj)
        prune(version.schema, obj)
        if version.defaults is not None:
            apply_defaults(version.defaults, obj)

    # Create

    def prepare_for_create(self, obj: Obj, asked_name: str) -> None:
        if self.terminating:
            raise errors.StatusError(405, "create not allowed while custom resource definition is terminating",
                                     "MethodNotAllowed")
        if self._version(obj).has_status:
            obj.pop("status", None)
        obj["metadata"]["generation"] = 1
        self._normalize(obj)

    def validate(self, obj: Obj) -> list[Obj]:
        return self._validate(obj, None)

    def unknown_fields(self, obj: Obj) -> list[str]:
        return prune(self._version(obj).schema, obj, dry=True)

    def _validate(self, obj: Obj, old: Obj | None) -> list[Obj]:
        causes = validate_object(root(), obj, old, namespaced=self.rtype.namespaced, name_check=dns1123_subdomain)
        causes += self._version(obj).validator.validate(obj)
        scale = self._version(obj).scale
        if scale:
            replicas = _read(obj, scale.get("specReplicasPath", ""))
            if replicas is not None and (not isinstance(replicas, int) or isinstance(replicas, bool)):
                causes.append(invalid(scale["specReplicasPath"].lstrip("."), replicas, "must be an integer"))
            elif isinstance(replicas, int) and replicas < 0:
                causes.append(invalid(scale["specReplicasPath"].lstrip("."), replicas,
                                      "should be greater than or equal to 0"))
        return causes

    # Update

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        version = self._version(new)
        if version.has_status:
            if "status" in old:
                new["status"] = meta.deep_copy(old["status"])
            else:
                new.pop("status", None)
        self._normalize(new)
        # What counts as a change of the object (upstream: anything but metadata, and status with its subresource;
        # the version it is read through is no change).
        ignored = ("apiVersion", "metadata", "status") if version.has_status else ("apiVersion", "metadata")
        if _without(new, ignored) != _without(old, ignored):
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1

    def validate_update(self, new: Obj, old: Obj) -> list[Obj]:
        return self._validate(new, old)

    def prepare_for_status_update(self, new: Obj, old: Obj) -> Obj:
        kept = super().prepare_for_status_update(new, old)
        self._normalize(kept)
        return kept

    # Scale, through the CRD's replica paths (upstream: customresource/etcd.go, scaleFromCustomResource)

    def scale(self, obj: Obj) -> Obj:
        paths = self._version(obj).scale or {}
        metadata = obj["metadata"]
        selector = _read(obj, paths.get("labelSelectorPath", "")) if paths.get("labelSelectorPath") else ""
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                        "creationTimestamp") if key in metadata},
            "spec": {"replicas": _read(obj, paths.get("specReplicasPath", "")) or 0},
            "status": {
                "replicas": _read(obj, paths.get("statusReplicasPath", "")) or 0,
                "selector": label_selector_string(selector) if isinstance(selector, dict) else selector or "",
            },
        }

    def set_replicas(self, obj: Obj, replicas: int) -> None:
        _write(obj, (self._version(obj).scale or {}).get("specReplicasPath", ".spec.replicas"), replicas)

    # Reading: what upstream's conversion (strategy None) and its decoder do to every object read from etcd

    def reader(self, rtype: ResourceType) -> Callable[[Obj], Obj] | None:
        """Show each object in the requested version (the `None` conversion only changes apiVersion), with the
        defaults of that version's schema filled in (they may have been added after the object was written)."""
        version = self.versions.get(rtype.version)
        if version is None or (len(self.versions) == 1 and version.defaults is None):
            return None
        api_version = rtype.api_version

        def read(obj: Obj) -> Obj:
            shown = meta.deep_copy(obj)
            shown["apiVersion"] = api_version
            if version.defaults is not None:
                apply_defaults(version.defaults, shown)
            return shown

        return read

    def table(self, objects: list[Obj], **options: Any) -> Obj:
        version = self._version(objects[0]) if objects else self.versions[self.rtype.version]
        return printers.to_table(self.rtype, objects, printer=version.printer, **options)


def _without(obj: Obj, fields: tuple[str, ...]) -> Obj:
    return {key: value for key, value in obj.items() if key not in fields}
