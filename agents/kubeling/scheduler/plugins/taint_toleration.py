"""TaintToleration: NoSchedule/NoExecute taints a pod does not tolerate rule a node out; untolerated
PreferNoSchedule taints make it less attractive."""

from __future__ import annotations

from kubeling.api.scheduling import tolerated, untolerated_taint
from kubeling.scheduler.framework import SUCCESS, NodeInfo, PodInfo, Status, normalize, unschedulable

_HARD_EFFECTS = ("NoSchedule", "NoExecute")


class TaintToleration:
    name = "TaintToleration"
    weight = 3

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        if not node.taints:
            return SUCCESS
        taint = untolerated_taint(node.taints, pod.spec.get("tolerations"), _HARD_EFFECTS)
        if taint is None:
            return SUCCESS
        # Upstream names the first offending taint as {key: value}.
        reason = f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"
        return unschedulable(reason, resolvable=False)

    def pre_score(self, pod: PodInfo) -> Status:
        # Only tolerations that can apply to PreferNoSchedule taints matter for scoring.
        pod.state[self.name] = [t for t in pod.spec.get("tolerations") or []
                                if t.get("effect") in (None, "", "PreferNoSchedule")]
        return SUCCESS

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        if not node.taints:
            return 0
        tolerations = pod.state[self.name]
        return sum(1 for taint in node.taints
                   if taint.get("effect") == "PreferNoSchedule" and not tolerated(tolerations, taint))

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize(scores, reverse=True)  # fewer untolerated taints is better
