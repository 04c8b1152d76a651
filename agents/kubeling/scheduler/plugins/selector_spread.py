"""SelectorSpread: spread the pods of one controller (ReplicaSet, StatefulSet, Job…) across nodes, so losing a
node loses few replicas. Nodes holding fewer pods of the same controller owner score higher."""

from __future__ import annotations

from kubeling.scheduler.framework import SKIP, SUCCESS, NodeInfo, PodInfo, Status, normalize


class SelectorSpread:
    name = "SelectorSpread"
    weight = 2

    def pre_score(self, pod: PodInfo) -> Status:
        return SUCCESS if pod.owner else SKIP

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return node.owners.get(pod.owner, 0)

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize(scores, reverse=True)
