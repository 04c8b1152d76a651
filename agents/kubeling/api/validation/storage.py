"""Validation of the `storage.k8s.io` group: StorageClasses.

Upstream: pkg/apis/storage/validation/validation.go (ValidateStorageClass, validateProvisioner,
validateParameters, validateReclaimPolicy, validateVolumeBindingMode, ValidateStorageClassUpdate: provisioner,
parameters, reclaimPolicy and volumeBindingMode never change).
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.api.validation.common import (
    IMMUTABLE_MSG,
    as_dict,
    each,
    forbidden,
    invalid,
    not_supported,
    qualified_name,
    required,
    same,
    too_long,
)
from kubeling.api.validation.meta import validate_object
from kubeling.api.validation.schema import ANY_OBJ, BOOL, STR, STRING_MAP, STRINGS, Arr, Struct, root

Causes = list[dict[str, str]]

RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
MAX_PROVISIONER_LENGTH = 253
MAX_PARAMETERS = 512
MAX_PARAMETERS_SIZE = 256 * 1024

SCHEMAS: dict[str, Struct] = {
    "StorageClass": root(provisioner=STR, parameters=STRING_MAP, reclaimPolicy=STR, allowVolumeExpansion=BOOL,
                         mountOptions=STRINGS, volumeBindingMode=STR, allowedTopologies=Arr(ANY_OBJ)),
}


def _validate_storage_class(obj: Obj) -> Causes:
    out: Causes = []
    provisioner = obj.get("provisioner") or ""
    if not provisioner:
        out.append(required("provisioner"))
    elif len(provisioner) > MAX_PROVISIONER_LENGTH:
        out.append(too_long("provisioner", MAX_PROVISIONER_LENGTH))
    else:
        out += each("provisioner", provisioner, qualified_name(provisioner.lower()))
    parameters = as_dict(obj.get("parameters"))
    if len(parameters) > MAX_PARAMETERS:
        out.append(invalid("parameters", "", f"Provisioner Parameters exceeded max allowed ({MAX_PARAMETERS})"))
    if sum(len(k) + len(v) for k, v in parameters.items()) > MAX_PARAMETERS_SIZE:
        out.append(too_long("parameters", MAX_PARAMETERS_SIZE))
    for key in parameters:
        if not key:
            out.append(invalid("parameters", "", "field can not be empty."))
    policy = obj.get("reclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        out.append(not_supported("reclaimPolicy", policy, RECLAIM_POLICIES))
    mode = obj.get("volumeBindingMode")
    if not mode:
        out.append(required("volumeBindingMode"))
    elif mode not in BINDING_MODES:
        out.append(not_supported("volumeBindingMode", mode, BINDING_MODES))
    return out


def _update_storage_class(new: Obj, old: Obj) -> Causes:
    out: Causes = []
    if not same(new.get("parameters"), old.get("parameters")):
        out.append(forbidden("parameters", "updates to parameters are forbidden."))
    if new.get("provisioner") != old.get("provisioner"):
        out.append(forbidden("provisioner", "updates to provisioner are forbidden."))
    if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
        out.append(forbidden("reclaimPolicy", "updates to reclaimPolicy are forbidden."))
    if new.get("volumeBindingMode") != old.get("volumeBindingMode"):
        out.append(invalid("volumeBindingMode", new.get("volumeBindingMode"), IMMUTABLE_MSG))
    return out


def validate_storageclass(obj: Obj, old: Obj | None = None) -> Causes:
    """A StorageClass (upstream's ValidateStorageClass, ValidateStorageClassUpdate)."""
    return validate_object(SCHEMAS["StorageClass"], obj, old, namespaced=False, rules=_validate_storage_class,
                           update_rules=_update_storage_class)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "StorageClass": validate_storageclass,
}
