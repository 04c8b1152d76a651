"""Object metadata and label selectors, which every kind's validation shares, and the frame every kind runs in.

Upstream: k8s.io/apimachinery/pkg/api/validation/objectmeta.go (ValidateObjectMeta, ValidateAnnotations,
ValidateOwnerReferences), k8s.io/apimachinery/pkg/apis/meta/v1/validation/validation.go (ValidateLabels,
ValidateLabelSelector).

`validate_object` is the frame: the type pass (`schema.py`) first, which stops at a wrong type; then metadata;
then the kind's rules on create, and its update rules when there is a stored object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.api import selectors
from kubeling.api.validation.common import (
    Causes,
    Obj,
    as_dict,
    as_list,
    at_index,
    child,
    dns1123_label,
    dns1123_subdomain,
    each,
    forbidden,
    invalid,
    label_value,
    qualified_name,
    required,
    too_long,
    type_invalid,
)
from kubeling.api.validation.schema import Struct, conforms, type_errors

NameCheck = Callable[[str], list[str]]
Rules = Callable[[Obj], Causes]
UpdateRules = Callable[[Obj, Obj], Causes]


def validate_labels(labels: Obj, path: str) -> Causes:
    """Label keys and values (upstream's ValidateLabels)."""
    out: Causes = []
    for key, value in labels.items():
        out += each(path, key, qualified_name(key))
        if isinstance(value, str):
            out += each(path, value, label_value(value))
    return out


TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_annotations(annotations: Obj, path: str) -> Causes:
    """Annotation keys, and their total size (upstream's ValidateAnnotations)."""
    out: Causes = []
    total = 0
    for key, value in annotations.items():
        out += each(path, key, qualified_name(key.lower()))
        total += len(key.encode()) + len(str(value).encode())
    if total > TOTAL_ANNOTATION_SIZE:
        out.append(too_long(path, TOTAL_ANNOTATION_SIZE))
    return out


def validate_owner_references(refs: list[Any], path: str) -> Causes:
    """Each reference names its object fully; at most one is the controller (ValidateOwnerReferences)."""
    out: Causes = []
    controllers = []
    for ref in refs:
        ref = as_dict(ref)
        api_version = ref.get("apiVersion") or ""
        if not api_version.rpartition("/")[2]:
            out.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        for name in ("kind", "name", "uid"):
            if not ref.get(name):
                out.append(invalid(child(path, name), ref.get(name) or "", "must not be empty"))
        if ref.get("controller"):
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        out.append(invalid(path, refs, "Only one reference can have Controller set to true. Found \"true\" in "
                                       f"references for {' and '.join(controllers[:2])}"))
    return out


def validate_template_meta(meta: Obj, path: str) -> Causes:
    """The labels and annotations of metadata, as a pod template's is checked."""
    return validate_labels(as_dict(meta.get("labels")), child(path, "labels")) + validate_annotations(
        as_dict(meta.get("annotations")), child(path, "annotations"))


SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Obj, path: str) -> Causes:
    """A LabelSelector's keys, operators and values (upstream's ValidateLabelSelector)."""
    out = validate_labels(as_dict(selector.get("matchLabels")), child(path, "matchLabels"))
    for i, req in enumerate(as_list(selector.get("matchExpressions"))):
        req, rpath = as_dict(req), at_index(child(path, "matchExpressions"), i)
        key, op, values = req.get("key") or "", req.get("operator") or "", as_list(req.get("values"))
        out += each(child(rpath, "key"), key, qualified_name(key))
        if op not in SELECTOR_OPERATORS:
            out.append(invalid(child(rpath, "operator"), op, "not a valid selector operator"))
        elif op in ("In", "NotIn") and not values:
            out.append(required(child(rpath, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            out.append(forbidden(child(rpath, "values"),
                                 "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        for j, value in enumerate(values):
            out += each(at_index(child(rpath, "values"), j), value, label_value(value))
    return out


def is_empty_selector(selector: Obj) -> bool:
    """No matchLabels and no matchExpressions: a selector that would select everything."""
    return not as_dict(selector.get("matchLabels")) and not as_list(selector.get("matchExpressions"))


def selector_mismatch(selector: Any, labels: Obj) -> bool:
    """Whether a well-formed, non-empty LabelSelector fails to select `labels` (a workload's template labels).

    Matching is `selectors.py`'s, the one the controllers use. A malformed selector is reported on its own by
    `validate_label_selector`; matching it against the labels would only add noise, so it is no mismatch here.
    """
    if not isinstance(selector, dict):
        return False
    try:
        parsed = selectors.selector_from_label_selector(selector)
    except ValueError:
        return False
    return not parsed.empty and not parsed.matches(labels)


def validate_object_meta(meta: Obj, namespaced: bool, name_check: NameCheck) -> Causes:
    """metadata of a top-level object: name by the kind's rule, namespace when the kind has one, labels,
    annotations, owner references and finalizers."""
    out: Causes = []
    name = meta.get("name") or ""
    if not name:
        out.append(required("metadata.name", "name or generateName is required"))
    else:
        out += each("metadata.name", name, name_check(name))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            out.append(required("metadata.namespace"))
        else:
            out += each("metadata.namespace", namespace, dns1123_label(namespace))
    elif namespace:
        out.append(forbidden("metadata.namespace", "not allowed on this type"))
    out += validate_template_meta(meta, "metadata")
    out += validate_owner_references(as_list(meta.get("ownerReferences")), "metadata.ownerReferences")
    for finalizer in as_list(meta.get("finalizers")):
        out += each("metadata.finalizers", finalizer, qualified_name(finalizer))
    return out


def validate_object(
    schema: Struct,
    obj: Any,
    old: Any,
    *,
    namespaced: bool,
    name_check: NameCheck = dns1123_subdomain,
    rules: Rules | None = None,
    update_rules: UpdateRules | None = None,
) -> Causes:
    """Causes for `obj` of a kind with this schema, name check and rules; `old` is the stored object on update.

    The frame of every `validate_<kind>`: a wrong type stops validation at the type pass; otherwise metadata
    causes, then the kind's rules, then (on update) its update rules, in that order.
    """
    if not isinstance(obj, dict):
        return [type_invalid("<root>", obj, "object")]
    if not conforms(schema, obj) and (causes := type_errors(schema, obj)):
        return causes
    causes = validate_object_meta(as_dict(obj.get("metadata")), namespaced, name_check)
    if rules is not None:
        causes += rules(obj)
    if old is not None and update_rules is not None:
        causes += update_rules(obj, as_dict(old))
    return causes
