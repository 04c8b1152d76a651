"""Finished DNS replies kept as bytes, so that a repeated plain question is answered without parsing or encoding.

Stands in for `kubeling.dns.server`'s `Resolver.parse` → `Resolver.local` → `encode` (dnslib objects each time) on
the most common query: one question, no EDNS record, asked again before anything changed. The reply to such a
question depends only on the question's name (compared without letter case), type and class, so the bytes made for
the first asker serve the next ones with two changes: their message ID and RD bit, and their question as they
spelled it (the answers point at it by offset, so its letter case is theirs; DNS 0x20 relies on that).

It forgets everything (`clear`) whenever the cluster changes (an informer event), and a reply made from a state
that changed meanwhile is not kept (`generation`); answers forwarded from upstream are kept for at most a second,
so their TTLs, counted down by the slow path's cache, are never off by more than that.
"""

from __future__ import annotations

import threading
import time

HEADER = 12
PLAIN_QUERY_FLAGS_MASK = 0xF800  # QR and OPCODE: a query (QR=0) with opcode QUERY (0)
RD = 0x0100
MAX_ENTRIES = 20000


def question_key(packet: bytes) -> bytes | None:
    """The question of a plain one-question query without EDNS, with its name lower-cased; None otherwise."""
    if len(packet) < HEADER + 5 or packet[4:12] != b"\x00\x01\x00\x00\x00\x00\x00\x00":
        return None
    if int.from_bytes(packet[2:4], "big") & PLAIN_QUERY_FLAGS_MASK:
        return None
    end = HEADER
    while True:  # the name: length-prefixed labels up to a zero byte (no compression in a question we accept)
        if end >= len(packet):
            return None
        length = packet[end]
        if length == 0:
            break
        if length > 63:
            return None
        end += 1 + length
    if len(packet) != end + 5:
        return None  # trailing bytes: not a plain query
    return bytes(packet[HEADER:end].lower() + packet[end:end + 5])


class ReplyCache:
    def __init__(self) -> None:
        self.generation = 0
        self._replies: dict[bytes, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._replies.clear()

    def reply(self, packet: bytes) -> bytes | None:
        """The reply to `packet` made from a kept one, or None."""
        key = question_key(packet)
        if key is None:
            return None
        found = self._replies.get(key)
        if found is None:
            return None
        reply, expires = found
        if expires and expires < time.monotonic():
            return None
        flags = int.from_bytes(reply[2:4], "big") & ~RD | int.from_bytes(packet[2:4], "big") & RD
        return packet[:2] + flags.to_bytes(2, "big") + reply[4:HEADER] + packet[HEADER:] + reply[len(packet):]

    def keep(self, packet: bytes, reply: bytes, generation: int, lifetime: float = 0.0) -> None:
        """Keep `reply` to `packet`, made when the cache was at `generation`; `lifetime` seconds (0: until the
        next clear)."""
        key = question_key(packet)
        if key is None or reply[HEADER:len(packet)].lower() != packet[HEADER:].lower():
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._replies) >= MAX_ENTRIES:
                self._replies.clear()
            self._replies[key] = (reply, time.monotonic() + lifetime if lifetime else 0.0)
