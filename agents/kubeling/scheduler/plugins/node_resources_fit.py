"""NodeResourcesFit: the pod's requests must fit in the node's allocatable minus what is already bound there.

Also scores nodes by the LeastAllocated strategy (upstream's default): the more cpu and memory left free after
placing the pod, the better, which spreads load. Scoring counts request-less containers at 100m / 200Mi.
"""

from __future__ import annotations

from kubeling.scheduler.framework import MAX_NODE_SCORE, SUCCESS, NodeInfo, PodInfo, Status, unschedulable

TOO_MANY_PODS = "Too many pods"


def _least_allocated(requested: int, capacity: int) -> int:
    if capacity <= 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


class NodeResourcesFit:
    name = "NodeResourcesFit"
    weight = 1

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        reasons = []
        allocatable, requested = node.allocatable, node.requested
        if len(node.pods) + 1 > allocatable.get("pods", 0):
            reasons.append(TOO_MANY_PODS)
        for name in pod.resource_order:
            amount = pod.requests[name]
            if amount > 0 and requested.get(name, 0) + amount > allocatable.get(name, 0):
                reasons.append(f"Insufficient {name}")
        return unschedulable(*reasons) if reasons else SUCCESS

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        allocatable = node.allocatable
        cpu = _least_allocated(node.nonzero_cpu + pod.cpu, allocatable.get("cpu", 0))
        memory = _least_allocated(node.nonzero_memory + pod.memory, allocatable.get("memory", 0))
        return (cpu + memory) // 2
