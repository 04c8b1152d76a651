"""Schema-driven decoding: a protobuf message, read with its field table, becomes the dict its JSON form would be.

Mapping proto2 to JSON: Go writes every non-pointer scalar, zero or not, but its JSON tags say `omitempty`, so
a zero on the wire for such a field is dropped. Pointer fields (`*int32`, `*bool`, `*string`) are only written
when set, and required fields have no `omitempty`; both are marked with a leading `*` in the schema and keep
their zero (`replicas: 0` must survive). Non-pointer struct fields are always written and Go's JSON always
prints them, so a present message becomes a dict, possibly `{}` (`resources: {}`, `strategy: {}`). A zero
`metav1.Time` is `null` in JSON (`creationTimestamp: null`); we omit it instead.

Upstream: the generated `Unmarshal` methods in k8s.io/api/<group>/<version>/generated.pb.go read the same fields
into Go structs; the Go types' JSON tags decide the shape here.
"""

from __future__ import annotations

import base64
import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeling.apiserver.protobuf.schemas import SCHEMAS
from kubeling.apiserver.protobuf.wire import LENGTH, VARINT, expect, fields, malformed, signed, text, varint

_SCALARS = {"string", "int32", "int64", "bool", "bytes"}
_ZEROS: dict[str, Any] = {"string": "", "int32": 0, "int64": 0, "bool": False, "bytes": ""}
# Kinds with a JSON form of their own instead of an object (see _special).
_SPECIAL = {"Time", "IntOrString", "Quantity"}


@functools.cache
def _parse_type(spec: str) -> tuple[str, str, bool]:
    """`"*int32"` → ("scalar", "int32", keep_zero); also "repeated", "map", "inline", "message"."""
    if spec.startswith("[]"):
        return "repeated", spec[2:], True
    if spec.startswith("map[string]"):
        return "map", spec[len("map[string]") :], True
    if spec.startswith("inline:"):
        return "inline", spec[len("inline:") :], True
    keep = spec.startswith("*")
    name = spec.lstrip("*")
    return ("scalar" if name in _SCALARS else "message"), name, keep


def _scalar(kind: str, wire: int, value: Any, number: int) -> Any:
    if kind in ("string", "bytes"):
        expect(wire, LENGTH, number)
        return text(value) if kind == "string" else base64.b64encode(value).decode("ascii")
    expect(wire, VARINT, number)
    if kind == "bool":
        return value != 0
    return signed(value, 32 if kind == "int32" else 64)


def _element(kind: str, wire: int, value: Any, number: int) -> Any:
    if kind in _SCALARS:
        return _scalar(kind, wire, value, number)
    expect(wire, LENGTH, number)
    return message(kind, value)


def message(name: str, buf: bytes) -> Any:
    """The message `name` of SCHEMAS decoded from `buf`, in the shape its JSON form has."""
    if name in _SPECIAL:
        return _special(name, buf)
    schema = SCHEMAS[name]
    out: dict[str, Any] = {}
    for number, wire, value in fields(buf):
        field = schema.get(number)
        if field is None:
            continue  # a field newer than our schema, or one we chose not to model
        json_name, spec = field
        shape, kind, keep = _parse_type(spec)
        if shape == "repeated":
            out.setdefault(json_name, []).extend(_repeated(kind, wire, value, number))
        elif shape == "map":
            expect(wire, LENGTH, number)
            key, item = _map_entry(kind, value)
            out.setdefault(json_name, {})[key] = item
        elif shape == "inline":
            expect(wire, LENGTH, number)
            out.update(message(kind, value))
        elif shape == "scalar":
            decoded = _scalar(kind, wire, value, number)
            if keep or decoded != _ZEROS[kind]:
                out[json_name] = decoded
            else:
                out.pop(json_name, None)  # a later zero overrides an earlier value, as in proto
        else:
            expect(wire, LENGTH, number)
            decoded = message(kind, value)
            if decoded is None:
                out.pop(json_name, None)
            else:
                out[json_name] = decoded
    return out


def _repeated(kind: str, wire: int, value: Any, number: int) -> list[Any]:
    if kind in ("int32", "int64", "bool") and wire == LENGTH:  # packed encoding
        items, pos = [], 0
        while pos < len(value):
            item, pos = varint(value, pos)
            items.append(_scalar(kind, VARINT, item, number))
        return items
    return [_element(kind, wire, value, number)]


def _map_entry(kind: str, buf: bytes) -> tuple[str, Any]:
    key, item = "", None
    for number, wire, value in fields(buf):
        if number == 1:
            key = _scalar("string", wire, value, number)
        elif number == 2:
            item = _element(kind, wire, value, number)
    if item is None:  # Go always writes both; an absent value is the type's zero
        item = _ZEROS.get(kind) if kind in _SCALARS else message(kind, b"")
    return key, item


def _special(name: str, buf: bytes) -> Any:
    parts: dict[int, Any] = {}
    for number, wire, value in fields(buf):
        parts[number] = (wire, value)

    def scalar(number: int, kind: str) -> Any:
        if number not in parts:
            return _ZEROS[kind]
        wire, value = parts[number]
        return _scalar(kind, wire, value, number)

    if name == "Quantity":  # resource.Quantity {1: string}
        return scalar(1, "string") or "0"
    if name == "IntOrString":  # {1: type (0 int, 1 string), 2: intVal, 3: strVal}
        return scalar(3, "string") if scalar(1, "int64") == 1 else scalar(2, "int32")
    return _time(scalar(1, "int64"), scalar(2, "int32"))  # metav1.Time {1: seconds, 2: nanos}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_GO_ZERO_TIME = -62135596800  # 0001-01-01T00:00:00Z, Go's time.Time{}


def _time(seconds: int, nanos: int) -> str | None:
    # Go marshals a zero Time as an empty message and as JSON null; JSON keeps whole seconds only.
    if (seconds == 0 and nanos == 0) or seconds == _GO_ZERO_TIME:
        return None
    try:
        moment = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise malformed("timestamp out of range") from None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
