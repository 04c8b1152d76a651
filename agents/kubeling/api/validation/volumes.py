"""Validation of the core group's persistent volumes: PersistentVolumes and PersistentVolumeClaims.

Upstream: pkg/apis/core/validation/validation.go (ValidatePersistentVolume, ValidatePersistentVolumeSpec,
ValidatePersistentVolumeUpdate, ValidatePersistentVolumeClaim, ValidatePersistentVolumeClaimSpec,
ValidatePersistentVolumeClaimUpdate, validateHostPathVolumeSource, validateLocalVolumeSource,
validateNFSVolumeSource, validateVolumeNodeAffinity).

What is immutable: a volume's source (hostPath, local, nfs) and mode, its node affinity; a claim's whole spec,
except that its volumeName may be set once (the binder does), so may an unset storageClassName while the claim is
unbound (the retroactive default class), and a bound claim's storage request may grow. Whether
the growth is allowed at all (the class must allow expansion) is admission's question, asked by the claim's
strategy, not validation's.
"""

from __future__ import annotations

from typing import Any

from kubeling.api.quantity import parse_quantity
from kubeling.api.types import Obj
from kubeling.api.validation.common import (
    IMMUTABLE_MSG,
    as_dict,
    as_list,
    at_key,
    child,
    dns1123_subdomain,
    each,
    forbidden,
    invalid,
    not_supported,
    required,
    same,
)
from kubeling.api.validation.meta import validate_label_selector, validate_object
from kubeling.api.validation.schema import (
    ANY_OBJ,
    BOOL,
    LABEL_SELECTOR,
    QUANTITY,
    STR,
    STRINGS,
    Arr,
    Map,
    S,
    Struct,
    root,
)

Causes = list[dict[str, str]]

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
VOLUME_MODES = ("Block", "Filesystem")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")
# The volume sources kubeling knows; a PV has exactly one.
PV_SOURCES = ("hostPath", "local", "nfs")
# Upstream's message when a quantity does not parse (its decoder's, here reported against the field).
QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
NOT_POSITIVE_MSG = "must be greater than zero"
CLAIM_SPEC_IMMUTABLE_MSG = ("spec is immutable after creation except resources.requests and "
                            "volumeAttributesClassName for bound claims")

_NODE_SELECTOR_TERM = S(
    matchExpressions=Arr(S(key=STR, operator=STR, values=STRINGS)),
    matchFields=Arr(S(key=STR, operator=STR, values=STRINGS)),
)
_CLAIM_REF = S(kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR, resourceVersion=STR, fieldPath=STR)
CLAIM_SPEC = S(
    accessModes=STRINGS, selector=LABEL_SELECTOR,
    resources=S(limits=Map(QUANTITY), requests=Map(QUANTITY)),
    volumeName=STR, storageClassName=STR, volumeMode=STR, volumeAttributesClassName=STR,
    dataSource=ANY_OBJ, dataSourceRef=ANY_OBJ,
)
SCHEMAS: dict[str, Struct] = {
    "PersistentVolume": root(
        spec=S(
            capacity=Map(QUANTITY), accessModes=STRINGS, claimRef=_CLAIM_REF,
            persistentVolumeReclaimPolicy=STR, storageClassName=STR, volumeMode=STR, mountOptions=STRINGS,
            volumeAttributesClassName=STR,
            hostPath=S(path=STR, type=STR), local=S(path=STR, fsType=STR),
            nfs=S(server=STR, path=STR, readOnly=BOOL),
            nodeAffinity=S(required=S(nodeSelectorTerms=Arr(_NODE_SELECTOR_TERM))),
        ),
        status=S(phase=STR, message=STR, reason=STR, lastPhaseTransitionTime=STR),
    ),
    "PersistentVolumeClaim": root(
        spec=CLAIM_SPEC,
        status=S(phase=STR, accessModes=STRINGS, capacity=Map(QUANTITY), conditions=Arr(ANY_OBJ),
                 allocatedResources=Map(QUANTITY), allocatedResourceStatuses=ANY_OBJ),
    ),
}


def _access_modes(modes: list[Any], path: str, required_detail: str) -> Causes:
    if not modes:
        return [required(path, required_detail)]
    out = [not_supported(path, mode, ACCESS_MODES) for mode in modes if mode not in ACCESS_MODES]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        out.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return out


def quantity_errors(value: Any, path: str) -> Causes:
    """A storage size: a quantity that parses and is above zero (ValidatePositiveQuantityValue)."""
    try:
        parsed = parse_quantity(value)
    except ValueError:
        return [invalid(path, value, QUANTITY_MSG)]
    return [] if parsed > 0 else [invalid(path, value, NOT_POSITIVE_MSG)]


def _class_name(spec: Obj, path: str) -> Causes:
    name = spec.get("storageClassName")
    return each(child(path, "storageClassName"), name, dns1123_subdomain(name)) if name else []


def _volume_mode(spec: Obj, path: str) -> Causes:
    mode = spec.get("volumeMode")
    return [not_supported(child(path, "volumeMode"), mode, VOLUME_MODES)] if mode and mode not in VOLUME_MODES else []


def _absolute_path(source: Obj, path: str) -> Causes:
    """A source's `path`: required, absolute, without `..` steps (validatePathNoBacksteps)."""
    value = source.get("path") or ""
    if not value:
        return [required(child(path, "path"))]
    if not value.startswith("/"):
        return [invalid(child(path, "path"), value, "must be an absolute path")]
    if ".." in value.split("/"):
        return [invalid(child(path, "path"), value, "must not contain '..'")]
    return []


def _source(spec: Obj, path: str) -> Causes:
    """Exactly one volume source, each well formed."""
    out: Causes = []
    given = [name for name in PV_SOURCES if spec.get(name) is not None]
    if not given:
        return [required(path, "must specify a volume type")]
    for name in given[1:]:
        out.append(forbidden(child(path, name), "may not specify more than 1 volume type"))
    if "hostPath" in given:
        host_path = as_dict(spec["hostPath"])
        out += _absolute_path(host_path, child(path, "hostPath"))
        kind = host_path.get("type")
        if kind is not None and kind not in HOST_PATH_TYPES:
            out.append(not_supported(child(path, "hostPath.type"), kind, HOST_PATH_TYPES))
    if "local" in given:
        out += _absolute_path(as_dict(spec["local"]), child(path, "local"))
        if spec.get("nodeAffinity") is None:
            out.append(required(child(path, "nodeAffinity"), "Local volume requires node affinity"))
    if "nfs" in given:
        nfs = as_dict(spec["nfs"])
        if not nfs.get("server"):
            out.append(required(child(path, "nfs.server")))
        out += _absolute_path(nfs, child(path, "nfs"))
    return out


def _node_affinity(spec: Obj, path: str) -> Causes:
    affinity = spec.get("nodeAffinity")
    if affinity is None:
        return []
    rpath = child(path, "nodeAffinity.required")
    if as_dict(affinity).get("required") is None:
        return [required(rpath)]
    if not as_list(as_dict(as_dict(affinity)["required"]).get("nodeSelectorTerms")):
        return [required(child(rpath, "nodeSelectorTerms"), "must have at least one node selector term")]
    return []


def _validate_persistentvolume(obj: Obj) -> Causes:
    spec, path = as_dict(obj.get("spec")), "spec"
    out = _access_modes(as_list(spec.get("accessModes")), child(path, "accessModes"),
                        "must contain at least one access mode")
    capacity = as_dict(spec.get("capacity"))
    if not capacity:
        out.append(required(child(path, "capacity")))
    elif "storage" not in capacity or len(capacity) > 1:
        out.append(not_supported(child(path, "capacity"), capacity, ("storage",)))
    for name, value in capacity.items():
        out += quantity_errors(value, at_key(child(path, "capacity"), name))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        out.append(not_supported(child(path, "persistentVolumeReclaimPolicy"), policy, RECLAIM_POLICIES))
    out += _class_name(spec, path) + _volume_mode(spec, path) + _source(spec, path) + _node_affinity(spec, path)
    claim_ref = spec.get("claimRef")
    if claim_ref is not None and not as_dict(claim_ref).get("name"):
        out.append(required(child(path, "claimRef.name")))
    return out


def _update_persistentvolume(new: Obj, old: Obj) -> Causes:
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    out: Causes = []
    new_source = {name: new_spec.get(name) for name in PV_SOURCES}
    if not same(new_source, {name: old_spec.get(name) for name in PV_SOURCES}):
        out.append(invalid("spec.persistentvolumesource", {k: v for k, v in new_source.items() if v is not None},
                           IMMUTABLE_MSG))
    if not same(new_spec.get("volumeMode"), old_spec.get("volumeMode")):
        out.append(invalid("volumeMode", new_spec.get("volumeMode"), IMMUTABLE_MSG))
    if old_spec.get("nodeAffinity") is not None and not same(new_spec.get("nodeAffinity"),
                                                             old_spec.get("nodeAffinity")):
        out.append(invalid("spec.nodeAffinity", new_spec.get("nodeAffinity"), IMMUTABLE_MSG))
    return out


def validate_claim_spec(spec: Obj, path: str) -> Causes:
    """A claim's spec, in a PersistentVolumeClaim or a StatefulSet's volumeClaimTemplates."""
    out = _access_modes(as_list(spec.get("accessModes")), child(path, "accessModes"),
                        "at least 1 access mode is required")
    if spec.get("selector") is not None:
        out += validate_label_selector(as_dict(spec["selector"]), child(path, "selector"))
    storage_path = at_key(child(path, "resources"), "storage")
    requests = as_dict(as_dict(spec.get("resources")).get("requests"))
    if "storage" not in requests:
        out.append(required(storage_path))
    else:
        out += quantity_errors(requests["storage"], storage_path)
    return out + _class_name(spec, path) + _volume_mode(spec, path)


def _validate_persistentvolumeclaim(obj: Obj) -> Causes:
    return validate_claim_spec(as_dict(obj.get("spec")), "spec")


def storage_request(claim: Obj) -> Any:
    """The storage a claim asks for (its spec.resources.requests.storage), None when unset."""
    return as_dict(as_dict(as_dict(claim.get("spec")).get("resources")).get("requests")).get("storage")


def _update_persistentvolumeclaim(new: Obj, old: Obj) -> Causes:
    new_spec, old_spec = dict(as_dict(new.get("spec"))), dict(as_dict(old.get("spec")))
    if not old_spec.get("volumeName"):
        old_spec["volumeName"] = new_spec.get("volumeName")  # the binder sets it, once
        if old_spec.get("storageClassName") is None:  # the retroactive default class, set once on an unset one
            old_spec["storageClassName"] = new_spec.get("storageClassName")
    bound = as_dict(new.get("status")).get("phase") == "Bound"
    for spec in (new_spec, old_spec):
        spec.pop("volumeAttributesClassName", None)
        if bound:  # a bound claim's request may change (grow, checked below)
            spec.pop("resources", None)
    out: Causes = []
    if not same(new_spec, old_spec):
        out.append(forbidden("spec", CLAIM_SPEC_IMMUTABLE_MSG))
    try:
        shrinks = parse_quantity(storage_request(new)) < parse_quantity(storage_request(old))
    except ValueError:
        shrinks = False  # an unreadable size is reported by the create rules
    if shrinks:
        out.append(forbidden("spec.resources.requests.storage", "field can not be less than previous value"))
    return out


def validate_persistentvolume(obj: Obj, old: Obj | None = None) -> Causes:
    """A PersistentVolume (upstream's ValidatePersistentVolume, ValidatePersistentVolumeUpdate)."""
    return validate_object(SCHEMAS["PersistentVolume"], obj, old, namespaced=False, rules=_validate_persistentvolume,
                           update_rules=_update_persistentvolume)


def validate_persistentvolumeclaim(obj: Obj, old: Obj | None = None) -> Causes:
    """A PersistentVolumeClaim (upstream's ValidatePersistentVolumeClaim, ValidatePersistentVolumeClaimUpdate)."""
    return validate_object(SCHEMAS["PersistentVolumeClaim"], obj, old, namespaced=True,
                           rules=_validate_persistentvolumeclaim, update_rules=_update_persistentvolumeclaim)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "PersistentVolume": validate_persistentvolume,
    "PersistentVolumeClaim": validate_persistentvolumeclaim,
}
