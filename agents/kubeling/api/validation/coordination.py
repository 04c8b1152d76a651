"""Validation of the `coordination.k8s.io` group: leases.

Upstream: pkg/apis/coordination/validation/validation.go (ValidateLease, ValidateLeaseSpec).
"""

from __future__ import annotations

from kubeling.api.types import Obj
from kubeling.api.validation.common import as_dict, invalid, nonnegative
from kubeling.api.validation.meta import validate_object
from kubeling.api.validation.schema import INT, STR, S, Struct, root

Causes = list[dict[str, str]]

SCHEMAS: dict[str, Struct] = {
    "Lease": root(spec=S(holderIdentity=STR, leaseDurationSeconds=INT, acquireTime=STR, renewTime=STR,
                         leaseTransitions=INT)),
}


def _validate_lease(obj: Obj) -> Causes:
    spec = as_dict(obj.get("spec"))
    duration = spec.get("leaseDurationSeconds")
    out = [invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")] if (
        duration is not None and duration <= 0) else []
    return out + nonnegative(spec, "leaseTransitions", "spec")


def validate_lease(obj: Obj, old: Obj | None = None) -> Causes:
    """A Lease (upstream's ValidateLease)."""
    return validate_object(SCHEMAS["Lease"], obj, old, namespaced=True, rules=_validate_lease)


# kind → its validation; the package registry collects these.
VALIDATORS = {
    "Lease": validate_lease,
}
