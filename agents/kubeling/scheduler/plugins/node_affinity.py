"""NodeAffinity: spec.nodeSelector and required node affinity must match the node's labels (and name);
preferred node affinity adds the weights of the terms a node matches to its score."""

from __future__ import annotations

from kubeling.api.scheduling import compile_term, term_matches
from kubeling.scheduler.framework import SKIP, SUCCESS, NodeInfo, PodInfo, Status, normalize, unschedulable

REASON = "node(s) didn't match Pod's node affinity/selector"
_REJECTED = unschedulable(REASON, resolvable=False)


class NodeAffinity:
    name = "NodeAffinity"
    weight = 2

    def pre_filter(self, pod: PodInfo) -> Status:
        selector = pod.spec.get("nodeSelector") or {}
        affinity = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        if not selector and required is None:
            return SKIP
        terms = None if required is None else [compile_term(t) for t in required.get("nodeSelectorTerms") or []]
        pod.state[self.name] = (tuple(selector.items()), terms)
        return SUCCESS

    def filter(self, pod: PodInfo, node: NodeInfo) -> Status:
        selector, terms = pod.state[self.name]
        labels = node.labels
        if any(labels.get(k) != v for k, v in selector):
            return _REJECTED
        if terms is not None and not any(term_matches(t, labels, node.name) for t in terms):  # terms are ORed
            return _REJECTED
        return SUCCESS

    def pre_score(self, pod: PodInfo) -> Status:
        affinity = (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}
        preferred = affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        terms = [(int(p.get("weight") or 0), compile_term(p.get("preference") or {})) for p in preferred]
        terms = [(weight, term) for weight, term in terms if weight]
        if not terms:
            return SKIP
        pod.state[self.name + "/preferred"] = terms
        return SUCCESS

    def score(self, pod: PodInfo, node: NodeInfo) -> int:
        return sum(weight for weight, term in pod.state[self.name + "/preferred"]
                   if term_matches(term, node.labels, node.name))

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize(scores)
