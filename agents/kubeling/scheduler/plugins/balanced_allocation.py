"""NodeResourcesBalancedAllocation: prefer nodes where cpu and memory would be used in the same proportion,
so neither runs out while the other sits idle."""

from __future__ import annotations

from kubeling.scheduler.framework import MAX_NODE_SCORE, SKIP, SUCCESS, NodeInfo, PodInfo, Status


class BalancedAllocation:
    name = "NodeResourcesBalancedAllocation"
    weight = 1

    def pre_score(self, pod: PodInfo) -> Status:
        # A pod requesting neither says nothing about balance (upstream skips it too).
        return SUCCESS if pod.requests.get("cpu") or pod.requests.get("memory") else SKIP

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        cpu_capacity, memory_capacity = node.allocatable_cpu, node.allocatable_memory
        if cpu_capacity <= 0 or memory_capacity <= 0:
            return MAX_NODE_SCORE  # one resource alone cannot be out of balance
        cpu = min((node.requested_cpu + pod.cpu_request) / cpu_capacity, 1.0)
        memory = min((node.requested_memory + pod.memory_request) / memory_capacity, 1.0)
        # The standard deviation of two values is half their difference.
        return int((1 - abs(cpu - memory) / 2) * MAX_NODE_SCORE)
