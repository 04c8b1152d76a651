"""The DNS server: a query in, a reply out, over UDP and TCP.

`Resolver.reply` decides: a name in the cluster zone (or a cluster address's reverse name) is answered from
`records.Zone`; any other name from the cache, else from the node's resolvers (`forward.py`). A malformed query gets
FORMERR when it has a header to answer, an opcode other than QUERY gets NOTIMP, and a reply too large for the
client's UDP buffer (512 bytes, or what its EDNS record offers) is sent truncated (TC) so that it asks again over TCP.

One thread reads the UDP socket and answers cluster names and cache hits itself; a query that must go upstream is
handed to a small pool, so a slow upstream never delays the cluster's answers. TCP connections get a thread each.

Upstream: RFC 1035 (messages, TCP framing), RFC 6891 (EDNS buffer sizes), CoreDNS `core/dnsserver/server.go`.
"""

from __future__ import annotations

import concurrent.futures
import logging
import socket
import socketserver
import struct
import threading
import time
from typing import Any

from dnslib import AAAA, CNAME, OPCODE, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSHeader, DNSQuestion, DNSRecord
from dnslib.dns import DNSError
from prometheus_client import Counter, Histogram

from kubeling.dns import forward
from kubeling.dns.records import NXDOMAIN, Answer, Record, Zone
from kubeling.fastpath.dns_replies import ReplyCache

log = logging.getLogger(__name__)

UDP_SIZE = 512  # what a client without EDNS can take (RFC 1035)
MAX_NAME = 253  # characters in a name written with dots (255 bytes on the wire)
MAX_CNAME_CHAIN = 8

REQUESTS = Counter("kubeling_dns_requests_total", "DNS queries received", ["proto", "type"])
RESPONSES = Counter("kubeling_dns_responses_total", "DNS replies sent", ["rcode"])
DURATION = Histogram("kubeling_dns_request_duration_seconds", "Time to answer a query", ["source"],
                     buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 2.5))
CACHE = Counter("kubeling_dns_cache_total", "Answers for names outside the cluster", ["result"])
KEPT_REPLIES = Counter("kubeling_dns_kept_replies_total", "UDP queries answered with a reply kept as bytes")

_RDATA = {
    "A": lambda d: A(d), "AAAA": lambda d: AAAA(d), "CNAME": lambda d: CNAME(d), "PTR": lambda d: PTR(d),
    "TXT": lambda d: TXT(d), "SRV": lambda d: SRV(priority=d[0], weight=d[1], port=d[2], target=d[3]),
    "SOA": lambda d: SOA(mname=d[0], rname=d[1], times=d[2:]),
}


class Resolver:
    def __init__(self, zone: Zone, forwarder: forward.Forwarder, cache: forward.AnswerCache) -> None:
        self.zone, self.forwarder, self.cache = zone, forwarder, cache

    def parse(self, data: bytes, proto: str) -> tuple[DNSRecord | None, bytes | None]:
        """(the query, None), or (None, the error reply to send at once; None to stay silent)."""
        try:
            request = DNSRecord.parse(data)
        except (DNSError, ValueError, IndexError, struct.error):
            if len(data) < 12:
                return None, None  # not even a header: nobody to answer
            reply = DNSRecord(DNSHeader(id=struct.unpack(">H", data[:2])[0], qr=1, rcode=RCODE.FORMERR))
            RESPONSES.labels("FORMERR").inc()
            return None, reply.pack()
        qtype = QTYPE.get(request.q.qtype, str(request.q.qtype)) if request.questions else "none"
        REQUESTS.labels(proto, qtype).inc()
        malformed = len(request.questions) != 1 or len(request.q.qname) > MAX_NAME or request.header.qr
        if malformed or request.header.opcode != OPCODE.QUERY:
            code = RCODE.NOTIMP if request.header.opcode != OPCODE.QUERY else RCODE.FORMERR
            reply = DNSRecord(DNSHeader(id=request.header.id, qr=1, opcode=request.header.opcode, rcode=code))
            RESPONSES.labels(RCODE.get(code)).inc()
            return None, reply.pack()
        return request, None

    def local(self, request: DNSRecord) -> DNSRecord | None:
        """The reply when the cluster or the cache knows it; None when the upstream must be asked."""
        started = time.perf_counter()
        question = request.q
        answer = self.zone.answer(str(question.qname), QTYPE.get(question.qtype, ""))
        if answer is not None:
            reply = self._from_answer(request, answer)
            if any(rr.rtype == QTYPE.CNAME for rr in reply.rr) and question.qtype != QTYPE.CNAME:
                self._chase(request, reply)
            DURATION.labels("cluster").observe(time.perf_counter() - started)
            return reply
        cached = self.cache.get(request)
        CACHE.labels("hit" if cached else "miss").inc()
        if cached is not None:
            DURATION.labels("cache").observe(time.perf_counter() - started)
        return cached

    def upstream(self, request: DNSRecord) -> DNSRecord:
        """Ask the node's resolvers (SERVFAIL when none answers), and remember what they said."""
        started = time.perf_counter()
        reply = self.forwarder.ask(request)
        if reply is None:
            reply = request.reply()
            reply.header.rcode = RCODE.SERVFAIL
        else:
            self.cache.put(request, reply)
        DURATION.labels("upstream").observe(time.perf_counter() - started)
        return reply

    def answer(self, request: DNSRecord) -> DNSRecord:
        return self.local(request) or self.upstream(request)

    def _from_answer(self, request: DNSRecord, answer: Answer) -> DNSRecord:
        reply = request.reply()  # same id and question, QR and RD set, RA: we recurse for outside names
        reply.header.aa = 1
        reply.header.rcode = RCODE.NXDOMAIN if answer.rcode == NXDOMAIN else RCODE.NOERROR
        for record in answer.records:
            reply.add_answer(to_rr(record))
        for record in answer.authority:
            reply.add_auth(to_rr(record))
        for record in answer.additional:
            reply.add_ar(to_rr(record))
        return reply

    def _chase(self, request: DNSRecord, reply: DNSRecord) -> None:
        """An ExternalName's CNAME: add the target's records (from the cluster, the cache or the upstream)."""
        target = str(reply.rr[-1].rdata.label)
        for _ in range(MAX_CNAME_CHAIN):
            follow = DNSRecord(DNSHeader(id=request.header.id, rd=1), q=DNSQuestion(target, request.q.qtype))
            more = self.answer(follow)
            reply.rr.extend(more.rr)
            if not more.rr or more.rr[-1].rtype != QTYPE.CNAME:
                reply.header.rcode = more.header.rcode
                return
            target = str(more.rr[-1].rdata.label)


def to_rr(record: Record) -> RR:
    return RR(record.name, getattr(QTYPE, record.rtype), ttl=record.ttl, rdata=_RDATA[record.rtype](record.data))


def encode(request: DNSRecord, reply: DNSRecord, proto: str) -> bytes:
    """The reply's bytes; over UDP, truncated (TC set, no records) when larger than the client can take."""
    data = reply.pack()
    if proto == "udp":
        limit = max([UDP_SIZE] + [rr.edns_len for rr in request.ar if rr.rtype == QTYPE.OPT])
        if len(data) > limit:
            truncated = request.reply()
            truncated.header.tc = 1
            truncated.header.rcode = reply.header.rcode
            data = truncated.pack()
    RESPONSES.labels(RCODE.get(reply.header.rcode)).inc()
    return data


class UDPServer:
    """Answers datagrams on one socket (see the module's docstring for the threads)."""

    def __init__(self, resolver: Resolver, address: str, port: int, upstream_workers: int = 8,
                 replies: ReplyCache | None = None) -> None:
        self.resolver = resolver
        # Speed work (kubeling/fastpath/dns_replies.py, which a reader may skip): finished replies kept as bytes
        # for questions asked again before the cluster changed.
        self.replies = replies or ReplyCache()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.port = self.sock.getsockname()[1]
        self.pool = concurrent.futures.ThreadPoolExecutor(upstream_workers, thread_name_prefix="dns-upstream")

    def start(self) -> UDPServer:
        threading.Thread(target=self.serve, name="dns-udp", daemon=True).start()
        return self

    def serve(self) -> None:
        while True:
            try:
                data, client = self.sock.recvfrom(65535)
            except OSError:
                return  # closed
            try:
                self._handle(data, client)
            except Exception:  # one bad query must never stop the server
                log.exception("DNS query from %s failed", client)

    def _handle(self, data: bytes, client: Any) -> None:
        kept = self.replies.reply(data)
        if kept is not None:
            KEPT_REPLIES.inc()
            self.sock.sendto(kept, client)
            return
        generation = self.replies.generation
        request, error = self.resolver.parse(data, "udp")
        if request is None:
            if error:
                self.sock.sendto(error, client)
            return
        reply = self.resolver.local(request)
        if reply is not None:
            out = encode(request, reply, "udp")
            # A cluster answer holds until the cluster changes; a cached upstream one, a second (its TTL ticks).
            self.replies.keep(data, out, generation, lifetime=0.0 if reply.header.aa else 1.0)
            self.sock.sendto(out, client)
        else:
            self.pool.submit(self._ask_upstream, request, client)

    def _ask_upstream(self, request: DNSRecord, client: Any) -> None:
        try:
            self.sock.sendto(encode(request, self.resolver.upstream(request), "udp"), client)
        except Exception:
            log.exception("forwarding a query from %s failed", client)

    def close(self) -> None:
        self.sock.close()
        self.pool.shutdown(wait=False)


class TCPServer(socketserver.ThreadingTCPServer):
    """Answers queries over TCP, several per connection (RFC 7766), a thread per connection."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, resolver: Resolver, address: str, port: int) -> None:
        self.resolver = resolver
        self.address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        super().__init__((address, port), _TCPHandler)
        self.port = self.server_address[1]

    def start(self) -> TCPServer:
        threading.Thread(target=self.serve_forever, name="dns-tcp", daemon=True).start()
        return self


class _TCPHandler(socketserver.BaseRequestHandler):
    IDLE_TIMEOUT = 10.0

    def handle(self) -> None:
        resolver: Resolver = self.server.resolver  # type: ignore[attr-defined]
        self.request.settimeout(self.IDLE_TIMEOUT)
        try:
            while data := forward.read_tcp_message(self.request):
                request, error = resolver.parse(data, "tcp")
                if request is None:
                    if error:
                        self.request.sendall(struct.pack(">H", len(error)) + error)
                    continue
                out = encode(request, resolver.answer(request), "tcp")
                self.request.sendall(struct.pack(">H", len(out)) + out)
        except OSError:
            pass  # the client went away or idled out
