"""Services + Endpoints → the `iptables-restore` text that makes them real addresses. Pure: no I/O.

The layout is upstream kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go), slightly simplified:

  nat PREROUTING/OUTPUT → KUBE-SERVICES ─ ClusterIP:port ─→ KUBE-SVC-<hash> ─ random pick ─→ KUBE-SEP-<hash> → DNAT
                                       └ dst-type LOCAL → KUBE-NODEPORTS ─ nodePort ─↗
  nat POSTROUTING → KUBE-POSTROUTING: MASQUERADE what KUBE-MARK-MASQ marked (0x4000)
  filter INPUT/FORWARD/OUTPUT → KUBE-SERVICES / KUBE-EXTERNAL-SERVICES: REJECT services without endpoints

Masquerade is needed where the reply would otherwise bypass this node's conntrack: traffic to a ClusterIP from
outside the pod network (`! -s clusterCIDR`), every NodePort packet (the client may be anywhere), and hairpin
traffic (a pod reaching itself through its service).

Every sync writes each of our chains whole: in `iptables-restore --noflush` a `:CHAIN` line empties that chain
(creating it if needed) and leaves every other chain alone, so the swap is atomic and the host's rules survive.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Iterable

from kubeling.api.endpointslices import is_ready, service_key
from kubeling.api.types import Obj
from kubeling.client import keys

MASQ_MARK = "0x4000"
DEFAULT_AFFINITY_TIMEOUT = 10800  # upstream's default for sessionAffinityConfig.clientIP.timeoutSeconds

# Chains we own and rewrite on every sync (their jump rules from the built-in chains are ensured separately).
NAT_CHAINS = ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ")
FILTER_CHAINS = ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD")
# Per-service chains: any chain with these prefixes that the current state doesn't need is deleted.
STALE_PREFIXES = ("KUBE-SVC-", "KUBE-SEP-")

# (table, built-in chain, our chain, extra match, comment): inserted at the top of the built-in chain if missing.
JUMPS: tuple[tuple[str, str, str, list[str], str], ...] = (
    ("nat", "PREROUTING", "KUBE-SERVICES", [], "kubernetes service portals"),
    ("nat", "OUTPUT", "KUBE-SERVICES", [], "kubernetes service portals"),
    ("nat", "POSTROUTING", "KUBE-POSTROUTING", [], "kubernetes postrouting rules"),
    ("filter", "INPUT", "KUBE-EXTERNAL-SERVICES", ["-m", "conntrack", "--ctstate", "NEW"],
     "kubernetes externally-visible service portals"),
    ("filter", "FORWARD", "KUBE-SERVICES", ["-m", "conntrack", "--ctstate", "NEW"], "kubernetes service portals"),
    ("filter", "OUTPUT", "KUBE-SERVICES", ["-m", "conntrack", "--ctstate", "NEW"], "kubernetes service portals"),
    ("filter", "FORWARD", "KUBE-FORWARD", [], "kubernetes forwarding rules"),
)


@dataclasses.dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    node_name: str = ""

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


@dataclasses.dataclass(frozen=True)
class ServicePort:
    """One port of one Service: what a KUBE-SVC chain stands for."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # TCP or UDP
    cluster_ip: str  # "" for headless
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    affinity_timeout: int = 0  # seconds; 0 = no session affinity

    def __str__(self) -> str:  # upstream's ServicePortName: ns/name:port (":port" only when the port is named)
        return keys.key(self.namespace, self.name) + (f":{self.port_name}" if self.port_name else "")


def _hash(text: str) -> str:
    """Upstream's portProtoHash: 16 base32 characters of a SHA-256, so names fit iptables' 28-character limit."""
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:16]


def svc_chain(sp: ServicePort) -> str:
    return "KUBE-SVC-" + _hash(str(sp) + sp.protocol.lower())


def sep_chain(sp: ServicePort, ep: Endpoint) -> str:
    return "KUBE-SEP-" + _hash(str(sp) + sp.protocol.lower() + str(ep))


def service_ports(service: Obj) -> list[ServicePort]:
    """The ports of a Service that need rules; none for ExternalName, TCP and UDP only (SCTP is not supported)."""
    meta, spec = service.get("metadata") or {}, service.get("spec") or {}
    kind = spec.get("type") or "ClusterIP"
    if kind == "ExternalName":
        return []
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip == "None":
        cluster_ip = ""
    timeout = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = (spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}
        timeout = int(config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    result = []
    for port in spec.get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        if protocol not in ("TCP", "UDP") or not port.get("port"):
            continue
        result.append(ServicePort(
            namespace=meta.get("namespace", ""), name=meta.get("name", ""), port_name=port.get("name") or "",
            protocol=protocol, cluster_ip=cluster_ip, port=int(port["port"]),
            node_port=int(port.get("nodePort") or 0) if kind in ("NodePort", "LoadBalancer") else 0,
            external_ips=tuple(spec.get("externalIPs") or ()), affinity_timeout=timeout,
        ))
    return result


def endpoints_for(sp: ServicePort, slices: Iterable[Obj]) -> list[Endpoint]:
    """Ready endpoints of the Service's EndpointSlices for the service port of the same name and protocol, sorted
    (upstream's proxy reads EndpointSlices: `pkg/proxy/endpointslicecache.go`)."""
    found: set[Endpoint] = set()
    for endpoint_slice in slices:
        ports = [p for p in endpoint_slice.get("ports") or []
                 if (p.get("name") or "") == sp.port_name and (p.get("protocol") or "TCP") == sp.protocol
                 and p.get("port")]
        for port in ports:
            for endpoint in endpoint_slice.get("endpoints") or []:
                if not is_ready(endpoint):
                    continue
                for address in endpoint.get("addresses") or []:
                    found.add(Endpoint(address, int(port["port"]), endpoint.get("nodeName") or ""))
    return sorted(found, key=lambda e: (e.ip, e.port))


def build_state(services: Iterable[Obj], slices: Iterable[Obj]) -> list[tuple[ServicePort, list[Endpoint]]]:
    """Pair every service port with its endpoints, in a stable order (so an unchanged cluster renders the same)."""
    by_service: dict[str, list[Obj]] = {}
    for endpoint_slice in slices:
        for key in service_key(endpoint_slice):
            by_service.setdefault(key, []).append(endpoint_slice)
    state = []
    for service in services:
        meta = service.get("metadata") or {}
        owned = by_service.get(f"{meta.get('namespace', '')}/{meta.get('name', '')}", [])
        for sp in service_ports(service):
            state.append((sp, endpoints_for(sp, owned)))
    state.sort(key=lambda pair: (pair[0].namespace, pair[0].name, pair[0].port_name, pair[0].protocol))
    return state


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", f'"{text}"']


def _proto(sp: ServicePort) -> list[str]:
    p = sp.protocol.lower()
    return ["-p", p, "-m", p]


Tables = dict[str, dict[str, list[str]]]  # table → chain → its rules, in order


def render(
    state: list[tuple[ServicePort, list[Endpoint]]],
    *,
    cluster_cidr: str | None = None,
    masquerade_all: bool = False,
    existing_chains: Iterable[str] = (),
) -> str:
    """The complete input for one `iptables-restore --noflush`: filter and nat tables, our chains only.

    `existing_chains` are the nat chains present now (from iptables-save); stale KUBE-SVC-/KUBE-SEP- chains
    among them are flushed and deleted in the same transaction.
    """
    tables = build_tables(state, cluster_cidr=cluster_cidr, masquerade_all=masquerade_all)
    return restore_text(tables, stale_chains(tables, existing_chains))


def build_tables(
    state: list[tuple[ServicePort, list[Endpoint]]],
    *,
    cluster_cidr: str | None = None,
    masquerade_all: bool = False,
) -> Tables:
    """Every chain we own with its rules (`-A CHAIN …` lines), for the filter and nat tables."""
    nat: list[list[str]] = []
    filt: list[list[str]] = []
    nat_chains: list[str] = list(NAT_CHAINS)

    nat.append(["-A", "KUBE-POSTROUTING", "-m", "mark", "!", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "RETURN"])
    # Clear the mark so a packet re-entering the stack (e.g. through a tunnel) is not masqueraded twice.
    nat.append(["-A", "KUBE-POSTROUTING", "-j", "MARK", "--xor-mark", MASQ_MARK])
    nat.append(["-A", "KUBE-POSTROUTING", *_comment("kubernetes service traffic requiring SNAT"),
                "-j", "MASQUERADE", "--random-fully"])
    nat.append(["-A", "KUBE-MARK-MASQ", "-j", "MARK", "--or-mark", MASQ_MARK])

    filt.append(["-A", "KUBE-FORWARD", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP"])
    filt.append(["-A", "KUBE-FORWARD", *_comment("kubernetes forwarding rules"),
                 "-m", "mark", "--mark", f"{MASQ_MARK}/{MASQ_MARK}", "-j", "ACCEPT"])
    filt.append(["-A", "KUBE-FORWARD", *_comment("kubernetes forwarding conntrack rule"),
                 "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"])

    for sp, eps in state:
        name = str(sp)
        if not eps:
            # No endpoints: refuse at once (ICMP port unreachable) instead of letting the client time out.
            reject = ["-j", "REJECT", "--reject-with", "icmp-port-unreachable"]
            if sp.cluster_ip:
                filt.append(["-A", "KUBE-SERVICES", *_comment(f"{name} has no endpoints"), *_proto(sp),
                             "-d", f"{sp.cluster_ip}/32", "--dport", str(sp.port), *reject])
            for ip in sp.external_ips:
                filt.append(["-A", "KUBE-EXTERNAL-SERVICES", *_comment(f"{name} has no endpoints"), *_proto(sp),
                             "-d", f"{ip}/32", "--dport", str(sp.port), *reject])
            if sp.node_port:
                filt.append(["-A", "KUBE-EXTERNAL-SERVICES", *_comment(f"{name} has no endpoints"),
                             "-m", "addrtype", "--dst-type", "LOCAL", *_proto(sp),
                             "--dport", str(sp.node_port), *reject])
            continue

        svc = svc_chain(sp)
        nat_chains.append(svc)
        if sp.cluster_ip:
            nat.append(["-A", "KUBE-SERVICES", *_comment(f"{name} cluster IP"), *_proto(sp),
                        "-d", f"{sp.cluster_ip}/32", "--dport", str(sp.port), "-j", svc])
            if masquerade_all:
                nat.append(["-A", svc, *_comment(f"{name} cluster IP"), *_proto(sp),
                            "-d", f"{sp.cluster_ip}/32", "--dport", str(sp.port), "-j", "KUBE-MARK-MASQ"])
            elif cluster_cidr:
                nat.append(["-A", svc, *_comment(f"{name} cluster IP"), *_proto(sp), "!", "-s", cluster_cidr,
                            "-d", f"{sp.cluster_ip}/32", "--dport", str(sp.port), "-j", "KUBE-MARK-MASQ"])
        for ip in sp.external_ips:
            nat.append(["-A", "KUBE-SERVICES", *_comment(f"{name} external IP"), *_proto(sp),
                        "-d", f"{ip}/32", "--dport", str(sp.port), "-j", "KUBE-MARK-MASQ"])
            nat.append(["-A", "KUBE-SERVICES", *_comment(f"{name} external IP"), *_proto(sp),
                        "-d", f"{ip}/32", "--dport", str(sp.port), "-j", svc])
        if sp.node_port:
            nat.append(["-A", "KUBE-NODEPORTS", *_comment(name), *_proto(sp), "--dport", str(sp.node_port),
                        "-j", "KUBE-MARK-MASQ"])
            nat.append(["-A", "KUBE-NODEPORTS", *_comment(name), *_proto(sp), "--dport", str(sp.node_port),
                        "-j", svc])

        seps = [sep_chain(sp, ep) for ep in eps]
        nat_chains.extend(seps)
        if sp.affinity_timeout:
            # A client seen recently goes back to the endpoint it had, before any random choice.
            for ep, sep in zip(eps, seps, strict=True):
                nat.append(["-A", svc, *_comment(f"{name} -> {ep}"), "-m", "recent", "--name", sep, "--rcheck",
                            "--seconds", str(sp.affinity_timeout), "--reap", "-j", sep])
        # Endpoint i of n is taken with probability 1/(n-i) among those left: uniform overall.
        for i, (ep, sep) in enumerate(zip(eps, seps, strict=True)):
            rule = ["-A", svc, *_comment(f"{name} -> {ep}")]
            if i < len(eps) - 1:
                rule += ["-m", "statistic", "--mode", "random", "--probability", f"{1.0 / (len(eps) - i):0.10f}"]
            nat.append([*rule, "-j", sep])
        for ep, sep in zip(eps, seps, strict=True):
            # Hairpin: a pod reaching itself through the service must see the reply come from the service.
            nat.append(["-A", sep, *_comment(name), "-s", f"{ep.ip}/32", "-j", "KUBE-MARK-MASQ"])
            affinity = ["-m", "recent", "--name", sep, "--set"] if sp.affinity_timeout else []
            nat.append(["-A", sep, *_comment(name), *_proto(sp), *affinity, "-j", "DNAT",
                        "--to-destination", str(ep)])

    # Must stay last: anything addressed to this node that no ClusterIP rule took may be a NodePort.
    nat.append(["-A", "KUBE-SERVICES", *_comment("kubernetes service nodeports; NOTE: this must be the last rule "
                                                  "in this chain"), "-m", "addrtype", "--dst-type", "LOCAL",
                "-j", "KUBE-NODEPORTS"])

    tables: Tables = {"filter": {c: [] for c in FILTER_CHAINS}, "nat": {c: [] for c in nat_chains}}
    for table, table_rules in (("filter", filt), ("nat", nat)):
        for rule in table_rules:
            tables[table][rule[1]].append(" ".join(rule))
    return tables


def stale_chains(tables: Tables, existing: Iterable[str]) -> list[str]:
    """Per-service nat chains that exist but are no longer wanted."""
    return sorted(c for c in set(existing) if c.startswith(STALE_PREFIXES) and c not in tables["nat"])


def restore_text(tables: Tables, stale: Iterable[str] = (), previous: Tables | None = None) -> str:
    """`iptables-restore --noflush` input. With `previous` (what the last successful restore wrote), only chains
    whose rules changed are written, as upstream's minimal restores do: the kernel work grows with the rules
    written, and an Endpoints change usually touches one KUBE-SVC chain and its KUBE-SEP chains."""
    stale = list(stale)
    lines: list[str] = []
    for table in ("filter", "nat"):
        chains = tables[table]
        old = (previous or {}).get(table)
        changed = [c for c in chains if old is None or old.get(c) != chains[c]]
        dropped = stale if table == "nat" else []
        if not changed and not dropped:
            continue
        lines.append(f"*{table}")
        lines += [f":{c} - [0:0]" for c in changed + dropped]
        for chain in changed:
            lines += chains[chain]
        lines += [f"-X {c}" for c in dropped]
        lines.append("COMMIT")
    return "\n".join(lines) + "\n" if lines else ""


def chains_in(save_output: str) -> set[str]:
    """The chain names declared in `iptables-save` output (lines `:NAME POLICY [counters]`)."""
    return {line[1:].split()[0] for line in save_output.splitlines() if line.startswith(":") and len(line) > 1}
