"""One scheduling decision: filter nodes, score the feasible ones, pick the best, or explain why none fits.

Pure: it reads the `NodeInfo`s it is given and changes nothing, so tests call `schedule` directly with the
default registry and see exactly what the running scheduler would decide.

Like upstream (percentageOfNodesToScore), a large cluster is not searched exhaustively: filtering stops once
`feasible_nodes_to_find` nodes fit (at least 100, from 50% of the nodes down to 5% as the cluster grows), and
each search starts where the last one stopped, so over successive pods every node gets its turn. A pod that
fits nowhere is always checked against every node, so its message counts them all.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

from kubeling.api.types import Obj
from kubeling.scheduler import plugins as plugin_registry
from kubeling.scheduler.framework import SUCCESS, Code, NodeInfo, PodInfo, Status, extension_points
from kubeling.scheduler.plugins.volumebinding import VolumeAccess
from kubeling.scheduler.record import Trace

MIN_FEASIBLE_NODES = 100
MIN_FEASIBLE_PERCENTAGE = 5
NO_NODES = "no nodes available to schedule pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


class Framework:
    """The enabled plugins, sorted by extension point."""

    def __init__(self, plugins: Iterable[Any] | None = None, volumes: VolumeAccess | None = None) -> None:
        self.plugins = list(plugin_registry.default_plugins(volumes) if plugins is None else plugins)
        points = {id(p): extension_points(p) for p in self.plugins}  # raises if a plugin misses an interface
        self.pre_filters = [p for p in self.plugins if "pre_filter" in points[id(p)]]
        self.filters = [p for p in self.plugins if "filter" in points[id(p)]]
        self.pre_scores = [p for p in self.plugins if "pre_score" in points[id(p)]]
        self.scorers = [p for p in self.plugins if "score" in points[id(p)] and p.weight]
        self.pre_binders = [p for p in self.plugins if "pre_bind" in points[id(p)]]

    def filters_for(self, pod: PodInfo, trace: Trace | None = None) -> tuple[list[Any], Status]:
        """Run pre_filter: the filters left to run for this pod (those that answered SKIP are dropped), and
        SUCCESS, or the first rejection (the pod fits no node, as upstream's PreFilter failing)."""
        skipped = set()
        verdicts: dict[str, str] = {}
        for plugin in self.pre_filters:
            status = plugin.pre_filter(pod)
            if status.code is Code.SKIP:
                skipped.add(plugin.name)
                verdicts[plugin.name] = "skip"
            elif status.code is not Code.SUCCESS:
                verdicts[plugin.name] = "; ".join(status.reasons) or "unschedulable"
                if trace is not None:
                    trace.prefilter = verdicts
                return [], dataclasses.replace(status, plugin=plugin.name)
            else:
                verdicts[plugin.name] = "success"
        if trace is not None:
            trace.prefilter = verdicts
        return [f for f in self.filters if f.name not in skipped], SUCCESS

    def pre_bind(self, pod: PodInfo, node: str) -> Status:
        """Run every pre_bind plugin in order; the first failure stops the binding."""
        for plugin in self.pre_binders:
            status = plugin.pre_bind(pod, node)
            if status.code is not Code.SUCCESS:
                return dataclasses.replace(status, plugin=plugin.name)
        return SUCCESS

    def scorers_for(self, pod: PodInfo) -> list[Any]:
        skipped = {p.name for p in self.pre_scores if p.pre_score(pod).code is Code.SKIP}
        return [s for s in self.scorers if s.name not in skipped]


@dataclasses.dataclass
class Result:
    node: str | None  # the chosen node, or None when nothing fits
    message: str = ""  # why nothing fits, in upstream's words
    evaluated: int = 0  # nodes filtered
    feasible: int = 0  # nodes that passed every filter
    statuses: dict[str, Status] = dataclasses.field(default_factory=dict)  # rejected node → why
    trace: Trace | None = None  # every filter's and score's result, when asked to record them


def feasible_nodes_to_find(total: int, percentage: int = 0) -> int:
    """Upstream's numFeasibleNodesToFind; `percentage` 0 means adaptive, 100 means every node."""
    if total < MIN_FEASIBLE_NODES or percentage >= 100:
        return total
    if percentage <= 0:
        percentage = max(50 - total // 125, MIN_FEASIBLE_PERCENTAGE)
    return max(total * percentage // 100, MIN_FEASIBLE_NODES)


def schedule(framework: Framework, pod: PodInfo, nodes: Sequence[NodeInfo], start: int = 0,
             percentage: int = 0, record: bool = False) -> Result:
    """Choose a node for `pod` among `nodes`, searching from index `start`; `record` keeps every filter's and
    score's result in the Result's `trace` (the scheduler's record of decisions)."""
    total = len(nodes)
    trace = Trace() if record else None
    if total == 0:
        return Result(None, NO_NODES, trace=trace)
    filters, rejected = framework.filters_for(pod, trace)
    if rejected is not SUCCESS:  # as upstream: every node gets the pre_filter's status, the message says it once
        everywhere = {node.name: rejected for node in nodes}
        return Result(None, fit_error_message(total, everywhere, "; ".join(rejected.reasons)), 0, 0, everywhere,
                      trace=trace)
    wanted = feasible_nodes_to_find(total, percentage)
    checks = [plugin.filter for plugin in filters]
    if trace is not None:
        trace.filter_plugins = [plugin.name for plugin in filters]
    feasible: list[NodeInfo] = []
    statuses: dict[str, Status] = {}
    start %= total
    evaluated = 0
    for node in itertools.chain(nodes[start:], nodes[:start]):
        evaluated += 1
        for check in checks:
            status = check(pod, node)
            if status is not SUCCESS and status.code is not Code.SUCCESS:
                statuses[node.name] = status
                if trace is not None:
                    trace.reject(node.name, checks.index(check), status.reasons)
                break
        else:
            feasible.append(node)
            if trace is not None:
                trace.passed.append(node.name)
            if len(feasible) >= wanted:
                break
    if not feasible:
        return Result(None, fit_error_message(total, statuses), evaluated, 0, statuses, trace)
    if len(feasible) == 1:  # nothing to compare
        return Result(feasible[0].name, "", evaluated, 1, statuses, trace)
    totals = score(framework, pod, feasible, trace)
    return Result(select_host(pod, feasible, totals), "", evaluated, len(feasible), statuses, trace)


def score(framework: Framework, pod: PodInfo, feasible: Sequence[NodeInfo], trace: Trace | None = None) -> list[int]:
    """Weighted sum of each plugin's normalised (0..100) scores, one total per feasible node."""
    totals = [0] * len(feasible)
    if trace is not None:
        trace.scored_nodes, trace.totals = [node.name for node in feasible], totals
    for plugin in framework.scorers_for(pod):
        rate = plugin.score
        raw = [rate(pod, node) for node in feasible]
        normalized = plugin.normalize(pod, raw) if hasattr(plugin, "normalize") else raw
        weight = plugin.weight
        totals = [total + value * weight for total, value in zip(totals, normalized, strict=True)]
        if trace is not None:
            trace.scores[plugin.name], trace.totals = (raw, normalized, weight), totals
    return totals


def select_host(pod: PodInfo, feasible: Sequence[NodeInfo], totals: Sequence[int]) -> str:
    """The best-scoring node; ties go by a hash of the pod's uid, so the choice is deterministic for a given
    pod and cluster, yet pods that score nodes alike (a fresh ReplicaSet on empty nodes) land on different ones."""
    best = max(totals)
    candidates = sorted(node.name for node, total in zip(feasible, totals, strict=True) if total == best)
    return candidates[zlib.crc32(pod.uid.encode()) % len(candidates)]


def fit_error_message(total: int, statuses: dict[str, Status], pre_filter_message: str = "") -> str:
    """Upstream's FitError text: the pre_filter's message or the reason counts sorted as strings, then what
    preemption would say.

    kubeling does not preempt; the preemption part is what upstream prints when no lower-priority pod could
    make room: nodes rejected for good are "not helpful", the others have "no victims".
    """
    if total == 0:
        return NO_NODES
    reasons = collections.Counter(reason for status in statuses.values() for reason in status.reasons)
    message = f"0/{total} nodes are available:"
    if pre_filter_message:
        message += f" {pre_filter_message}."
    elif reasons:
        message += " " + ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items())) + "."
    preemption = collections.Counter(
        NOT_HELPFUL if status.code is Code.UNSCHEDULABLE_AND_UNRESOLVABLE else NO_VICTIMS
        for status in statuses.values())
    if preemption:
        message += (f" preemption: 0/{total} nodes are available: "
                    + ", ".join(sorted(f"{count} {reason}" for reason, count in preemption.items())) + ".")
    return message


def snapshot(nodes: Iterable[Obj], pods: Iterable[Obj] = ()) -> list[NodeInfo]:
    """NodeInfos for plain Node and (bound) Pod objects: what the cache holds, for tests and tools."""
    infos = {node["metadata"]["name"]: NodeInfo(node) for node in nodes}
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name in infos:
            infos[node_name].add_pod(PodInfo(pod))
    return list(infos.values())


def select_node(pod: Obj, nodes: Iterable[Obj], pods: Iterable[Obj] = (), framework: Framework | None = None,
                percentage: int = 0) -> Result:
    """Where the default scheduler would put `pod`, given Node objects and the pods bound to them."""
    return schedule(framework or Framework(), PodInfo(pod), snapshot(nodes, pods), percentage=percentage)
