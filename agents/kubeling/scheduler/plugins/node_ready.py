"""NodeReady: nodes whose Ready condition is not True take no new pods, unless the pod tolerates the taint the
node lifecycle controller would put there (`node.kubernetes.io/not-ready` or `node.kubernetes.io/unreachable`).

Upstream leaves this to TaintToleration once the lifecycle controller has tainted the node; this plugin also
covers the seconds before that taint lands. A tainted node is reported by TaintToleration, which runs first.
"""

from __future__ import annotations

from kubeling.api.scheduling import tolerated
from kubeling.scheduler.framework import SUCCESS, NodeInfo, PodInfo, Status, unschedulable

REASON = "node(s) were not ready"
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNREACHABLE_TAINT = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}
_REJECTED = unschedulable(REASON, resolvable=False)


class NodeReady:
    name = "NodeReady"

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if node.ready == "True":
            return SUCCESS
        taint = NOT_READY_TAINT if node.ready == "False" else UNREACHABLE_TAINT
        return SUCCESS if tolerated(pod.spec.get("tolerations") or [], taint) else _REJECTED
