"""Names outside the cluster: asked of the node's own resolvers, and remembered for as long as their TTLs allow.

The upstream servers are the `nameserver` lines of the node's resolv.conf (as CoreDNS's `forward . /etc/resolv.conf`),
tried in order, over UDP, then over TCP when the answer comes back truncated. Answers are cached (CoreDNS's `cache`
plugin): a positive answer for its smallest TTL, a negative one (NXDOMAIN, or a name without records of the type) for
the SOA's negative TTL (RFC 2308), both capped; a failure is not cached.

Upstream: CoreDNS `plugin/forward/forward.go`, `plugin/cache/cache.go`.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import struct
import threading
import time
from collections import OrderedDict

from dnslib import QTYPE, RCODE, DNSRecord

log = logging.getLogger(__name__)

MAX_POSITIVE_TTL = 3600
MAX_NEGATIVE_TTL = 1800
DEFAULT_NEGATIVE_TTL = 30  # when the upstream gave no SOA
QUERY_TIMEOUT = 2.0


def nameservers(resolv_conf: str, exclude: set[str] | None = None) -> list[tuple[str, int]]:
    """The `nameserver` addresses of a resolv.conf, port 53, without `exclude` (our own addresses: no loops)."""
    found = []
    try:
        with open(resolv_conf) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "nameserver" and fields[1] not in (exclude or set()):
                    found.append((fields[1], 53))
    except OSError as exc:
        log.warning("cannot read %s: %s; names outside the cluster will fail", resolv_conf, exc)
    return found


def parse_servers(text: str) -> list[tuple[str, int]]:
    """`1.2.3.4,5.6.7.8:5353` → [(host, port), …]."""
    servers = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = item.rpartition(":") if item.count(":") == 1 else (item, "", "53")
        servers.append((host, int(port or 53)))
    return servers


@dataclasses.dataclass
class _Entry:
    reply: bytes
    stored: float
    expires: float


class AnswerCache:
    """Answers by (name, type, class), each kept until its TTL runs out; the oldest go first beyond `capacity`."""

    def __init__(self, capacity: int = 10000) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, int, int], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, request: DNSRecord) -> DNSRecord | None:
        """A copy of the cached answer to `request` with the TTLs counted down, or None."""
        key = _key(request)
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._entries[key]
                return None
        reply = DNSRecord.parse(entry.reply)
        elapsed = int(now - entry.stored)
        for rr in reply.rr + reply.auth + reply.ar:
            rr.ttl = max(0, rr.ttl - elapsed)
        reply.header.id = request.header.id
        reply.questions = request.questions  # the name as this client spelled it
        return reply

    def put(self, request: DNSRecord, reply: DNSRecord) -> None:
        ttl = cache_ttl(reply)
        if ttl <= 0:
            return
        now = time.monotonic()
        with self._lock:
            self._entries[_key(request)] = _Entry(reply.pack(), now, now + ttl)
            self._entries.move_to_end(_key(request))
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def cache_ttl(reply: DNSRecord) -> int:
    """How long an answer may be remembered (RFC 2308 for the negative ones); 0 for failures."""
    rcode = reply.header.rcode
    if rcode == RCODE.NOERROR and reply.rr:
        return min(min(rr.ttl for rr in reply.rr), MAX_POSITIVE_TTL)
    if rcode in (RCODE.NXDOMAIN, RCODE.NOERROR):
        soa = [rr for rr in reply.auth if rr.rtype == QTYPE.SOA]
        if soa:
            return min(soa[0].ttl, soa[0].rdata.times[-1], MAX_NEGATIVE_TTL)
        return DEFAULT_NEGATIVE_TTL
    return 0


def _key(request: DNSRecord) -> tuple[str, int, int]:
    question = request.q
    return str(question.qname).lower(), question.qtype, question.qclass


class Forwarder:
    """Asks the upstream servers, in order, until one answers."""

    def __init__(self, servers: list[tuple[str, int]], timeout: float = QUERY_TIMEOUT) -> None:
        self.servers, self.timeout = servers, timeout

    def ask(self, request: DNSRecord) -> DNSRecord | None:
        query = request.pack()
        for server in self.servers:
            try:
                data = _ask_udp(server, query, self.timeout)
                reply = DNSRecord.parse(data)
                if reply.header.tc:  # too big for a datagram: ask again over TCP
                    reply = DNSRecord.parse(_ask_tcp(server, query, self.timeout))
                if reply.header.id == request.header.id:
                    return reply
            except (OSError, ValueError, Exception) as exc:  # dnslib raises its own DNSError on garbage
                log.debug("upstream %s:%d: %s", server[0], server[1], exc)
        return None


def _ask_udp(server: tuple[str, int], query: bytes, timeout: float) -> bytes:
    family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(server)
        sock.send(query)
        return sock.recv(65535)


def _ask_tcp(server: tuple[str, int], query: bytes, timeout: float) -> bytes:
    with socket.create_connection(server, timeout=timeout) as sock:
        sock.sendall(struct.pack(">H", len(query)) + query)
        return read_tcp_message(sock)


def read_tcp_message(sock: socket.socket) -> bytes:
    """One DNS message over TCP: a two-byte length, then the message (RFC 1035 §4.2.2); b"" at the end."""
    header = _read_exactly(sock, 2)
    if not header:
        return b""
    return _read_exactly(sock, struct.unpack(">H", header)[0])


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data
