"""NodeName: a pod that names its node (spec.nodeName) fits only that node."""

from __future__ import annotations

from kubeling.scheduler.framework import SKIP, SUCCESS, NodeInfo, PodInfo, Status, unschedulable

REASON = "node(s) didn't match the requested node name"
_REJECTED = unschedulable(REASON, resolvable=False)


class NodeName:
    name = "NodeName"

    def pre_filter(self, pod: PodInfo) -> Status:
        return SUCCESS if pod.spec.get("nodeName") else SKIP

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        wanted = pod.spec.get("nodeName")
        return SUCCESS if not wanted or wanted == node.name else _REJECTED
