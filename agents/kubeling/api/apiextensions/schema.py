"""What a CRD's `openAPIV3Schema` does: checked to be structural, then used to validate, default and prune
custom resources.

Upstream: staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/ (`validation.go` for "is it structural",
`defaulting/algorithm.go`, `pruning/algorithm.go`, `listtype/validation.go`, `objectmeta/`), and
pkg/apiserver/validation/validation.go for the wording of the causes.

A structural schema names a `type` for every field it specifies, so each node of an object meets exactly one
schema node: that is what lets one walk of the object and the schema side by side prune, default and validate.
The plain JSON-schema keywords (type, required, enum, pattern, minimum, …, format) are checked by the
`fastjsonschema` and `jsonschema` libraries (draft 4, the dialect OpenAPI v3.0 builds on); this module adds only
what is Kubernetes-specific: `nullable`, `x-kubernetes-int-or-string`, `x-kubernetes-embedded-resource`,
`x-kubernetes-list-type`, defaults, pruning, and upstream's wording of each cause.
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import fastjsonschema
import jsonschema

from kubeling.api.validation.common import (
    child,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    show,
    too_long,
    type_invalid,
)

Schema = dict[str, Any]
Causes = list[dict[str, str]]

TYPES = ("array", "boolean", "integer", "number", "object", "string")
LIST_TYPES = ("atomic", "set", "map")
# Fields every object keeps whatever its schema says (upstream's pruning skips them at the root and in embedded
# resources: ObjectMeta is the API server's).
OBJECT_FIELDS = ("apiVersion", "kind", "metadata")


def _prop(path: str, name: str) -> str:
    return f"{path}.properties[{name}]"


# --------------------------------------------------------------------------------------------------------------
# Is it structural? (upstream: schema/validation.go, ValidateStructural)


def structural_errors(schema: Any, path: str) -> Causes:
    """Causes that make `schema` (a CRD version's openAPIV3Schema, at field `path`) not structural."""
    if not isinstance(schema, dict):
        return [required(path, "schemas are required")]
    causes: Causes = []
    if schema.get("type") != "object":
        if not schema.get("type"):
            causes.append(required(child(path, "type"), "must not be empty at the root"))
        else:
            causes.append(invalid(child(path, "type"), schema["type"], "must be object at the root"))
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict) and set(metadata) - {"type"} and not _only_name_rules(metadata):
        causes.append(forbidden(_prop(path, "metadata"), "must not specify anything other than name and "
                                                          "generateName, but metadata is implicitly specified"))
    causes += _node_errors(schema, path, root=True)
    return causes


def _only_name_rules(metadata: Schema) -> bool:
    props = metadata.get("properties") or {}
    return set(metadata) <= {"type", "properties"} and set(props) <= {"name", "generateName"}


def _node_errors(schema: Schema, path: str, *, root: bool = False, kind: str = "object fields") -> Causes:
    causes: Causes = []
    kind_of = schema.get("type", "")
    int_or_string = schema.get("x-kubernetes-int-or-string") is True
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if kind_of and kind_of not in TYPES:
        causes.append(not_supported(child(path, "type"), kind_of, TYPES))
    if int_or_string and kind_of:
        causes.append(invalid(child(path, "type"), kind_of, "must be empty if x-kubernetes-int-or-string is true"))
    if not kind_of and not root and not int_or_string and preserve is not True:
        causes.append(required(child(path, "type"), f"must not be empty for specified {kind}"))
    if preserve is not None and preserve is not True:
        causes.append(invalid(child(path, "x-kubernetes-preserve-unknown-fields"), preserve,
                              "must be true or undefined"))
    if "pattern" in schema:
        try:
            re.compile(str(schema["pattern"]))
        except re.error as exc:
            causes.append(invalid(child(path, "pattern"), schema["pattern"],
                                  f"must be a valid regular expression, but isn't: {exc}"))
    if "properties" in schema and "additionalProperties" in schema:
        causes.append(forbidden(child(path, "additionalProperties"),
                                "additionalProperties and properties are mutual exclusive"))
    if kind_of == "array" and not isinstance(schema.get("items"), dict):
        causes.append(required(child(path, "items"), "must be specified"))
    if schema.get("x-kubernetes-embedded-resource"):
        if kind_of != "object":
            causes.append(invalid(child(path, "type"), kind_of,
                                  "must be object if x-kubernetes-embedded-resource is true"))
        if not schema.get("properties") and preserve is not True:
            causes.append(required(child(path, "properties"), "must not be empty if x-kubernetes-embedded-resource "
                                                               "is true without x-kubernetes-preserve-unknown-fields"))
    list_type = schema.get("x-kubernetes-list-type")
    if list_type is not None:
        if list_type not in LIST_TYPES:
            causes.append(not_supported(child(path, "x-kubernetes-list-type"), list_type, LIST_TYPES))
        if kind_of != "array":
            causes.append(invalid(child(path, "x-kubernetes-list-type"), list_type, "must only be used on type array"))
        if list_type == "map" and not schema.get("x-kubernetes-list-map-keys"):
            causes.append(required(child(path, "x-kubernetes-list-map-keys"),
                                   "must not be empty if x-kubernetes-list-type is map"))
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            causes += _node_errors(sub, _prop(path, name))
    if isinstance(schema.get("items"), dict):
        causes += _node_errors(schema["items"], child(path, "items"), kind="array items")
    if isinstance(schema.get("additionalProperties"), dict):
        causes += _node_errors(schema["additionalProperties"], child(path, "additionalProperties"))
    return causes


# --------------------------------------------------------------------------------------------------------------
# Validation: jsonschema for the plain keywords, our own walk for the x-kubernetes ones.


def _is_date_time(value: str) -> bool:
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value or " " in value


def _is_date(value: str) -> bool:
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_ip(value: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(value).version == version
    except ValueError:
        return False


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def _is_byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        return False
    return True


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}"
                       r"[a-zA-Z0-9])?)*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$")

# The formats upstream's strfmt registry checks (others, such as int32, are documentation only).
FORMATS = {
    "date-time": _is_date_time, "datetime": _is_date_time, "date": _is_date, "uuid": _is_uuid,
    "ipv4": lambda v: _is_ip(v, 4), "ipv6": lambda v: _is_ip(v, 6), "cidr": _is_cidr, "byte": _is_byte,
    "hostname": lambda v: bool(_HOSTNAME.match(v)), "email": lambda v: bool(_EMAIL.match(v)),
    "duration": lambda v: bool(_DURATION.match(v)),
}
_FORMAT_CHECKER = jsonschema.FormatChecker(formats=())
for _name, _check in FORMATS.items():
    _FORMAT_CHECKER.checks(_name)(_check)

# OpenAPI keywords jsonschema checks as they are.
_PLAIN = ("required", "enum", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength",
          "maxLength", "minItems", "maxItems", "uniqueItems", "multipleOf", "minProperties", "maxProperties",
          "format")


def to_json_schema(schema: Schema) -> Schema:
    """The JSON schema (draft 4) that checks the plain keywords of a structural schema: `nullable` becomes a
    "null" type, int-or-string the two types, and nested schemas are converted in turn."""
    out: Schema = {key: schema[key] for key in _PLAIN if key in schema}
    types: list[str] = []
    if schema.get("x-kubernetes-int-or-string"):
        types = ["integer", "string"]
    elif schema.get("type"):
        types = [schema["type"]]
    if types:
        if schema.get("nullable"):
            types.append("null")
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        out["type"] = types[0] if len(types) == 1 else types
    if isinstance(schema.get("properties"), dict):
        out["properties"] = {name: to_json_schema(sub) for name, sub in schema["properties"].items()
                             if isinstance(sub, dict)}
    if isinstance(schema.get("items"), dict):
        out["items"] = to_json_schema(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(schema["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            out[key] = [to_json_schema(sub) for sub in schema[key] if isinstance(sub, dict)]
    if isinstance(schema.get("not"), dict):
        out["not"] = to_json_schema(schema["not"])
    return out


def _path(parts: Any) -> str:
    path = ""
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else child(path, str(part))
    return path


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _cause(error: jsonschema.ValidationError) -> Causes:
    """Upstream's cause for one jsonschema error (apiextensions' validation.go turns kube-openapi's errors into
    field errors this way)."""
    path = _path(error.absolute_path)
    value, rule, keyword = error.instance, error.validator_value, error.validator
    body = f"{path or 'body'} in body"
    if keyword == "type":
        expected = [t for t in (rule if isinstance(rule, list) else [rule]) if t != "null"]
        return [type_invalid(path, value, ",".join(expected))]
    if keyword == "required":
        return [required(child(path, name)) for name in rule if isinstance(value, dict) and name not in value]
    if keyword == "enum":
        return [not_supported(path, value, [v if isinstance(v, str) else show(v) for v in rule])]
    if keyword == "maxLength":
        return [too_long(path, rule)]
    if keyword == "maxItems":
        return [{"reason": "FieldValueTooMany", "field": path,
                 "message": f"Too many: {len(value)}: must have at most {rule} items"}]
    if keyword == "format":
        return [invalid(path, value, f'{body} must be of type {rule}: {show(value)}')]
    schema = error.schema if isinstance(error.schema, dict) else {}
    messages = {
        "minimum": (f"should be greater than {_number(rule)}" if schema.get("exclusiveMinimum") is True
                    else f"should be greater than or equal to {_number(rule)}"),
        "maximum": (f"should be less than {_number(rule)}" if schema.get("exclusiveMaximum") is True
                    else f"should be less than or equal to {_number(rule)}"),
        "pattern": f"should match '{rule}'",
        "minLength": f"should be at least {rule} chars long",
        "minItems": f"should have at least {rule} items",
        "uniqueItems": "shouldn't contain duplicates",
        "multipleOf": f"should be a multiple of {_number(rule)}",
        "minProperties": f"should have at least {rule} properties",
        "maxProperties": f"should have at most {rule} properties",
    }
    return [invalid(path, value, f"{body} {messages.get(keyword, error.message)}")]


class Validator:
    """Validates objects against one version's structural schema; made once per CRD version.

    Two libraries, one schema: `fastjsonschema` compiles it to Python code that says "valid" in microseconds (the
    common case), and only when it says "invalid" does `jsonschema` walk the object again to list every error
    with its path, which the causes are made of (fastjsonschema stops at the first)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        # Whether our own walk has anything to check (most schemas have no list types or embedded resources).
        text = json.dumps(schema)
        self._kubernetes_specific = '"x-kubernetes-list-type"' in text or '"x-kubernetes-embedded-resource"' in text
        plain = to_json_schema(schema)
        self._plain = jsonschema.Draft4Validator(plain, format_checker=_FORMAT_CHECKER)
        try:
            self._quick: Any = fastjsonschema.compile({"$schema": "http://json-schema.org/draft-04/schema#", **plain},
                                                      formats=FORMATS)
        except fastjsonschema.JsonSchemaDefinitionException:
            self._quick = None  # something it cannot compile: jsonschema alone decides

    def validate(self, obj: Any) -> Causes:
        """Causes for what is wrong with `obj` (already defaulted and pruned), in upstream's words."""
        body = {key: value for key, value in obj.items() if key != "metadata"}  # ObjectMeta is checked apart
        causes: Causes = []
        errors: list[jsonschema.ValidationError] = []
        try:
            if self._quick is None:
                raise fastjsonschema.JsonSchemaException("not compiled")
            self._quick(body)
        except fastjsonschema.JsonSchemaException:
            errors = list(self._plain.iter_errors(body))
        for error in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
            for found in _cause(error):
                if found not in causes:
                    causes.append(found)
        if self._kubernetes_specific:
            causes += _kubernetes_rules(self.schema, obj, "", root=True)
        return causes


def _kubernetes_rules(schema: Schema, value: Any, path: str, *, root: bool = False) -> Causes:
    """What JSON schema cannot say: list types (`set`, `map` keys unique) and embedded resources."""
    causes: Causes = []
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource") and not root:
            for name in ("apiVersion", "kind"):
                if not value.get(name):
                    causes.append(required(child(path, name), "must not be empty"))
        for name, sub in _children(schema, value):
            if name == "metadata" and root:
                continue
            causes += _kubernetes_rules(sub, value[name], child(path, name))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        list_type = schema.get("x-kubernetes-list-type")
        seen: list[Any] = []
        for i, item in enumerate(value):
            if list_type == "set":
                if item in seen:
                    causes.append(duplicate(f"{path}[{i}]", item))
                seen.append(item)
            elif list_type == "map" and isinstance(item, dict):
                key = {k: item.get(k) for k in schema.get("x-kubernetes-list-map-keys") or []}
                if key in seen:
                    causes.append(duplicate(f"{path}[{i}]", key))
                seen.append(key)
            causes += _kubernetes_rules(schema["items"], item, f"{path}[{i}]")
    return causes


def _children(schema: Schema, value: dict[str, Any]) -> Iterator[tuple[str, Schema]]:
    """(field, its schema) for each field of `value` that the schema specifies."""
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for name in value:
        if isinstance(properties.get(name), dict):
            yield name, properties[name]
        elif isinstance(extra, dict):
            yield name, extra


# --------------------------------------------------------------------------------------------------------------
# Defaulting (upstream: schema/defaulting/algorithm.go) and pruning (schema/pruning/algorithm.go)


def defaults_only(schema: Schema) -> Schema | None:
    """The part of a schema that leads to a `default` (None when it has none): what `apply_defaults` needs to
    walk, so that an object is not walked field by field where no default can apply."""
    out: Schema = {}
    properties = {}
    for name, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict) and (kept := defaults_only(sub)) is not None:
            properties[name] = kept
    if properties:
        out["properties"] = properties
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict) and (kept := defaults_only(schema[key])) is not None:
            out[key] = kept
    if "default" in schema:
        out["default"] = schema["default"]
        out["nullable"] = schema.get("nullable", False)
    return out or None


def apply_defaults(schema: Schema, value: Any) -> None:
    """Fill, in place, every field the schema gives a `default` for and the object leaves out (or sets to null
    where null is not allowed); defaults inside defaults are applied too."""
    if isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if not isinstance(sub, dict) or "default" not in sub:
                continue
            if name not in value or (value[name] is None and not sub.get("nullable")):
                value[name] = copy.deepcopy(sub["default"])
        for name, sub in _children(schema, value):
            apply_defaults(sub, value[name])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            apply_defaults(schema["items"], item)


def prune(schema: Schema, value: Any, path: str = "", *, root: bool = True, dry: bool = False) -> list[str]:
    """Remove, in place, the fields the schema does not specify (unless it preserves unknown fields there).
    Returns the paths removed, for strict field validation's "unknown field" errors; `dry` only finds them."""
    removed: list[str] = []
    if isinstance(value, dict):
        keep_object_fields = root or schema.get("x-kubernetes-embedded-resource")
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = (schema.get("x-kubernetes-preserve-unknown-fields") is True or isinstance(extra, dict)
                    or extra is True)
        for name in list(value):
            if name in properties or preserve or (keep_object_fields and name in OBJECT_FIELDS):
                continue
            if not dry:
                del value[name]
            removed.append(child(path, name))
        for name, sub in _children(schema, value):
            if root and name == "metadata":
                continue
            removed += prune(sub, value[name], child(path, name), root=False, dry=dry)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            removed += prune(schema["items"], item, f"{path}[{i}]", root=False, dry=dry)
    return removed
