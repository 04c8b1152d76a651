"""OpenAPI v2 in protobuf, as kubectl up to 1.26 reads it (`kubectl explain`, and client-side validation).

kubectl asks `/openapi/v2` for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and decodes the answer
as gnostic's `openapi.v2.Document` (github.com/google/gnostic, openapiv2/OpenAPIv2.proto). kubeling publishes the
definitions of custom resources only: for a kind without a definition, kubectl validates nothing on the client
and explains nothing, which is what an empty document (the built-in kinds here) gives. The field numbers below
are gnostic's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

LENGTH = 2  # wire type of strings, bytes and nested messages


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, bytes."""
    return _varint(number << 3 | LENGTH) + _varint(len(payload)) + payload


def _text(number: int, value: str) -> bytes:
    return _field(number, value.encode())


def _named(name: str, value: bytes) -> bytes:
    """A Named* entry (name = 1, value = 2), gnostic's ordered map."""
    return _text(1, name) + _field(2, value)


def _vendor_extension(name: str, value: Any) -> bytes:
    """NamedAny{name, Any{yaml = 2}}: JSON is YAML, so the value is written as JSON."""
    return _named(name, _text(2, json.dumps(value)))


def schema(node: dict[str, Any], extensions: Iterable[tuple[str, Any]] = ()) -> bytes:
    """A JSON schema node as gnostic's Schema message (the fields kubectl reads). As upstream publishes CRDs in v2,
    a node that keeps unknown fields, or is an int-or-string, has no type: kubectl then accepts anything there."""
    out = b""
    if node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string"):
        node = {"description": node.get("description", "")}
    if node.get("format"):
        out += _text(2, str(node["format"]))
    if node.get("description"):
        out += _text(4, str(node["description"]))
    for name in node.get("required") or []:
        out += _text(19, str(name))
    if isinstance(node.get("additionalProperties"), dict):
        out += _field(21, _field(1, schema(node["additionalProperties"])))
    if node.get("type"):
        out += _field(22, _text(1, str(node["type"])))
    if isinstance(node.get("items"), dict):
        out += _field(23, _field(1, schema(node["items"])))
    properties = node.get("properties") or {}
    if properties:
        out += _field(25, b"".join(_field(1, _named(name, schema(sub))) for name, sub in properties.items()
                                   if isinstance(sub, dict)))
    for name, value in extensions:
        out += _field(31, _vendor_extension(name, value))
    return out


def document(definitions: dict[str, tuple[dict[str, Any], dict[str, str]]], version: str) -> bytes:
    """A Document with these definitions: name → (schema, its group/version/kind)."""
    info = _text(1, "Kubernetes") + _text(2, version)
    named = b"".join(
        _field(1, _named(name, schema(node, [("x-kubernetes-group-version-kind", [gvk])])))
        for name, (node, gvk) in definitions.items())
    return _text(1, "2.0") + _field(2, info) + _field(8, b"") + _field(9, named)
