"""A CRD's served versions as resource types: what `api/resources.py` looks up for a custom resource.

Upstream keeps the same facts in the CRD's `status.acceptedNames` and serves one REST storage per served version
(apiextensions-apiserver/pkg/apiserver/customresource_handler.go, `getOrCreateServingInfoFor`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeling.api import conditions
from kubeling.api.resources import ResourceType

Obj = dict[str, Any]

GROUP = "apiextensions.k8s.io"
# Upstream's finalizer on every CRD: its custom resources are deleted before the CRD goes.
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


@dataclasses.dataclass(frozen=True, eq=False)
class CustomResourceType(ResourceType):
    """A resource type that a CustomResourceDefinition defines: its names are the CRD's, not derived."""

    singular_name: str = ""
    list_kind_name: str = ""
    crd_name: str = ""

    @property
    def singular(self) -> str:
        return self.singular_name or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.list_kind_name or f"{self.kind}List"

    @property
    def storage_name(self) -> str:
        return f"{self.group}/{self.plural}"


def established(crd: Obj) -> bool:
    return conditions.is_true(crd, "Established")


def storage_version(crd: Obj) -> str:
    for version in crd.get("spec", {}).get("versions") or []:
        if version.get("storage"):
            return str(version.get("name", ""))
    return ""


def version_of(crd: Obj, name: str) -> Obj | None:
    return next((v for v in crd.get("spec", {}).get("versions") or [] if v.get("name") == name), None)


def subresources(crd: Obj, version: str) -> Obj:
    found = version_of(crd, version) or {}
    return found.get("subresources") or {}


def resource_types(crd: Obj) -> list[CustomResourceType]:
    """One type per served version of an established CRD, named by its accepted names (empty otherwise)."""
    if not established(crd):
        return []
    spec = crd.get("spec") or {}
    names = (crd.get("status") or {}).get("acceptedNames") or spec.get("names") or {}
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served"):
            continue
        subs = tuple(name for name in ("status", "scale") if name in (version.get("subresources") or {}))
        out.append(CustomResourceType(
            group=spec.get("group", ""), version=version.get("name", ""), kind=names.get("kind", ""),
            plural=names.get("plural", ""), namespaced=spec.get("scope") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subs, singular_name=names.get("singular", ""), list_kind_name=names.get("listKind", ""),
            crd_name=crd["metadata"]["name"]))
    return out
