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
        # The common case first, from plain attributes and without a list of reasons: this runs for every node
        # visited. Other resources (extended ones) take the general path below.
        if (pod.only_cpu_memory and len(node.pods) < node.allocatable_pods
                and (pod.cpu_request <= 0 or node.requested_cpu + pod.cpu_request <= node.allocatable_cpu)
                and (pod.memory_request <= 0
                     or node.requested_memory + pod.memory_request <= node.allocatable_memory)):
            return SUCCESS
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
        cpu = _least_allocated(node.nonzero_cpu + pod.cpu, node.allocatable_cpu)
        memory = _least_allocated(node.nonzero_memory + pod.memory, node.allocatable_memory)
        return (cpu + memory) // 2
