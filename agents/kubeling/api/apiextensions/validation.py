"""The validation of a CustomResourceDefinition, with upstream's field paths and messages.

Upstream: staging/src/k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation/validation.go
(ValidateCustomResourceDefinition, ValidateCustomResourceDefinitionUpdate). The schema's own rules are in
`schema.py` (structural_errors).
"""

from __future__ import annotations

from typing import Any

from kubeling.api.apiextensions.schema import structural_errors
from kubeling.api.validation.common import (
    IMMUTABLE_MSG,
    dns1035_label,
    dns1123_subdomain,
    duplicate,
    each,
    invalid,
    not_supported,
    required,
)
from kubeling.api.validation.meta import validate_object
from kubeling.api.validation.schema import root

Obj = dict[str, Any]
Causes = list[dict[str, str]]

SCOPES = ("Cluster", "Namespaced")
COLUMN_TYPES = ("integer", "number", "string", "boolean", "date")
APPROVAL_ANNOTATION = "api-approved.kubernetes.io"


def validate_crd(crd: Obj, old: Obj | None) -> Causes:
    """Causes for what is wrong with a CRD (`old`: the stored one, on update)."""
    causes = validate_object(root(), crd, old, namespaced=False, name_check=dns1123_subdomain)
    spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
    names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
    group, plural = spec.get("group") or "", names.get("plural") or ""
    name = crd["metadata"].get("name", "")
    if name != f"{plural}.{group}":
        causes.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    if not group:
        causes.append(required("spec.group"))
    else:
        causes += each("spec.group", group, dns1123_subdomain(group))
        if "." not in group:
            causes.append(invalid("spec.group", group, "should be a domain with at least one dot"))
        elif _protected(group) and APPROVAL_ANNOTATION not in (crd["metadata"].get("annotations") or {}):
            causes.append(required(f"metadata.annotations[{APPROVAL_ANNOTATION}]",
                                   f'protected groups must have approval annotation "{APPROVAL_ANNOTATION}", see '
                                   "https://github.com/kubernetes/enhancements/pull/1111"))
    if spec.get("scope") not in SCOPES:
        causes.append(not_supported("spec.scope", spec.get("scope"), SCOPES) if spec.get("scope")
                      else required("spec.scope"))
    causes += _names(names, "spec.names")
    causes += _versions(spec.get("versions"), names)
    conversion = spec.get("conversion") if isinstance(spec.get("conversion"), dict) else {}
    strategy = conversion.get("strategy", "None")
    if strategy != "None":
        # Upstream also accepts "Webhook"; kubeling never calls conversion webhooks, so it says so up front.
        causes.append(not_supported("spec.conversion.strategy", strategy, ("None",)))
    if old is not None:
        causes += _update(spec, old.get("spec") or {}, established=_established(old))
    return causes


def _protected(group: str) -> bool:
    return group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))


def _established(crd: Obj) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def _names(names: Obj, path: str) -> Causes:
    causes: Causes = []
    for field in ("plural", "singular"):
        value = names.get(field) or ""
        if value:
            causes += each(f"{path}.{field}", value, dns1035_label(value))
        elif field == "plural":
            causes.append(required(f"{path}.plural"))
    kind = names.get("kind") or ""
    if not kind:
        causes.append(required(f"{path}.kind"))
    else:
        causes += each(f"{path}.kind", kind, dns1035_label(kind.lower()))
    list_kind = names.get("listKind") or ""
    if list_kind:
        causes += each(f"{path}.listKind", list_kind, dns1035_label(list_kind.lower()))
        if list_kind == kind:
            causes.append(invalid(f"{path}.listKind", list_kind, "kind and listKind may not be the same"))
    for i, short in enumerate(names.get("shortNames") or []):
        causes += each(f"{path}.shortNames[{i}]", short, dns1035_label(str(short)))
    for i, category in enumerate(names.get("categories") or []):
        causes += each(f"{path}.categories[{i}]", category, dns1035_label(str(category)))
    return causes


def _versions(versions: Any, names: Obj) -> Causes:
    if not isinstance(versions, list) or not versions:
        return [required("spec.versions", "must have exactly one version marked as storage version")]
    causes: Causes = []
    seen: set[str] = set()
    storage = 0
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        name = version.get("name") or ""
        if not name:
            causes.append(required(f"{path}.name"))
        else:
            causes += each(f"{path}.name", name, dns1035_label(name))
            if name in seen:
                causes.append(duplicate(f"{path}.name", name))
            seen.add(name)
        storage += bool(version.get("storage"))
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        causes += structural_errors(schema, f"{path}.schema.openAPIV3Schema")
        causes += _subresources(version.get("subresources") or {}, f"{path}.subresources")
        for j, column in enumerate(version.get("additionalPrinterColumns") or []):
            causes += _column(column, f"{path}.additionalPrinterColumns[{j}]")
        for j, selectable in enumerate(version.get("selectableFields") or []):
            if not str(selectable.get("jsonPath", "")).startswith("."):
                causes.append(invalid(f"{path}.selectableFields[{j}].jsonPath", selectable.get("jsonPath"),
                                      "must be a simple json path starting with ."))
    if storage != 1:
        causes.append(invalid("spec.versions", [v.get("name") for v in versions],
                              "must have exactly one version marked as storage version"))
    if not any(v.get("served") for v in versions):
        causes.append(invalid("spec.versions", [v.get("name") for v in versions],
                              "must have at least one served version"))
    return causes


def _subresources(subs: Obj, path: str) -> Causes:
    scale = subs.get("scale")
    if not isinstance(scale, dict):
        return []
    causes: Causes = []
    for field, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = scale.get(field) or ""
        if not value:
            causes.append(required(f"{path}.scale.{field}"))
        elif not value.startswith(prefix):
            causes.append(invalid(f"{path}.scale.{field}", value, f"should be a json path under {prefix.rstrip('.')}"))
    selector = scale.get("labelSelectorPath")
    if selector and not (selector.startswith(".spec.") or selector.startswith(".status.")):
        causes.append(invalid(f"{path}.scale.labelSelectorPath", selector,
                              "should be a json path under either .spec or .status"))
    return causes


def _column(column: Obj, path: str) -> Causes:
    causes: Causes = []
    if not column.get("name"):
        causes.append(required(f"{path}.name"))
    if column.get("type") not in COLUMN_TYPES:
        causes.append(not_supported(f"{path}.type", column.get("type"), COLUMN_TYPES))
    if not column.get("jsonPath"):
        causes.append(required(f"{path}.jsonPath"))
    return causes


def _update(spec: Obj, old_spec: Obj, *, established: bool) -> Causes:
    """What may not change once set (upstream: ValidateCustomResourceDefinitionUpdate)."""
    causes: Causes = []
    if spec.get("group") != old_spec.get("group"):
        causes.append(invalid("spec.group", spec.get("group"), IMMUTABLE_MSG))
    old_names, names = old_spec.get("names") or {}, spec.get("names") or {}
    if names.get("plural") != old_names.get("plural"):
        causes.append(invalid("spec.names.plural", names.get("plural"), IMMUTABLE_MSG))
    if established:
        if spec.get("scope") != old_spec.get("scope"):
            causes.append(invalid("spec.scope", spec.get("scope"), IMMUTABLE_MSG))
        if names.get("kind") != old_names.get("kind"):
            causes.append(invalid("spec.names.kind", names.get("kind"), IMMUTABLE_MSG))
    return causes
