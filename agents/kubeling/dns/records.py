"""Which records exist for a name: the Kubernetes DNS-based service discovery specification, over the informer caches.

    dns-version.<zone>                            TXT   the schema version
    <svc>.<ns>.svc.<zone>                         A     the ClusterIP, or each ready endpoint of a headless Service
                                                  CNAME the ExternalName
    <hostname>.<svc>.<ns>.svc.<zone>              A     a headless Service's endpoint (StatefulSet pods: web-0)
    _<port>._<proto>.<svc>.<ns>.svc.<zone>        SRV   each named port (for each ready endpoint, when headless)
    <d>.<c>.<b>.<a>.in-addr.arpa                  PTR   a ClusterIP, or a headless endpoint's address
    <a>-<b>-<c>-<d>.<ns>.pod.<zone>               A     a.b.c.d (deprecated, still required)

A name in the zone that has no record of the asked type but exists (with records of another type, or as the parent
of some: `<ns>.svc.<zone>`) is answered NOERROR with no data; a name that does not exist, NXDOMAIN. Both carry the
zone's SOA, whose last field is how long a resolver may remember the negative answer (RFC 2308). Names compare
case-insensitively. A name outside the zone (and a reverse name of an address we do not know) is `None`: the server
forwards it.

Endpoints come from EndpointSlices (`discovery.k8s.io/v1`), as in CoreDNS ≥ 1.11. An endpoint is ready when its
`ready` condition is not false; `publishNotReadyAddresses` makes every endpoint ready; a terminating endpoint never
is, unless `publishNotReadyAddresses`. An endpoint without a hostname is named by its dashed address (the spec's
"system-assigned identifier", as CoreDNS does).

Upstream: kubernetes/dns `docs/specification.md`; CoreDNS `plugin/kubernetes/kubernetes.go` (Records, findServices).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from typing import Any, Protocol

from kubeling.api.endpointslices import is_ready, service_key
from kubeling.api.types import Obj

SCHEMA_VERSION = "1.1.0"
NOERROR, NXDOMAIN = "NOERROR", "NXDOMAIN"


class Cache(Protocol):
    """An informer's store (client/informer.py), read-only."""

    def get(self, key: str) -> Obj | None: ...

    def by_index(self, name: str, value: str) -> list[Obj]: ...


@dataclasses.dataclass(frozen=True)
class Record:
    name: str  # fully qualified, lower-case, with the trailing dot
    rtype: str  # A, AAAA, CNAME, SRV, PTR, TXT, SOA
    ttl: int
    data: Any  # an address; a target name; (priority, weight, port, target) for SRV; the text for TXT


@dataclasses.dataclass
class Answer:
    rcode: str
    records: list[Record] = dataclasses.field(default_factory=list)
    additional: list[Record] = dataclasses.field(default_factory=list)
    authority: list[Record] = dataclasses.field(default_factory=list)


# The indexes the caches need (registered by the component, see cli.py)

def service_ip_index(service: Obj) -> list[str]:
    """A Service's ClusterIPs, for PTR lookups."""
    spec = service.get("spec") or {}
    return [ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"]


def slice_address_index(endpoint_slice: Obj) -> list[str]:
    """Every endpoint address of an EndpointSlice, for PTR lookups."""
    endpoints = endpoint_slice.get("endpoints") or []
    return [address for endpoint in endpoints for address in endpoint.get("addresses") or []]


class Zone:
    """The cluster's records, answered from the Service and EndpointSlice caches at the moment of the query."""

    def __init__(self, domain: str, services: Cache, slices: Cache, ttl: int = 5) -> None:
        self.domain = domain.strip(".").lower()
        self.suffix = "." + self.domain + "."
        self.services, self.slices, self.ttl = services, slices, ttl

    def soa(self) -> Record:
        """The zone's SOA: (primary, mailbox, serial, refresh, retry, expire, negative TTL), as CoreDNS writes it."""
        return Record(self.domain + ".", "SOA", self.ttl,
                      (f"ns.dns.{self.domain}.", f"hostmaster.{self.domain}.", 1, 7200, 1800, 86400, self.ttl))

    def answer(self, qname: str, qtype: str) -> Answer | None:
        name = qname.lower().rstrip(".") + "."
        if name.endswith(".in-addr.arpa.") or name.endswith(".ip6.arpa."):
            return self._reverse(name, qtype)
        if not (name.endswith(self.suffix) or name == self.domain + "."):
            return None  # not ours: forwarded
        labels = name[: -len(self.suffix)].split(".") if name != self.domain + "." else []
        found = self._records(labels)
        if found is None:
            return Answer(NXDOMAIN, authority=[self.soa()])
        records = [r for r in found if r.rtype == qtype or r.rtype == "CNAME"] if qtype != "ANY" else found
        if not records:
            return Answer(NOERROR, authority=[self.soa()])  # the name exists, with nothing of this type
        owner = qname.rstrip(".") + "."  # the name as asked: resolvers may check its letter case (0x20)
        answer = Answer(NOERROR, records=[dataclasses.replace(r, name=owner) for r in records])
        if qtype == "SRV":  # the targets' addresses, in the additional section
            for record in answer.records:
                target = record.data[3]
                more = self.answer(target, "A")
                answer.additional += more.records if more else []
        return answer

    # The forward zone

    def _records(self, labels: list[str]) -> list[Record] | None:
        """Every record of the name whose labels (below the zone) are `labels`; [] for a name that exists with no
        records of its own; None when it does not exist."""
        if labels == ["dns-version"]:
            return [Record("", "TXT", self.ttl, SCHEMA_VERSION)]
        if labels in ([], ["svc"], ["pod"]):
            return []  # the zone and its two branches exist, with no records of their own
        if len(labels) == 2 and labels[1] == "pod":
            return []
        if len(labels) == 2 and labels[1] == "svc":
            return [] if self._namespace_is_used(labels[0]) else None
        if len(labels) == 3 and labels[-1] == "pod":
            return self._pod(labels[0])
        if len(labels) >= 3 and labels[-1] == "svc":
            namespace, service_name = labels[-2], labels[-3]
            service = self.services.get(f"{namespace}/{service_name}")
            if service is None:
                return None
            if len(labels) == 3:
                return self._service(service)
            if len(labels) == 4:
                return self._endpoint(service, labels[0])
            if len(labels) == 5 and labels[0].startswith("_") and labels[1].startswith("_"):
                return self._srv(service, labels[0][1:], labels[1][1:])
        return None

    def _namespace_is_used(self, namespace: str) -> bool:
        """`<ns>.svc.<zone>` exists when some Service lives in `<ns>` (CoreDNS answers NODATA for it)."""
        return bool(self.services.by_index("namespace", namespace))

    def _pod(self, dashed: str) -> list[Record] | None:
        text = dashed.replace("-", ".") if dashed.count("-") == 3 else dashed.replace("-", ":")
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return None
        return [Record("", "A" if address.version == 4 else "AAAA", self.ttl, str(address))]

    def _service(self, service: Obj) -> list[Record] | None:
        spec = service.get("spec") or {}
        if spec.get("type") == "ExternalName":
            target = (spec.get("externalName") or "").rstrip(".") + "."
            return [Record("", "CNAME", self.ttl, target.lower())] if target != "." else []
        if _headless(service):
            records = [_address_record(address, self.ttl) for _, address, _ in self._ready_endpoints(service)]
            return records or None  # the spec: no ready endpoint, NXDOMAIN
        return [_address_record(ip, self.ttl) for ip in service_ip_index(service)]

    def _endpoint(self, service: Obj, hostname: str) -> list[Record] | None:
        if not _headless(service):
            return None
        records = [_address_record(address, self.ttl) for name, address, _ in self._ready_endpoints(service)
                   if name == hostname]
        return records or None

    def _srv(self, service: Obj, port_name: str, protocol: str) -> list[Record] | None:
        ports = [p for p in (service.get("spec") or {}).get("ports") or []
                 if (p.get("name") or "").lower() == port_name and (p.get("protocol") or "TCP").lower() == protocol]
        if not ports:
            return None
        meta = service["metadata"]
        service_fqdn = f"{meta['name']}.{meta['namespace']}.svc.{self.domain}.".lower()
        if not _headless(service):
            return [Record("", "SRV", self.ttl, (0, 100, p["port"], service_fqdn)) for p in ports]
        endpoints = list(self._ready_endpoints(service))
        weight = 100 // max(1, len(endpoints))  # as CoreDNS: the endpoints share the weight equally
        records = []
        for hostname, _, endpoint_ports in endpoints:
            for port in ports:  # a headless Service's port number is the endpoint's own (its target port)
                number = endpoint_ports.get(port.get("name") or "", port["port"])
                records.append(Record("", "SRV", self.ttl, (0, weight, number, f"{hostname}.{service_fqdn}")))
        return records or None

    def _ready_endpoints(self, service: Obj) -> Iterable[tuple[str, str, dict[str, int]]]:
        """(hostname, address, port name → number) of each ready endpoint of the Service, deduplicated."""
        meta = service["metadata"]
        publish_all = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        seen: set[str] = set()
        for endpoint_slice in self.slices.by_index("service", f"{meta['namespace']}/{meta['name']}"):
            ports = {p.get("name") or "": p.get("port") for p in endpoint_slice.get("ports") or [] if p.get("port")}
            for endpoint in endpoint_slice.get("endpoints") or []:
                ready = is_ready(endpoint) and not (endpoint.get("conditions") or {}).get("terminating")
                if not (ready or publish_all):
                    continue
                for address in endpoint.get("addresses") or []:
                    if address in seen:
                        continue
                    seen.add(address)
                    yield (endpoint.get("hostname") or _dashed(address)).lower(), address, ports

    # The reverse zones

    def _reverse(self, name: str, qtype: str) -> Answer | None:
        address = _address_of_reverse_name(name)
        if address is None:
            return None
        targets = []
        for service in self.services.by_index("clusterIP", address):
            meta = service["metadata"]
            targets.append(f"{meta['name']}.{meta['namespace']}.svc.{self.domain}.")
        for endpoint_slice in self.slices.by_index("address", address):
            owners = service_key(endpoint_slice)
            owner = self.services.get(owners[0]) if owners else None
            if owner is None or not _headless(owner):
                continue
            for hostname, ip, _ in self._ready_endpoints(owner):
                if ip == address:
                    meta = owner["metadata"]
                    targets.append(f"{hostname}.{meta['name']}.{meta['namespace']}.svc.{self.domain}.")
        if not targets:
            return None  # not a cluster address: the node's resolvers may know it
        if qtype not in ("PTR", "ANY"):
            return Answer(NOERROR, authority=[self.soa()])
        return Answer(NOERROR, records=[Record(name, "PTR", self.ttl, t.lower()) for t in dict.fromkeys(targets)])


def _headless(service: Obj) -> bool:
    return (service.get("spec") or {}).get("clusterIP") == "None"


def _address_record(address: str, ttl: int) -> Record:
    return Record("", "AAAA" if ":" in address else "A", ttl, address)


def _dashed(address: str) -> str:
    return address.replace(".", "-").replace(":", "-")


def _address_of_reverse_name(name: str) -> str | None:
    """The address a reverse name asks about (`4.3.2.1.in-addr.arpa.` → 1.2.3.4); None unless it is whole."""
    labels = name.rstrip(".").split(".")
    try:
        if name.endswith(".in-addr.arpa.") and len(labels) == 6:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if name.endswith(".ip6.arpa.") and len(labels) == 34:
            nibbles = "".join(reversed(labels[:32]))
            return str(ipaddress.IPv6Address(int(nibbles, 16)))
    except ValueError:
        return None
    return None
