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
        fractions = []
        for name in ("cpu", "memory"):
            capacity = node.allocatable.get(name, 0)
            if capacity > 0:
                used = node.requested.get(name, 0) + pod.requests.get(name, 0)
                fractions.append(min(used / capacity, 1.0))
        if len(fractions) < 2:
            return MAX_NODE_SCORE
        # The standard deviation of two values is half their difference.
        return int((1 - abs(fractions[0] - fractions[1]) / 2) * MAX_NODE_SCORE)
