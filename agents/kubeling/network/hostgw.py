"""What the host-gw network wants on this node, worked out from Node objects (pure), and the commands to get it.

Routes we add carry our own routing protocol number (`proto 77`), so after a restart the ones we added earlier
are found with `ip route show proto 77` and stale ones removed, without touching anyone else's routes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import subprocess
from collections.abc import Iterable

from kubeling import sysctl
from kubeling.api.types import Obj

log = logging.getLogger(__name__)

ROUTE_PROTO = "77"
NAT_CHAIN = "KUBELING-POSTROUTING"
FILTER_CHAIN = "KUBELING-FORWARD"
MASQ_MARK = "0x4000"  # kube-proxy's mark: packets carrying it are masqueraded by KUBE-POSTROUTING instead


def node_address(node: Obj) -> str | None:
    """The InternalIP of a node (as upstream's host-gw backends use), else its first address that is an IP."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in ("InternalIP", "ExternalIP"):
        for address in addresses:
            if address.get("type") == kind and _is_ip(address.get("address")):
                return address["address"]
    return None


def _is_ip(text: str | None) -> bool:
    try:
        ipaddress.ip_address(text or "")
    except ValueError:
        return False
    return True


def pod_cidr(node: Obj) -> str | None:
    spec = node.get("spec") or {}
    return spec.get("podCIDR") or next(iter(spec.get("podCIDRs") or []), None)


def desired_routes(nodes: Iterable[Obj], self_name: str) -> dict[str, str]:
    """podCIDR → next hop for every other node that has both; IPv4 only."""
    routes = {}
    for node in nodes:
        if node["metadata"]["name"] == self_name:
            continue
        cidr, via = pod_cidr(node), node_address(node)
        if cidr and via and ipaddress.ip_network(cidr, strict=False).version == 4 and ":" not in via:
            routes[str(ipaddress.ip_network(cidr, strict=False))] = via
    return routes


def parse_routes(ip_route_output: str) -> dict[str, str]:
    """`ip -4 route show proto 77` → {prefix: next hop}."""
    routes = {}
    for line in ip_route_output.splitlines():
        words = line.split()
        if len(words) >= 3 and "via" in words:
            routes[words[0]] = words[words.index("via") + 1]
    return routes


def route_changes(current: dict[str, str], wanted: dict[str, str]) -> tuple[list[list[str]], list[list[str]]]:
    """(`ip route replace` argument lists, `ip route del` argument lists) turning `current` into `wanted`."""
    replace = [["ip", "route", "replace", cidr, "via", via, "proto", ROUTE_PROTO]
               for cidr, via in sorted(wanted.items()) if current.get(cidr) != via]
    delete = [["ip", "route", "del", cidr, "proto", ROUTE_PROTO] for cidr in sorted(current) if cidr not in wanted]
    return replace, delete


def iptables_rules(cluster_cidr: str, own_pod_cidr: str | None) -> str:
    """`iptables-restore --noflush` input for our two chains (jumps into them are ensured separately)."""
    nat = [
        f":{NAT_CHAIN} - [0:0]",
        # kube-proxy's marked packets (NodePorts, hairpin) are masqueraded by KUBE-POSTROUTING: leave them to it.
        f"-A {NAT_CHAIN} -m mark --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
        # Pod to pod keeps its source address, even where Docker's own bridge rule would masquerade it.
        f'-A {NAT_CHAIN} -s {cluster_cidr} -d {cluster_cidr} -m comment --comment "pod to pod: no NAT" -j ACCEPT',
    ]
    if own_pod_cidr:
        nat.append(f'-A {NAT_CHAIN} -s {own_pod_cidr} ! -d {cluster_cidr} '
                   f'-m comment --comment "pods to the outside" -j MASQUERADE')
    forward = [
        f":{FILTER_CHAIN} - [0:0]",
        f'-A {FILTER_CHAIN} -d {cluster_cidr} -m comment --comment "to pods" -j ACCEPT',
        f'-A {FILTER_CHAIN} -s {cluster_cidr} -m comment --comment "from pods" -j ACCEPT',
    ]
    return "\n".join(["*filter", *forward, "COMMIT", "*nat", *nat, "COMMIT"]) + "\n"


def run(args: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result


def ensure_jump(table: str, builtin: str, chain: str, comment: str) -> None:
    spec = [builtin, "-m", "comment", "--comment", comment, "-j", chain]
    if run(["iptables", "-w", "-t", table, "-C", *spec], check=False).returncode != 0:
        run(["iptables", "-w", "-t", table, "-I", *spec])


def forward_hook() -> str:
    """Under Docker the FORWARD policy is DROP and DOCKER-USER is the place for our accepts; else FORWARD."""
    has_docker_user = run(["iptables", "-w", "-t", "filter", "-S", "DOCKER-USER"], check=False).returncode == 0
    return "DOCKER-USER" if has_docker_user else "FORWARD"


def apply(cluster_cidr: str, own_pod_cidr: str | None, wanted: dict[str, str]) -> None:
    run(["iptables-restore", "-w", "--noflush"], stdin=iptables_rules(cluster_cidr, own_pod_cidr))
    ensure_jump("nat", "POSTROUTING", NAT_CHAIN, "kubeling pod network")
    ensure_jump("filter", forward_hook(), FILTER_CHAIN, "kubeling pod network")
    current = parse_routes(run(["ip", "-4", "route", "show", "proto", ROUTE_PROTO]).stdout)
    replace, delete = route_changes(current, wanted)
    for cmd in replace + delete:
        result = run(cmd, check=False)
        if result.returncode != 0:
            log.warning("%s: %s", " ".join(cmd), result.stderr.strip())
        else:
            log.info("%s", " ".join(cmd))


def pod_bridges(own_pod_cidr: str | None) -> list[str]:
    """Interfaces holding an address inside this node's pod CIDR: the bridge the kubelet made for pods."""
    if not own_pod_cidr:
        return []
    network = ipaddress.ip_network(own_pod_cidr, strict=False)
    found = []
    for line in run(["ip", "-o", "-4", "addr", "show"]).stdout.splitlines():
        words = line.split()  # "5: br-1234    inet 10.244.1.1/24 brd ... scope global br-1234"
        if len(words) >= 4 and words[2] == "inet" and ipaddress.ip_address(words[3].split("/")[0]) in network:
            found.append(words[1])
    return found


def enable_hairpin(bridges: Iterable[str], sys_class_net: str = "/sys/class/net") -> list[str]:
    """Turn on hairpin mode on every port of the pod bridges that lacks it; the ports changed.

    A pod reaching itself through a Service (DNAT back to its own address) sends the packet out of the very
    bridge port it came in by; a bridge drops that unless the port is in hairpin mode. Upstream leaves this to
    the kubelet or the CNI bridge plugin; here the network agent owns the pod bridge's behaviour.
    """
    changed = []
    for bridge in bridges:
        try:
            ports = os.listdir(f"{sys_class_net}/{bridge}/brif")
        except OSError:
            continue
        for port in ports:
            try:
                with open(f"{sys_class_net}/{bridge}/brif/{port}/hairpin_mode") as f:
                    if f.read().strip() == "1":
                        continue
            except OSError:
                continue
            # netlink, not a sysfs write: /sys is read-only in a container, CAP_NET_ADMIN is enough for this.
            if run(["ip", "link", "set", "dev", port, "type", "bridge_slave", "hairpin", "on"],
                   check=False).returncode == 0:
                changed.append(port)
    return changed


def enable_forwarding() -> None:
    sysctl.ensure_enabled("/proc/sys/net/ipv4/ip_forward", "pods on other nodes are unreachable")
