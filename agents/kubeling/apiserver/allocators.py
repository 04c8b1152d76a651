"""ClusterIP and NodePort allocation, recorded as etcd keys so they are claimed in the same transaction as the
Service that holds them and released in the same transaction that deletes it.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from kubeling.api import errors
from kubeling.storage.store import Store

IP_PREFIX = "ranges/serviceips/"
PORT_PREFIX = "ranges/servicenodeports/"


class Allocator:
    """Hands out free values from a range; `reserved` values are never handed out at random."""

    def __init__(self, store: Store, kind: str, key_prefix: str, values: range, reserved: tuple[int, ...] = ()):
        self.store = store
        self.kind = kind
        self.prefix = f"{store.root}/{key_prefix}"
        self.values = values
        self.reserved = set(reserved)

    def key(self, value: int) -> str:
        return self.prefix + self.format(value)

    def format(self, value: int) -> str:
        return str(value)

    def taken(self) -> set[str]:
        return {key[len(self.prefix):] for key in self.store.keys(self.prefix)}

    def pick(self, exclude: set[str] = frozenset()) -> int:  # type: ignore[assignment]
        taken = self.taken() | exclude
        size = len(self.values)
        if len(taken) >= size - len(self.reserved):
            raise errors.StatusError(
                422 if self.kind == "port" else 500,
                f"range is full: no free {self.kind} left in {self.describe()}",
                "Invalid" if self.kind == "port" else "InternalError",
            )
        # Random probing from a random start: even spread, and O(1) expected while the range is mostly free.
        offset = random.randrange(size)
        for step in range(size):
            value = self.values[(offset + step) % size]
            if value not in self.reserved and self.format(value) not in taken:
                return value
        raise errors.StatusError(500, f"range is full: no free {self.kind} left in {self.describe()}")

    def describe(self) -> str:
        return f"{self.values.start}-{self.values.stop - 1}"


class IPAllocator(Allocator):
    def __init__(self, store: Store, cidr: str) -> None:
        network = ipaddress.ip_network(cidr, strict=False)
        self.network = network
        first, last = int(network.network_address) + 1, int(network.broadcast_address) - 1
        super().__init__(store, "IP", IP_PREFIX, range(first, last + 1))

    def format(self, value: int) -> str:
        return str(ipaddress.ip_address(value))

    def parse(self, text: str) -> int:
        return int(ipaddress.ip_address(text))

    def contains(self, text: str) -> bool:
        try:
            return ipaddress.ip_address(text) in self.network and self.parse(text) in self.values
        except ValueError:
            return False

    def describe(self) -> str:
        return str(self.network)

    def first(self) -> str:
        """The address upstream gives the `kubernetes` Service."""
        return self.format(self.values.start)


def node_port_range(text: str) -> range:
    low, _, high = text.partition("-")
    start, stop = int(low), int(high or low)
    if not 0 < start <= stop <= 65535:
        raise ValueError(f"invalid port range {text!r}")
    return range(start, stop + 1)


def service_claims(ips: IPAllocator, ports: Allocator, service: dict[str, Any], old: dict[str, Any] | None) -> tuple[
    list[tuple[str, bytes]], list[str]
]:
    """Fill in clusterIP and nodePorts on `service`; return (keys to claim, keys to release).

    Claims are chosen here and written with the Service; if another writer claimed one first, the store raises
    KeyTaken and the caller picks again.
    """
    spec = service.setdefault("spec", {})
    owner = f"{service['metadata'].get('namespace', '')}/{service['metadata']['name']}".encode()
    claims: list[tuple[str, bytes]] = []
    releases: list[str] = []
    old_spec = (old or {}).get("spec", {})
    old_ip = old_spec.get("clusterIP")
    service_type = spec.get("type", "ClusterIP")

    if service_type == "ExternalName":
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
    elif old_ip and old_ip != "None":
        spec["clusterIP"] = old_ip
    else:
        wanted = spec.get("clusterIP") or ""
        if wanted == "None":
            pass
        elif wanted:
            if not ips.contains(wanted):
                raise errors.invalid("Service", "", service["metadata"]["name"], [errors.cause(
                    "spec.clusterIP", f"Invalid value: \"{wanted}\": provided IP is not in the valid range. "
                    f"The range of valid IPs is {ips.describe()}")])
            if wanted in ips.taken():
                raise errors.invalid("Service", "", service["metadata"]["name"], [errors.cause(
                    "spec.clusterIPs", f"Invalid value: []string{{\"{wanted}\"}}: failed to allocate IP {wanted}: "
                    "provided IP is already allocated")])
            claims.append((ips.key(ips.parse(wanted)), owner))
        else:
            value = ips.pick()
            spec["clusterIP"] = ips.format(value)
            claims.append((ips.key(value), owner))
    if spec.get("clusterIP"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    if old_ip and old_ip != "None" and service_type == "ExternalName":
        releases.append(ips.key(ips.parse(old_ip)))

    old_ports = {p.get("nodePort") for p in old_spec.get("ports") or [] if p.get("nodePort")}
    kept: set[int] = set()
    if service_type in ("NodePort", "LoadBalancer"):
        taken = None
        for index, port in enumerate(spec.get("ports") or []):
            wanted_port = port.get("nodePort") or 0
            if wanted_port and wanted_port in old_ports:
                kept.add(wanted_port)
                continue
            if taken is None:
                taken = ports.taken()
            if wanted_port:
                if wanted_port not in ports.values:
                    raise errors.invalid("Service", "", service["metadata"]["name"], [errors.cause(
                        f"spec.ports[{index}].nodePort", f"Invalid value: {wanted_port}: provided port is not in the "
                        f"valid range. The range of valid ports is {ports.describe()}")])
                if str(wanted_port) in taken:
                    raise errors.invalid("Service", "", service["metadata"]["name"], [errors.cause(
                        f"spec.ports[{index}].nodePort",
                        f"Invalid value: {wanted_port}: provided port is already allocated")])
            else:
                wanted_port = ports.pick(taken)
                port["nodePort"] = wanted_port
            claims.append((ports.key(wanted_port), owner))
            taken.add(str(wanted_port))
    else:
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    releases += [ports.key(p) for p in old_ports - kept]
    return claims, releases


def service_releases(ips: IPAllocator, ports: Allocator, service: dict[str, Any]) -> list[str]:
    """The allocation keys to delete together with `service`."""
    spec = service.get("spec", {})
    keys = []
    ip = spec.get("clusterIP")
    if ip and ip != "None" and ips.contains(ip):
        keys.append(ips.key(ips.parse(ip)))
    keys += [ports.key(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")]
    return keys
