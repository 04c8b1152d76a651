"""NodeResourcesFit: the pod's requests must fit in the node's allocatable minus what is already bound there.

Also scores nodes by the LeastAllocated strategy (upstream's default): the more cpu and memory left free after
placing the pod, the better, which spreads load. Scoring counts request-less containers at 100m / 200Mi.
Upstream: pkg/scheduler/framework/plugins/noderesources/fit.go and least_allocated.go.
"""

from __future__ import annotations

from kubeling.scheduler.framework import MAX_NODE_SCORE, SUCCESS, NodeInfo, PodInfo, Status, unschedulable


def _least_allocated(requested: int, capacity: int) -> int:
    if capacity <= 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


class NodeResourcesFit:
    name = "NodeResourcesFit"
    weight = 1

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        insufficient = node.insufficient_resources(pod)
        return unschedulable(*insufficient) if insufficient else SUCCESS

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        cpu = _least_allocated(node.nonzero_cpu + pod.cpu, node.allocatable_cpu)
        memory = _least_allocated(node.nonzero_memory + pod.memory, node.allocatable_memory)
        return (cpu + memory) // 2
