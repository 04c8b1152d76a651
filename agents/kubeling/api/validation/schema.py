"""Declarative type schemas: the first of validation's two passes.

A wrong JSON type stops validation there, as upstream's decoder does (it answers 400; we answer 422 with one
cause per field, worded as the CRD schema validator in k8s.io/apiextensions-apiserver/pkg/apiserver/validation
words them). Then the rules may trust that every field they read has the type its schema says.

A schema lists only the fields the rules read (plus a few neighbours kubectl users mistype); anything not listed
passes through unchecked, as this is not a full OpenAPI schema. Each group's module declares its kinds' schemas
from the pieces here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from kubeling.api.validation.common import Causes, at_index, at_key, child, type_invalid


@dataclasses.dataclass(frozen=True)
class Struct:
    fields: dict[str, Schema]


@dataclasses.dataclass(frozen=True)
class Arr:
    items: Schema


@dataclasses.dataclass(frozen=True)
class Map:
    values: Schema


Schema = str | Struct | Arr | Map

STR, INT, BOOL, NUM, ANY_OBJ = "string", "integer", "boolean", "number", "object"
INT_OR_STR = "integer or string"
QUANTITY = "string or number"

_SCALAR_CHECKS: dict[str, Callable[[Any], bool]] = {
    STR: lambda v: isinstance(v, str),
    INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOL: lambda v: isinstance(v, bool),
    NUM: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ANY_OBJ: lambda v: isinstance(v, dict),
    INT_OR_STR: lambda v: isinstance(v, str | int) and not isinstance(v, bool),
    QUANTITY: lambda v: isinstance(v, str | int | float) and not isinstance(v, bool),
}


def S(**fields: Schema) -> Struct:
    """A struct schema; short because the tables below are full of them."""
    return Struct(fields)


STRINGS = Arr(STR)
STRING_MAP = Map(STR)

OBJECT_META = S(
    name=STR, generateName=STR, namespace=STR, uid=STR, resourceVersion=STR, generation=INT,
    creationTimestamp=STR, deletionTimestamp=STR, deletionGracePeriodSeconds=INT,
    labels=STRING_MAP, annotations=STRING_MAP, finalizers=STRINGS,
    ownerReferences=Arr(S(apiVersion=STR, kind=STR, name=STR, uid=STR, controller=BOOL, blockOwnerDeletion=BOOL)),
)
TEMPLATE_META = S(name=STR, labels=STRING_MAP, annotations=STRING_MAP)
LABEL_SELECTOR = S(
    matchLabels=STRING_MAP,
    matchExpressions=Arr(S(key=STR, operator=STR, values=STRINGS)),
)


def root(**fields: Schema) -> Struct:
    """The schema of a top-level object: apiVersion, kind, metadata, and the kind's own fields."""
    return S(apiVersion=STR, kind=STR, metadata=OBJECT_META, **fields)


def conforms(schema: Schema, value: Any) -> bool:
    """Whether `value` has the types `schema` asks for: `type_errors` without the paths and causes, for the
    common case of a well-typed object (it walks the object's fields, not the schema's)."""
    if value is None:
        return True
    if isinstance(schema, str):
        return _SCALAR_CHECKS[schema](value)
    if isinstance(schema, Arr):
        if not isinstance(value, list):
            return False
        return all(conforms(schema.items, item) for item in value)
    if not isinstance(value, dict):
        return False
    if isinstance(schema, Map):
        return all(conforms(schema.values, item) for item in value.values())
    fields = schema.fields
    for name, item in value.items():
        sub = fields.get(name)
        if sub is None or item is None:
            continue
        # Scalars checked here rather than by a call per field: most fields are scalars.
        if not (_SCALAR_CHECKS[sub](item) if isinstance(sub, str) else conforms(sub, item)):
            return False
    return True


def type_errors(schema: Schema, value: Any, path: str = "") -> Causes:
    """Walk `value` along `schema`; a null anywhere means "unset", as the Go decoder reads it."""
    if value is None:
        return []
    if isinstance(schema, str):
        return [] if _SCALAR_CHECKS[schema](value) else [type_invalid(path or "<root>", value, schema)]
    if isinstance(schema, Arr):
        if not isinstance(value, list):
            return [type_invalid(path, value, "array")]
        return [c for i, item in enumerate(value) for c in type_errors(schema.items, item, at_index(path, i))]
    if not isinstance(value, dict):
        return [type_invalid(path or "<root>", value, "object")]
    if isinstance(schema, Map):
        return [c for k, v in value.items() for c in type_errors(schema.values, v, at_key(path, k))]
    return [
        c for name, sub in schema.fields.items() if name in value
        for c in type_errors(sub, value[name], child(path, name))
    ]
