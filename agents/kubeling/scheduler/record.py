"""The scheduler's record of one decision: a `Trace` filled while deciding, turned into annotations on the pod.

The format is kube-scheduler-simulator's (see kubeling/api/decisionrecord.py, the contract with the readers).
The scheduler fills a `Trace` in generic.schedule (only when recording is on: `--record-decisions`), and turns it
into annotations on a binder thread, off the scheduling loop. They travel on the write the scheduler makes anyway:
the Binding (the API server copies its annotations onto the pod, as upstream's setPodHostAndAnnotations) or the
unschedulable status update; never in a write of their own.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
from typing import Any

from kubeling.api import decisionrecord as rec
from kubeling.api.types import Obj

HISTORY_LIMIT = 5
# How many nodes' results a record keeps by default (the flag --record-decisions-max-nodes; 0: every node).
MAX_NODES = 20


@dataclasses.dataclass
class Trace:
    """One scheduling attempt as the framework saw it, kept the cheap way while deciding (a name appended per
    node, a list kept per score plugin); the per-node tables are built afterwards, for the nodes recorded only."""

    prefilter: dict[str, str] = dataclasses.field(default_factory=dict)  # plugin → success / skip
    filter_plugins: list[str] = dataclasses.field(default_factory=list)  # the filters that ran, in order
    passed: list[str] = dataclasses.field(default_factory=list)  # nodes that passed every filter
    rejected: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)  # node → (rejecting filter, why)
    scored_nodes: list[str] = dataclasses.field(default_factory=list)  # the nodes scored, in the lists' order
    scores: dict[str, tuple[list[int], list[int], int]] = dataclasses.field(default_factory=dict)
    # ^ plugin → (raw scores, normalized scores, weight), one score per scored node
    totals: list[int] = dataclasses.field(default_factory=list)  # each scored node's weighted sum

    def reject(self, node: str, rejecting: int, reasons: tuple[str, ...]) -> None:
        """`filter_plugins[rejecting]` turned the node down: the ones before it passed, the ones after never ran."""
        self.rejected[node] = (rejecting, ", ".join(reasons) or "rejected")

    @property
    def evaluated(self) -> int:
        return len(self.passed) + len(self.rejected)

    def filters_of(self, node: str) -> dict[str, str]:
        """plugin → "passed" or the reason, for one evaluated node."""
        if node not in self.rejected:
            return dict.fromkeys(self.filter_plugins, rec.PASSED)
        rejecting, why = self.rejected[node]
        verdicts = dict.fromkeys(self.filter_plugins[:rejecting], rec.PASSED)
        verdicts[self.filter_plugins[rejecting]] = why
        return verdicts

    def scores_of(self, index: int) -> tuple[dict[str, int], dict[str, int]]:
        """(raw, final) score per plugin of the scored node at `index`."""
        raw = {plugin: scores[0][index] for plugin, scores in self.scores.items()}
        final = {plugin: scores[1][index] * scores[2] for plugin, scores in self.scores.items()}
        return raw, final


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def nodes_to_keep(trace: Trace, selected: str | None, limit: int) -> list[str]:
    """The nodes a bounded record keeps, at most `limit` (every node when `limit` is 0 or more than evaluated):
    the chosen node; the best-scoring others (up to half the room); one node for each different rejection
    (plugin and reason), so every reason shows; then more of the rejected and of the passed, in that order."""
    if not limit or trace.evaluated <= limit:
        return [*trace.passed, *trace.rejected]
    keep = dict.fromkeys([selected] if selected else [])
    ranked = heapq.nlargest(limit, range(len(trace.totals)), key=trace.totals.__getitem__)
    best = [trace.scored_nodes[i] for i in ranked if trace.scored_nodes[i] != selected]
    keep.update(dict.fromkeys(best[:max(limit // 2 - len(keep), 1)]))
    by_reason: dict[tuple[int, str], list[str]] = {}
    for node, verdict in trace.rejected.items():
        by_reason.setdefault(verdict, []).append(node)
    for index in range(max((len(nodes) for nodes in by_reason.values()), default=0)):
        if len(keep) >= limit:  # one node per reason first, then a second per reason, ...
            break
        keep.update(dict.fromkeys(nodes[index] for nodes in by_reason.values() if index < len(nodes)))
    for node in [*best, *trace.passed]:
        if len(keep) >= limit:
            break
        keep.setdefault(node)
    return list(keep)[:limit]


def result_annotations(trace: Trace, selected: str | None, limit: int = MAX_NODES) -> dict[str, str]:
    """The annotations of one attempt, without the history, keeping at most `limit` nodes (0: all)."""
    kept = nodes_to_keep(trace, selected, limit)
    index = {node: i for i, node in enumerate(trace.scored_nodes)}
    raw: dict[str, dict[str, str]] = {}
    final: dict[str, dict[str, str]] = {}
    for node in kept:
        if node in index:
            raw_scores, final_scores = trace.scores_of(index[node])
            raw[node] = {plugin: str(score) for plugin, score in raw_scores.items()}
            final[node] = {plugin: str(score) for plugin, score in final_scores.items()}
    return {
        rec.FILTER: _dump({node: trace.filters_of(node) for node in kept}),
        rec.SCORE: _dump(raw),
        rec.FINAL_SCORE: _dump(final),
        rec.PREFILTER: _dump(trace.prefilter),
        rec.SELECTED: selected or "",
        rec.NODES: _dump({"evaluated": trace.evaluated, "feasible": len(trace.passed), "recorded": len(kept)}),
    }


def for_pod(pod: Obj, trace: Trace, selected: str | None, limit: int = MAX_NODES) -> dict[str, str]:
    """What to write on `pod` for this attempt: its result, and the history with the pod's previous result
    appended (at most HISTORY_LIMIT entries). Empty when the result is the one already on the pod."""
    current = (pod.get("metadata") or {}).get("annotations") or {}
    new = result_annotations(trace, selected, limit)
    previous = {key: current[key] for key in rec.RESULT_KEYS if key in current}
    if previous == new:
        return {}
    history = rec.history(current)
    if previous:
        history = [*history, previous][-HISTORY_LIMIT:]
    if history:
        new[rec.HISTORY] = _dump(history)
    return new
