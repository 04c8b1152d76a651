"""Validation of objects on create and update, with upstream's field paths, reasons and messages.

`validate` returns `details.causes` entries; the API server turns a non-empty list into a 422 Invalid Status.
Run it after defaulting, as upstream does: a field left out means its default, not "changed".

Two passes. First a declarative type check (`schema.py`): a wrong JSON type stops validation there, as
upstream's decoder does. Then the rules, which may trust that every field they read has the type its schema says.

One module per API group, as upstream's pkg/apis/<group>/validation: each kind has one entry,
`validate_<kind>(obj, old)` (`old` is None on create), registered in its module's `VALIDATORS`. `common.py` holds
the field errors and the name and label checks (upstream's apimachinery util/validation), `meta.py` object
metadata and label selectors (apimachinery api/validation). Adding a kind means adding its function and a
registry entry in its group's module.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeling.api.resources import ResourceType
from kubeling.api.types import Obj
from kubeling.api.validation import apps, batch, coordination, core, discovery, rbac, storage, volumes
from kubeling.api.validation.common import dns1123_subdomain
from kubeling.api.validation.meta import NameCheck, validate_object
from kubeling.api.validation.schema import root

__all__ = ["NAME_CHECKS", "VALIDATORS", "validate", "validate_name"]

Validator = Callable[[Obj, Obj | None], list[dict[str, str]]]

VALIDATORS: dict[str, Validator] = {
    kind: validator
    for module in (core, volumes, apps, batch, coordination, discovery, rbac, storage)
    for kind, validator in module.VALIDATORS.items()
}

# Kinds whose names are not DNS-1123 subdomains, the rule for every other kind.
NAME_CHECKS: dict[str, NameCheck] = {**core.NAME_CHECKS, **rbac.NAME_CHECKS}


def validate_name(rtype: ResourceType, name: str) -> list[str]:
    """Messages for a bad object name of this type (empty when fine); also for names taken from URL paths."""
    return NAME_CHECKS.get(rtype.kind, dns1123_subdomain)(name)


def validate(rtype: ResourceType, obj: dict, old: dict | None = None) -> list[dict]:
    """Causes (`details.causes` entries) for what is wrong with `obj`; `old` is the stored object on update."""
    validator = VALIDATORS.get(rtype.kind)
    if validator is not None:
        return validator(obj, old)
    # A kind without rules of its own: its metadata, and the types of apiVersion, kind and metadata.
    return validate_object(root(), obj, old, namespaced=rtype.namespaced,
                           name_check=NAME_CHECKS.get(rtype.kind, dns1123_subdomain))
