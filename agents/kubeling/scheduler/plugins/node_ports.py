"""NodePorts: a pod's hostPorts must be free on the node (same protocol and port, overlapping host IP)."""

from __future__ import annotations

from kubeling.scheduler.framework import SKIP, SUCCESS, NodeInfo, PodInfo, Status, unschedulable

REASON = "node(s) didn't have free ports for the requested pod ports"
_REJECTED = unschedulable(REASON)
ANY_IP = "0.0.0.0"


def conflicts(wanted: tuple[str, str, int], used: dict[tuple[str, str, int], int]) -> bool:
    ip, protocol, port = wanted
    if wanted in used or (ANY_IP, protocol, port) in used:
        return True
    # Binding every address clashes with any address on that port.
    return ip == ANY_IP and any(p == protocol and n == port for _, p, n in used)


class NodePorts:
    name = "NodePorts"

    def pre_filter(self, pod: PodInfo) -> Status:
        return SUCCESS if pod.host_ports else SKIP

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if node.used_ports and any(conflicts(port, node.used_ports) for port in pod.host_ports):
            return _REJECTED
        return SUCCESS
