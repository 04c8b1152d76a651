"""Decode request bodies sent as `application/vnd.kubernetes.protobuf` into the dict their JSON form would be.

kubectl's typed-client commands (`kubectl create namespace|deployment|configmap|secret|service|job|cronjob|
serviceaccount|...`) POST protobuf and never retry with JSON on 415, so the API server must read it. Everything
else in kubeling works on JSON-shaped dicts, so this package turns the wire bytes into exactly that shape and
nothing downstream needs to know protobuf existed.

The body is upstream's envelope: the magic `k8s\\x00`, then a `runtime.Unknown` message
(1 = typeMeta {1 = apiVersion, 2 = kind}, 2 = raw object bytes, 3 = contentEncoding, 4 = contentType).

Upstream: k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go for the envelope. The rest of the
package: `wire.py` reads the bytes, `schemas.py` holds each kind's field numbers, `messages.py` turns a message
into its JSON shape.
"""

from __future__ import annotations

from typing import Any

from kubeling.api.errors import StatusError
from kubeling.apiserver.protobuf import messages, wire
from kubeling.apiserver.protobuf.schemas import KINDS

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


def is_protobuf(content_type: str | None) -> bool:
    """True for `application/vnd.kubernetes.protobuf` (parameters such as `;charset` ignored)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == CONTENT_TYPE


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf request body holds, as the dict its JSON form would parse to."""
    if not body.startswith(MAGIC):
        raise wire.malformed("missing the k8s protobuf magic prefix")
    envelope: dict[int, Any] = {}
    for number, wire_type, value in wire.fields(body[len(MAGIC) :]):
        if number in (1, 2, 3, 4):
            wire.expect(wire_type, wire.LENGTH, number)
            envelope[number] = value
    api_version, kind = "", ""
    for number, wire_type, value in wire.fields(envelope.get(1, b"")):
        if number in (1, 2):
            wire.expect(wire_type, wire.LENGTH, number)
            text = wire.text(value)
            api_version, kind = (text, kind) if number == 1 else (api_version, text)
    encoding = wire.text(envelope.get(3, b""))
    if encoding:
        raise wire.malformed(f"unsupported contentEncoding {encoding!r}")
    message = KINDS.get((api_version, kind))
    if message is None:
        raise StatusError(400, f"no protobuf schema for {api_version}/{kind}; send application/json", "BadRequest")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(messages.message(message, envelope.get(2, b"")))
    return obj
