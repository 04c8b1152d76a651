"""NodeUnschedulable: keep pods off cordoned nodes unless they tolerate the unschedulable taint."""

from __future__ import annotations

from kubeling.api.scheduling import tolerated
from kubeling.scheduler.framework import SUCCESS, NodeInfo, PodInfo, Status, unschedulable

REASON = "node(s) were unschedulable"
# `kubectl cordon` sets spec.unschedulable; pods tolerating this taint (DaemonSet pods) may still go there.
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
_REJECTED = unschedulable(REASON, resolvable=False)


class NodeUnschedulable:
    name = "NodeUnschedulable"

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if node.unschedulable and not tolerated(pod.spec.get("tolerations") or [], UNSCHEDULABLE_TAINT):
            return _REJECTED
        return SUCCESS
