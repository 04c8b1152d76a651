"""Cluster DNS without a cluster: the records of the DNS specification from hand-fed caches, and the server's
replies over real UDP and TCP sockets on loopback (errors, truncation, forwarding and caching with a stub upstream)."""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, RCODE, RR, A, DNSRecord

from kubeling.api.endpointslices import service_key
from kubeling.client.informer import Store
from kubeling.dns import forward, records
from kubeling.dns.server import Resolver, TCPServer, UDPServer
from support import builders

Obj = dict[str, Any]


def service(name: str, ns: str = "default", cluster_ip: str = "10.96.0.20", **spec: Any) -> Obj:
    return builders.service(name, ns, cluster_ip=cluster_ip, clusterIPs=[cluster_ip] if cluster_ip != "None" else None,
                            ports=[{"name": "http", "port": 80, "protocol": "TCP"}], **spec)


def endpoint_slice(svc: str, endpoints: list[Obj], ns: str = "default", port: int = 8080) -> Obj:
    return builders.endpoint_slice(svc, ns, endpoints=endpoints,
                                   ports=[{"name": "http", "port": port, "protocol": "TCP"}])


def stores(services: list[Obj], slices: list[Obj]) -> tuple[Store, Store]:
    service_store, slice_store = Store(), Store()
    service_store.add_indexer("clusterIP", records.service_ip_index)
    slice_store.add_indexer("service", service_key)
    slice_store.add_indexer("address", records.slice_address_index)
    for obj in services:
        service_store._put(obj)
    for obj in slices:
        slice_store._put(obj)
    return service_store, slice_store


@pytest.fixture
def zone() -> records.Zone:
    services, slices = stores(
        [service("web"), service("nginx", cluster_ip="None"), service("db", ns="data", cluster_ip="10.96.0.30"),
         service("ext", cluster_ip="", type="ExternalName", externalName="www.example.com"),
         service("empty", cluster_ip="None"), service("early", cluster_ip="None", publishNotReadyAddresses=True)],
        [endpoint_slice("nginx", [
            {"addresses": ["10.244.1.5"], "hostname": "web-0", "conditions": {"ready": True}},
            {"addresses": ["10.244.2.6"], "hostname": "web-1", "conditions": {"ready": True}},
            {"addresses": ["10.244.2.7"], "conditions": {"ready": True}},
            {"addresses": ["10.244.2.8"], "hostname": "web-3", "conditions": {"ready": False}}]),
         endpoint_slice("empty", [{"addresses": ["10.244.3.1"], "conditions": {"ready": False}}]),
         endpoint_slice("early", [{"addresses": ["10.244.3.2"], "hostname": "a", "conditions": {"ready": False}}])])
    return records.Zone("cluster.local", services, slices)


def data(answer: records.Answer | None) -> list[Any]:
    assert answer is not None
    return sorted(r.data for r in answer.records)


def test_a_cluster_ip_service(zone: records.Zone) -> None:
    assert data(zone.answer("web.default.svc.cluster.local.", "A")) == ["10.96.0.20"]
    assert data(zone.answer("WEB.Default.SVC.cluster.LOCAL", "A")) == ["10.96.0.20"]  # any letter case
    assert data(zone.answer("db.data.svc.cluster.local.", "A")) == ["10.96.0.30"]


def test_srv_for_a_named_port(zone: records.Zone) -> None:
    answer = zone.answer("_http._tcp.web.default.svc.cluster.local.", "SRV")
    assert data(answer) == [(0, 100, 80, "web.default.svc.cluster.local.")]
    assert answer is not None and [r.data for r in answer.additional] == ["10.96.0.20"]
    assert zone.answer("_https._tcp.web.default.svc.cluster.local.", "SRV").rcode == records.NXDOMAIN


def test_a_headless_service_has_its_ready_endpoints_and_their_hostnames(zone: records.Zone) -> None:
    assert data(zone.answer("nginx.default.svc.cluster.local.", "A")) == ["10.244.1.5", "10.244.2.6", "10.244.2.7"]
    assert data(zone.answer("web-0.nginx.default.svc.cluster.local.", "A")) == ["10.244.1.5"]
    assert data(zone.answer("10-244-2-7.nginx.default.svc.cluster.local.", "A")) == ["10.244.2.7"]
    assert zone.answer("web-3.nginx.default.svc.cluster.local.", "A").rcode == records.NXDOMAIN  # not ready
    srv = data(zone.answer("_http._tcp.nginx.default.svc.cluster.local.", "SRV"))
    assert [(port, target) for _, _, port, target in srv] == [
        (8080, "10-244-2-7.nginx.default.svc.cluster.local."), (8080, "web-0.nginx.default.svc.cluster.local."),
        (8080, "web-1.nginx.default.svc.cluster.local.")]


def test_a_headless_service_without_ready_endpoints_is_nxdomain_unless_it_publishes_them(zone: records.Zone) -> None:
    assert zone.answer("empty.default.svc.cluster.local.", "A").rcode == records.NXDOMAIN
    assert data(zone.answer("early.default.svc.cluster.local.", "A")) == ["10.244.3.2"]


def test_ptr_for_cluster_ips_and_headless_endpoints(zone: records.Zone) -> None:
    assert data(zone.answer("20.0.96.10.in-addr.arpa.", "PTR")) == ["web.default.svc.cluster.local."]
    assert data(zone.answer("5.1.244.10.in-addr.arpa.", "PTR")) == ["web-0.nginx.default.svc.cluster.local."]
    assert zone.answer("8.8.8.8.in-addr.arpa.", "PTR") is None  # not ours: forwarded


def test_external_name_pod_records_and_the_schema_version(zone: records.Zone) -> None:
    answer = zone.answer("ext.default.svc.cluster.local.", "A")
    assert [(r.rtype, r.data) for r in answer.records] == [("CNAME", "www.example.com.")]
    assert data(zone.answer("10-244-1-5.default.pod.cluster.local.", "A")) == ["10.244.1.5"]
    assert data(zone.answer("dns-version.cluster.local.", "TXT")) == [records.SCHEMA_VERSION]


def test_nxdomain_versus_no_data(zone: records.Zone) -> None:
    missing = zone.answer("nope.default.svc.cluster.local.", "A")
    assert missing.rcode == records.NXDOMAIN and missing.authority[0].rtype == "SOA"
    no_aaaa = zone.answer("web.default.svc.cluster.local.", "AAAA")  # exists, but has no AAAA
    assert (no_aaaa.rcode, no_aaaa.records) == (records.NOERROR, [])
    assert zone.answer("default.svc.cluster.local.", "A").rcode == records.NOERROR  # a namespace with Services
    assert zone.answer("nobody.svc.cluster.local.", "A").rcode == records.NXDOMAIN
    assert zone.answer("example.com.", "A") is None  # outside the zone


# The server, on loopback

class StubUpstream:
    """A resolver the test controls: answers `www.example.com` A 192.0.2.53 (TTL 60), NXDOMAIN otherwise."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.asked = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                packet, client = self.sock.recvfrom(4096)
            except OSError:
                return
            self.asked += 1
            request = DNSRecord.parse(packet)
            reply = request.reply()
            if str(request.q.qname).lower() == "www.example.com.":
                reply.add_answer(RR("www.example.com.", QTYPE.A, ttl=60, rdata=A("192.0.2.53")))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), client)


@pytest.fixture
def server(zone: records.Zone) -> Any:
    upstream = StubUpstream()
    resolver = Resolver(zone, forward.Forwarder([("127.0.0.1", upstream.port)], timeout=1), forward.AnswerCache())
    udp = UDPServer(resolver, "127.0.0.1", 0).start()
    tcp = TCPServer(resolver, "127.0.0.1", 0).start()
    yield udp, tcp, upstream
    udp.close()
    tcp.shutdown()
    tcp.server_close()
    upstream.sock.close()


def ask_udp(port: int, packet: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(packet, ("127.0.0.1", port))
        return sock.recv(65535)


def test_the_server_answers_cluster_names_forwards_others_and_caches_them(server: Any) -> None:
    udp, _, upstream = server
    reply = DNSRecord.parse(ask_udp(udp.port, DNSRecord.question("web.default.svc.cluster.local").pack()))
    assert [str(rr.rdata) for rr in reply.rr] == ["10.96.0.20"] and reply.header.aa
    for _ in range(3):
        reply = DNSRecord.parse(ask_udp(udp.port, DNSRecord.question("WWW.example.com").pack()))
        assert [str(rr.rdata) for rr in reply.rr] == ["192.0.2.53"]
        assert str(reply.q.qname) == "WWW.example.com."
    assert upstream.asked == 1  # then from the cache
    asked = upstream.asked
    for _ in range(3):  # a negative answer is cached too (no SOA from the upstream: the default negative TTL)
        missing = DNSRecord.parse(ask_udp(udp.port, DNSRecord.question("nothing.example.org").pack()))
        assert missing.header.rcode == RCODE.NXDOMAIN
    assert upstream.asked == asked + 1
    # An ExternalName: the CNAME, then the target's address from the upstream.
    reply = DNSRecord.parse(ask_udp(udp.port, DNSRecord.question("ext.default.svc.cluster.local").pack()))
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [("CNAME", "www.example.com."),
                                                                     ("A", "192.0.2.53")]


def test_malformed_and_oversized_queries_get_error_codes_and_the_server_goes_on(server: Any) -> None:
    udp, _, _ = server
    garbage = struct.pack(">H", 4242) + b"\x01\x00\x00\x01" + b"\xff" * 30
    assert DNSRecord.parse(ask_udp(udp.port, garbage)).header.rcode == RCODE.FORMERR
    labels = [b"a" * 63] * 5 + [b"cluster", b"local"]  # a 330-byte name: more than DNS allows (255)
    huge = struct.pack(">HHHHHH", 4343, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(label)]) + label
                                                                        for label in labels) + b"\0\0\1\0\1"
    assert DNSRecord.parse(ask_udp(udp.port, huge)).header.rcode in (RCODE.FORMERR, RCODE.NXDOMAIN)
    reply = DNSRecord.parse(ask_udp(udp.port, DNSRecord.question("web.default.svc.cluster.local").pack()))
    assert reply.header.rcode == RCODE.NOERROR


def test_a_reply_too_big_for_udp_is_truncated_and_whole_over_tcp(zone: records.Zone) -> None:
    many = [{"addresses": [f"10.244.9.{n}"], "conditions": {"ready": True}} for n in range(1, 60)]
    services, slices = stores([service("big", cluster_ip="None")], [endpoint_slice("big", many)])
    resolver = Resolver(records.Zone("cluster.local", services, slices), forward.Forwarder([]),
                        forward.AnswerCache())
    udp = UDPServer(resolver, "127.0.0.1", 0).start()
    tcp = TCPServer(resolver, "127.0.0.1", 0).start()
    try:
        query = DNSRecord.question("big.default.svc.cluster.local")
        truncated = DNSRecord.parse(ask_udp(udp.port, query.pack()))
        assert truncated.header.tc and not truncated.rr
        with socket.create_connection(("127.0.0.1", tcp.port), timeout=5) as conn:
            packet = query.pack()
            conn.sendall(struct.pack(">H", len(packet)) + packet)
            whole = DNSRecord.parse(forward.read_tcp_message(conn))
        assert len(whole.rr) == 59 and not whole.header.tc
    finally:
        udp.close()
        tcp.shutdown()
        tcp.server_close()


def test_kept_replies_answer_the_same_question_in_the_askers_spelling_until_the_cluster_changes() -> None:
    from kubeling.fastpath.dns_replies import ReplyCache

    replies = ReplyCache()
    first = DNSRecord.question("web.default.svc.cluster.local")
    reply = first.reply()
    reply.add_answer(RR("web.default.svc.cluster.local", QTYPE.A, ttl=5, rdata=A("10.96.0.20")))
    replies.keep(first.pack(), reply.pack(), replies.generation)
    again = DNSRecord.question("WEB.default.svc.cluster.local")
    again.header.rd = 0
    answered = DNSRecord.parse(replies.reply(again.pack()))
    assert answered.header.id == again.header.id and answered.header.rd == 0
    assert str(answered.q.qname) == "WEB.default.svc.cluster.local." and str(answered.rr[0].rdata) == "10.96.0.20"
    with_edns = DNSRecord.question("web.default.svc.cluster.local")
    with_edns.add_ar(EDNS0())
    assert replies.reply(with_edns.pack()) is None  # not a plain query: the slow path answers it
    stale = replies.generation
    replies.clear()
    assert replies.reply(again.pack()) is None
    replies.keep(first.pack(), reply.pack(), stale)  # made before the change: not kept
    assert replies.reply(first.pack()) is None
