"""The protobuf wire format: varints, and the (field number, wire type, value) triples a message is made of.

Upstream: google.golang.org/protobuf/encoding/protowire, which gogo-generated Kubernetes types use through
their `Unmarshal` methods. Everything here is about bytes; what a field means is `messages.py`'s business.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeling.api.errors import StatusError

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5


def malformed(why: str) -> StatusError:
    """The 400 for a body that is not valid protobuf."""
    return StatusError(400, f"unable to decode protobuf body: {why}", "BadRequest")


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A base-128 varint at `pos`: (value, position after it)."""
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise malformed("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise malformed("varint longer than 10 bytes")


def _take(buf: bytes, pos: int, size: int) -> tuple[bytes, int]:
    if size < 0 or pos + size > len(buf):
        raise malformed("truncated field")
    return buf[pos : pos + size], pos + size


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) for each field; groups are consumed and yielded as None."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise malformed("field number 0")
        value, pos = _value(buf, pos, number, wire)
        yield number, wire, value


def _value(buf: bytes, pos: int, number: int, wire: int) -> tuple[Any, int]:
    if wire == VARINT:
        return varint(buf, pos)
    if wire == FIXED64:
        raw, pos = _take(buf, pos, 8)
        return int.from_bytes(raw, "little"), pos
    if wire == LENGTH:
        size, pos = varint(buf, pos)
        return _take(buf, pos, size)
    if wire == FIXED32:
        raw, pos = _take(buf, pos, 4)
        return int.from_bytes(raw, "little"), pos
    if wire == START_GROUP:  # deprecated proto2 groups: nothing Kubernetes sends, but skip them safely
        while True:
            if pos >= len(buf):
                raise malformed("unterminated group")
            key, pos = varint(buf, pos)
            if key & 7 == END_GROUP:
                if key >> 3 != number:
                    raise malformed("mismatched end of group")
                return None, pos
            _, pos = _value(buf, pos, key >> 3, key & 7)
    raise malformed(f"invalid wire type {wire} for field {number}")


def expect(wire: int, wanted: int, number: int) -> None:
    """Refuse a field whose wire type is not the one its schema needs."""
    if wire != wanted:
        raise malformed(f"field {number} has wire type {wire}, expected {wanted}")


def text(raw: bytes) -> str:
    """A string field's bytes as text; protobuf strings are UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("string field is not valid UTF-8") from None


def signed(value: int, bits: int) -> int:
    """An int32/int64 from its varint: Go writes negative ones as 64-bit two's complement."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
