"""NodeAffinity: spec.nodeSelector and required node affinity must match the node's labels (and name);
preferred node affinity adds the weights of the terms a node matches to its score."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.scheduler.framework import SKIP, SUCCESS, NodeInfo, PodInfo, Status, normalize, unschedulable

REASON = "node(s) didn't match Pod's node affinity/selector"
_REJECTED = unschedulable(REASON, resolvable=False)

Check = Callable[[dict[str, str]], bool]
Term = tuple[tuple[Check, ...], tuple[Check, ...]]  # (label checks, field checks); all must hold


def _integer(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _compile(expression: dict[str, Any]) -> Check:
    key, operator = expression.get("key", ""), expression.get("operator")
    values = expression.get("values") or []
    if operator == "In":
        allowed = frozenset(values)
        return lambda labels: labels.get(key) in allowed
    if operator == "NotIn":
        banned = frozenset(values)
        return lambda labels: labels.get(key) not in banned
    if operator == "Exists":
        return lambda labels: key in labels
    if operator == "DoesNotExist":
        return lambda labels: key not in labels
    if operator in ("Gt", "Lt") and len(values) == 1 and (bound := _integer(values[0])) is not None:
        if operator == "Gt":
            return lambda labels: (v := _integer(labels.get(key))) is not None and v > bound
        return lambda labels: (v := _integer(labels.get(key))) is not None and v < bound
    return lambda labels: False  # an invalid requirement matches nothing, as upstream


def compile_term(term: dict[str, Any]) -> Term | None:
    """A NodeSelectorTerm; None for an empty term, which matches no node."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return None
    return tuple(_compile(e) for e in expressions), tuple(_compile(f) for f in fields)


def term_matches(term: Term | None, node: NodeInfo) -> bool:
    if term is None:
        return False
    label_checks, field_checks = term
    if not all(check(node.labels) for check in label_checks):
        return False
    return not field_checks or all(check({"metadata.name": node.name}) for check in field_checks)


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
        if terms is not None and not any(term_matches(t, node) for t in terms):  # terms are ORed
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
        return sum(weight for weight, term in pod.state[self.name + "/preferred"] if term_matches(term, node))

    def normalize(self, pod: PodInfo, scores: list[int]) -> list[int]:
        return normalize(scores)
