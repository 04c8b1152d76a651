"""The scheduler's record of one decision: a `Trace` filled while deciding, turned into annotations on the pod.

The format is kube-scheduler-simulator's (see kubeling/api/decisionrecord.py, the contract with the readers).
The scheduler fills a `Trace` in generic.schedule (only when recording is on: `--record-decisions`), and turns it
into annotations on a binder thread, off the scheduling loop. They travel on the write the scheduler makes anyway:
the Binding (the API server copies its annotations onto the pod, as upstream's setPodHostAndAnnotations) or the
unschedulable status update; never in a write of their own.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from kubeling.api import decisionrecord as rec
from kubeling.api.types import Obj

HISTORY_LIMIT = 5
# How many nodes' results a record keeps by default (the flag --record-decisions-max-nodes; 0: every node).
MAX_NODES = 20


@dataclasses.dataclass
class Trace:
    """One scheduling attempt as the framework saw it."""

    prefilter: dict[str, str] = dataclasses.field(default_factory=dict)  # plugin → success / skip
    filters: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # node → plugin → passed / why
    scores: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)  # node → plugin → raw
    final_scores: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)  # node → plugin → weighted

    def passed(self, node: str, plugins: list[str]) -> None:
        self.filters[node] = dict.fromkeys(plugins, rec.PASSED)

    def rejected(self, node: str, plugins: list[str], rejecting: int, reasons: tuple[str, ...]) -> None:
        """`plugins[rejecting]` turned the node down: the ones before it passed, the ones after never ran."""
        result = dict.fromkeys(plugins[:rejecting], rec.PASSED)
        result[plugins[rejecting]] = ", ".join(reasons) or "rejected"
        self.filters[node] = result

    def scored(self, plugin: str, nodes: list[str], raw: list[int], final: list[int]) -> None:
        for node, raw_score, final_score in zip(nodes, raw, final, strict=True):
            self.scores.setdefault(node, {})[plugin] = raw_score
            self.final_scores.setdefault(node, {})[plugin] = final_score


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _strings(table: dict[str, dict[str, int]]) -> dict[str, dict[str, str]]:
    return {node: {plugin: str(score) for plugin, score in scores.items()} for node, scores in table.items()}


def nodes_to_keep(trace: Trace, selected: str | None, limit: int) -> list[str]:
    """The nodes a bounded record keeps, at most `limit` (every node when `limit` is 0 or more than evaluated):
    the chosen node; the best-scoring others (up to half the room); one node for each different rejection
    (plugin and reason), so every reason shows; then more of the rejected and the scored, in that order."""
    if not limit or len(trace.filters) <= limit:
        return list(trace.filters)
    totals = {node: sum(scores.values()) for node, scores in trace.final_scores.items()}
    scored = sorted((n for n in totals if n != selected), key=lambda n: -totals[n])
    passed = [n for n, verdicts in trace.filters.items() if n != selected and n not in totals
              and set(verdicts.values()) == {rec.PASSED}]
    by_reason: dict[tuple[str, str], list[str]] = {}
    for node, verdicts in trace.filters.items():
        plugin, why = next(reversed(verdicts.items()))
        if why != rec.PASSED:
            by_reason.setdefault((plugin, why), []).append(node)
    keep = dict.fromkeys([selected] if selected else [])
    best = max(limit // 2 - len(keep), 1 if scored else 0)
    keep.update(dict.fromkeys(scored[:best]))
    rounds = max((len(nodes) for nodes in by_reason.values()), default=0)
    for index in range(rounds):  # one node per reason, then a second per reason, ...
        keep.update(dict.fromkeys(nodes[index] for nodes in by_reason.values() if index < len(nodes)))
        if len(keep) >= limit:
            break
    keep.update(dict.fromkeys(scored + passed))
    return list(keep)[:limit]


def result_annotations(trace: Trace, selected: str | None, limit: int = MAX_NODES) -> dict[str, str]:
    """The annotations of one attempt, without the history, keeping at most `limit` nodes (0: all)."""
    kept = nodes_to_keep(trace, selected, limit)
    feasible = sum(1 for verdicts in trace.filters.values() if set(verdicts.values()) == {rec.PASSED})

    def only_kept(table: dict[str, Any]) -> dict[str, Any]:
        return {node: table[node] for node in kept if node in table}

    return {
        rec.FILTER: _dump(only_kept(trace.filters)),
        rec.SCORE: _dump(_strings(only_kept(trace.scores))),
        rec.FINAL_SCORE: _dump(_strings(only_kept(trace.final_scores))),
        rec.PREFILTER: _dump(trace.prefilter),
        rec.SELECTED: selected or "",
        rec.NODES: _dump({"evaluated": len(trace.filters), "feasible": feasible, "recorded": len(kept)}),
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
