"""Where a pod may run: taints and tolerations, node selectors and required node affinity.

Pure functions shared by the scheduler (its TaintToleration, NodeAffinity, NodeUnschedulable and NodeReady
plugins), the DaemonSet controller (which decides itself which nodes get a daemon pod) and the node lifecycle
controller (which evicts pods that do not tolerate a NoExecute taint). They follow upstream's
`k8s.io/api/core/v1` Toleration helpers and `k8s.io/component-helpers/scheduling/corev1/nodeaffinity`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kubeling.api.types import Obj

# A compiled requirement reads a {key: value} map: node labels, or {"metadata.name": name} for matchFields.
Check = Callable[[dict[str, str]], bool]
Term = tuple[tuple[Check, ...], tuple[Check, ...]]  # (label checks, field checks); all must hold


# --- taints and tolerations ---


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """Upstream's Toleration.ToleratesTaint: an empty effect matches every effect, an empty key with `Exists`
    every key; `Equal` (the default operator) compares values; an unknown operator tolerates nothing."""
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(tolerations: Iterable[Obj], taint: Obj) -> bool:
    """Some toleration tolerates `taint`."""
    return any(tolerates(t, taint) for t in tolerations)


def untolerated_taint(taints: list[Obj] | None, tolerations: list[Obj] | None,
                      effects: tuple[str, ...]) -> Obj | None:
    """The first taint with one of `effects` that no toleration tolerates, or None."""
    for taint in taints or []:
        if taint.get("effect") in effects and not tolerated(tolerations or [], taint):
            return taint
    return None


# --- node selector terms ---


def _integer(text: Any) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def compile_requirement(requirement: Obj) -> Check:
    """A NodeSelectorRequirement as a check on a {key: value} map; an invalid one matches nothing, as upstream."""
    key, operator = requirement.get("key", ""), requirement.get("operator")
    values = requirement.get("values") or []
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
    return lambda labels: False


def compile_term(term: Obj) -> Term | None:
    """A NodeSelectorTerm, compiled once so it can be checked against many nodes; None for an empty term, which
    matches no node."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return None
    return tuple(compile_requirement(e) for e in expressions), tuple(compile_requirement(f) for f in fields)


def term_matches(term: Term | None, labels: dict[str, str], name: str) -> bool:
    """A compiled term against a node's labels and name (`metadata.name` is the only field upstream allows)."""
    if term is None:
        return False
    label_checks, field_checks = term
    if not all(check(labels) for check in label_checks):
        return False
    return not field_checks or all(check({"metadata.name": name}) for check in field_checks)


def node_selector_term_matches(term: Obj, node: Obj) -> bool:
    """One NodeSelectorTerm (an AND of its expressions and fields) against a node object."""
    metadata = node.get("metadata") or {}
    return term_matches(compile_term(term), metadata.get("labels") or {}, metadata.get("name", ""))


def required_node_affinity_matches(pod_spec: Obj, node: Obj) -> bool:
    """The node satisfies the pod's `nodeSelector` and its required node affinity (terms are ORed), as
    upstream's RequiredNodeAffinity.Match."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(key) != value for key, value in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(node_selector_term_matches(term, node) for term in required.get("nodeSelectorTerms") or [])
